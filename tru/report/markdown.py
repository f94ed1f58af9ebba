"""report.md: the same content as report.html, referencing the PNG files next to it."""

from __future__ import annotations

from tru.report.model import SECTIONS, arrow, fmt, is_best


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(model: dict) -> str:
    out = [f"# {model['title']}", ""]
    methods = model["methods"]
    out += ["## Methods", ""]
    for m in methods:
        parts = [f"{k}: `{v}`" for k, v in m["inputs"].items() if v]
        out.append(f"- **{m['name']}** (method `{m['method']}`): " + ", ".join(parts))
    out += ["", "## Metrics", "",
            "↑ higher is better, ↓ lower is better; **bold ★** marks the best value per column among the "
            "unlearned models (the model before unlearning and the retain oracle are references).", ""]
    metrics = model["metrics"]
    out.append("| Method | " + " | ".join(m["label"] + arrow(m["better"]) for m in metrics) + " |")
    out.append("|---|" + "---:|" * len(metrics))
    for m in methods:
        cells = []
        for metric in metrics:
            value = m["metrics"][metric["key"]]
            text = fmt(value)
            cells.append(f"**{text}** ★" if is_best(model, m, metric["key"]) else text)
        out.append(f"| {_cell(m['name'])} | " + " | ".join(cells) + " |")
    out.append("")
    if model["attack_names"]:
        out += ["## Attack deltas (forget side, after - before)", ""]
        out.append("| Method | Attack | " + " | ".join(["ROUGE-L", "refusal", "UQ", "trace leakage"]) + " |")
        out.append("|---|---|---:|---:|---:|---:|")
        for m in methods:
            for name in model["attack_names"]:
                d = m["attacks"].get(name)
                if d:
                    out.append(f"| {_cell(m['name'])} | {name} | " + " | ".join(
                        fmt(d.get(k)) for k in ("rougeL_recall", "refusal", "uq", "trace_leakage")) + " |")
        out.append("")
    for key, (heading, caption) in SECTIONS.items():
        if key in model["figures"]:
            out += [f"## {heading}", "", caption, "", f"![{heading}]({model['figures'][key]})", ""]
    out += ["## Example answers", ""]
    for m in methods:
        for side, items in m["examples"].items():
            if not items:
                continue
            out += [f"### {m['name']} — {side} questions", ""]
            for i, item in enumerate(items, 1):
                if item.get("question"):
                    out.append(f"{i}. **Question:** {_quote(item['question'])}")
                    out.append("   **Reasoning:** " + (_quote(item["reasoning"]) or "_(none)_"))
                else:
                    out.append(f"{i}. **Reasoning:** " + (_quote(item["reasoning"]) or "_(none)_"))
                out.append(f"   **Answer:** " + (_quote(item["answer"]) or "_(empty)_"))
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    return "`` " + text.replace("`", "'") + " ``"
