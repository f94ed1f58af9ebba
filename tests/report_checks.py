"""Shared check: every number in a report is the one in the SUMMARY.json / summary.json it came from."""

from __future__ import annotations

import json
from pathlib import Path

from tru.report.collect import METRICS


def _dig(data, path):
    for key in path:
        data = data[key]
    return data


def assert_report_matches_summaries(report: Path) -> dict:
    """report.json equals the sources exactly; report.md shows them rounded to 4 decimals. Returns report.json."""
    data = json.loads((report / "report.json").read_text(encoding="utf-8"))
    md_rows = {}
    for line in (report / "report.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(data["metrics"]) + 1:
            md_rows[cells[0]] = cells[1:]
    sources = {key: (source, path) for key, _, source, path, _ in METRICS}
    checked = 0
    for method in data["methods"]:
        files = {"eval": Path(method["inputs"]["eval"]) / "SUMMARY.json",
                 "run": Path(method["inputs"]["run"]) / "summary.json" if method["inputs"]["run"] else None}
        loaded = {k: json.loads(f.read_text(encoding="utf-8")) for k, f in files.items() if f is not None}
        for column, metric in enumerate(data["metrics"]):
            source, path = sources[metric["key"]]
            value = method["metrics"][metric["key"]]
            shown = md_rows[method["name"]][column].replace("*", "").replace("★", "").strip()
            if value is None:
                assert shown == "–", (method["name"], metric["key"], shown)
                continue
            assert value == _dig(loaded[source], path), (method["name"], metric["key"])
            assert float(shown) == round(value, 4) or shown == str(value), (method["name"], metric["key"], shown)
            checked += 1
    assert checked >= len(data["methods"]) * 3, "too few numbers in the report to call it checked"
    return data
