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
CELL_CHARS = 60  # cells are cut in the table; the whole text is in the file, not on one terminal line


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
        if columns != self.columns:
            table.clear(columns=True)
            table.add_column("#", key="#")
            for i, name in enumerate(columns):
                table.add_column(name, key=f"c{i}")
            self.columns = list(columns)
        else:
            table.clear()
        for offset, row in enumerate(rows):
            cells = [c if len(c) <= CELL_CHARS else c[: CELL_CHARS - 1] + "…" for c in row[: len(columns)]]
            cells += [""] * (len(columns) - len(cells))
            # Cell text is data, not markup: a "[b]" in a review must not turn bold.
            table.add_row(Text(fmt.count(start + offset + 1), style="dim"), *(Text(c.replace("\n", "⏎")) for c in cells))
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
