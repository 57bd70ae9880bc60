"""One page of a data file in a table, with where that page is in the file.

The rows come from a ``RecordIndex``/``TablePreview`` read in a thread; this widget only shows them.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from workbench.ui import format as fmt

PAGE_ROWS = 100
MAX_CELL = 120  # no column is ever wider: a preview is for looking, the whole text is in the file


def fit_widths(natural: list[int], available: int) -> list[int]:
    """Column widths that fit ``available`` cells: short columns (labels) keep their width, the widest
    ones (texts) give way first, down to 8 cells each."""
    widths = [min(MAX_CELL, max(1, n)) for n in natural]
    while sum(widths) > available:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= 8:
            break
        second = max((w for i, w in enumerate(widths) if i != widest), default=0)
        widths[widest] = max(8, second, widths[widest] - (sum(widths) - available))
        if widths[widest] == second:  # level with the next widest, then shrink both in turn
            widths[widest] -= 1
    return widths


class DataPreview(Vertical):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.start = 0
        self.total = 0
        self.done = False
        self.columns: list[str] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="pv-bar"):
            yield Static(id="pv-info")
            yield Input(placeholder="go to row", compact=True, id="pv-goto", restrict=r"[0-9,_ ]*")
        yield DataTable(id="pv-table", cursor_type="row", zebra_stripes=True)

    def clear(self, message: str = "") -> None:
        self.start, self.total, self.done, self.columns = 0, 0, False, []
        self.query_one(DataTable).clear(columns=True)
        self.query_one("#pv-info", Static).update(Text(message, style="dim"))

    def show_page(self, start: int, columns: list[str], rows: list[list[str]], total: int, progress: float,
                  done: bool) -> None:
        table = self.query_one(DataTable)
        if columns != self.columns or not table.columns:  # a file of empty records still gets its "#" column
            table.clear(columns=True)
            table.add_column("#", key="#")
            for i, name in enumerate(columns):
                table.add_column(name, key=f"c{i}")
            self.columns = list(columns)
        else:
            table.clear()
        rows = [[c.replace("\n", "⏎") for c in row[: len(columns)]] + [""] * (len(columns) - len(row)) for row in rows]
        number_width = len(fmt.count(start + len(rows))) + 2
        natural = [max([len(name)] + [len(r[i]) for r in rows]) for i, name in enumerate(columns)]
        # Each column takes two cells of padding; leave room for the row numbers and a scroll bar.
        limits = fit_widths(natural, self.size.width - number_width - 2 * len(columns) - 2)
        for offset, row in enumerate(rows):
            cells = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row, limits)]
            # Cell text is data, not markup: a "[b]" in a review must not turn bold.
            table.add_row(Text(fmt.count(start + offset + 1), style="dim"), *(Text(c) for c in cells))
        self.start, self.total, self.done = start, total, done
        self.show_progress(total, progress, done)

    def show_progress(self, total: int, progress: float, done: bool) -> None:
        self.total, self.done = total, done
        shown = self.query_one(DataTable).row_count
        info = Text()
        if shown:
            info.append(f"rows {fmt.count(self.start + 1)}–{fmt.count(self.start + shown)} of ")
        info.append(fmt.count(total), style="bold")
        if done:
            info.append(" rows")
        else:
            info.append(f"+ rows (indexing {progress:.0%})", style="dim")
        info.append("  · g go to row", style="dim")
        self.query_one("#pv-info", Static).update(info)
