"""The report's comparison as plain-text tables for the terminal (the same numbers as report.md)."""

from __future__ import annotations

from tru.report.model import arrow, fmt, fmt_interval, is_best


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:  # first column left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(header), "-" * len(line(header)), *(line(r) for r in rows)]


def render_text(model: dict) -> str:
    """The headlines, then one row per metric, one column per method; * marks the best value of a row."""
    methods = model["methods"]
    out = [*model["notes"], *(f"- {line}" for line in model["headlines"])]
    out += [""] if out else []
    rows = []
    for metric in model["metrics"]:
        cells = [metric["label"] + arrow(metric["better"])]
        for m in methods:
            value = m["metrics"][metric["key"]]
            cells.append(fmt(value) + ("*" if is_best(model, m, metric["key"]) else " "))
        rows.append(cells)
    out += _table(["metric", *(m["name"] + " " for m in methods)], rows)
    attacked = [m for m in methods if m["attacks"]]
    if attacked:
        out += [
            "",
            "attacks: change of the forget fact-leak rate (after - before, 95% interval; > 0: the fact comes back)",
        ]
        rows = [
            [
                name,
                *(
                    fmt_interval(m["attacks"].get(name, {}).get("fact_leak", {}).get("delta"), signed=True)
                    for m in attacked
                ),
            ]
            for name in model["attack_names"]
        ]
        out += _table(["attack", *(m["name"] for m in attacked)], rows)
    out.append(
        "(* best per row among the unlearned models; ↑ higher is better, ↓ lower is better; "
        "UQ/RQ offline proxy = rule-based, not an LLM judge)"
    )
    return "\n".join(out)
