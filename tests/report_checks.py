"""Shared check: every number in a report is the one in the SUMMARY.json / summary.json it came from."""

from __future__ import annotations

import json
from pathlib import Path

from tru.report.collect import all_metrics


def _dig(data, path):
    for key in path:
        data = data[key]
    return data.get("value") if isinstance(data, dict) else data


def assert_report_matches_summaries(report: Path) -> dict:
    """report.json equals the sources exactly; report.md shows each value as report.json's text for it
    (two significant digits, its interval). Returns report.json."""
    data = json.loads((report / "report.json").read_text(encoding="utf-8"))
    md_rows = {}
    for line in (report / "report.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(data["methods"]) + 1 and line.startswith("| "):
            md_rows[cells[0]] = cells[1:]
    sources = {key: (source, path) for key, _, source, path, _, _ in all_metrics()}
    inputs = {m["name"]: m["inputs"] for m in data["methods"]}
    loaded = {}
    for name, paths in inputs.items():
        files = {
            "eval": Path(paths["eval"]) / "SUMMARY.json" if paths["eval"] else None,
            "run": Path(paths["run"]) / "summary.json" if paths["run"] else None,
        }
        loaded[name] = {k: json.loads(f.read_text(encoding="utf-8")) for k, f in files.items() if f is not None}
    checked = 0
    arrows = {"higher": " ↑", "lower": " ↓"}
    for table in data["tables"]:
        for row in table["rows"]:
            shown_row = md_rows[row["label"] + arrows.get(row["better"] or "", "")]
            source, path = sources[row["key"]]
            for column, cell in enumerate(row["cells"]):
                shown = shown_row[column].replace("*", "").replace("★", "").strip()
                if cell["value"] is None:
                    assert shown == "–", (cell["method"], row["key"], shown)
                    continue
                assert cell["value"] == _dig(loaded[cell["method"]][source], path), (cell["method"], row["key"])
                assert shown.startswith(cell["text"]), (cell["method"], row["key"], shown, cell["text"])
                checked += 1
    assert checked >= len(data["methods"]) * 3, "too few numbers in the report to call it checked"
    return data
