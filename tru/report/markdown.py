"""report.md: the same content as report.html, referencing the PNG files next to it."""

from __future__ import annotations

from tru.report.model import SECTIONS, arrow


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    return "`` " + text.replace("`", "'") + " ``"


def _table(model: dict, table: dict) -> list[str]:
    methods = [m["name"] for m in model["methods"]]
    out = [f"## {table['title']}", ""]
    if table["n"]:
        ref = (
            f"; in brackets the 95% bootstrap interval, after it the change against {model['reference']}"
            if model["reference"]
            else "; in brackets the 95% bootstrap interval"
        )
        out += [f"{table['n']}{ref}. **Bold ★**: the best unlearned model.", ""]
    out.append("| Metric | " + " | ".join(_cell(m) for m in methods) + " |")
    out.append("|---|" + "---:|" * len(methods))
    readings = []
    for row in table["rows"]:
        cells = []
        for cell in row["cells"]:
            text = cell["text"] + (f" ({cell['change_text']})" if cell["change_text"] else "")
            cells.append(f"**{text}** ★" if cell["best"] else text)
        out.append(f"| {_cell(row['label'] + arrow(row['better']))} | " + " | ".join(cells) + " |")
        if row["reading"]:
            readings.append(f"- *{row['label']}*: {row['reading']}")
    return out + [""] + readings + ([""] if readings else [])


def _attacks(model: dict) -> list[str]:
    columns = model["attack_columns"]
    out = [
        "## Attacks: rate after the attack and change (forget questions; out-of-scope questions under the "
        "same attack where tru attack --retain-queries asked them)",
        "",
        "| Method | Attack | " + " | ".join(f"{c['label']} after | Δ {c['label']}" for c in columns) + " |",
        "|---|---|" + "---:|---:|" * len(columns),
    ]
    for row in model["attack_rows"]:
        cells = [text for cell in row["cells"] for text in (cell["after"], cell["delta"])]
        out.append(f"| {_cell(row['method'])} | {row['attack']} | " + " | ".join(cells) + " |")
    return out + [""]


def _said(model: dict) -> list[str]:
    out = ["## What the models said", ""]
    for entry in model["said"]:
        out += [f"### {entry['method']}", ""]
        for item in entry["answers"]:
            out.append(f"- **{item['label']}:** {_quote(item.get('question', '')) or '_(question not recorded)_'}")
            if item.get("reasoning"):
                out.append(f"  - reasoning: {_quote(item['reasoning'])}")
            out.append(f"  - answer: {_quote(item.get('answer', '')) or '_(empty)_'}")
        out.append("")
    return out


def render_markdown(model: dict) -> str:
    out = [f"# {model['title']}", ""]
    out += [f"> {note}" for note in model["notes"]] + ([""] if model["notes"] else [])
    if model["headlines"]:
        out += ["## Did it work, and at what cost", ""] + [f"- {line}" for line in model["headlines"]] + [""]
    for table in model["tables"]:
        out += _table(model, table)
    if model["attack_names"]:
        out += _attacks(model)
    if model["said"]:
        out += _said(model)
    for key, (heading, caption) in SECTIONS.items():
        if key in model["figures"]:
            out += [f"## {heading}", "", caption, "", f"![{heading}]({model['figures'][key]})", ""]
    out += ["## Inputs", ""]
    for m in model["methods"]:
        parts = [f"{k}: `{v}`" for k, v in m["inputs"].items() if v]
        out.append(f"- **{m['name']}** (method `{m['method']}`): " + ", ".join(parts))
    out += ["", "## More example answers", ""]
    for m in model["methods"]:
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
                out.append("   **Answer:** " + (_quote(item["answer"]) or "_(empty)_"))
            out.append("")
    return "\n".join(out).rstrip() + "\n"
