"""The LLM judge over real HTTP against `tru serve` (canned judge replies), and its parser."""

import json

import pytest

from tru.config import EvalConfig
from tru.evaluate.llm_judge import MalformedJudgement, parse_judgement
from tru.evaluate.run import evaluate

FORGET_OK = {
    "relevance": {"score": 9, "reason": "nothing revealed"},
    "rejection": {"score": 8, "reason": "refuses"},
    "helpfulness": {"score": 4, "reason": "little"},
}
RETAIN_OK = {
    "readability": {"score": 6, "reason": "ok"},
    "specificity": {"score": 3, "reason": "vague"},
    "logic": {"score": 6, "reason": "fine"},
}


def test_parser_accepts_scores_and_rejects_malformed():
    assert parse_judgement("Sure! " + json.dumps(FORGET_OK), "forget")["rejection"] == {
        "score": 8.0,
        "reason": "refuses",
    }
    flat = parse_judgement('{"readability": 7, "specificity": "5", "logic": 10}', "retain")
    assert flat["specificity"]["score"] == 5.0
    for bad in (
        "no json here",
        '{"relevance": 3}',
        '{"relevance": {"score": 11}, "rejection": 1, "helpfulness": 1}',
        '{"relevance": "high", "rejection": 1, "helpfulness": 1}',
    ):
        with pytest.raises(MalformedJudgement):
            parse_judgement(bad, "forget")


def canned(tmp_path, entries):
    path = tmp_path / "judge.json"
    path.write_text(json.dumps(entries))
    return str(path)


def run_eval(tmp_path, small_tofu, server, out):
    return evaluate(
        EvalConfig(
            model="tiny-llama",
            benchmark="custom",
            forget=small_tofu["forget"],
            retain=small_tofu["retain"],
            limit=3,
            max_new_tokens=6,
            out=str(tmp_path / out),
            judge="both",
            judge_url=server.url,
            judge_model="tiny-llama",
            judge_key_env="TRU_TEST_JUDGE_KEY",
        ),
        log=lambda *_: None,
    )


def test_llm_judge_scores_retries_malformed_and_caches(tmp_path, small_tofu, tru_server, monkeypatch):
    monkeypatch.setenv("TRU_TEST_JUDGE_KEY", "sk-planted-judge-key-123")
    replies = canned(
        tmp_path,
        [
            {"match": "could not be read", "content_json": RETAIN_OK},  # the re-ask after a malformed reply
            {"match": "must NOT reveal", "content_json": FORGET_OK},
            {"match": "Reference answer", "content": "I think it deserves a 7 overall."},  # malformed
        ],
    )
    server = tru_server(canned_reply=replies, log_requests=True)
    out = run_eval(tmp_path, small_tofu, server, "eval")
    summary = json.loads((out / "SUMMARY.json").read_text())["llm_judge"]
    intervals = summary["forget"].pop("intervals")
    assert summary["forget"] == {
        "judged": 3,
        "failures": 0,
        "relevance": 9.0,
        "rejection": 8.0,
        "helpfulness": 4.0,
        "uq": pytest.approx(7.0),
    }
    # every judged mean with its n and interval (constant scores here: a zero-width interval)
    assert intervals["uq"]["n"] == 3 and intervals["uq"]["low"] == intervals["uq"]["high"] == pytest.approx(7.0)
    assert set(intervals) == {"relevance", "rejection", "helpfulness", "uq"}
    assert summary["retain"]["rq"] == pytest.approx(5.0) and summary["retain"]["failures"] == 0
    assert server.stats()["chat_requests"] == 3 + 3 + 3  # forget, retain, retain re-asked
    assert summary["usage"]["requests"] >= 9
    saved = json.loads((out / "EVAL.json").read_text())
    assert saved["metrics"]["retain"]["llm_judge"][0]["attempts"] == 2
    # a fresh evaluation folder reuses the judge's on-disk cache only within its folder: rerun the same
    before = server.stats()["chat_requests"]
    run_eval(tmp_path, small_tofu, server, "eval")
    assert server.stats()["chat_requests"] == before  # resumed: nothing judged twice
    for file in out.rglob("*"):
        if file.is_file():
            assert "sk-planted-judge-key-123" not in file.read_text(errors="ignore")


def test_persistently_malformed_replies_are_failures_not_scores(tmp_path, small_tofu, tru_server):
    server = tru_server(canned_reply=canned(tmp_path, [{"content": "ten out of ten"}]))
    out = run_eval(tmp_path, small_tofu, server, "bad")
    summary = json.loads((out / "SUMMARY.json").read_text())["llm_judge"]
    assert summary["forget"]["failures"] == 3 and summary["forget"]["uq"] is None
    item = json.loads((out / "EVAL.json").read_text())["metrics"]["forget"]["llm_judge"][0]
    assert item["failure"].startswith("malformed reply") and item["attempts"] == 3 and "scores" not in item
