"""Matplotlib figures for the report, saved as PNG. Each returns None when it has nothing to show."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tru.report.collect import MethodRow  # noqa: E402

DPI = 110


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def tradeoff(rows: list[MethodRow], path: Path) -> Path | None:
    """Forget quality (or forget ROUGE-L when no method has FQ) against model utility. The retain oracle
    has no forget quality (it is the reference), so rows without one are left out and named."""
    with_mu = [r for r in rows if r.metrics.get("model_utility") is not None]
    use_fq = any(r.metrics.get("forget_quality") is not None for r in with_mu)
    ykey, ylabel = (
        ("forget_quality", "Forget quality (higher = better)")
        if use_fq
        else ("forget_rougeL", "Forget ROUGE-L recall (lower = better)")
    )
    left_out = [r.name for r in with_mu if r.metrics.get(ykey) is None]
    note = f" (no {ykey.replace('_', ' ')}: {', '.join(left_out)})" if left_out else ""
    points = [(r.name, r.metrics.get("model_utility"), r.metrics.get(ykey)) for r in rows]
    points = [p for p in points if p[1] is not None and p[2] is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for index, (name, x, y) in enumerate(points):
        ax.scatter([x], [y], s=60)
        # a point with a neighbour just to its right gets its label on the left; labels of points that
        # fall together (two methods at the same forget quality) are staggered vertically
        left = _has_right_neighbour(points, index, log_y=use_fq)
        ax.annotate(
            name,
            (x, y),
            textcoords="offset points",
            xytext=(-6 if left else 6, 6 - 12 * (index % 3)),
            ha="right" if left else "left",
        )
    ax.margins(0.2)
    ax.set_xlabel("Model utility (higher = better)")
    ax.set_ylabel(ylabel)
    if use_fq:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title("Forgetting vs. utility" + note, fontsize=10 if note else 12)
    return _save(fig, path)


def _has_right_neighbour(
    points: list[tuple[str, float, float]], index: int, *, log_y: bool, near: float = 0.12
) -> bool:
    """Whether another point lies to the right of point ``index`` within ``near`` of both axes' spans."""
    import math

    def ys(v: float) -> float:
        return math.log10(max(v, 1e-300)) if log_y else v

    xs_all, ys_all = [p[1] for p in points], [ys(p[2]) for p in points]
    x_span, y_span = (max(xs_all) - min(xs_all)) or 1.0, (max(ys_all) - min(ys_all)) or 1.0
    _, x, y = points[index]
    return any(
        0 < (ox - x) / x_span < near and abs(ys(oy) - ys(y)) / y_span < near
        for j, (_, ox, oy) in enumerate(points)
        if j != index
    )


def judge_bars(rows: list[MethodRow], path: Path) -> Path | None:
    series = [
        ("uq_offline", "UQ (offline rule-based proxy)"),
        ("rq_offline", "RQ (offline rule-based proxy)"),
        ("uq_custom", "UQ"),
        ("rq_custom", "RQ"),
        ("uq_llm", "UQ (LLM judge)"),
        ("rq_llm", "RQ (LLM judge)"),
    ]
    series = [(k, lab) for k, lab in series if any(r.metrics.get(k) is not None for r in rows)]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows) * max(1, len(series)) / 2), 4.2))
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        xs = [j + i * width for j in range(len(rows))]
        ys = [r.metrics.get(key) or 0.0 for r in rows]
        ax.bar(xs, ys, width, label=label)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(rows))])
    ax.set_xticklabels([r.name for r in rows])
    ax.set_ylabel("score (higher = better)")
    ax.set_title("Unlearning quality (UQ) and retention quality (RQ)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plotted_attacks(names: set[str]) -> list[str]:
    """Every attack variant, except that the jailbreak templates are summed up by their worst case
    when it is there (the table beside the figure lists every template)."""
    worst = "jailbreak/worst_case" in names
    return sorted(n for n in names if not (worst and n.startswith("jailbreak/") and n != "jailbreak/worst_case"))


def attack_bars(rows: list[MethodRow], path: Path, metric: str = "fact_leak") -> Path | None:
    """Change of the forget ``metric`` rate under each attack, with its 95% paired interval."""
    names = plotted_attacks({a for r in rows for a, d in r.attacks.items() if metric in d})
    with_attacks = [r for r in rows if any(metric in d for d in r.attacks.values())]
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(8, max(3, 0.32 * len(names) * len(with_attacks) + 1.2)))
    height = 0.8 / len(with_attacks)
    for i, r in enumerate(with_attacks):
        ys = [j + i * height for j in range(len(names))]
        deltas = [r.attacks.get(a, {}).get(metric, {}).get("delta") or {} for a in names]
        xs = [d.get("value") or 0.0 for d in deltas]
        errors = [
            [max(0.0, x - d["low"]) if d.get("low") is not None else 0.0 for x, d in zip(xs, deltas)],
            [max(0.0, d["high"] - x) if d.get("high") is not None else 0.0 for x, d in zip(xs, deltas)],
        ]
        ax.barh(ys, xs, height, xerr=errors, capsize=2, label=r.name)
    ax.set_yticks([j + height * (len(with_attacks) - 1) / 2 for j in range(len(names))])
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"forget {metric.replace('_', ' ')} rate: after attack - before (> 0 = the fact comes back)")
    ax.set_title("Robustness: change under each attack (95% interval)")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def loss_curves(rows: list[MethodRow], path: Path) -> Path | None:
    terms = []
    for r in rows:
        terms += [t for t in r.losses if t not in terms]
    if not terms:
        return None
    cols = min(3, len(terms))
    nrows = (len(terms) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
    for ax, term in zip(axes.flat, terms):
        for r in rows:
            if term in r.losses:
                steps, values = r.losses[term]
                ax.plot(steps, values, marker="." if len(steps) < 40 else None, label=r.name)
        ax.set_title(term, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(terms) :]:
        ax.axis("off")
    return _save(fig, path)


def all_figures(rows: list[MethodRow], out: Path) -> dict[str, Path]:
    figures = {
        "tradeoff": tradeoff(rows, out / "tradeoff.png"),
        "judges": judge_bars(rows, out / "judges.png"),
        "attacks": attack_bars(rows, out / "attacks.png"),
        "losses": loss_curves(rows, out / "losses.png"),
    }
    return {k: v for k, v in figures.items() if v is not None}
