"""`tru report`: self-contained HTML, Markdown and PNGs over two fake methods; numbers match the inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tru.cli import main
from tru.config import ReportConfig
from tru.core.errors import ConfigError, InputError
from tru.report import build_report


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _interval(value, n=40, spread=0.125):
    return {"value": value, "low": value - spread, "high": value + spread, "n": n}


def _tofu_summary(fp, fr, mu, fq, uq, rq, gib):
    side = lambda p, r, t: {"prob": p, "rougeL_recall": r, "truth_ratio": t}  # noqa: E731
    summary = {
        "benchmark": "tofu",
        "forget": side(fp, fr, 0.61),
        "retain": side(0.83, 0.71, 0.45),
        "real_authors": side(0.4, 0.5, 0.5),
        "world_facts": side(0.4, 0.5, 0.5),
        "model_utility": mu,
        "mia_auc": {"loss": 0.52, "zlib": 0.5},
        "generation": {
            "forget": {
                "complete_refusal": _interval(0.25),
                "fact_leak": _interval(0.5),
                "gibberish": _interval(gib),
                "trace_fact_leak": {
                    "value": None,
                    "low": None,
                    "high": None,
                    "n": 0,
                    "missing": "the model wrote no reasoning",
                },
            },
            "out_of_scope": {"answered": _interval(0.875, n=120), "gibberish": _interval(gib, n=120)},
        },
        "intervals": {
            "model_utility": _interval(mu, n=120),
            "forget.prob": _interval(fp),
            "mia_auc.loss": {"value": 0.52, "low": 0.25, "high": 0.75, "n": 40},
        },
        "offline_judge": {"label": "offline rule-based proxy (not an LLM judge)", "uq": uq, "rq": rq},
    }
    if fq is not None:
        summary["forget_quality"] = fq
    return summary


def _eval(path: Path, summary: dict, forget_answer: str = "I cannot say.") -> Path:
    _write(path / "SUMMARY.json", summary)

    def gens(a):
        return {
            "question": ["Who wrote 'The Quiet Loom'?", "What is the capital of France?"],
            "text": [a, a],
            "reasoning": ["The question is about a fictitious author.", ""],
            "answer": [a, a],
            "complete": [True, True],
        }

    _write(
        path / "EVAL.json",
        {"identity": {}, "blocks": {"forget/generations": gens(forget_answer), "retain/generations": gens("Paris.")}},
    )
    return path


def _run(path: Path, method: str) -> Path:
    _write(path / "config.json", {"recipe": {"method": method}})
    _write(
        path / "summary.json",
        {
            "method": method,
            "steps": 3,
            "seconds": 1.5,
            "nll_before": {"forget": 2.0, "retain": 2.1},
            "nll_after": {"forget": 3.25, "retain": 2.2},
        },
    )
    rows = [
        {"step": s, "loss": 1.0 / s, "term/forget_ga": -s * 0.5, "term/retain_nll": 2.0, "diag/forget_nll": 2.0 + s}
        for s in (1, 2, 3)
    ]
    (path / "losses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _attack(path: Path) -> Path:
    ba = lambda b, a: {"before": _interval(b), "after": _interval(a), "delta": _interval(a - b)}  # noqa: E731
    forget = {
        "fact_leak": ba(0.25, 0.75),
        "rougeL_recall": ba(0.5, 0.625),
        "refusal": ba(0.5, 0.25),
        "uq": ba(4.0, 3.0),
    }
    _write(
        path / "SUMMARY.json",
        {
            "benchmark": "tofu",
            "attacks": {
                "crosslingual": {"es": {"forget": forget, "retain": {"answered": ba(1.0, 0.75)}}, "seconds": 1.0},
                "quantize": {"int8": {"forget": forget, "retain": forget}, "seconds": 1.0},
                "relearn": {"relearned": {"forget": forget}, "original": {"forget": forget}, "seconds": 1.0},
            },
        },
    )
    _write(
        path / "ATTACK.json",
        {
            "identity": {},
            "blocks": {
                "crosslingual": {
                    "es": {
                        "queries": ["¿Dónde nació Mireille Ibarra?"],
                        "generations": ["Mireille Ibarra nació en Krakow."],
                    }
                }
            },
        },
    )
    return path


@pytest.fixture
def inputs(tmp_path):
    tru_summary = _tofu_summary(0.125, 0.3125, 0.5, 0.875, 6.5, 7.25, 0.0625)
    ga_summary = _tofu_summary(0.0625, 0.4375, 0.375, 0.0125, 2.5, 8.5, 0.5)
    runs = {
        "tru": f"{_run(tmp_path / 'run-tru', 'tru')},{_eval(tmp_path / 'eval-tru', tru_summary)},"
        f"{_attack(tmp_path / 'attack-tru')}",
        "ga": f"{_run(tmp_path / 'run-ga', 'ga')},"
        f"{_eval(tmp_path / 'eval-ga', ga_summary, '<script>alert(1)</script> & done')}",
    }
    return tmp_path, runs, {"tru": tru_summary, "ga": ga_summary}


def test_report_files_self_contained_and_best_marked(inputs):
    tmp_path, runs, _ = inputs
    out = build_report(ReportConfig(runs=runs, out=str(tmp_path / "report")))
    html = (out / "report.html").read_text(encoding="utf-8")
    for name in ("report.md", "report.json", "tradeoff.png", "judges.png", "attacks.png", "losses.png"):
        assert (out / name).is_file(), name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)
    assert "http://" not in html and "https://" not in html
    srcs = re.findall(r'<img[^>]*src="([^"]*)"', html)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in html and "<script" not in html
    assert "<th>tru</th>" in html and "<th>ga</th>" in html
    # best per row, two significant digits: tru has the higher forget quality / UQ, ga the lower forget
    # prob / higher RQ
    for value in ("0.88", "6.5", "0.062 [-0.062, 0.19]", "8.5"):
        assert f'<td class="best">{value} ★' in html, value
    assert '<td class="best">0.012' not in html
    assert "rule-based proxy" in html
    assert "The question is about a fictitious author." in html  # reasoning part shown
    assert "Who wrote &#x27;The Quiet Loom&#x27;?" in html  # and the question asked
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "**0.88** ★" in md and "![Training losses](losses.png)" in md
    assert "**Question:** `` What is the capital of France? ``" in md
    # the headline: refusal, leakage, what was kept, utility, the worst attack by fact leak, with intervals
    headline = next(line for line in md.splitlines() if line.startswith("- tru:"))
    assert "refuses 0.25 [0.12, 0.38] of forget questions" in headline
    assert "answers 0.88 [0.75, 1.0] of out-of-scope questions" in headline
    assert (
        "worst attack by fact leak: crosslingual/es, leaking in 0.75 [0.62, 0.88] (change +0.50 [+0.38, +0.62])"
        in headline
    )
    # n once per table, and the reading under a metric whose direction is not obvious
    assert "n = 40; in brackets the 95% bootstrap interval" in md and "n = 120;" in md
    assert "*MIA AUC (loss)*: forget vs held-out items by loss: 0.5 = like unseen data" in md
    assert "## What the models said" in md and "Its worst attack (crosslingual/es):** `` ¿Dónde nació" in md
    assert "answer: `` Mireille Ibarra nació en Krakow. ``" in md


def test_reference_models_are_never_marked_best(inputs):
    """An evaluation without a run (the model before unlearning, the retain oracle) is a reference: even
    with the best value of a row it gets no mark, and it does not take the mark from the methods; every
    method's value is followed by its change against it."""
    tmp_path, runs, _ = inputs
    oracle = _tofu_summary(0.001, 0.001, 0.9375, 0.9375, 9.5, 9.5, 0.0)  # beats both methods everywhere
    runs = {"oracle": f",{_eval(tmp_path / 'eval-oracle', oracle)}", **runs}
    out = build_report(ReportConfig(runs=runs, out=str(tmp_path / "report")))
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [m["contender"] for m in report["methods"]] == [False, True, True]
    assert report["reference"] == "oracle"
    cells = {
        c["method"]: c for t in report["tables"] for r in t["rows"] if r["key"] == "model_utility" for c in r["cells"]
    }
    assert not cells["oracle"]["best"] and cells["oracle"]["change"] is None
    assert cells["tru"]["change"] == pytest.approx(0.5 - 0.9375) and cells["tru"]["change_text"] == "-0.44"
    html = (out / "report.html").read_text(encoding="utf-8")
    for value in ("0.88", "6.5", "8.5"):  # the methods' marks as without the oracle
        assert f'<td class="best">{value} ★' in html, value
    assert "(against oracle" not in html and "against oracle" in html


def test_numbers_match_summaries(inputs):
    tmp_path, runs, summaries = inputs
    out = build_report(ReportConfig(runs=runs, out=str(tmp_path / "report")))
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    paths = {
        "forget_quality": ("forget_quality",),
        "model_utility": ("model_utility",),
        "forget_prob": ("forget", "prob"),
        "forget_rougeL": ("forget", "rougeL_recall"),
        "retain_prob": ("retain", "prob"),
        "uq_offline": ("offline_judge", "uq"),
        "rq_offline": ("offline_judge", "rq"),
        "forget.gibberish": ("generation", "forget", "gibberish", "value"),
        "out_of_scope.answered": ("generation", "out_of_scope", "answered", "value"),
        "mia_loss_auc": ("mia_auc", "loss"),
    }
    for method in data["methods"]:
        summary = summaries[method["name"]]
        for key, path in paths.items():
            expected = summary
            for part in path:
                expected = expected[part]
            assert method["metrics"][key] == expected, (method["name"], key)
        assert method["metrics"]["nll_after_forget"] == 3.25
        # the interval written beside a bare number is the one shown
        assert method["intervals"]["model_utility"] == summary["intervals"]["model_utility"]
        assert method["intervals"]["mia_loss_auc"] == summary["intervals"]["mia_auc.loss"]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert (
        next(line for line in md.splitlines() if line.startswith("| MIA AUC (loss) |")).count("0.52 [0.25, 0.75]") == 2
    )  # an AUC's interval, as tru eval writes it, in both methods' cells
    tru = next(m for m in data["methods"] if m["name"] == "tru")
    assert tru["attacks"]["crosslingual/es"]["fact_leak"]["delta"]["value"] == 0.75 - 0.25
    # out-of-scope questions under the same attack (--retain-queries): their answered rate beside it
    assert tru["attacks"]["crosslingual/es"]["retain_answered"]["after"]["value"] == 0.75
    assert "retain_answered" not in tru["attacks"]["quantize/int8"]  # a weight attack's retain side has no rate
    assert "| Out-of-scope answered after | Δ Out-of-scope answered |" in md
    # the relearning attack's reference (the model before unlearning) is not shown as an attack
    assert "relearn/relearned" in tru["attacks"] and "relearn/original" not in tru["attacks"]
    # a metric no model has a value of is hidden; the missing reason stays in SUMMARY.json
    assert "forget.trace_fact_leak" not in [m["key"] for m in data["metrics"]]


def test_generations_are_html_escaped(inputs):
    tmp_path, runs, _ = inputs
    out = build_report(ReportConfig(runs=runs, out=str(tmp_path / "report")))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; done" in html


def test_missing_file_is_input_error_and_nothing_written(inputs):
    tmp_path, runs, _ = inputs
    (tmp_path / "eval-ga" / "SUMMARY.json").unlink()
    with pytest.raises(InputError, match="eval-ga/SUMMARY.json"):
        build_report(ReportConfig(runs=runs, out=str(tmp_path / "report")))
    assert not (tmp_path / "report").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report")]
    with pytest.raises(InputError, match="nowhere"):
        build_report(ReportConfig(runs={"x": f",{tmp_path / 'nowhere'}"}, out=str(tmp_path / "r2")))


def test_cli_eval_only_method_and_overwrite(inputs, capsys):
    tmp_path, runs, _ = inputs
    out = tmp_path / "cli-report"
    args = [
        "report",
        "--runs",
        f"base=,{tmp_path / 'eval-ga'}",
        "--runs",
        f"tru={runs['tru']}",
        "--out",
        str(out),
        "--examples",
        "1",
    ]
    assert main(args) == 0
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in data["methods"]] == ["base", "tru"]
    assert len(data["methods"][0]["examples"]["forget"]) == 1
    assert main(args) == 2  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err
    figures = set(data["figures"].values())
    (out / "notes.txt").write_text("mine\n")
    (out / figures.pop()).write_bytes(b"an old figure")
    assert main(args + ["--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine\n"  # the user's file stays; the report's own are new
    assert all((out / f).read_bytes() != b"an old figure" for f in data["figures"].values())
    assert main(["report", "--out", str(tmp_path / "x")]) == 2
    with pytest.raises(ConfigError):
        build_report(ReportConfig(runs={"a": "1,2,3,4"}, out=str(tmp_path / "y")))


def test_custom_benchmark_llm_judge_and_torn_loss_line(tmp_path):
    custom = {
        "benchmark": "custom",
        "forget": {"prob": 0.25, "rougeL_recall": 0.125, "uq": 7.5},
        "retain": {"prob": 0.75, "rougeL_recall": 0.5, "rq": 6.0},
        "generation": {"forget": {"gibberish": {"value": 0.0, "low": 0.0, "high": 0.0, "n": 3}}},
        "llm_judge": {"forget": {"uq": 8.25}, "retain": {"rq": 5.5}},
    }
    run = _run(tmp_path / "run", "npo")
    with open(run / "losses.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"step": 4, "loss"')  # crashed mid-line
    out = build_report(
        ReportConfig(runs={"npo": f"{run},{_eval(tmp_path / 'ev', custom)}"}, out=str(tmp_path / "rep"), examples=0)
    )
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    (method,) = data["methods"]
    assert method["method"] == "npo" and method["examples"] == {}
    assert method["metrics"]["uq_custom"] == 7.5 and method["metrics"]["rq_custom"] == 6.0
    assert method["metrics"]["uq_llm"] == 8.25 and method["metrics"]["rq_llm"] == 5.5
    assert data["best"] == {}  # one method: nothing to mark
    assert set(data["figures"]) == {"judges", "losses"}  # no model utility: no trade-off plot
    assert "LLM judge" in (out / "report.html").read_text(encoding="utf-8")


def test_a_tie_marks_no_best_value():
    from tru.report.collect import MethodInput, MethodRow, best_values

    rows = [
        MethodRow(name, name, MethodInput(name, None, None), metrics={"forget.gibberish": 0.0, "model_utility": mu})
        for name, mu in (("a", 0.5), ("b", 0.25))
    ]
    assert best_values(rows) == {"model_utility": 0.5}


def test_changes_against_the_reference_are_paired_and_the_leak_rule_is_stated(tmp_path):
    """Per-item values of the same items give the change a paired interval; key terms are said in the header."""

    def evaluation(path, leaks, refusals):
        summary = {
            "benchmark": "custom",
            "forget": {"prob": 0.5, "rougeL_recall": 0.5, "uq": 5.0},
            "fact_leak_keys": "the key terms of the gold answers (the data gives no key values; "
            "tru.evaluate.fact_leak)",
            "generation": {"forget": {"fact_leak": _interval(sum(leaks) / 4, n=4)}},
        }
        _eval(path, summary)
        saved = json.loads((path / "EVAL.json").read_text())
        saved["metrics"] = {"forget": {"generation": {"fact_leak": leaks, "refusal": refusals}}}
        (path / "EVAL.json").write_text(json.dumps(saved))
        return path

    base = evaluation(tmp_path / "base", [1.0, 1.0, 1.0, 1.0], [0.0] * 4)
    after = evaluation(tmp_path / "after", [0.0, 0.0, 0.0, 1.0], [1.0] * 4)
    out = build_report(
        ReportConfig(
            runs={"base": f",{base}", "m": f"{_run(tmp_path / 'run', 'tru')},{after}"}, out=str(tmp_path / "report")
        )
    )
    data = json.loads((out / "report.json").read_text())
    cell = next(
        c
        for t in data["tables"]
        for r in t["rows"]
        if r["key"] == "forget.fact_leak"
        for c in r["cells"]
        if c["method"] == "m"
    )
    assert cell["change"] == -0.75 and cell["change_interval"]["n"] == 4
    assert cell["change_interval"]["low"] <= -0.75 <= cell["change_interval"]["high"] < 0
    assert cell["change_text"].startswith("-0.75 [")
    assert any(
        note.startswith("Fact leak is measured against the key terms of the gold answers") for note in data["notes"]
    )


def test_a_corpus_benchmark_gets_a_headline_with_its_own_measures():
    from tru.report.collect import MethodInput, MethodRow
    from tru.report.model import headline

    before = MethodRow("finetuned", "", MethodInput("finetuned", "", "eval"), metrics={"knowmem_forget": 0.25})
    after = MethodRow(
        "tru",
        "tru",
        MethodInput("tru", "run", "eval"),
        metrics={"knowmem_forget": 0.125, "privleak": -3.5},
        intervals={"knowmem_forget": _interval(0.125, n=20)},
    )
    line = headline(after, before)
    assert line.startswith("tru: KnowMem on forget questions 0.12 [0, 0.25] (-0.12 against finetuned)")
    assert "PrivLeak (0: like the retain model) -3.5" in line and "no evaluation" not in line
    assert headline(MethodRow("x", "x", MethodInput("x", "", "")), None) == "x: no evaluation to summarise."
