"""Number formatting shared by the CLI, the model cards and the screens (one rule for a missing value)."""

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
