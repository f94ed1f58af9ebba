"""`tru report`: a readable report (HTML, Markdown, JSON, PNGs) over finished runs and evaluations."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from tru.core.errors import ConfigError
from tru.core.files import current_umask, write_json
from tru.report.config import ReportConfig


def reading_notes(rows) -> list[str]:
    """Header lines: evaluations that used --limit (their numbers are from part of the data), and the rule
    that found the facts whose leakage is measured, where the data gives no key values."""
    limited = sorted({r.limit for r in rows if r.limit})
    notes = [
        f"Evaluated on the first {n} items of each split (--limit {n}), not every item: "
        f"{', '.join(r.name for r in rows if r.limit == n)}."
        for n in limited
    ]
    from tru.evaluate.registry import KEY_VALUES_RULE

    rules = sorted({r.leak_keys for r in rows if r.leak_keys and r.leak_keys != KEY_VALUES_RULE})
    notes += [
        f"Fact leak is measured against {rule}: {', '.join(r.name for r in rows if r.leak_keys == rule)}."
        for rule in rules
    ]
    return notes


REPORT_FILES = ("report.json", "report.md", "report.html")


def _users_entries(folder: Path) -> list[Path]:
    """What a user put in an earlier report's folder: everything but its report files and the figures
    its report.json names. A replaced report keeps them."""
    try:
        figures = set(json.loads((folder / "report.json").read_text(encoding="utf-8")).get("figures", {}).values())
    except (OSError, ValueError, AttributeError):
        figures = set()
    made = set(REPORT_FILES) | figures
    return [p for p in sorted(folder.iterdir()) if p.name not in made]


def build_report(config: ReportConfig) -> Path:
    """Read every method's folders, then write the report into a temporary folder and move it to
    config.out in one rename, so a failure never leaves a half-written report."""
    from tru.report.collect import collect, parse_runs
    from tru.report.html import render_html
    from tru.report.markdown import render_markdown
    from tru.report.model import build_model
    from tru.report.plots import all_figures

    config.validate()
    out = Path(config.out).expanduser()
    if out.exists() and not config.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    if out.exists() and any(out.iterdir()) and not (out / "report.json").is_file():
        raise ConfigError(
            f"--out {out} is not a report folder (no report.json): --overwrite replaces only an "
            "earlier report; choose another --out"
        )
    rows = collect(parse_runs(config.runs), config.examples)  # all inputs read before anything is written
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; the report is an ordinary folder
        figures = {k: p.name for k, p in all_figures(rows, tmp).items()}
        model = build_model(rows, config.title, figures, reference=config.reference, notes=reading_notes(rows))
        write_json(tmp / "report.json", model)
        (tmp / "report.md").write_text(render_markdown(model), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(model, tmp), encoding="utf-8")
        if out.exists():
            kept = _users_entries(out)
            clash = [p.name for p in kept if (tmp / p.name).exists()]
            if clash:
                raise ConfigError(f"{out / clash[0]} is not the earlier report's, and the new one writes it; move it")
            for entry in kept:
                os.replace(entry, tmp / entry.name)
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
