"""`tru attack` end to end on tiny-llama with the small TOFU files (custom benchmark)."""

import json

import pytest

from tru.attacks.config import AttackConfig
from tru.attacks.jailbreak import LIBRARY
from tru.attacks.run import attack
from tru.core.errors import ConfigError

LIMIT = 4


def _translations(tmp_path, items, langs=("es", "ru", "paraphrase")):
    path = tmp_path / "translations.jsonl"
    rows = [
        {"question": x.question, "lang": lang, "translation": f"<{lang}> {x.question[::-1]}"}
        for x in items[:LIMIT]
        for lang in langs
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def _config(small_tofu, out, **kw):
    settings = dict(
        model="tiny-llama",
        benchmark="custom",
        forget=small_tofu["forget"],
        retain=small_tofu["retain"],
        out=str(out),
        limit=LIMIT,
        max_new_tokens=4,
        max_length=160,
        batch_size=8,
        relearn_steps=4,
        relearn_lr=3e-3,
        relearn_batch_size=2,
        original_model="tiny-llama",
        quant_group_size=16,
    )
    settings.update(kw)
    return AttackConfig(**settings)


def test_attack_end_to_end_and_rerun_reuses_blocks(small_tofu, tmp_path, monkeypatch):
    items = small_tofu["forget_items"]
    config = _config(small_tofu, tmp_path / "out", translations=str(_translations(tmp_path, items)))
    from tru.evaluate import qa_blocks

    runs, real_generate = [], qa_blocks.generate_from_ids
    monkeypatch.setattr(
        qa_blocks,
        "generate_from_ids",
        lambda model, tok, prompts, **kw: (
            runs.append((model, len(prompts))) or real_generate(model, tok, prompts, **kw)
        ),
    )
    logs = []
    out = attack(config, log=logs.append)
    # the unattacked model generates once: both baselines, es, ru, the paraphrases and 8 jailbreak templates
    attacked_model = runs[0][0]
    assert runs[0][1] == LIMIT * (2 + 2 + 1 + len(LIBRARY))
    assert all(model is not attacked_model for model, _ in runs[1:])  # the rest: quantized / relearned models
    report = json.loads((out / "ATTACK.json").read_text(encoding="utf-8"))
    summary = json.loads((out / "SUMMARY.json").read_text(encoding="utf-8"))
    blocks = report["blocks"]
    assert set(summary["attacks"]) == {"crosslingual", "paraphrase", "jailbreak", "relearn", "quantize"}
    assert "attack" in logs[-1] and "before" in logs[-1]  # the readable table

    for lang in ("es", "ru"):
        queries = blocks["crosslingual"][lang]["queries"]
        assert queries == [f"<{lang}> {x.question[::-1]}" for x in items[:LIMIT]]
        assert all(q != x.question for q, x in zip(queries, items))
        forget = blocks["crosslingual"][lang]["forget"]
        leak = forget["per_item"]["fact_leak"]
        assert len(leak["before"]) == LIMIT
        assert leak["delta"] == pytest.approx([a - b for a, b in zip(leak["after"], leak["before"])])
        # TOFU has no reference answer in Spanish or Russian: no ROUGE against the English one, and the
        # aggregate says why
        rouge = forget["per_item"]["rougeL_recall"]
        assert rouge["after"] == [None] * LIMIT and None not in rouge["before"]
        assert forget["aggregate"]["rougeL_recall"]["after"]["n"] == 0
        assert "query's language" in forget["aggregate"]["rougeL_recall"]["after"]["missing"]
        after = forget["aggregate"]["fact_leak"]["after"]
        assert after["n"] == LIMIT and after["low"] <= after["value"] <= after["high"]
        assert len(blocks["crosslingual"][lang]["generations"]) == LIMIT
    assert blocks["paraphrase"]["paraphrase"]["queries"][0].startswith("<paraphrase>")
    # a paraphrase is asked in the data's language: scored against the reference answer
    assert None not in blocks["paraphrase"]["paraphrase"]["forget"]["per_item"]["rougeL_recall"]["after"]

    jail = summary["attacks"]["jailbreak"]
    assert {t.name for t in LIBRARY} | {"worst_case"} <= set(jail)
    for t in LIBRARY:
        assert (
            all(x.question in q for x, q in zip(items, blocks["jailbreak"][t.name]["queries"]))
            or t.name == "spelled_entities"
        )
    worst = jail["worst_case"]["forget"]["fact_leak"]["after"]["value"]
    assert worst >= max(jail[t.name]["forget"]["fact_leak"]["after"]["value"] for t in LIBRARY) - 1e-9

    quant = summary["attacks"]["quantize"]
    assert set(quant) >= {"int8", "int4"} and {"forget", "retain"} <= set(quant["int4"])
    assert {"nll", "prob", "rougeL_recall", "uq"} <= set(quant["int4"]["forget"]) and "rq" in quant["int4"]["retain"]
    assert quant["int4"]["forget"]["nll"]["delta"]["value"] != 0

    relearned = blocks["relearn"]["relearned"]
    assert not set(relearned["relearn_items"]) & set(relearned["heldout_items"])
    assert len(relearned["relearn_items"]) + len(relearned["heldout_items"]) == LIMIT
    assert relearned["forget"]["aggregate"]["nll"]["delta"]["value"] < 0  # relearning brings the held-out NLL down
    assert "recovered_share_nll" in summary["attacks"]["relearn"]["relearned"]["extra"]
    assert "original" in summary["attacks"]["relearn"]

    # a rerun reuses every finished attack block and never loads the model
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although every block is finished")

    monkeypatch.setattr("tru.attacks.run.load_model", no_model)
    logs = []
    attack(config, log=logs.append)
    again = json.loads((out / "SUMMARY.json").read_text(encoding="utf-8"))
    assert {"crosslingual", "jailbreak", "quantize", "relearn", "paraphrase"} <= set(again["reused_blocks"])
    assert again["attacks"]["quantize"] == summary["attacks"]["quantize"]
    assert any("jailbreak: reused" in line for line in logs)


def test_missing_translation_fails_before_writing(small_tofu, tmp_path):
    path = _translations(tmp_path, small_tofu["forget_items"], langs=("es",))
    config = _config(small_tofu, tmp_path / "out", attacks="crosslingual", translations=str(path))
    with pytest.raises(ConfigError, match="no 'ru' translations.*--translate-url"):
        attack(config, log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_translations_from_an_endpoint_are_cached(small_tofu, tmp_path, tru_server):
    canned = tmp_path / "canned.json"
    canned.write_text(json.dumps({"content": "Pregunta traducida {digest}"}), encoding="utf-8")
    server = tru_server(canned_reply=str(canned))
    config = _config(
        small_tofu,
        tmp_path / "out",
        attacks="crosslingual,paraphrase",
        translate_url=server.url,
        translate_model="tiny-llama",
        languages="es,ru",
    )
    out = attack(config, log=lambda _: None)
    blocks = json.loads((out / "ATTACK.json").read_text(encoding="utf-8"))["blocks"]
    queries = (
        blocks["crosslingual"]["es"]["queries"]
        + blocks["crosslingual"]["ru"]["queries"]
        + blocks["paraphrase"]["paraphrase"]["queries"]
    )
    assert all(q.startswith("Pregunta traducida ") for q in queries)
    assert len(set(queries)) == 3 * LIMIT  # one request per question and language, no mix-ups
    assert blocks["crosslingual"]["es"]["origin"] == ["endpoint"] * LIMIT
    requests = server.stats()["chat_requests"]
    assert requests == 3 * LIMIT
    assert len(list((out / "translate_cache").rglob("*.json"))) == 3 * LIMIT

    config.overwrite = True  # recompute everything: the translations come from the cache
    attack(config, log=lambda _: None)
    assert server.stats()["chat_requests"] == requests
    again = json.loads((out / "ATTACK.json").read_text(encoding="utf-8"))["blocks"]
    assert again["crosslingual"]["es"]["queries"] == blocks["crosslingual"]["es"]["queries"]


def test_bad_tofu_split_and_bad_templates_fail_before_writing(shared_data, small_tofu, tmp_path):
    from tru.core.errors import InputError

    config = AttackConfig(
        model="tiny-llama",
        benchmark="tofu",
        tofu=str(shared_data / "tofu"),
        forget_split="forget02",
        out=str(tmp_path / "a"),
    )
    with pytest.raises(ConfigError, match="unknown TOFU forget split 'forget02'"):
        attack(config, log=lambda _: None)
    bad = tmp_path / "templates.jsonl"
    bad.write_text('{"name": "x", "family": "y", "template": "no placeholder"}\n', encoding="utf-8")
    config = _config(small_tofu, tmp_path / "b", attacks="jailbreak", jailbreak_templates=str(bad))
    with pytest.raises(InputError, match="placeholder"):
        attack(config, log=lambda _: None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_jailbreak_library_picks_built_in_templates(small_tofu, tmp_path):
    picked = ["spelled_entities", "roleplay_archivist"]
    config = _config(small_tofu, tmp_path / "j", attacks="jailbreak", limit=2, jailbreak_library=",".join(picked))
    out = attack(config, log=lambda _: None)
    variants = json.loads((out / "SUMMARY.json").read_text(encoding="utf-8"))["attacks"]["jailbreak"]
    assert set(variants) - {"seconds"} == {"roleplay_archivist", "spelled_entities", "worst_case"}  # library order

    with pytest.raises(ConfigError, match="unknown jailbreak template 'nope'.*roleplay_archivist"):
        _config(small_tofu, tmp_path / "k", attacks="jailbreak", jailbreak_library="nope").validate()
    with pytest.raises(ConfigError, match="leaves no jailbreak template"):
        _config(small_tofu, tmp_path / "k", attacks="jailbreak", jailbreak_library="none").validate()
    assert not (tmp_path / "k").exists()


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}/") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def test_attacks_reuse_the_evaluations_measurements(small_tofu, tiny_finetuned, tmp_path, monkeypatch):
    """--reuse-eval / --original-eval: the baselines come from EVAL.json, the results stay the same."""
    from tru.config import EvalConfig
    from tru.core.errors import InputError
    from tru.evaluate import qa_blocks
    from tru.evaluate.run import evaluate

    evaluation = evaluate(
        EvalConfig(
            model="tiny-llama",
            benchmark="custom",
            forget=small_tofu["forget"],
            retain=small_tofu["retain"],
            limit=LIMIT,
            max_new_tokens=4,
            max_length=160,
            batch_size=8,
            out=str(tmp_path / "eval"),
        ),
        log=lambda _: None,
    )
    translations = str(_translations(tmp_path, small_tofu["forget_items"]))
    common = dict(attacks="paraphrase,quantize,relearn", translations=translations, quant_bits="4")
    fresh = attack(_config(small_tofu, tmp_path / "fresh", **common), log=lambda _: None)

    prompts, real_generate = [], qa_blocks.generate_from_ids
    monkeypatch.setattr(
        qa_blocks,
        "generate_from_ids",
        lambda model, tok, p, **kw: prompts.append(len(p)) or real_generate(model, tok, p, **kw),
    )
    logs = []
    reused = attack(
        _config(small_tofu, tmp_path / "reused", reuse_eval=str(evaluation), original_eval=str(evaluation), **common),
        log=logs.append,
    )
    # only the paraphrases, the quantized model (both sides) and the relearned model's held-out items
    heldout = len(json.loads((fresh / "ATTACK.json").read_text())["blocks"]["relearn"]["relearned"]["heldout_items"])
    assert prompts == [LIMIT, 2 * LIMIT, heldout]
    assert any("reused from" in line for line in logs)
    blocks = json.loads((reused / "ATTACK.json").read_text())["blocks"]
    copied = {
        "baseline/forget/generations",
        "baseline/retain/generations",
        "baseline/forget/answer",
        "baseline/retain/answer",
    }
    assert copied <= set(blocks)
    assert copied <= set(json.loads((reused / "SUMMARY.json").read_text())["copied_from_eval"]["blocks"])
    for name in ("paraphrase", "quantize", "relearn"):  # the same numbers (scored in other batches: 1e-6)
        a = _flat(json.loads((reused / "SUMMARY.json").read_text())["attacks"][name])
        b = _flat(json.loads((fresh / "SUMMARY.json").read_text())["attacks"][name])
        a.pop("seconds"), b.pop("seconds")
        assert a == pytest.approx(b, abs=1e-6), name

    with pytest.raises(InputError, match="max_new_tokens"):  # measured with other settings: refused
        attack(_config(small_tofu, tmp_path / "other", reuse_eval=str(evaluation), max_new_tokens=8, **common))
    assert not (tmp_path / "other").exists()
    with pytest.raises(InputError, match="identity.model"):  # the evaluation of another model: refused
        attack(_config(small_tofu, tmp_path / "other", model=tiny_finetuned, reuse_eval=str(evaluation), **common))
    assert not (tmp_path / "other").exists()
    # --original-eval only matters to the relearning attack: without it, it is not even read
    attack(
        _config(
            small_tofu,
            tmp_path / "query",
            attacks="paraphrase",
            translations=translations,
            original_eval=str(tmp_path / "missing"),
        ),
        log=lambda _: None,
    )
    with pytest.raises(ConfigError, match="--original-model"):
        _config(small_tofu, tmp_path / "x", original_model="", original_eval=str(evaluation)).validate()


def test_retain_questions_under_the_same_query_attacks(small_tofu, tmp_path):
    """--retain-queries asks out-of-scope questions under every wrapper and language too; a language
    without retain translations is left out of the retain side with its reason, not silently."""
    items = small_tofu["forget_items"]
    config = _config(
        small_tofu,
        tmp_path / "out",
        attacks="jailbreak,crosslingual",
        languages="es",
        jailbreak_library="prefix_injection,many_shot_priming",
        retain_queries=2,
        translations=str(_translations(tmp_path, items, langs=("es",))),
    )
    out = attack(config, log=lambda _: None)
    blocks = json.loads((out / "ATTACK.json").read_text(encoding="utf-8"))["blocks"]
    from tru.data.specs import load_items

    retain_questions = [x.question for x in load_items(small_tofu["retain"], "")[:2]]
    for name in ("prefix_injection", "many_shot_priming"):
        body = blocks["jailbreak"][name]
        template = next(t for t in LIBRARY if t.name == name)
        assert body["retain_queries"] == [template.fill(q) for q in retain_questions]
        assert len(body["retain_generations"]) == 2
        answered = body["retain"]["per_item"]["answered"]
        assert len(answered["before"]) == len(answered["after"]) == 2
        assert body["retain"]["aggregate"]["answered"]["after"]["n"] == 2
        assert len(body["forget"]["per_item"]["fact_leak"]["after"]) == LIMIT  # the forget side as before
    assert "retain" not in blocks["crosslingual"]["es"]
    assert "2 of 2 retain questions have no 'es' translations" in blocks["crosslingual"]["es"]["retain_skipped"]
    summary = json.loads((out / "SUMMARY.json").read_text(encoding="utf-8"))
    assert "answered" in summary["attacks"]["jailbreak"]["prefix_injection"]["retain"]
