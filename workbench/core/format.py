"""Text formatting shared by the CLI, the model cards, the reports and the screens (one rule for a missing value)."""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"


def number(value: Any, digits: int = 4) -> str:
    """A metric value: fixed precision, or an em dash when absent or not finite."""
    if value is None or isinstance(value, bool):
        return MISSING
    try:
        value = float(value)
    except (TypeError, ValueError):
        return MISSING
    if not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}f}"


def megabytes(size: Any) -> str:
    """A file size in MB (10^6 bytes), or an em dash when unknown."""
    return MISSING if size is None else f"{size / 1e6:.1f} MB"


def one_line(text: Any, limit: int) -> str:
    """``text`` with its whitespace collapsed, cut to ``limit`` characters (an ellipsis marks the cut)."""
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 1] + "…"
