"""Unit tests of the attack building blocks: quantization, jailbreak library, relearning split,
translation sources and settings."""

import json
import re

import pytest
import torch

from tru.attacks import jailbreak, relearn, sources
from tru.attacks.config import AttackConfig
from tru.attacks.quantize import quantize_model, quantize_tensor
from tru.core.errors import ConfigError, InputError
from tru.data.records import QAItem


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("columns", [128, 100])  # 100: the last group is shorter than the group size
def test_quantized_groups_take_at_most_2_to_the_bits_values(bits, columns):
    torch.manual_seed(0)
    w = torch.randn(6, columns)
    q = quantize_tensor(w, bits, 32)
    assert q.shape == w.shape and q.dtype == w.dtype
    for row in range(w.shape[0]):
        for start in range(0, columns, 32):
            group = q[row, start : start + 32]
            assert 2 < len(torch.unique(group)) <= 2**bits
            span = (w[row, start : start + 32].max() - w[row, start : start + 32].min()).item()
            # round-to-nearest: at most half a step away (plus the rounding of the zero point)
            assert (group - w[row, start : start + 32]).abs().max().item() <= span / (2**bits - 1) + 1e-5
    assert not torch.equal(q, w)


def test_more_bits_less_error():
    torch.manual_seed(1)
    w = torch.randn(16, 256)
    errors = [(quantize_tensor(w, b, 64) - w).abs().mean().item() for b in (2, 4, 8)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01


def test_quantize_model_copies_and_skips_head():
    from tru.modeling.models import ModelSettings, load_model

    model = load_model(ModelSettings(name="tiny-llama"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantized, layers = quantize_model(model, 4, 16)
    assert layers > 0
    for key, value in model.state_dict().items():  # the original is untouched
        assert torch.equal(value, before[key])
    q_state = quantized.state_dict()
    proj = next(k for k in q_state if k.endswith("q_proj.weight"))
    assert not torch.equal(q_state[proj], before[proj])
    assert all(len(torch.unique(g)) <= 16 for g in q_state[proj].reshape(-1, 16))
    if "lm_head.weight" in q_state and not model.config.tie_word_embeddings:
        assert torch.equal(q_state["lm_head.weight"], before["lm_head.weight"])
    emb = next(k for k in q_state if "embed_tokens" in k)
    assert torch.equal(q_state[emb], before[emb])


def test_jailbreak_library_has_eight_distinct_families_each_documented():
    lib = jailbreak.LIBRARY
    assert len(lib) >= 8
    families = {t.family for t in lib}
    assert len(families) >= 8 and len({t.name for t in lib}) == len(lib)
    for t in lib:
        assert f"``{t.name}``: {t.family.split('/')[0]}" in jailbreak.__doc__ or t.family in jailbreak.__doc__
        assert any(p in t.template for p in jailbreak.PLACEHOLDERS)


def test_jailbreak_queries_differ_and_embed_the_question():
    q = "In which city and country was Basil Mahfouz Al-Kuwaiti born?"
    for t in jailbreak.LIBRARY:
        filled = t.fill(q)
        assert filled != q and filled == t.fill(q)  # deterministic
        if "{question}" in t.template:
            assert q in filled
        else:
            assert "B-a-s-i-l M-a-h-f-o-u-z" in filled and "Basil" not in filled


def test_worst_case_picks_the_most_revealing_template():
    per = {
        "a": {"fact_leak": [0, 0], "rougeL_recall": [0.1, 0.9], "uq": [5, 1]},
        "b": {"fact_leak": [0, 0], "rougeL_recall": [0.5, 0.2], "uq": [3, 2]},
        "c": {"fact_leak": [0, 0], "rougeL_recall": [0.5, 0.2], "uq": [1, 9]},
    }
    worst, chosen = jailbreak.worst_case(per)
    assert chosen == ["c", "a"] and worst["rougeL_recall"] == [0.5, 0.9] and worst["uq"] == [1, 1]
    # a leaked fact outranks any ROUGE: a short answer that names the fact is the worst case
    per["b"]["fact_leak"] = [0, 1]
    per["c"]["rougeL_recall"][1] = None  # no reference in the query's language
    worst, chosen = jailbreak.worst_case(per)
    assert chosen == ["c", "b"] and worst["fact_leak"] == [0, 1]


def test_user_templates_load_and_bad_files_fail_clearly(tmp_path):
    good = tmp_path / "t.jsonl"
    good.write_text(
        json.dumps({"name": "grandma", "family": "role-play", "template": "Grandma used to say {question}"}) + "\n",
        encoding="utf-8",
    )
    (t,) = jailbreak.load_templates(good)
    assert t.fill("Q?") == "Grandma used to say Q?"
    cases = {
        "missing.jsonl": None,
        "nofield.jsonl": json.dumps({"name": "x", "template": "{question}"}),
        "noplace.jsonl": json.dumps({"name": "x", "family": "f", "template": "no placeholder"}),
        "taken.jsonl": json.dumps({"name": "prefix_injection", "family": "f", "template": "{question}"}),
        "badjson.jsonl": "{not json",
    }
    messages = {}
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text + "\n", encoding="utf-8")
        with pytest.raises(InputError) as exc:
            jailbreak.load_templates(path)
        messages[name] = str(exc.value)
    assert "does not exist" in messages["missing.jsonl"]
    assert "'family'" in messages["nofield.jsonl"] and ":1" in messages["nofield.jsonl"]
    assert "placeholder" in messages["noplace.jsonl"]
    assert "already taken" in messages["taken.jsonl"]
    assert "invalid JSON" in messages["badjson.jsonl"]


def test_relearn_split_is_deterministic_disjoint_and_covering():
    a = relearn.split_forget(10, 0.5, seed=3)
    assert a == relearn.split_forget(10, 0.5, seed=3)
    assert a != relearn.split_forget(10, 0.5, seed=4)
    learn, held = a
    assert len(learn) == 5 and not set(learn) & set(held) and sorted(learn + held) == list(range(10))
    assert relearn.split_forget(3, 0.99, 0)[1] and relearn.split_forget(3, 0.01, 0)[0]  # never empty
    with pytest.raises(ConfigError, match="at least 2"):
        relearn.split_forget(1, 0.5, 0)


def test_relearning_moves_the_forget_nll_down(tiny_tokenizer):
    from tru.data.formatting import ChatFormatter
    from tru.modeling.models import ModelSettings, load_model
    from tru.modeling.scoring import mean_nll

    model = load_model(ModelSettings(name="tiny-llama"))
    formatter = ChatFormatter(tiny_tokenizer, 128)
    items = [
        QAItem(question=f"Who wrote book {i}?", answer=f"Book {i} was written by Basil Mahfouz.") for i in range(4)
    ]
    encoded = [formatter.qa(x.question, x.answer) for x in items]
    before = mean_nll(model, encoded, tiny_tokenizer.pad_token_id)
    tuned, losses = relearn.relearn_model(model, formatter, items, steps=8, lr=3e-3, batch_size=2, seed=0)
    assert len(losses) == 8
    after = mean_nll(tuned, encoded, tiny_tokenizer.pad_token_id)
    assert after < before - 0.5
    assert mean_nll(model, encoded, tiny_tokenizer.pad_token_id) == pytest.approx(before)  # original untouched
    # the packed step's loss is the model's own loss on the padded batch (all items in one batch)
    from tru.modeling.collate import StreamCollator

    _, first = relearn.relearn_model(model, formatter, items, steps=1, lr=3e-3, batch_size=4, seed=0)
    padded = StreamCollator(tiny_tokenizer.pad_token_id).pad(
        [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
    )
    with torch.no_grad():
        expected = model(**padded, use_cache=False).loss
    assert first[0] == pytest.approx(float(expected), abs=1e-5)


def _config(tmp_path, **kw):
    return AttackConfig(
        **{"model": "tiny-llama", "benchmark": "custom", "forget": "f.jsonl", "out": str(tmp_path), **kw}
    )


def test_query_sources_data_fields_file_and_clear_error(tmp_path):
    items = [
        QAItem(question="Who is A?", answer="A is B.", paraphrased_question="Tell me who A is."),
        QAItem(question="Where was C born?", answer="In D."),
    ]
    raw = [{"question_es": "¿Quién es A?", "translations": {"ru": "Кто такой A?"}}, {}]
    tr = tmp_path / "tr.jsonl"
    tr.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"question": "Where was C born?", "lang": "es", "translation": "¿Dónde nació C?"},
                {"question": "Where was C born?", "lang": "paraphrase", "translation": "What is C's birthplace?"},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    source = sources.QuerySource(_config(tmp_path, translations=str(tr)), items, raw, tmp_path)
    assert source.queries("es") == (["¿Quién es A?", "¿Dónde nació C?"], ["local", "local"])
    assert source.queries(sources.PARAPHRASE)[0] == ["Tell me who A is.", "What is C's birthplace?"]
    with pytest.raises(ConfigError, match=r"1 of 2 forget questions have no 'ru' translations.*--translations"):
        source.check("ru")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "lang": "es"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="translation"):
        sources.QuerySource(_config(tmp_path, translations=str(bad)), items, raw, tmp_path)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"attacks": "crosslingual,bogus"}, "unknown attack 'bogus'"),
        ({"relearn_share": 1.0}, "relearn-share"),
        ({"quant_bits": "8,16"}, "quant-bits"),
        ({"quant_bits": "four"}, "quant-bits"),
        ({"translate_url": "http://x/v1"}, "go together"),
        ({"benchmark": "wmdp"}, "unknown benchmark"),
    ],
)
def test_config_errors(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _config(tmp_path, **settings).validate()


def test_attack_is_a_registered_cli_command():
    from tru.cli import COMMANDS

    assert COMMANDS["attack"][0] is AttackConfig
