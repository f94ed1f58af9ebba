"""report.html: one self-contained file (inline CSS, PNGs as base64 data URIs, no network)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from tru.report.model import SECTIONS, arrow, fmt, is_best

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
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def render_html(model: dict, folder: Path) -> str:
    e = escape
    methods, metrics = model["methods"], model["metrics"]
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(model['title'])}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{e(model['title'])}</h1>", "<ul class=\"inputs\">"]
    for m in methods:
        src = ", ".join(f"{e(k)}: <code>{e(v)}</code>" for k, v in m["inputs"].items() if v)
        parts.append(f"<li><b>{e(m['name'])}</b> (method <code>{e(m['method'])}</code>): {src}</li>")
    parts += ["</ul>", "<h2>Metrics</h2>",
              "<p class=\"caption\">↑ higher is better, ↓ lower is better; the best value per row among the "
              "unlearned models is <b>bold and green ★</b> (the model before unlearning and the retain oracle "
              "are references). Numbers are those in each SUMMARY.json, rounded to 4 decimals "
              "(exact values in report.json). UQ/RQ (offline proxy) come from a rule-based proxy, not an "
              "LLM judge.</p>",
              "<div class=\"scroll\"><table><tr><th class=\"name\">Metric</th>"]
    parts += [f"<th>{e(m['name'])}</th>" for m in methods]
    parts.append("</tr>")
    for metric in metrics:  # one row per metric, one column per method: reads well for many metrics
        parts.append(f"<tr><td class=\"name\">{e(metric['label'] + arrow(metric['better']))}</td>")
        for m in methods:
            value = m["metrics"][metric["key"]]
            if is_best(model, m, metric["key"]):
                parts.append(f"<td class=\"best\">{e(fmt(value))} ★</td>")
            else:
                parts.append(f"<td>{e(fmt(value))}</td>")
        parts.append("</tr>")
    parts.append("</table></div>")
    for key, (heading, caption) in SECTIONS.items():
        if key not in model["figures"]:
            continue
        parts += [f"<h2>{e(heading)}</h2>", f"<p class=\"caption\">{e(caption)}</p>",
                  _img(folder / model["figures"][key], heading)]
        if key == "attacks":
            parts.append(_attack_table(model))
    parts.append("<h2>Example answers</h2>")
    parts.append("<p class=\"caption\">The first generations of each evaluation: the question asked, then "
                 "the reasoning part (when the model wrote one) and the final answer.</p>")
    for m in methods:
        for side, items in m["examples"].items():
            if not items:
                continue
            parts.append(f"<h3>{e(m['name'])} — {e(side)} questions</h3>")
            for item in items:
                reasoning, question = item["reasoning"].strip(), item.get("question", "").strip()
                asked = f"<div class=\"q\"><span class=\"lab\">Question</span> {e(question)}</div>" if question else ""
                thought = (f"<div class=\"lab\">Reasoning</div><div class=\"r\">{e(reasoning)}</div>"
                           if reasoning else "")  # a model without a reasoning part shows its answer only
                parts.append(f"<div class=\"ex\">{asked}{thought}"
                             "<div class=\"lab\">Answer</div>"
                             f"<div class=\"a\">{e(item['answer'].strip()) or '<i>(empty)</i>'}</div></div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _attack_table(model: dict) -> str:
    e = escape
    keys = [("rougeL_recall", "Δ ROUGE-L"), ("refusal", "Δ refusal"), ("uq", "Δ UQ"),
            ("trace_leakage", "Δ trace leakage")]
    rows = ["<div class=\"scroll\"><table><tr><th class=\"name\">Method</th><th class=\"name\">Attack</th>"
            + "".join(f"<th>{e(lab)}</th>" for _, lab in keys) + "</tr>"]
    for m in model["methods"]:
        for name in model["attack_names"]:
            d = m["attacks"].get(name)
            if not d:
                continue
            cells = []
            for k, _ in keys:
                v = d.get(k)
                cls = "" if not v or k != "rougeL_recall" else (" class=\"pos\"" if v > 0 else " class=\"neg\"")
                cells.append(f"<td{cls}>{e(fmt(v))}</td>")
            rows.append(f"<tr><td class=\"name\">{e(m['name'])}</td><td class=\"name\">{e(name)}</td>"
                        + "".join(cells) + "</tr>")
    return "\n".join(rows) + "</table></div>"
