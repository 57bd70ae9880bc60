"""Compare: two or more runs side by side. Metrics (best marked) with the paired significance verdicts,
then tabs for the curves, per-class scores, confusion matrices, the examples the runs disagree on, and the
config fields that differ.

The runs come from the Runs screen (space selects, c compares) through ``app.compared_runs``.
``compare_runs`` reads every run's files and bootstraps, so it runs in a thread worker that posts a
``Compared`` message back; a bad request (a deleted run, fewer than two runs) is shown in place.
"""

from __future__ import annotations

from typing import Any, Iterable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from workbench.core.errors import WorkbenchError
from workbench.ui.messages import HandoffChanged
from workbench.ui.screens.base import Notice, WorkbenchScreen
from workbench.ui.widgets.charts import LineChart, Series

# One colour per run (A, B, C, …), the same in every chart and table heading.
RUN_COLORS = ("cyan", "magenta", "yellow", "green", "red", "blue")
TABS = (("curves", "Curves"), ("per-class", "Per class"), ("confusion", "Confusion"),
        ("disagreements", "Disagreements"), ("config", "Config"))
EVAL_CURVE = "eval_accuracy"
TEXT_LIMIT = 200


def run_color(index: int) -> str:
    return RUN_COLORS[index % len(RUN_COLORS)]


class Compared(Message):
    """``compare_runs`` finished (``comparison``) or refused (``error``) for ``run_ids`` at ``align``."""

    def __init__(self, run_ids: list[str], align: str, comparison: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.run_ids, self.align, self.comparison, self.error = run_ids, align, comparison, error


# --- renderables (pure: the tests and the screen share them) ----------------------------------------------
def header_text(c: Any) -> Text:
    text = Text(" Compare ", style="bold")
    for i, r in enumerate(c.runs):
        if i:
            text.append(" vs " if len(c.runs) == 2 else " · ", style="dim")
        text.append(f" {r.letter} ", style=f"bold reverse {run_color(i)}")
        text.append(f" {r.label}")
    return text


def eval_text(c: Any) -> Text:
    """One line for the header: the shared eval set, or the (first) reason there is none."""
    if c.same_eval:
        return Text(f"same eval set ✔ ({c.eval_rows})", style="green", no_wrap=True, overflow="ellipsis")
    reason = c.notes[0] if c.notes else "some runs have no predictions."
    return Text(f"no shared eval set ✘ {reason}", style="yellow", no_wrap=True, overflow="ellipsis")


def notes_text(c: Any) -> Text:
    """Every reason part of the comparison is missing, in full (the header only has room for one)."""
    return Text("\n".join(f"⚠ {note}" for note in c.notes), style="yellow")


def metrics_table(c: Any) -> Table:
    from workbench.core.compare import format_delta, format_metric

    t = Table(box=None, header_style="bold", padding=(0, 1), expand=False)
    t.add_column("metric")
    for i, r in enumerate(c.runs):
        t.add_column(Text(r.letter, style=f"bold {run_color(i)}"), justify="right")
    for r in c.runs[1:]:
        t.add_column(f"Δ {r.letter}−A", justify="right")
    for m in c.metrics:
        if all(v is None for v in m.values):
            continue
        cells = [Text(format_metric(m.key, v) + (" ★" if i in m.best else "  "),
                      style="bold green" if i in m.best else "") for i, v in enumerate(m.values)]
        t.add_row(Text(m.label, style="bold" if m.main else ""), *cells,
                  *[format_delta(m.key, d) for d in m.deltas[1:]])
    return t


def verdicts_text(c: Any) -> Text:
    letters = [r.letter for r in c.runs]
    text = Text()
    for n, p in enumerate(c.pairs):
        if n:
            text.append("\n")
        style = "bold green" if p.significant else ("dim" if p.refused else "")
        text.append(f"{letters[p.b]} vs {letters[p.a]}: ", style="bold")
        text.append(p.verdict, style=style)
    return text


def per_class_table(c: Any) -> Table | Text:
    from workbench.core.compare import CLASS_METRICS, format_delta

    if not c.per_class:
        return Text("No per-class scores: none of the runs has a final evaluation yet.", style="dim")
    letters = [r.letter for r in c.runs]
    short = {"precision": "P", "recall": "R", "f1": "F1"}
    t = Table(box=None, header_style="bold", padding=(0, 1),
              title="P precision · R recall · Δ in points vs A", title_justify="left", title_style="dim")
    t.add_column("class", overflow="ellipsis", max_width=16)
    t.add_column("n", justify="right")
    for m in CLASS_METRICS:
        for i, x in enumerate(letters):
            t.add_column(Text(f"{short[m]} {x}", style=run_color(i)), justify="right")
        for x in letters[1:]:
            t.add_column(f"Δ{x}", justify="right")
    for row in c.per_class:
        cells: list[Any] = []
        for m in CLASS_METRICS:
            cells += ["—" if v is None else f"{v:.3f}" for v in row.scores[m]]
            for d in row.deltas[m][1:]:
                cells.append(Text(format_delta(m, d).replace(" pt", ""),
                                  style="" if d is None or abs(d) < 1e-9 else ("green" if d > 0 else "red")))
        support = "/".join("—" if s is None else str(s) for s in dict.fromkeys(row.support))
        t.add_row(row.label, support, *cells)
    return t


def confusion_group(c: Any) -> Group:
    parts: list[Any] = [Text("rows: gold label · columns: predicted label", style="dim")]
    for i, (r, cm) in enumerate(zip(c.runs, c.confusion)):
        heading = Text.assemble((f" {r.letter} ", f"bold reverse {run_color(i)}"), f" {r.label}")
        if cm is None and c.main_metric == "f1":
            parts += [heading, Text("  entity-level scores have no confusion matrix; see Per class", style="dim"), Text("")]
            continue
        if cm is None:
            parts += [heading, Text("  no evaluation yet", style="dim"), Text("")]
            continue
        t = Table(box=None, header_style="bold", padding=(0, 1))
        t.add_column("")
        for label in cm.labels:
            t.add_column(label[:12], justify="right")
        for g, (label, row) in enumerate(zip(cm.labels, cm.matrix)):
            t.add_row(Text(label[:16], style="bold"),
                      *[Text(str(v), style="green" if g == p else ("red" if v else "dim")) for p, v in enumerate(row)])
        parts += [heading, t, Text("")]
    return Group(*parts)


def config_table(c: Any) -> Table | Text:
    from workbench.core.compare import _value

    if not c.config_diff:
        return Text("The runs' configs are identical (apart from the run name).", style="dim")
    t = Table(box=None, header_style="bold", padding=(0, 1), title="only the fields that differ",
              title_justify="left", title_style="dim")
    t.add_column("field")
    for i, r in enumerate(c.runs):
        t.add_column(Text(r.letter, style=f"bold {run_color(i)}"), overflow="fold")
    for d in c.config_diff:
        t.add_row(d.key, *[_value(v) for v in d.values])
    return t


def prediction_cell(p: Any) -> Text:
    if p is None:
        return Text("—", style="dim")
    score = f" {p.score:.2f}" if p.score is not None else ""
    return Text(f"{'✔' if p.correct else '✘'} {p.predicted}{score}", style="green" if p.correct else "red")


# --- the screen -------------------------------------------------------------------------------------------
class CompareScreen(WorkbenchScreen):
    MODE = "compare"
    BINDINGS = [
        Binding("a", "align", "Step/epoch"),
        Binding("f", "filter", "Class filter"),
        Binding("t", "next_tab", "Next tab"),
        Binding("q,escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_ids: list[str] = []
        self.align = "step"
        self.comparison: Any = None
        self.gold_filter: str | None = None
        self.computing = False

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="cmp-header"):
            yield Static(id="cmp-runs")
            yield Static(id="cmp-eval")
        yield Notice(id="cmp-notice")
        with VerticalScroll(id="cmp-body"):
            yield Static(id="cmp-notes")
            yield Static(id="cmp-metrics")
            yield Static(id="cmp-verdicts")
            with TabbedContent(id="cmp-tabs"):
                with TabPane("Curves", id="curves"):
                    yield Static(id="cmp-align")
                    with Horizontal(id="cmp-charts"):
                        yield LineChart("Train loss", empty="no train loss logged", id="cmp-loss", classes="panel")
                        yield LineChart("Eval accuracy", empty="no evaluation yet", id="cmp-eval-chart", classes="panel")
                with TabPane("Per class", id="per-class"):
                    yield Static(id="cmp-per-class")
                with TabPane("Confusion", id="confusion"):
                    yield Static(id="cmp-confusion")
                with TabPane("Disagreements", id="disagreements"):
                    yield Static(id="cmp-filter")
                    yield DataTable(id="cmp-disagreements", cursor_type="row", zebra_stripes=True)
                with TabPane("Config", id="config"):
                    yield Static(id="cmp-config")
                with TabPane("Samples", id="samples"):  # causal-lm-sft: generations side by side
                    yield Static(id="cmp-samples")

    def on_mount(self) -> None:
        body = self.query_one("#cmp-body")
        body.can_focus = True  # up/down/page keys scroll the whole screen at 80×24
        body.focus()

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self._sync_target)

    def on_handoff_changed(self, _: HandoffChanged) -> None:
        self._sync_target()

    # --- which runs ---------------------------------------------------------------------------------------
    def _sync_target(self) -> None:
        wanted = list(getattr(self.wb, "compared_runs", None) or [])
        if len(wanted) < 2:
            self.run_ids = wanted
            self.query_one("#cmp-runs", Static).update(Text(" Compare", style="bold"))
            self.query_one(Notice).show("Select two or more runs on the Runs screen (1) with space, then press c.",
                                        "info")
            return
        if wanted != self.run_ids or self.comparison is None:
            self.run_ids = wanted
            self.gold_filter = None
            self.comparison = None
            self._compute()

    def _compute(self) -> None:
        self.computing = True
        self.query_one(Notice).show(f"Comparing {len(self.run_ids)} runs…", "info")
        self._run_compare(list(self.run_ids), self.align)

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _run_compare(self, run_ids: list[str], align: str) -> None:
        from workbench.core.compare import compare_runs

        try:
            runs = [self.wb.store.get(run_id) for run_id in run_ids]
            result = Compared(run_ids, align, comparison=compare_runs(runs, align=align))
        except WorkbenchError as exc:
            result = Compared(run_ids, align, error=str(exc))
        except Exception as exc:  # a damaged run directory must not leave the screen waiting forever
            result = Compared(run_ids, align, error=f"Could not compare the runs: {exc}")
        if not get_current_worker().is_cancelled:
            self.post_message(result)

    def on_compared(self, message: Compared) -> None:
        if message.run_ids != self.run_ids or message.align != self.align:
            return  # an answer to an older request
        self.computing = False
        if message.error:
            self.comparison = None
            self.query_one(Notice).show(message.error)
            return
        self.query_one(Notice).clear()
        same_runs = self.comparison is not None and [r.id for r in self.comparison.runs] == message.run_ids
        self.comparison = message.comparison
        if same_runs:
            self._show_curves()  # only the alignment changed
        else:
            self._show_all()

    # --- drawing ------------------------------------------------------------------------------------------
    def _show_all(self) -> None:
        c = self.comparison
        self.query_one("#cmp-runs", Static).update(header_text(c))
        self.query_one("#cmp-eval", Static).update(eval_text(c))
        notes = self.query_one("#cmp-notes", Static)
        notes.update(notes_text(c))
        notes.display = bool(c.notes)
        self.query_one("#cmp-metrics", Static).update(metrics_table(c))
        self.query_one("#cmp-verdicts", Static).update(verdicts_text(c))
        self.query_one("#cmp-per-class", Static).update(per_class_table(c))
        self.query_one("#cmp-confusion", Static).update(confusion_group(c))
        self.query_one("#cmp-config", Static).update(config_table(c))
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("disagreements").label = f"Disagreements {len(c.disagreements)}"
        tabs.get_tab("config").label = f"Config {len(c.config_diff)}"
        self._show_samples()
        self._show_curves()
        self._show_disagreements()

    def _show_samples(self) -> None:
        from workbench.ui.widgets.samples import samples_table

        c = self.comparison
        infos = []
        for r in c.runs:
            try:
                infos.append(self.wb.store.get(r.id).info)
            except WorkbenchError:
                infos.append({})
        self.sample_rows = samples_table(infos, [r.letter for r in c.runs], [run_color(i) for i in range(len(c.runs))])
        self.query_one("#cmp-samples", Static).update(self.sample_rows)

    def _show_curves(self) -> None:
        c = self.comparison
        letters = [r.letter for r in c.runs]
        loss, ev = [], []
        for s in c.curves:
            if s.name == "train_loss":
                loss.append(Series(letters[s.run], s.x, s.y, color=run_color(s.run)))
            elif s.name in (EVAL_CURVE, "eval_f1"):  # eval_f1: entity F1 of token-classification runs
                ev.append(Series(letters[s.run], s.x, s.y, color=run_color(s.run), marker="hd"))
        for chart, series in ((self.query_one("#cmp-loss", LineChart), loss),
                              (self.query_one("#cmp-eval-chart", LineChart), ev)):
            chart.xlabel = c.align
            chart.series = []  # redraw at once: this is not a live curve
            chart.show(series)
        other = "epoch" if c.align == "step" else "step"
        self.query_one("#cmp-align", Static).update(Text.assemble(
            ("aligned by ", "dim"), (c.align, "bold"), (f" · a: align by {other}", "dim")))

    @property
    def disagreements(self) -> list[Any]:
        """The disagreements shown: all of them, or those of the filtered gold class."""
        c = self.comparison
        if c is None:
            return []
        return c.disagreements_for(gold=self.gold_filter) if self.gold_filter else c.disagreements

    def _show_disagreements(self) -> None:
        c = self.comparison
        table = self.query_one("#cmp-disagreements", DataTable)
        table.clear(columns=True)
        members = c.disagreement_runs
        if len(members) < 2:
            self.query_one("#cmp-filter", Static).update(Text(
                "No disagreements to list: fewer than two runs have predictions on the same eval set.", style="dim"))
            table.display = False
            return
        table.display = True
        items = self.disagreements
        scope = f"gold {self.gold_filter}" if self.gold_filter else "all classes"
        self.query_one("#cmp-filter", Static).update(Text.assemble(
            (f"{len(items)} of {len(c.disagreements)} examples · ", ""), ("filter: ", "dim"), (scope, "bold"),
            (" · f: next class", "dim")))
        # Columns as wide as the class names need; the text takes the rest of the row.
        longest = max((len(label) for label in c.labels), default=4)
        gold_w = min(16, max(4, longest))
        run_w = min(24, max(6, longest + 7))  # "✘ label 0.83"
        width = max(20, self.size.width - 6 - gold_w - run_w * len(members) - 2 * (len(members) + 2))
        table.add_column("gold", width=gold_w, key="gold")
        for i in members:
            table.add_column(Text(c.runs[i].letter, style=f"bold {run_color(i)}"), width=run_w, key=f"run-{i}")
        table.add_column("text", width=width, key="text")
        for d in items:
            text = " ".join(d.input.split())
            text = text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
            table.add_row(d.gold, *[prediction_cell(d.predictions[i]) for i in members], text, key=str(d.id))

    # --- actions ------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("align", "filter", "next_tab"):
            return True if self.comparison is not None else None
        return True

    def action_align(self) -> None:
        if self.comparison is None:
            return
        self.align = "epoch" if self.align == "step" else "step"
        self.query_one(TabbedContent).active = "curves"
        self._compute()

    def action_filter(self) -> None:
        c = self.comparison
        if c is None or not c.labels:
            return
        cycle: list[str | None] = [None, *c.labels]
        self.gold_filter = cycle[(cycle.index(self.gold_filter) + 1) % len(cycle)]
        self.query_one(TabbedContent).active = "disagreements"
        self._show_disagreements()

    def action_next_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [pane_id for pane_id, _ in TABS]
        tabs.active = ids[(ids.index(tabs.active) + 1) % len(ids)] if tabs.active in ids else ids[0]

    def action_back(self) -> None:
        self.wb.switch_mode("runs")

    def palette_commands(self) -> Iterable[SystemCommand]:
        if self.comparison is not None:
            other = "epoch" if self.align == "step" else "step"
            yield SystemCommand(f"Align curves by {other}", "Put the compared runs' curves on a common x axis (a)",
                                self.action_align)
            yield SystemCommand("Next class filter", "Show the disagreements of the next gold class (f)",
                                self.action_filter)
            for pane_id, title in TABS:
                yield SystemCommand(f"Compare: {title}", f"Show the {title} tab",
                                    lambda p=pane_id: setattr(self.query_one(TabbedContent), "active", p))
