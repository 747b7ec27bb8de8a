"""Formatting helpers for the report's tables, report.md and the console: one place.

``—`` stands for a missing or undefined number everywhere.
"""

from __future__ import annotations

import math
from typing import Any


def num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pm(mean: float, sd: float, digits: int = 3) -> str:
    if mean is None or math.isnan(mean):
        return "—"
    if sd is None or math.isnan(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def signed(value: float, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:+.{digits}f}"


def p_value(p: float) -> str:
    if p is None or math.isnan(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_equals(p: float) -> str:
    text = p_value(p)
    return f"p{text}" if text.startswith("<") else f"p={text}"


def fixed(x: float, digits: int = 3) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def value(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
