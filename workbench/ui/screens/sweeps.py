"""Sweeps: the workspace's hyper-parameter sweeps, the selected one's trials ranked live, its metric against
one parameter at a time, and whether the best trial is really better than the runner-up.

A sweep's trials are ordinary runs, so enter (or m) opens one in the Monitor and c compares the top two in
Compare. ``SweepStore.results`` (the ``sweep show --json`` shape) reads the Optuna study and runs compare's
paired test, so it runs in a thread worker, polled while the screen shows and skipped when none of the
sweep's files changed and no trial is active. The text mirrors ``sft-workbench sweep show``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from workbench.core.errors import WorkbenchError
from workbench.core.format import number
from workbench.core.runs import COMPLETED, FAILED, PREDICTIONS_FILE, RUN_FILE, Run, read_run_json
from workbench.core.sweep_study import STUDY_FILE, SWEEP_FILE
from workbench.core.sweeps import SweepStore
from workbench.ui import format as fmt
from workbench.ui.messages import SweepResultsLoaded, SweepsListed
from workbench.ui.screens.base import Notice, WorkbenchScreen
from workbench.ui.widgets.charts import ScatterChart, Series

REFRESH_S = 1.0
ACTIVE_TRIALS = ("running", "queued")
# Trial statuses beyond a run's own: a pruned trial (its run completed early) and one whose run was deleted.
TRIAL_STYLE = {"pruned": ("x", "yellow"), "missing": ("?", "dim")}
CREATE_HINT = "sft-workbench sweep --config base.yaml --param lr=1e-5,3e-5"
EMPTY_TEXT = (
    "[b]No sweeps in this workspace yet.[/b]\n\n"
    "Create one from the command line, for example:\n\n"
    f"  [b]{CREATE_HINT}[/b]\n\n"
    "Ranges work too: [b]--param lr=log:1e-5..3e-4 --search tpe --trials 12[/b]. The trials run one after\n"
    "another from the workspace's queue and show up here live, ranked by their validation score.")
COMPLETED_COLOR, PRUNED_COLOR, BEST_COLOR = "cyan", "yellow", "red"


# --- text (pure: the tests and the screen share them) -------------------------------------------------------
def param_text(value: Any) -> str:
    """A parameter value as ``sweep show`` prints it (floats to 3 significant digits)."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def describe_param(p: dict[str, Any]) -> str:
    if p.get("values") is not None:
        return f"{p['name']} ∈ {{{', '.join(map(param_text, p['values']))}}}"
    return f"{p['name']} ∈ [{p['low']:g}, {p['high']:g}]{' log' if p.get('log') else ''}"


def sweep_verdict(results: dict[str, Any]) -> str:
    """"Is the best really better?": the paired test of the best trial against the runner-up, in words (the
    same sentence as ``sweep show``)."""
    pair = results.get("best_vs_runner_up")
    if not pair:
        return "best vs runner-up: needs two completed trials."
    return (f"best (trial {pair['best_trial']}) vs runner-up (trial {pair['runner_up_trial']}) on the validation "
            f"split: {pair['verdict']}")


def importance_text(results: dict[str, Any]) -> Text:
    imp = results.get("importance") or {}
    if imp.get("values"):
        return Text("parameter importance (Optuna, fANOVA): "
                    + " · ".join(f"{k} {v:.2f}" for k, v in imp["values"].items()))
    return Text(f"parameter importance: {imp.get('reason') or 'not computed.'}", style="dim")


def info_text(results: dict[str, Any]) -> Text:
    """Under the chart: the search space, the verdict on the best two trials, parameter importance, any error."""
    text = Text("search space: " + "; ".join(describe_param(p) for p in results["params"]), style="dim")
    pair = results.get("best_vs_runner_up")
    text.append("\n")
    text.append(sweep_verdict(results), style="bold green" if pair and pair.get("significant") else "")
    text.append("\n")
    text.append_text(importance_text(results))
    if results.get("error"):
        text.append(f"\nerror: {results['error']}", style="red")
    return text


def header_text(record: dict[str, Any], done: int | None, results: dict[str, Any] | None) -> Text:
    text = Text(f" {record['name']} ", style="bold")
    text.append_text(fmt.status_text(record["status"]))
    direction = "max" if record.get("direction") == "maximize" else "min"
    shown = "—" if done is None else str(done)
    parts = [f"{shown}/{record.get('trials_planned')} trials done"]
    if results is not None:
        counts = results.get("counts") or {}
        parts += [f"{counts[s]} {s}" for s in ("running", "queued") if counts.get(s)]
    parts += [f"{record.get('metric')} ({direction})", f"{record.get('search')} search", f"pruner {record.get('pruner')}"]
    text.append(" · " + " · ".join(parts), style="dim")
    return text


def trial_status_text(status: str) -> Text:
    if status in TRIAL_STYLE:
        glyph, style = TRIAL_STYLE[status]
        return Text(f"{glyph} {status}", style=style)
    return fmt.status_text(status)


def trial_columns(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, label) of the ranked table: rank, trial, each varied parameter, the metric, status, epoch, time."""
    params = [(f"p:{p['name']}", p["name"]) for p in results["params"]]
    return [("rank", "rank"), ("trial", "trial"), *params, ("value", results["metric"]), ("status", "status"),
            ("epoch", "epoch"), ("time", "time")]


def trial_cells(row: dict[str, Any], results: dict[str, Any]) -> tuple:
    best = results.get("best") or {}
    value = Text(number(row["value"]), justify="right")
    if row["trial"] == best.get("trial") and row["status"] == COMPLETED:
        value = Text(f"{number(row['value'])} ★", style="bold green", justify="right")
    elif row["status"] == "pruned":
        value.stylize("dim")
    return (Text(str(row["rank"]) if row.get("rank") else "—", justify="right"),
            Text(str(row["trial"]), justify="right"),
            *(Text(param_text(row["params"].get(p["name"])), justify="right") for p in results["params"]),
            value, trial_status_text(row["status"]),
            Text(number(row.get("epoch"), 2), justify="right"),
            Text(fmt.duration(row.get("seconds")), justify="right"))


# --- the chart ----------------------------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _tick_label(v: float) -> str:
    """``1e-5``, ``3e-4``, ``0.05``, ``16``: short enough for a tick under a narrow chart."""
    if v and not 1e-3 <= abs(v) < 1e4:
        mantissa, exponent = f"{v:.1e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return f"{v:.2g}"


def log_ticks(lo: float, hi: float, limit: int = 6) -> list[float]:
    """Tick positions for a log axis over [lo, hi]: the decades inside, and the ends when no decade is near."""
    a, b = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    decades = [10.0 ** k for k in range(a, b + 1)]
    step = max(1, math.ceil(len(decades) / limit))
    ticks = decades[::step]
    for end in (lo, hi):
        if all(abs(math.log10(end) - math.log10(t)) > 0.3 for t in ticks):
            ticks.append(end)
    return sorted(ticks)


def chart_spec(results: dict[str, Any], name: str) -> dict[str, Any]:
    """What the scatter chart shows for parameter ``name``: the finished trials' values (completed and pruned
    apart, the best marked), a log x axis for a log range or values spanning more than two decades, the listed
    values as ticks, and a categorical axis for values that are not numbers."""
    param = next(p for p in results["params"] if p["name"] == name)
    metric = results["metric"]
    rows = [r for r in results["trials"] if r["status"] in (COMPLETED, "pruned") and _is_number(r.get("value"))]
    listed = param.get("values")
    categorical = listed is not None and not all(_is_number(v) for v in listed)
    xlog = False
    if categorical:
        index = {repr(v): i for i, v in enumerate(listed)}
        def position(v: Any) -> float | None:
            return index.get(repr(v))
        xticks = (list(range(len(listed))), [param_text(v) for v in listed])
        xlim = (-0.5, len(listed) - 0.5)
    else:
        def position(v: Any) -> float | None:
            return float(v) if _is_number(v) else None
        bounds = [float(v) for v in (listed if listed is not None else (param.get("low"), param.get("high")))
                  if _is_number(v)]
        bounds += [float(r["params"][name]) for r in rows if _is_number(r["params"].get(name))]
        lo, hi = (min(bounds), max(bounds)) if bounds else (0.0, 1.0)
        xlog = lo > 0 and (bool(param.get("log")) or hi / lo > 100)
        if xlog:
            pad = 10 ** (0.05 * max(math.log10(hi / lo), 0.2))
            xlim = (lo / pad, hi * pad)
            ticks = sorted(set(map(float, listed))) if listed is not None and len(listed) <= 6 else log_ticks(lo, hi)
        else:
            pad = (hi - lo) * 0.05 or max(abs(lo) * 0.1, 1.0)
            xlim = (lo - pad, hi + pad)
            ticks = sorted(set(map(float, listed))) if listed is not None and len(listed) <= 8 else None
        xticks = (ticks, [_tick_label(t) for t in ticks]) if ticks else None

    def points(group: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
        xs, ys = [], []
        for r in group:
            x = position(r["params"].get(name))
            if x is not None:
                xs.append(x)
                ys.append(float(r["value"]))
        return xs, ys

    best = results.get("best")
    series = [Series("completed", *points([r for r in rows if r["status"] == COMPLETED]), color=COMPLETED_COLOR,
                     marker="•", style="points"),
              Series("pruned", *points([r for r in rows if r["status"] == "pruned"]), color=PRUNED_COLOR,
                     marker="x", style="points")]
    if best is not None:
        series.append(Series(f"best (trial {best['trial']})", *points([best]), color=BEST_COLOR, marker="◆",
                             style="points"))
    title = f"{metric} vs {name}{' (log x)' if xlog else ''}"
    if len(results["params"]) > 1:
        title += f" · p: {[p['name'] for p in results['params']].index(name) + 1}/{len(results['params'])}"
    return {"series": series, "title": title, "xlog": xlog, "xticks": xticks, "xlim": xlim}


# --- reading (thread workers) -------------------------------------------------------------------------------
def sync_rows(table: DataTable, column_keys: Iterable[str], rows: list[tuple[str, tuple]],
              shown: list[tuple[str, tuple]], keep: str | None) -> list[tuple[str, tuple]]:
    """Show ``rows`` ((key, cells) pairs) in ``table``, which shows ``shown``: the same keys in the same order update
    only the changed cells (no flicker, the cursor stays); other keys rebuild the table with the cursor back on the
    row ``keep`` when it is still there. Returns what the table now shows."""
    if rows == shown:
        return shown
    keys = [k for k, _ in rows]
    if keys == [k for k, _ in shown]:
        column_keys = list(column_keys)
        for (key, cells), (_, old) in zip(rows, shown):
            for col, new, prev in zip(column_keys, cells, old):
                if new != prev:
                    table.update_cell(key, col, new, update_width=True)
    else:
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if keep in keys:
            table.move_cursor(row=keys.index(keep), animate=False)
    return rows


def _stat(path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def sweep_signature(store: SweepStore, record: dict[str, Any]) -> tuple:
    """The state of every file ``results`` reads for ``record``: when it has not changed and no trial is active
    (whose status could turn with time alone: a dead worker), the last results still hold."""
    base = store.root / record["id"]
    parts: list[Any] = [_stat(base / SWEEP_FILE), _stat(base / STUDY_FILE)]
    for trial in record["trials"]:
        run_dir = store.runs.root / str(trial.get("run_id"))
        parts += [_stat(run_dir / RUN_FILE), _stat(run_dir / PREDICTIONS_FILE)]
    return tuple(parts)


def trials_done(store: SweepStore, record: dict[str, Any]) -> int:
    """How many of a sweep's trials have ended with a result (completed, pruned or failed)."""
    done = 0
    for trial in record["trials"]:
        path = store.runs.root / str(trial.get("run_id"))
        if not path.is_dir():  # deleted by hand (RunStore.get would scan every run for a name like it)
            continue
        try:
            status = Run(path, read_run_json(path)).status
        except WorkbenchError:
            continue
        done += status in (COMPLETED, FAILED)
    return done


class SweepsScreen(WorkbenchScreen):
    MODE = "sweeps"
    BINDINGS = [
        Binding("m", "monitor", "Monitor"),
        Binding("c", "compare", "Compare top 2"),
        Binding("p", "next_param", "Param"),
        Binding("s", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, dict[str, Any]] = {}
        self.done: dict[str, int] = {}
        self.sweep_id: str | None = None
        self.results: dict[str, Any] | None = None
        self.chart_param: str | None = None
        self.loads = 0  # results applied (the tests wait on it)
        self._signature: tuple | None = None
        self._columns: list[tuple[str, str]] = []
        self._shown_rows: list[tuple[str, tuple]] = []
        self._shown_list: list[tuple[str, tuple]] = []
        self._binding_state: tuple | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="sw-header")
        yield Static(Text.from_markup(EMPTY_TEXT), id="sw-empty")
        with Horizontal(id="sw-main"):
            yield DataTable(cursor_type="row", zebra_stripes=False, id="sw-list")
            with Vertical(id="sw-detail"):
                yield DataTable(cursor_type="row", zebra_stripes=False, id="sw-trials")
                yield Notice(id="sw-notice")
                yield ScatterChart(empty="no finished trials yet", id="sw-chart", classes="panel")
                yield Static(id="sw-info")

    def on_mount(self) -> None:
        sweeps = self.query_one("#sw-list", DataTable)
        sweeps.add_column("status", key="status", width=11)
        sweeps.add_column("sweep", key="name")
        sweeps.add_column("trials", key="trials")
        # The first listing is synchronous (a few small JSON reads), so the first paint shows the sweeps or the
        # how-to; the results (Optuna, the paired test) come from the worker.
        store = SweepStore(self.wb.workspace)
        records = store.list()
        self._show_list(records, {r["id"]: trials_done(store, r) for r in records})
        self.query_one("#sw-trials", DataTable).focus()
        self.set_interval(REFRESH_S, self._tick)
        self.poll()

    def on_screen_resume(self) -> None:
        self.poll()

    def _tick(self) -> None:
        if self.is_current:
            self.poll()

    # --- data ---------------------------------------------------------------------------------------
    def poll(self, *, force: bool = False) -> None:
        """Read the sweeps, and the selected sweep's results unless nothing they depend on changed."""
        rows = (self.results or {}).get("trials") or []
        settled = self.results is not None and not any(r["status"] in ACTIVE_TRIALS for r in rows)
        skip = (self.sweep_id, self._signature) if settled and not force else None
        self._poll(self.sweep_id, skip)

    @work(thread=True, exclusive=True, group="sweeps-poll", exit_on_error=False)
    def _poll(self, sweep_id: str | None, skip: tuple | None) -> None:
        worker = get_current_worker()
        store = SweepStore(self.wb.workspace)
        records = store.list()
        done = {r["id"]: trials_done(store, r) for r in records}
        if worker.is_cancelled:
            return
        self.post_message(SweepsListed(records, done))
        by_id = {r["id"]: r for r in records}
        if sweep_id not in by_id:
            sweep_id = records[0]["id"] if records else None
        if sweep_id is None:
            return
        signature = sweep_signature(store, by_id[sweep_id])
        if skip == (sweep_id, signature):
            return
        try:
            results, error = store.results(sweep_id), None
        except WorkbenchError as exc:
            results, error = None, str(exc)
        if not worker.is_cancelled:
            self.post_message(SweepResultsLoaded(sweep_id, signature, results, error))

    def on_sweeps_listed(self, message: SweepsListed) -> None:
        self._show_list(message.records, message.done)

    def on_sweep_results_loaded(self, message: SweepResultsLoaded) -> None:
        if self.sweep_id is not None and message.sweep_id != self.sweep_id:
            return  # the user moved to another sweep meanwhile
        self.sweep_id = message.sweep_id
        self._signature = message.signature
        if message.error:
            self._notice(message.error)
            return
        self.results = message.results
        self.loads += 1
        self._show_results()

    # --- showing ------------------------------------------------------------------------------------
    def _show_list(self, records: list[dict[str, Any]], done: dict[str, int]) -> None:
        self.records = {r["id"]: r for r in records}
        self.done = done
        empty = not records
        self.query_one("#sw-empty").display = empty
        self.query_one("#sw-main").display = not empty
        table = self.query_one("#sw-list", DataTable)
        rows = [(r["id"], (fmt.status_text(r["status"]), Text(r["name"]),
                           Text(f"{done.get(r['id'], 0)}/{r.get('trials_planned')}", justify="right")))
                for r in records]
        self._shown_list = sync_rows(table, ("status", "name", "trials"), rows, self._shown_list,
                                     self.sweep_id if self.sweep_id in self.records else None)
        if self.sweep_id not in self.records:
            self.sweep_id = records[0]["id"] if records else None
            self.results = None
        self._show_header()

    def _show_header(self) -> None:
        header = self.query_one("#sw-header", Static)
        record = self.records.get(self.sweep_id or "")
        if record is None:
            content = Text(" Sweeps", style="bold")
        else:
            results = self.results if self.results and self.results.get("id") == record["id"] else None
            content = header_text(record, self.done.get(record["id"]), results)
        if getattr(header, "_shown_text", None) != content:
            header._shown_text = content
            header.update(content)
        self._refresh_bindings()

    def _show_results(self) -> None:
        results = self.results
        if results is None:
            return
        table = self.query_one("#sw-trials", DataTable)
        columns = trial_columns(results)
        rows = [(r["run_id"], trial_cells(r, results)) for r in results["trials"]]
        if columns != self._columns:
            table.clear(columns=True)
            for key, label in columns:
                table.add_column(label, key=key)
            self._columns, self._shown_rows = columns, []
        current = self.current_trial
        self._shown_rows = sync_rows(table, [key for key, _ in columns], rows, self._shown_rows,
                                     current["run_id"] if current is not None else None)
        names = [p["name"] for p in results["params"]]
        if self.chart_param not in names:
            self.chart_param = names[0] if names else None
        self._show_chart()
        info = self.query_one("#sw-info", Static)
        content = info_text(results)
        if getattr(info, "_shown_text", None) != content:
            info._shown_text = content
            info.update(content)
        self._show_header()

    def _show_chart(self) -> None:
        if self.results is None or self.chart_param is None:
            return
        spec = chart_spec(self.results, self.chart_param)
        self.query_one(ScatterChart).show(spec["series"], title=spec["title"], xlog=spec["xlog"],
                                          xticks=spec["xticks"], xlim=spec["xlim"])

    @property
    def current_trial(self) -> dict[str, Any] | None:
        """The trial row under the cursor of the ranked table."""
        table = self.query_one("#sw-trials", DataTable)
        if self.results is None or not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # the cursor can briefly point past a just-removed row
            return None
        return next((r for r in self.results["trials"] if r["run_id"] == key), None)

    @property
    def current_sweep(self) -> dict[str, Any] | None:
        return self.records.get(self.sweep_id or "")

    @on(DataTable.RowHighlighted, "#sw-list")
    def _sweep_highlighted(self, event: DataTable.RowHighlighted) -> None:
        sweep_id = event.row_key.value
        table = self.query_one("#sw-list", DataTable)
        try:
            under_cursor = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # the list is being rebuilt
            return
        # Rebuilding the list highlights its first row before the cursor goes back to the shown sweep: only the
        # row the cursor is on now counts.
        if sweep_id == self.sweep_id or sweep_id != under_cursor:
            return
        self.sweep_id, self.results, self._signature, self.chart_param = sweep_id, None, None, None
        self.query_one(Notice).clear()
        self._show_header()
        self.poll(force=True)

    @on(DataTable.RowSelected, "#sw-list")
    def _sweep_selected(self, _: DataTable.RowSelected) -> None:
        self.query_one("#sw-trials", DataTable).focus()

    @on(DataTable.RowSelected, "#sw-trials")
    def _trial_selected(self, _: DataTable.RowSelected) -> None:
        self.action_monitor()

    def on_key(self, event) -> None:
        if event.key in ("up", "down", "pageup", "pagedown", "home", "end"):
            self.query_one(Notice).clear()

    # --- actions ------------------------------------------------------------------------------------
    def _notice(self, message: str, kind: str = "error") -> None:
        self.query_one(Notice).show(message, kind)

    def _refresh_bindings(self) -> None:
        sweep = self.current_sweep
        state = (sweep and (sweep["id"], sweep["status"]), self.results is not None)
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        sweep = self.current_sweep
        if action == "stop":
            return None if sweep is None or sweep["status"] != "running" else True
        if action == "resume":
            return None if sweep is None or sweep["status"] not in ("stopped", "failed") else True
        if action in ("monitor", "next_param"):
            return None if self.results is None or not self.results["trials"] else True
        return True

    def action_monitor(self) -> None:
        trial = self.current_trial
        if trial is None:
            return
        if trial["status"] == "missing":
            self._notice(f"Trial {trial['trial']}'s run {trial['run_id']} is gone (deleted by hand?).")
            return
        self.wb.open_monitor(trial["run_id"])

    def action_compare(self) -> None:
        results = self.results
        done = [r for r in (results or {}).get("trials", []) if r["status"] == COMPLETED]
        if len(done) < 2:
            self._notice(f"Compare needs two completed trials ({len(done)} so far).")
            return
        best, runner_up = done[0], done[1]
        # Compare's first run is the baseline A: the runner-up, so every delta reads "best − runner-up".
        self.wb.open_compare([runner_up["run_id"], best["run_id"]])

    def action_next_param(self) -> None:
        if self.results is None or not self.results["params"]:
            return
        names = [p["name"] for p in self.results["params"]]
        index = names.index(self.chart_param) if self.chart_param in names else -1
        self.chart_param = names[(index + 1) % len(names)]
        self._show_chart()

    def action_stop(self) -> None:
        sweep = self.current_sweep
        if sweep is not None:
            self._stop(sweep["id"], sweep["name"])

    def action_resume(self) -> None:
        sweep = self.current_sweep
        if sweep is not None:
            self._resume(sweep["id"], sweep["name"])

    @work(thread=True, exclusive=True, group="sweeps-action", exit_on_error=False)
    def _stop(self, sweep_id: str, name: str) -> None:
        try:
            SweepStore(self.wb.workspace).stop(sweep_id)
        except WorkbenchError as exc:
            self.app.call_from_thread(self._notice, str(exc))
        else:
            self.app.call_from_thread(self._notice, f"Stopped sweep {name}: no new trials; running ones save a "
                                                    "checkpoint and stop, waiting ones leave the queue (r resumes).",
                                      "ok")
        self.app.call_from_thread(self.poll, force=True)

    @work(thread=True, exclusive=True, group="sweeps-action", exit_on_error=False)
    def _resume(self, sweep_id: str, name: str) -> None:
        try:
            # Through the app's normal-priority thread: resuming may start the queue runner, and training must
            # not inherit the UI's lowered priority (priority.py).
            self.wb.spawn(SweepStore(self.wb.workspace).resume, sweep_id)
        except WorkbenchError as exc:
            self.app.call_from_thread(self._notice, str(exc))
        else:
            self.app.call_from_thread(self._notice, f"Resumed sweep {name}: it is back in the queue (stopped trials "
                                                    "continue from their checkpoints first).", "ok")
        self.app.call_from_thread(self.poll, force=True)

    def palette_commands(self) -> Iterable[SystemCommand]:
        sweep = self.current_sweep
        if sweep is None:
            return
        if self.check_action("stop", ()):
            yield SystemCommand(f"Stop sweep {sweep['name']}", "No new trials; running ones stop (s)", self.action_stop)
        if self.check_action("resume", ()):
            yield SystemCommand(f"Resume sweep {sweep['name']}", "Put it back in the queue (r)", self.action_resume)
        yield SystemCommand("Compare the top two trials", "Open Compare: the best against the runner-up (c)",
                            self.action_compare)
