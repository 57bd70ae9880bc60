"""Small text formatters shared by the screens (numbers, durations, ages, bars, statuses).

Pure functions of their inputs (the current time is always passed in), so snapshots stay stable.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

from workbench.core.format import number  # noqa: F401  (re-exported: the screens call fmt.number)

STATUS_GLYPH = {
    "running": "●", "queued": "◌", "completed": "✔", "stopped": "■", "failed": "✖", "crashed": "✖",
}
# Theme variables, so the colours follow light/dark themes (and NO_COLOR turns them monochrome).
STATUS_STYLE = {
    "running": "$success", "queued": "$accent", "completed": "$text", "stopped": "$warning",
    "failed": "$error", "crashed": "$error",
}
STATUS_RICH = {
    "running": "green", "queued": "cyan", "completed": "", "stopped": "yellow", "failed": "red", "crashed": "red",
}


def status_text(status: str, *, width: int = 0) -> Text:
    label = f"{STATUS_GLYPH.get(status, '?')} {status}"
    return Text(label.ljust(width), style=STATUS_RICH.get(status, ""))


def queued_text(position: int, *, width: int = 11) -> Text:
    """A waiting run's status with its place in the workspace's queue: ``◌ queued #2`` (shorter forms when the
    number would not fit ``width``)."""
    glyph = STATUS_GLYPH["queued"]
    labels = (f"{glyph} queued #{position}", f"{glyph} queue #{position}", f"{glyph} #{position}")
    label = next((x for x in labels if len(x) <= width), labels[-1])
    return Text(label, style=STATUS_RICH["queued"])


def count(value: Any) -> str:
    """An integer with thousands separators (``3,412``), or an em dash."""
    if value is None:
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite count
        return "—"


def rate(value: Any) -> str:
    """Throughput such as samples/s: ``87.3``, ``1 214``, ``92k``."""
    if value is None or isinstance(value, bool):
        return "—"
    try:
        value = float(value)
    except (TypeError, ValueError):  # a damaged metrics line: show nothing rather than fail
        return "—"
    if not math.isfinite(value):
        return "—"
    if value >= 100_000:
        return f"{value / 1000:.0f}k"
    if value >= 100:
        return count(round(value))
    return f"{value:.1f}"


def sci(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "—"
    try:
        return f"{float(value):.1e}"
    except (TypeError, ValueError):  # a damaged metrics line: show nothing rather than fail
        return "—"


def duration(seconds: float | None) -> str:
    """``45s``, ``9m 40s``, ``2h 05m``, ``3d 4h``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600}h"


def age(timestamp: float | None, now: float) -> str:
    """How long ago, coarsely: ``just now``, ``12m ago``, ``3h ago``, ``2d ago``."""
    if timestamp is None:
        return "—"
    secs = max(0.0, now - timestamp)
    if secs < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{int(secs // size)}{unit} ago"
    return "just now"  # unreachable


def size_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


_PARTIAL = " ▏▎▍▌▋▊▉"


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar of eighth-blocks, padded with ░ to ``width`` cells."""
    width = max(1, width)
    fraction = 0.0 if fraction is None or not math.isfinite(fraction) else min(1.0, max(0.0, fraction))
    eighths = int(round(fraction * width * 8))
    full, part = divmod(eighths, 8)
    out = "█" * full
    if part and full < width:
        out += _PARTIAL[part]
    return out + "░" * (width - len(out))
