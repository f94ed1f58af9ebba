"""`tru targets --generator openai` against `tru serve` on loopback, over real HTTP.

The server runs tiny-llama with a canned reply (a testing aid: the random model only writes
gibberish), so these tests exercise the client, prompts, parsing, cache, retries and hygiene.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tru.cli import main
from tru.data.readers import read_records
from tru.data.records import ReasoningTarget

REPO = Path(__file__).resolve().parents[1]
SCOPE = "personal information about the fictitious authors in TOFU"
CLEAN = {
    "content_json": {
        "reasoning": "The request asks for details that fall inside the unlearning scope, so I must not answer "
        "them; I should decline and point somewhere useful (ref {digest}).",
        "refusal": "I can't help with that, but a public library can point you to reliable sources (ref {digest}).",
    }
}


def canned_file(tmp_path, *entries) -> str:
    path = tmp_path / "canned.json"
    path.write_text(json.dumps(list(entries) or [CLEAN]))
    return str(path)


def targets_args(server, forget, out, *extra):
    return [
        "targets",
        "--forget",
        str(forget),
        "--scope",
        SCOPE,
        "--generator",
        "openai",
        "--base-url",
        server.url,
        "--model",
        "tiny-llama",
        "--out",
        str(out),
        "--retry-backoff",
        "0.01",
        *extra,
    ]


def summary_of(out: Path) -> dict:
    return json.loads(out.with_name(out.stem + ".summary.json").read_text())


def questions_of(small_tofu) -> list[str]:
    return [x.question for x in small_tofu["forget_items"]]


def test_targets_come_over_http_and_a_rerun_is_served_from_the_cache(tru_server, small_tofu, tmp_path):
    server = tru_server(canned_reply=canned_file(tmp_path), log_requests=True)
    out = tmp_path / "targets.jsonl"
    assert main(targets_args(server, small_tofu["forget"], out)) == 0
    targets = read_records(out, ReasoningTarget)
    assert [t.question for t in targets] == questions_of(small_tofu)
    assert sorted(e["user"] for e in server.hooks.log()) == sorted(questions_of(small_tofu))
    for target in targets:
        provenance = target.provenance
        assert provenance["generator"] == "openai" and provenance["model"] == "tiny-llama"
        assert provenance["prompt_version"] == "tru-targets-1/entity-qa" and provenance["time"]
        assert provenance["usage"]["total_tokens"] > 0 and provenance["reasoning_source"] == "json"
        assert "unlearning scope" in target.reasoning and "public library" in target.refusal
    summary = summary_of(out)
    assert summary["accepted"] == 8 and summary["failed"] == 0 and summary["leakage_rejections"] == 0
    assert summary["tokens"]["used"] == sum(t.provenance["usage"]["total_tokens"] for t in targets) > 0
    assert summary["requests"]["requests"] == 8 and summary["tokens"]["from_cache"] == 0

    assert main(targets_args(server, small_tofu["forget"], out)) == 0
    assert server.stats()["chat_requests"] == 8  # nothing asked twice
    again = summary_of(out)
    assert again["tokens"]["used"] == 0 and again["tokens"]["from_cache"] == summary["tokens"]["used"]
    assert again["requests"]["cache_hits"] == 8
    assert read_records(out, ReasoningTarget) == targets


def test_killed_half_way_the_rerun_asks_only_for_unfinished_items(tru_server, small_tofu, tmp_path):
    server = tru_server(canned_reply=canned_file(tmp_path), reply_delay=0.4, log_requests=True)
    out = tmp_path / "run" / "targets.jsonl"
    cache = out.with_name("targets.cache")
    command = [sys.executable, "-m", "tru.cli", *targets_args(server, small_tofu["forget"], out, "--concurrency", "1")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(tmp_path / "first.log", "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while len(list(cache.rglob("*.json"))) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        process.kill()
        process.wait()
    time.sleep(0.8)  # let the request in flight at the kill reach the server's log
    finished = {json.loads(p.read_text())["request"]["messages"][-1]["content"] for p in cache.rglob("*.json")}
    asked_before = server.stats()["chat_requests"]
    assert 3 <= len(finished) < 8, (tmp_path / "first.log").read_text()
    assert not out.exists()

    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(read_records(out, ReasoningTarget)) == 8
    second_run = [e["user"] for e in server.hooks.log() if e["n"] > asked_before]
    assert not finished & set(second_run)
    assert sorted(second_run) == sorted(set(questions_of(small_tofu)) - finished)
    assert summary_of(out)["requests"]["cache_hits"] == len(finished)


def test_transient_server_errors_are_retried_and_succeed(tru_server, small_tofu, tmp_path):
    server = tru_server(canned_reply=canned_file(tmp_path), fail_first=3, fail_status=503)
    out = tmp_path / "targets.jsonl"
    assert main(targets_args(server, small_tofu["forget"], out, "--concurrency", "1")) == 0
    summary = summary_of(out)
    assert summary["accepted"] == 8 and summary["requests"]["retries"] == 3
    assert server.stats()["chat_requests"] == 8 + 3


def test_a_permanent_failure_names_the_item_and_exits_non_zero(tru_server, small_tofu, tmp_path, capsys):
    doomed = questions_of(small_tofu)[2]
    server = tru_server(
        canned_reply=canned_file(tmp_path),
        fail_pattern="^" + re.escape(doomed) + "$",
        fail_status=500,
        log_requests=True,
    )
    out = tmp_path / "targets.jsonl"
    code = main(targets_args(server, small_tofu["forget"], out, "--max-retries", "1"))
    err = capsys.readouterr().err
    assert code == 1 and "1 of 8 items failed (item 3:" in err and doomed[:40] in err and "HTTP 500" in err
    assert not out.exists()
    failure = summary_of(out)["failures"]
    assert [(f["item"], f["question"][:40]) for f in failure] == [(3, doomed[:40])]
    assert sum(e["user"] == doomed for e in server.hooks.log()) == 2  # one try and one retry

    assert main(targets_args(server, small_tofu["forget"], out, "--max-retries", "1", "--allow-partial")) == 0
    written = read_records(out, ReasoningTarget)
    assert len(written) == 7 and doomed not in {t.question for t in written}
    assert summary_of(out)["failed"] == 1 and server.stats()["chat_requests"] == 8 + 1 + 2  # finished: cached


def test_leaking_and_unreadable_replies_are_asked_again(tru_server, small_tofu, tmp_path):
    items = small_tofu["forget_items"]
    leaky, unreadable = items[0], items[1]
    planted = {
        "match": "^" + re.escape(leaky.question) + "$",
        "content_json": {"reasoning": "This is in scope.", "refusal": f"I shouldn't say, but: {leaky.answer}"},
    }
    garbled = {"match": "^" + re.escape(unreadable.question) + "$", "content": "Sure! Here is everything I know."}
    server = tru_server(canned_reply=canned_file(tmp_path, planted, garbled, CLEAN), log_requests=True)
    out = tmp_path / "targets.jsonl"
    assert main(targets_args(server, small_tofu["forget"], out)) == 0
    summary = summary_of(out)
    assert summary["leakage_rejections"] == 1 and summary["rejections"]["format"] == 1
    assert summary["regenerated"] == 2 and summary["accepted"] == 8
    targets = {t.question: t for t in read_records(out, ReasoningTarget)}
    assert targets[leaky.question].provenance["attempts"] == 2
    assert leaky.answer not in targets[leaky.question].refusal
    notes = [e["user"] for e in server.hooks.log() if e["user"] not in targets]
    assert len(notes) == 2 and any("criterion 2" in n for n in notes) and any("could not be read" in n for n in notes)


def test_an_ungrounded_reasoning_is_asked_again(tru_server, small_tofu, tmp_path):
    item = small_tofu["forget_items"][0]
    invented = {
        "match": "^" + re.escape(item.question) + "$",
        "content_json": {
            "reasoning": "Let us imagine the author as a bee; bees cannot write, so this is in scope.",
            "refusal": "I can't help with that.",
        },
    }
    server = tru_server(canned_reply=canned_file(tmp_path, invented, CLEAN), log_requests=True)
    out = tmp_path / "targets.jsonl"
    assert main(targets_args(server, small_tofu["forget"], out)) == 0
    summary = summary_of(out)
    assert summary["rejections"]["grounding"] == 1 and summary["regenerated"] == 1 and summary["accepted"] == 8
    target = {t.question: t for t in read_records(out, ReasoningTarget)}[item.question]
    assert target.provenance["attempts"] == 2 and "imagine" not in target.reasoning
    notes = [e["user"] for e in server.hooks.log() if "not grounded in the request" in e["user"]]
    assert len(notes) == 1 and "premise the question does not contain: 'imagine'" in notes[0]


def test_identical_replies_for_different_items_are_duplicates(tru_server, small_tofu, tmp_path):
    fixed = {"content_json": {"reasoning": "This is in scope, so I decline.", "refusal": "I can't help with that."}}
    server = tru_server(canned_reply=canned_file(tmp_path, fixed))
    out = tmp_path / "targets.jsonl"
    assert main(targets_args(server, small_tofu["forget"], out, "--max-tries", "2")) == 1
    summary = summary_of(out)
    assert summary["accepted"] == 1 and summary["failed"] == 7
    assert summary["rejections"]["duplicate"] == 14 and "duplicate" in summary["failures"][0]["reason"]


def test_the_api_key_is_sent_but_written_nowhere(tru_server, small_tofu, tmp_path, monkeypatch):
    key = "sk-planted-0123456789-SECRET"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    server = tru_server(canned_reply=canned_file(tmp_path), token_env="OPENAI_API_KEY")  # the server wants it
    run = tmp_path / "run"
    out = run / "targets.jsonl"
    assert main(targets_args(server, small_tofu["forget"], out, "--cache-dir", str(run / "cache"))) == 0
    files = [p for p in run.rglob("*") if p.is_file()]
    assert len(files) >= 8 + 2
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    key_file = tmp_path / "key.txt"
    key_file.write_text(key + "\n")
    monkeypatch.delenv("OPENAI_API_KEY")
    other = run / "from_file.jsonl"
    assert main(targets_args(server, small_tofu["forget"], other, "--api-key-file", str(key_file))) == 0
    assert all(key.encode() not in p.read_bytes() for p in run.rglob("*") if p.is_file())
    code = main(targets_args(server, small_tofu["forget"], run / "no_key.jsonl"))
    assert code == 1 and "check the API key" in summary_of(run / "no_key.jsonl")["failures"][0]["reason"]


def test_unlearn_accepts_the_targets(tru_server, small_tofu, tmp_path):
    from tru.config import UnlearnConfig
    from tru.unlearn.run import unlearn

    server = tru_server(canned_reply=canned_file(tmp_path))
    out = tmp_path / "targets.jsonl"
    assert main(targets_args(server, small_tofu["forget"], out)) == 0
    run_dir = unlearn(
        UnlearnConfig(
            model="tiny-llama",
            out=str(tmp_path / "tru"),
            method="tru",
            forget=small_tofu["forget"],
            retain=small_tofu["retain"],
            targets=str(out),
            max_steps=1,
            batch_size=2,
            max_length=128,
            report_to="none",
            summary_items=0,
        )
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["method"] == "tru" and summary["steps"] == 1


def test_local_generator_reports_unreadable_replies_and_reuses_its_cache(small_tofu, tmp_path, monkeypatch):
    from tru.llm.local_chat import LocalChat
    from tru.targets.config import TargetsConfig
    from tru.targets.run import TargetsIncomplete, generate_targets

    forget = tmp_path / "forget.jsonl"
    forget.write_text("".join(json.dumps(x.to_dict()) + "\n" for x in small_tofu["forget_items"][:2]))
    calls = []
    original = LocalChat.generate
    monkeypatch.setattr(LocalChat, "generate", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    config = TargetsConfig(
        forget=str(forget),
        scope=SCOPE,
        out=str(tmp_path / "t.jsonl"),
        generator="local",
        model="tiny-llama",
        max_tokens=8,
        max_tries=2,
    )
    for expected_calls in (4, 4):  # the tiny random model writes no JSON: two tries per item, then failure
        with pytest.raises(TargetsIncomplete, match="2 of 2 items failed"):
            generate_targets(config)
        assert len(calls) == expected_calls  # the rerun is answered from the cache
    summary = summary_of(tmp_path / "t.jsonl")
    assert summary["rejections"]["format"] == 4 and summary["requests"]["cache_hits"] == 4
    assert "format: no reasoning found" in summary["failures"][0]["reason"]
    assert len(list((tmp_path / "t.cache").rglob("*.json"))) == 4


def test_passages_are_the_user_turn_of_the_news_prompt(tru_server, shared_data, tmp_path):
    lines = (shared_data / "muse_news" / "forget.jsonl").read_text().splitlines()[:3]
    forget = tmp_path / "news.jsonl"
    forget.write_text("\n".join(lines) + "\n")
    server = tru_server(canned_reply=canned_file(tmp_path), log_requests=True)
    out = tmp_path / "news_targets.jsonl"
    assert main(targets_args(server, forget, out, "--task", "passage")) == 0
    passages = [json.loads(x)["text"] for x in lines]
    targets = read_records(out, ReasoningTarget)
    assert [t.question for t in targets] == passages
    assert sorted(e["user"] for e in server.hooks.log()) == sorted(passages)
    assert {t.provenance["prompt_version"] for t in targets} == {"tru-targets-1/news"}
