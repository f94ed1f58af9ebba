"""Numbers as a reader sees them: two significant digits, an interval in brackets, a signed change."""

from __future__ import annotations

import math


def fmt(value) -> str:
    """Two significant digits (whole numbers from 100 on); '–' for no value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:#.2g}".rstrip(".") if value else "0"  # 0.50, not 0.5: two digits shown


def fmt_signed(value) -> str:
    text = fmt(value)
    return text if text in ("–", "0") or text.startswith("-") else "+" + text


def fmt_interval(interval: dict | None, signed: bool = False) -> str:
    """'0.64 [0.45, 0.81]'; the value alone where no interval was written."""
    if not interval or interval.get("value") is None:
        return "–"
    show = fmt_signed if signed else fmt
    if interval.get("low") is None or interval.get("high") is None:
        return show(interval["value"])
    return f"{show(interval['value'])} [{show(interval['low'])}, {show(interval['high'])}]"
