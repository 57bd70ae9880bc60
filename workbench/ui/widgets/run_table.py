"""The Runs list: one row per run, updated in place as statuses and progress change."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from workbench.core.runs import parse_iso
from workbench.ui import format as fmt
from workbench.ui.task_metrics import headline

# (key, label, width); the name column takes what is left. Runs of different tasks share the table, so
# the metric column holds each run's own headline metric, named in the cell (accuracy, entity F1, eval
# loss): one "acc" column would show token accuracy for an NER run and nothing for a language model.
METRIC_WIDTH = 16
FIXED_COLUMNS = (("status", "status", 11), ("step", "step", 11), ("metric", "main metric", METRIC_WIDTH),
                 ("started", "started", 9))


def metric_cell(s: dict[str, Any]) -> Text:
    """``accuracy   0.895``: the run's main metric by name, its value right-aligned under the others'
    (an em dash until the run has finished: run.json carries final metrics only)."""
    name, value = headline(s.get("task"), s.get("metrics"))
    return Text.assemble((name, "dim"), " " * max(1, METRIC_WIDTH - len(name) - len(value)), value)


def run_cells(s: dict[str, Any], now: float, name_width: int) -> tuple:
    status = fmt.status_text(s["status"])
    if s.get("queue_position"):
        status = fmt.queued_text(s["queue_position"], width=FIXED_COLUMNS[0][2])
    if s.get("can_resume"):
        status.append(" ↻", style="bold")
    step = f"{fmt.count(s.get('step'))}/{fmt.count(s.get('max_steps'))}" if s.get("max_steps") else fmt.count(s.get("step"))
    name = s["name"] if len(s["name"]) <= name_width else s["name"][: max(1, name_width - 1)] + "…"
    return (status, name, Text(step, justify="right"), metric_cell(s), fmt.age(parse_iso(s.get("created")), now))


class RunTable(DataTable):
    BINDINGS = [Binding("enter", "select_cursor", "Open", key_display="⏎")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._shown: list[tuple[str, tuple]] = []
        self.name_width = 24

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        status, *rest = FIXED_COLUMNS
        self.add_column(status[1], key=status[0], width=status[2])
        self.add_column("name", key="name", width=self.name_width)
        for key, label, width in rest:
            self.add_column(label, key=key, width=width)

    def fit_width(self, width: int) -> bool:
        """Size the name column to the table's width; True when it changed (rows must be redrawn)."""
        fixed = sum(w for _, _, w in FIXED_COLUMNS) + 2 * (len(FIXED_COLUMNS) + 1) + 2
        name_width = max(12, min(60, width - fixed))
        if name_width == self.name_width:
            return False
        self.name_width = name_width
        self._shown = []
        return True

    def show(self, summaries: list[dict[str, Any]], now: float) -> None:
        """Show ``summaries`` (newest first), changing only what changed and keeping the cursor on its run."""
        rows = [(s["id"], run_cells(s, now, self.name_width)) for s in summaries]
        if rows == self._shown:
            return
        if [k for k, _ in rows] == [k for k, _ in self._shown]:
            for (key, cells), (_, old) in zip(rows, self._shown):
                for col, new, prev in zip(self.columns, cells, old):
                    if new != prev:
                        self.update_cell(key, col, new)
        else:
            current = self.current_key
            self.clear(columns=True)
            self._add_columns()
            for key, cells in rows:
                self.add_row(*cells, key=key)
            if current is not None and current in {k for k, _ in rows}:
                self.move_cursor(row=self.get_row_index(current))
        self._shown = rows

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor can briefly point past a just-removed row
            return None
