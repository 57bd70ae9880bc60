"""The end of a run's stdout.log: as many of the newest lines as fit, each cut to the width.

Not Textual's ``Log``: that widget grows a scrollable virtual area on every write, and each growth lays
out the whole screen again, many times a second while a run logs every step. A tail only repaints.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from rich.text import Text
from textual.widget import Widget


class LogTail(Widget, can_focus=True):
    DEFAULT_CSS = """
    LogTail { height: 9; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, max_lines: int = 1000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines: deque[str] = deque(maxlen=max_lines)

    def write_lines(self, lines: Iterable[str]) -> None:
        self.lines.extend(lines)
        self.refresh()

    def clear(self) -> None:
        self.lines.clear()
        self.refresh()

    def render(self) -> Text:
        height = max(1, self.content_size.height)
        shown = list(self.lines)[-height:] if self.lines else []
        if not shown:
            return Text("no output yet", style="dim")
        # Log text is the worker's output, not markup; tabs would break the column arithmetic.
        return Text("\n".join(line.expandtabs(4) for line in shown), no_wrap=True, overflow="ellipsis")
