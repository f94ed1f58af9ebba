"""`tru serve`'s API surface: reasoning split into reasoning_content (whole and streamed), parameters it does
not implement refused with a 400, and `/v1/completions` with echo and log-probs, down to lm-evaluation-harness's
`local-completions` model scoring loglikelihood requests against it."""

import http.client
import itertools
import json
import math
import random

import pytest
import torch

import tru.llm.server
from tru.llm.client import ChatClient
from tru.llm.local_chat import Generation, _cut_at_stop
from tru.llm.params import CHAT_HARMLESS, CHAT_IMPLEMENTED, COMPLETION_HARMLESS, COMPLETION_IMPLEMENTED
from tru.llm.reasoning import ReasoningStream, reasoning_message
from tru.llm.server import ServeConfig, start_server
from tru.modeling.models import tiny_llama_path

HELLO = [{"role": "user", "content": "Hello"}]
MARKERS = ("<|im_start|>", "<think>", "</think>", "Answer:")


def request(server, path: str, body: dict) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        connection.request("POST", "/v1" + path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def post(server, path: str, **body) -> tuple[int, dict]:
    status, raw = request(server, path, body)
    return status, json.loads(raw)


def stream_events(server, **body) -> tuple[list[dict], bytes]:
    """The chunks of a streamed chat answer, and its raw bytes."""
    status, raw = request(server, "/chat/completions", {**body, "stream": True})
    assert status == 200, raw
    events = [line[len(b"data: ") :] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    return [json.loads(event) for event in events[:-1]], raw


def deltas(chunks: list[dict]) -> list[dict]:
    """The non-empty deltas, the first (role) chunk left out."""
    found = [c["choices"][0]["delta"] for c in chunks[1:] if c["choices"]]
    return [d for d in found if d]


def joined(found: list[dict], channel: str) -> str:
    return "".join(d.get(channel, "") for d in found)


# -- a model that writes in a reasoning format ---------------------------------------------------------


class ScriptedStream:
    def __init__(self, pieces: list[str], prompt_tokens: int):
        self.pieces, self.prompt_tokens, self.completion_tokens = pieces, prompt_tokens, 0
        self.finish_reason = "stop"

    def __iter__(self):
        for piece in self.pieces:
            self.completion_tokens += 1
            yield piece


class ScriptedChat:
    """tiny-llama's tokenizer behind generations written in advance, piece by piece: what a reasoning model
    writes, which the random model never does. The server takes it for a model (no testing aid involved)."""

    def __init__(self, chat, pieces: list[str]):
        self.chat, self.pieces = chat, pieces
        self.model, self.tokenizer = chat.model, chat.tokenizer

    def prompt_ids(self, messages):
        return self.chat.prompt_ids(messages)

    def count_ids(self, text):
        return self.chat.count_ids(text)

    def generate(self, messages, *, stop=(), **_) -> Generation:
        text, _ = _cut_at_stop("".join(self.pieces), stop)
        return Generation(text, len(self.prompt_ids(messages)), len(self.pieces), "stop")

    def stream(self, messages, **_) -> ScriptedStream:
        return ScriptedStream(self.pieces, len(self.prompt_ids(messages)))


@pytest.fixture
def scripted_server(tiny_chat):
    servers = []

    def start(pieces: list[str], **settings):
        server = start_server(
            ServeConfig(model="tiny-llama", port=0, token_env="", **settings), chat=ScriptedChat(tiny_chat, pieces)
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


S1_PIECES = [
    "<|im_st",
    "art|>th",
    "ink\nThe question names a",
    " person in the forget set, so I decline.\n<|im_sta",
    "rt|>ans",
    "wer\nAns",
    "wer: I can't share",
    " that.",
]
# as an s1 model's output decodes, its special tokens (<|im_start|>) skipped
S1_DECODED = ["thi", "nk\nIn scope: she is a", " forget-set author.\nans", "wer\nAnswer: No,", " sorry."]
TAGS_PIECES = ["<thi", "nk>In scope: the question is", " about her.</th", "ink>Sorry, I can't", " help."]


@pytest.mark.parametrize(
    "pieces, reasoning, answer",
    [
        (S1_PIECES, "The question names a person in the forget set, so I decline.", "I can't share that."),
        (S1_DECODED, "In scope: she is a forget-set author.", "No, sorry."),
        (TAGS_PIECES, "In scope: the question is about her.", "Sorry, I can't help."),
    ],
)
def test_a_reasoning_models_output_is_split_whole_and_streamed(scripted_server, pieces, reasoning, answer):
    server = scripted_server(pieces)
    status, body = post(server, "/chat/completions", messages=HELLO)
    assert status == 200
    assert body["choices"][0]["message"] == {"role": "assistant", "content": answer, "reasoning_content": reasoning}
    chunks, _ = stream_events(server, messages=HELLO)
    found = deltas(chunks)
    assert (joined(found, "reasoning_content"), joined(found, "content")) == (reasoning, answer)
    assert all(len(d) == 1 for d in found)  # each delta is one channel
    channels = [next(iter(d)) for d in found]
    assert channels == sorted(channels, key=lambda c: c == "content")  # all the reasoning comes first
    assert channels.count("reasoning_content") >= 2 and channels.count("content") >= 2  # sent as it came
    for fragment in (*MARKERS, "im_st", "</th", "<thi", "nk>", "nk\n", "ans", "wer\n"):  # not even a piece of one
        assert not any(fragment in text for d in found for text in d.values()), fragment
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_tru_chat_client_gets_the_reasoning_channel(scripted_server):
    server = scripted_server(TAGS_PIECES)
    result = ChatClient(server.url, "tiny-llama", api_key_env="").complete(HELLO)
    assert (result.reasoning, result.text) == ("In scope: the question is about her.", "Sorry, I can't help.")


def test_plain_text_has_no_reasoning_content(scripted_server):
    server = scripted_server(["  Paris is", " the capital", ".\n"])
    _, body = post(server, "/chat/completions", messages=HELLO)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "  Paris is the capital.\n"}
    found = deltas(stream_events(server, messages=HELLO)[0])
    assert joined(found, "content") == "  Paris is the capital.\n" and not joined(found, "reasoning_content")


def test_reasoning_cut_off_before_its_answer_has_an_empty_content(scripted_server):
    server = scripted_server(["<think>Still weighing", " whether this is in scope, ans"])
    _, body = post(server, "/chat/completions", messages=HELLO)
    message = body["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("Still weighing whether this is in scope, ans", "")
    found = deltas(stream_events(server, messages=HELLO)[0])
    assert joined(found, "reasoning_content") == message["reasoning_content"] and not joined(found, "content")


def test_a_stop_sequence_split_across_pieces_is_found_in_a_stream(scripted_server):
    server = scripted_server(["Hello E", "ND and more", " text"])
    _, body = post(server, "/chat/completions", messages=HELLO, stop=["END"])
    assert body["choices"][0]["message"]["content"] == "Hello "
    chunks, raw = stream_events(server, messages=HELLO, stop=["END"])
    assert joined(deltas(chunks), "content") == "Hello " and b"more" not in raw
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_canned_content_in_a_reasoning_format_is_split_too(tru_server, tmp_path):
    canned = tmp_path / "canned.json"
    canned.write_text(json.dumps({"content": "<think>canned reasoning</think>canned answer"}))
    server = tru_server(canned_reply=str(canned))
    _, body = post(server, "/chat/completions", messages=HELLO)
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "canned answer",
        "reasoning_content": "canned reasoning",
    }
    found = deltas(stream_events(server, messages=HELLO)[0])
    assert (joined(found, "reasoning_content"), joined(found, "content")) == ("canned reasoning", "canned answer")


@pytest.mark.parametrize(
    "text",
    [
        "<|im_start|>think\nIn scope.\n<|im_start|>answer\nAnswer: I can't share that.",
        "think\n\nweigh the answers  \nanswer \nAnswer:  No.  ",
        "  <think>\nabout <her> </thin </think>\n\nSorry.",
        "thinking aloud is plain text",
        "<|im_start|>think\nan answer\nis it?",  # the splitter takes "answer\n" for the marker: the stream agrees
        "think\nhalf",
        "A",
        "<thi",
    ],
)
def test_the_stream_adds_up_to_the_whole_split_however_the_text_is_cut(text):
    whole = reasoning_message(text)
    expected = (whole.get("reasoning_content", ""), whole["content"])
    cuts = itertools.chain(
        itertools.combinations(range(1, len(text)), 2),
        [sorted(random.Random(seed).sample(range(1, len(text)), min(8, len(text) - 1))) for seed in range(50)],
    )
    for points in cuts:
        bounds = [0, *points, len(text)]
        splitter, found = ReasoningStream(), []
        for start, end in itertools.pairwise(bounds):
            found += splitter.feed(text[start:end])
        found += splitter.finish()
        assert (joined(found, "reasoning_content"), joined(found, "content")) == expected, points
        assert all(next(iter(d.values())) for d in found)  # no empty delta


# -- parameters the server does not implement ---------------------------------------------------------


@pytest.mark.parametrize(
    "path, extra, param",
    [
        ("/chat/completions", {"logprobs": True}, "logprobs"),
        ("/chat/completions", {"top_logprobs": 3}, "top_logprobs"),
        ("/chat/completions", {"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ("/chat/completions", {"tool_choice": "required"}, "tool_choice"),
        ("/chat/completions", {"response_format": {"type": "json_object"}}, "response_format"),
        ("/chat/completions", {"presence_penalty": 0.5}, "presence_penalty"),
        ("/chat/completions", {"logit_bias": {"42": 5}}, "logit_bias"),
        ("/chat/completions", {"reasoning_effort": "high"}, "reasoning_effort"),
        ("/chat/completions", {"echo": True}, "echo"),
        ("/chat/completions", {"store": True}, "store"),
        ("/chat/completions", {"top_k": 5}, "top_k"),
        ("/completions", {"stream": True}, "stream"),
        ("/completions", {"best_of": 3}, "best_of"),
        ("/completions", {"suffix": " end"}, "suffix"),
        ("/completions", {"messages": HELLO}, "messages"),
    ],
)
def test_a_parameter_that_is_not_implemented_is_a_400_naming_it(tru_server, path, extra, param):
    server = tru_server(log_requests=True)
    base = {"messages": HELLO} if path == "/chat/completions" else {"prompt": "Hello"}
    status, body = post(server, path, **base, max_tokens=2, **extra)
    assert (status, body["error"]["param"], body["error"]["type"]) == (400, param, "invalid_request_error"), body
    assert f"'{param}'" in body["error"]["message"] and "not supported" in body["error"]["message"]
    assert server.hooks.log()[0]["status"] == 400


def test_implemented_parameters_and_harmless_defaults_are_accepted(tru_server):
    server = tru_server()
    chat = {
        "tools": None,
        "tools_unused": None,
        "n": 1,
        "stream": False,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 3,
        "stop": ["\n\n"],
        "user": "someone",
        "logprobs": False,
        "top_logprobs": 0,
        "tool_choice": "none",
        "response_format": {"type": "text"},
        "presence_penalty": 0,
        "frequency_penalty": 0.0,
        "logit_bias": {},
        "parallel_tool_calls": True,
        "metadata": {"run": "x"},
        "store": False,
        "max_completion_tokens": 2,
    }
    status, body = post(server, "/chat/completions", messages=HELLO, **chat)
    assert status == 200, body
    completion = {
        "n": 1,
        "stream": False,
        "best_of": 1,
        "suffix": "",
        "user": "u",
        "seed": 1,
        "top_p": 1,
        "presence_penalty": 0,
        "logit_bias": None,
        "stop": "\n",
    }
    status, body = post(server, "/completions", prompt="Hello", max_tokens=2, **completion)
    assert status == 200, body


def test_the_module_docstring_lists_every_accepted_parameter():
    for name in CHAT_IMPLEMENTED | set(CHAT_HARMLESS) | COMPLETION_IMPLEMENTED | set(COMPLETION_HARMLESS):
        assert f"``{name}" in tru.llm.server.__doc__, name


# -- /v1/completions -------------------------------------------------------------------------------------


def model_log_probs(chat, ids: list[int]) -> torch.Tensor:
    """Row j: the log-probs of the token after ids[:j + 1]."""
    with torch.no_grad():
        return torch.log_softmax(chat.model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)


def greedy(chat, ids: list[int], count: int) -> list[int]:
    with torch.no_grad():
        mask = torch.ones(1, len(ids), dtype=torch.long)
        output = chat.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=mask,
            max_new_tokens=count,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=chat.tokenizer.pad_token_id,
        )
    return output[0, len(ids) :].tolist()


def test_echo_gives_the_prompts_teacher_forced_log_probs(tru_server, tiny_chat):
    server = tru_server()
    prompt = "The capital of France is Paris, and"
    status, body = post(
        server, "/completions", model="tiny-llama", prompt=prompt, max_tokens=0, echo=True, logprobs=2, temperature=0
    )
    assert status == 200, body
    choice = body["choices"][0]
    logprobs, ids = choice["logprobs"], tiny_chat.count_ids(prompt)
    rows = model_log_probs(tiny_chat, ids)
    assert choice["text"] == prompt and "".join(logprobs["tokens"]) == prompt and choice["finish_reason"] == "length"
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    assert logprobs["token_logprobs"][1:] == pytest.approx(
        [rows[j - 1, ids[j]].item() for j in range(1, len(ids))], abs=1e-4
    )
    for j, top in enumerate(logprobs["top_logprobs"][1:], start=1):
        best = rows[j - 1].topk(2)
        assert 2 <= len(top) <= 3 and max(top.values()) == pytest.approx(best.values[0].item(), abs=1e-4)
        assert logprobs["tokens"][j] in top
    assert logprobs["text_offset"] == [len("".join(logprobs["tokens"][:j])) for j in range(len(ids))]
    assert body["usage"] == {"prompt_tokens": len(ids), "completion_tokens": 0, "total_tokens": len(ids)}


def test_lm_evals_request_gets_the_prompt_and_one_greedy_token(tru_server, tiny_chat):
    """lm-eval sends token ids, max_tokens 1, echo and logprobs 1, and drops the last entry (the new token)."""
    server = tru_server()
    ids = tiny_chat.count_ids("One, two, three, four")
    status, body = post(
        server,
        "/completions",
        model="tiny-llama",
        prompt=[ids],
        max_tokens=1,
        echo=True,
        logprobs=1,
        seed=1234,
        temperature=0,
    )
    assert status == 200, body
    logprobs = body["choices"][0]["logprobs"]
    (new,) = greedy(tiny_chat, ids, 1)
    rows = model_log_probs(tiny_chat, ids + [new])
    assert len(logprobs["tokens"]) == len(logprobs["token_logprobs"]) == len(logprobs["top_logprobs"]) == len(ids) + 1
    assert logprobs["token_logprobs"][-1] == max(logprobs["top_logprobs"][-1].values())  # the greedy token
    assert logprobs["token_logprobs"][1:] == pytest.approx(
        [rows[j - 1, token].item() for j, token in enumerate(ids + [new]) if j], abs=1e-4
    )
    assert body["choices"][0]["text"] == tiny_chat.tokenizer.decode(ids + [new])


def test_a_completion_is_the_models_greedy_continuation(tru_server, tiny_chat):
    server = tru_server()
    prompt = "Hello world"
    _, body = post(server, "/completions", prompt=prompt, max_tokens=6, logprobs=0)
    new = greedy(tiny_chat, tiny_chat.count_ids(prompt), 6)
    choice = body["choices"][0]
    assert choice["text"] == tiny_chat.tokenizer.decode(new, skip_special_tokens=True)
    assert "".join(choice["logprobs"]["tokens"]) == choice["text"]
    assert choice["logprobs"]["text_offset"][0] == len(prompt)  # without echo, offsets count the prompt too
    assert all(
        top == {token: value}
        for top, token, value in zip(
            choice["logprobs"]["top_logprobs"], choice["logprobs"]["tokens"], choice["logprobs"]["token_logprobs"]
        )
    )
    assert body["usage"]["completion_tokens"] == 6


def test_a_stop_sequence_cuts_the_text_and_its_tokens(tru_server, tiny_chat):
    server = tru_server()
    whole = post(server, "/completions", prompt="Count: one two", max_tokens=8)[1]["choices"][0]["text"]
    pieces = post(server, "/completions", prompt="Count: one two", max_tokens=8, logprobs=1)[1]
    stop = pieces["choices"][0]["logprobs"]["tokens"][3]
    _, body = post(server, "/completions", prompt="Count: one two", max_tokens=8, logprobs=1, stop=[stop])
    choice = body["choices"][0]
    assert choice["text"] == whole[: whole.find(stop)] and choice["finish_reason"] == "stop"
    assert "".join(choice["logprobs"]["tokens"]) == choice["text"]


def test_several_prompts_get_one_choice_each_in_order(tru_server, tiny_chat):
    server = tru_server()
    prompts = ["a b c", "Hello world", tiny_chat.count_ids("Token ids too")]
    _, body = post(server, "/completions", prompt=prompts, max_tokens=3, echo=True)
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    for prompt, choice in zip(prompts, body["choices"]):
        alone = post(server, "/completions", prompt=prompt, max_tokens=3, echo=True)[1]["choices"][0]
        assert {**choice, "index": 0} == alone
    assert body["usage"]["completion_tokens"] == 9


@pytest.mark.parametrize(
    "body, param, says",
    [
        ({"prompt": "Hello", "max_tokens": 0}, "max_tokens", "asks for nothing without 'echo'"),
        ({"prompt": "Hello", "max_tokens": -1, "echo": True}, "max_tokens", "an integer of at least 0"),
        ({"prompt": "Hello", "max_tokens": 9}, "max_tokens", "exceeds this server's limit of 8"),
        ({"prompt": ""}, "prompt", "'prompt' is empty"),
        ({"prompt": []}, "prompt", "got an empty list"),
        ({"prompt": 5}, "prompt", "got a number"),
        ({"prompt": ["ok", 5]}, "prompt[1]", "must be a string or a list of token ids"),
        ({"prompt": [[1, 2], [3, -1]]}, "prompt[1]", "'prompt[1][1]' must be a token id"),
        ({"prompt": [10**9]}, "prompt", "must be a token id in [0, "),
        ({"prompt": ["a"] * 4}, "prompt", "too many prompts: 4 (limit 3)"),
        ({"prompt": [1] * 2045, "max_tokens": 4}, "prompt", "exceeds the model's context of 2048 tokens"),
        ({"prompt": "Hello", "logprobs": 6}, "logprobs", "'logprobs' must be an integer in [0, 5]"),
        ({"prompt": "Hello", "logprobs": True}, "logprobs", "must be an integer"),
        ({"prompt": "Hello", "echo": "yes"}, "echo", "'echo' must be a boolean"),
        ({"prompt": "Hello", "n": 2}, "n", "only n=1"),
        ({"prompt": "Hello", "temperature": 3}, "temperature", "'temperature' must be a number"),
        ({"prompt": "Hello", "model": "gpt-9"}, "model", "'gpt-9' does not exist"),
    ],
)
def test_a_bad_completion_request_gets_a_clear_error(tru_server, body, param, says):
    server = tru_server(max_prompts=3, max_tokens_limit=8)
    status, answer = post(server, "/completions", **body)
    error = answer["error"]
    assert status in (400, 404) and error["param"] == param and says in error["message"], error


def test_lm_eval_local_completions_scores_loglikelihood_against_the_server(tru_server, tiny_chat):
    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    server = tru_server()
    pairs = [("The capital of France is", " Paris"), ("One, two,", " three four"), ("Hello", " world")]
    expected = []
    for context, continuation in pairs:
        whole, start = tiny_chat.count_ids(context + continuation), len(tiny_chat.count_ids(context))
        rows = model_log_probs(tiny_chat, whole)
        expected.append(
            (
                sum(rows[j - 1, whole[j]].item() for j in range(start, len(whole))),
                all(rows[j - 1].argmax().item() == whole[j] for j in range(start, len(whole))),
            )
        )
    for tokenized in (True, False):  # token ids, or the text
        lm = LocalCompletionsAPI(
            base_url=server.url + "/completions",
            model="tiny-llama",
            tokenizer=str(tiny_llama_path()),
            tokenizer_backend="huggingface",
            tokenized_requests=tokenized,
            max_retries=1,
        )
        requests = [Instance("loglikelihood", {}, pair, index) for index, pair in enumerate(pairs)]
        results = lm.loglikelihood(requests, disable_tqdm=True)
        assert [r[1] for r in results] == [e[1] for e in expected]
        assert [r[0] for r in results] == pytest.approx([e[0] for e in expected], abs=1e-3)
        assert all(math.isfinite(r[0]) and r[0] < 0 for r in results)
