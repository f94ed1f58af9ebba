"""report.html: one self-contained file (inline CSS, PNGs as base64 data URIs, no network)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from tru.report.model import SECTIONS, arrow

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;
 padding:24px;color:#1d1d1f;line-height:1.45}
h1{margin-top:0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f3f4f6}td.name,th.name{text-align:left}
td.best{background:#dcfce7;font-weight:bold}.scroll{overflow-x:auto}
.caption{color:#555;font-size:14px}img{max-width:100%;border:1px solid #eee}
.inputs{font-size:13px;color:#444}code{background:#f3f4f6;padding:0 3px;border-radius:3px}
.ex{border:1px solid #e5e7eb;border-radius:6px;padding:8px 12px;margin:8px 0;font-size:14px}
.ex .r{color:#555;white-space:pre-wrap;border-left:3px solid #93c5fd;padding-left:8px;margin:4px 0}
.ex .a{white-space:pre-wrap;border-left:3px solid #86efac;padding-left:8px;margin:4px 0}
.ex .q{font-weight:600;margin-bottom:4px}.ex .q .lab{margin-right:6px}
.lab{font-size:12px;font-weight:bold;color:#6b7280;text-transform:uppercase}
td.pos{color:#b91c1c}td.neg{color:#15803d}
.reading{font-size:11px;color:#6b7280;white-space:normal;max-width:420px}.chg{color:#6b7280;font-size:11px}
ul.head li{margin:6px 0}.note{background:#fef3c7;padding:6px 10px;border-radius:4px}
.said{display:flex;gap:12px;flex-wrap:wrap}.said .col{flex:1 1 300px;min-width:280px}
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(model: dict, table: dict) -> list[str]:
    e = escape
    parts = [f"<h2>{e(table['title'])}</h2>"]
    if table["n"]:
        against = f"; after it, the change against {e(model['reference'])}" if model["reference"] else ""
        parts.append(
            f'<p class="caption">{e(table["n"])}; in brackets the 95% bootstrap interval{against}. '
            "Bold and green ★: the best unlearned model.</p>"
        )
    parts.append(
        '<div class="scroll"><table><tr><th class="name">Metric</th>'
        + "".join(f"<th>{e(m['name'])}</th>" for m in model["methods"])
        + "</tr>"
    )
    for row in table["rows"]:  # one row per metric, one column per method: reads well for many metrics
        reading = f'<div class="reading">{e(row["reading"])}</div>' if row["reading"] else ""
        parts.append(f'<tr><td class="name">{e(row["label"] + arrow(row["better"]))}{reading}</td>')
        for cell in row["cells"]:
            change = f' <span class="chg">({e(cell["change_text"])})</span>' if cell["change_text"] else ""
            if cell["best"]:
                parts.append(f'<td class="best">{e(cell["text"])} ★{change}</td>')
            else:
                parts.append(f"<td>{e(cell['text'])}{change}</td>")
        parts.append("</tr>")
    parts.append("</table></div>")
    return parts


def _said(model: dict) -> list[str]:
    e = escape
    parts = ["<h2>What the models said</h2>", '<div class="said">']
    for entry in model["said"]:
        parts.append(f'<div class="col"><h3>{e(entry["method"])}</h3>')
        for item in entry["answers"]:
            thought = (
                f'<div class="lab">Reasoning</div><div class="r">{e(item["reasoning"].strip())}</div>'
                if item.get("reasoning", "").strip()
                else ""
            )
            parts.append(
                f'<div class="ex"><div class="lab">{e(item["label"])}</div>'
                f'<div class="q">{e(item.get("question", "").strip())}</div>{thought}'
                f'<div class="lab">Answer</div>'
                f'<div class="a">{e(item.get("answer", "").strip()) or "<i>(empty)</i>"}</div></div>'
            )
        parts.append("</div>")
    parts.append("</div>")
    return parts


def render_html(model: dict, folder: Path) -> str:
    e = escape
    methods = model["methods"]
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(model["title"])}</title>',
        f"<style>{CSS}</style></head><body>",
        f"<h1>{e(model['title'])}</h1>",
    ]
    parts += [f'<p class="note">{e(note)}</p>' for note in model["notes"]]
    if model["headlines"]:
        parts += ["<h2>Did it work, and at what cost</h2>", '<ul class="head">']
        parts += [f"<li>{e(line)}</li>" for line in model["headlines"]]
        parts.append("</ul>")
    for table in model["tables"]:
        parts += _table(model, table)
    if model["said"]:
        parts += _said(model)
    for key, (heading, caption) in SECTIONS.items():
        if key not in model["figures"]:
            continue
        parts += [
            f"<h2>{e(heading)}</h2>",
            f'<p class="caption">{e(caption)}</p>',
            _img(folder / model["figures"][key], heading),
        ]
        if key == "attacks":
            parts.append(_attack_table(model))
    if "attacks" not in model["figures"] and model["attack_names"]:
        parts += ["<h2>Robustness under attacks</h2>", _attack_table(model)]
    parts += ["<h2>Inputs</h2>", '<ul class="inputs">']
    for m in methods:
        src = ", ".join(f"{e(k)}: <code>{e(v)}</code>" for k, v in m["inputs"].items() if v)
        parts.append(f"<li><b>{e(m['name'])}</b> (method <code>{e(m['method'])}</code>): {src}</li>")
    parts.append("</ul>")
    parts.append("<h2>More example answers</h2>")
    parts.append(
        '<p class="caption">The first generations of each evaluation: the question asked, then '
        "the reasoning part (when the model wrote one) and the final answer.</p>"
    )
    for m in methods:
        for side, items in m["examples"].items():
            if not items:
                continue
            parts.append(f"<h3>{e(m['name'])} — {e(side)} questions</h3>")
            for item in items:
                reasoning, question = item["reasoning"].strip(), item.get("question", "").strip()
                asked = f'<div class="q"><span class="lab">Question</span> {e(question)}</div>' if question else ""
                thought = (
                    f'<div class="lab">Reasoning</div><div class="r">{e(reasoning)}</div>' if reasoning else ""
                )  # a model without a reasoning part shows its answer only
                parts.append(
                    f'<div class="ex">{asked}{thought}'
                    '<div class="lab">Answer</div>'
                    f'<div class="a">{e(item["answer"].strip()) or "<i>(empty)</i>"}</div></div>'
                )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _attack_table(model: dict) -> str:
    e = escape
    rows = [
        '<div class="scroll"><table><tr><th class="name">Method</th><th class="name">Attack</th>'
        + "".join(f"<th>{e(c['label'])} after</th><th>Δ {e(c['label'])}</th>" for c in model["attack_columns"])
        + "</tr>"
    ]
    for row in model["attack_rows"]:
        cells = []
        for cell in row["cells"]:
            change = cell["delta_value"]
            leak = cell["key"] == "fact_leak" and change
            cls = "" if not leak else (' class="pos"' if change > 0 else ' class="neg"')
            cells.append(f"<td>{e(cell['after'])}</td><td{cls}>{e(cell['delta'])}</td>")
        rows.append(
            f'<tr><td class="name">{e(row["method"])}</td><td class="name">{e(row["attack"])}</td>'
            + "".join(cells)
            + "</tr>"
        )
    return "\n".join(rows) + "</table></div>"
