"""Monitor: one run, live. Progress and ETA, loss and eval curves, throughput, system readings, the log,
and the final evaluation when it ends.

A thread worker owns a ``RunFeed`` on the run directory and posts what changed every
``app.poll_interval`` seconds; on attach the feed replays metrics.jsonl from offset 0, which is how a
re-opened workbench shows a run's whole history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.worker import get_current_worker

from workbench.core.errors import WorkbenchError
from workbench.core.runs import ACTIVE, STOP_FILE, Run
from workbench.ui import format as fmt
from workbench.ui.feed import FeedUpdate, RunFeed
from workbench.ui.history import RunHistory
from workbench.ui.messages import HandoffChanged, RunPolled
from workbench.ui.screens.base import Notice, WorkbenchScreen
from workbench.ui.task_metrics import greater_is_better, label, task_metrics
from workbench.ui.widgets.charts import LineChart, Mark, Series
from workbench.ui.widgets.log_tail import LogTail
from workbench.ui.widgets.run_panels import FinalPanel, PerClassPanel, ProgressPanel, RunHeader, SystemPanel
from workbench.ui.widgets.samples import SamplesPanel

LOG_LINES = 1000


class MonitorScreen(WorkbenchScreen):
    MODE = "monitor"
    BINDINGS = [
        Binding("s", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("l", "focus_log", "Full log"),
        Binding("q,escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_id: str | None = None
        self.run_path: Path | None = None
        self.info: dict = {}
        self.status = "queued"
        self.history = RunHistory()
        self.vanished = False
        self.polls = 0  # updates applied (tests and the benchmark wait on it)
        self._bindings_for: str | None = None
        self._showing_status_notice = False

    def compose_body(self) -> ComposeResult:
        yield RunHeader(id="mon-header")
        yield Notice(id="mon-notice")
        with VerticalScroll(id="mon-body"):
            yield ProgressPanel(id="mon-progress", classes="panel")
            with Horizontal(id="mon-charts", classes="row"):
                yield LineChart("Loss", empty="waiting for the first logged loss…", id="mon-loss", classes="panel")
                yield LineChart("Eval", empty="no evaluation yet", id="mon-eval", classes="panel")
            with Horizontal(id="mon-bottom", classes="row"):
                # First in the row: when panels stack (narrow), the per-type table comes right under the Eval chart.
                yield PerClassPanel(id="mon-per-class", classes="panel")
                yield SystemPanel(id="mon-system", classes="panel")
                yield FinalPanel(id="mon-final", classes="panel")
                yield LogTail(max_lines=LOG_LINES, id="mon-log", classes="panel")
            yield SamplesPanel(id="mon-samples", classes="panel")

    def on_mount(self) -> None:
        self.query_one(LogTail).border_title = "Log (l: full screen)"
        self.query_one("#mon-final").display = False
        self.query_one("#mon-per-class").display = False
        self.query_one("#mon-samples").display = False
        self.set_interval(1.0, self._tick)

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self._sync_target)

    def on_handoff_changed(self, _: HandoffChanged) -> None:
        self._sync_target()

    # --- which run ------------------------------------------------------------------------------------
    def _sync_target(self) -> None:
        wanted = self.wb.monitored_run
        if wanted is None:
            self._reset(None)
            self.query_one(RunHeader).say(" No run to monitor yet.")
            self.query_one(Notice).show("Pick a run on the Runs screen (1) and press ⏎, or launch one from "
                                        "Configure (3).", "info")
        elif wanted != self.run_id:
            self.watch_run(wanted)

    def watch_run(self, run_id: str) -> None:
        self._reset(run_id)
        try:
            run = self.wb.store.get(run_id)
        except WorkbenchError as exc:
            self.query_one(Notice).show(str(exc))
            return
        self.run_path = run.path
        self.info, self.status = run.info, run.status
        self._render_state()
        self._follow(run_id, run.path)

    def _reset(self, run_id: str | None) -> None:
        self.workers.cancel_group(self, "follow")
        self.run_id, self.run_path, self.info, self.status, self.vanished = run_id, None, {}, "queued", False
        self.history = RunHistory()
        self.query_one(Notice).clear()
        self._showing_status_notice = False
        self.query_one(LogTail).clear()
        self.query_one("#mon-final").display = False
        self.query_one("#mon-per-class").display = False
        self.query_one("#mon-samples").display = False
        self.query_one("#mon-system").display = True
        self.query_one("#mon-eval", LineChart).border_title = "Eval"
        for chart in self.query(LineChart):
            chart.show([])

    # --- following ------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def _follow(self, run_id: str, path: Path) -> None:
        worker = get_current_worker()
        feed = RunFeed(path)
        last_status = None
        while not worker.is_cancelled:
            try:
                update = feed.poll()
            except OSError as exc:  # e.g. permissions changed under us; say so and keep trying
                update = FeedUpdate(problem=f"cannot read the run directory: {exc.strerror or exc}")
            if not update.empty or update.status != last_status:
                last_status = update.status
                self.post_message(RunPolled(run_id, update))
            if update.vanished:
                return
            worker.cancelled_event.wait(self.wb.poll_interval)

    def on_run_polled(self, message: RunPolled) -> None:
        if message.run_id != self.run_id:
            return  # from a worker of a run we no longer watch
        u: FeedUpdate = message.update
        notice = self.query_one(Notice)
        if u.vanished:
            self.vanished = True
            notice.show(f"The run directory {self.run_path} was deleted while it was being watched; "
                        "what was shown so far stays on screen.")
            self.query_one(RunHeader).show(self.info, "deleted", self.wb.clock())
            return
        if u.problem:
            notice.show(u.problem)
        if u.reset:
            self.history = RunHistory()  # the worker rewrote metrics.jsonl (a resume): rebuild from scratch
        if u.info is not None:
            self.info = u.info
        if u.status:
            self.status = u.status
        self.history.add(u.events)
        log = self.query_one(LogTail)
        if u.log_reset:
            log.clear()
        if u.log_lines:
            log.write_lines(u.log_lines)
        self.polls += 1
        self._render_state(charts=bool(u.events or u.reset))

    # --- drawing --------------------------------------------------------------------------------------
    def _tick(self) -> None:
        """Elapsed time and ETA move even when no new data arrives."""
        if self.is_current and self.run_id and not self.vanished and self.status in ACTIVE:
            self._render_header()

    def _render_header(self) -> None:
        note = ""
        if self.status in ACTIVE and self.run_path is not None and (self.run_path / STOP_FILE).exists():
            note = "stop requested"
        self.query_one(RunHeader).show(self.info, self.status, self.wb.clock(), note)

    def _render_state(self, charts: bool = True) -> None:
        if not self.info:
            return
        self._render_header()
        h = self.history
        self.query_one(ProgressPanel).show(self.info, self.status, h)
        self.query_one(SystemPanel).show(h.last_system)
        finished = self.status not in ACTIVE and self.query_one(FinalPanel).show(self.info)
        self.query_one("#mon-final").display = bool(finished)
        self.query_one("#mon-system").display = not finished
        # causal-lm-sft runs: the greedy generations on held-out prompts saved at the end
        self.query_one("#mon-samples").display = self.query_one(SamplesPanel).show(self.info)
        if self.status != self._bindings_for:
            self._bindings_for = self.status  # recomposing the footer is costly: only when keys change
            self.refresh_bindings()
        self._status_notice()
        if charts:
            self._render_charts()
        # The final evaluation's per-type table replaces the one kept during training.
        self.query_one("#mon-per-class").display = bool(self.query_one(PerClassPanel).rows) and not finished

    def _render_charts(self) -> None:
        h = self.history
        self.query_one("#mon-loss", LineChart).show([
            Series("train", h.train_steps, h.train_loss, color="cyan"),
            Series("eval", h.eval_steps, h.eval_loss, color="orange", style="points"),
        ])
        # The Eval chart holds the main metric alone, its best evaluation marked; per-class scores go to
        # their own table (seven curves on one small plot read as a band of dots).
        tm = task_metrics(self.info.get("task"))
        main = h.main_metric(tm)
        chart = self.query_one("#mon-eval", LineChart)
        if main is None:
            chart.show([])
        else:
            name = label(main, task=tm.task)
            best = h.best(main, greater_is_better(main, tm))
            marks = [Mark(f"best {fmt.number(best[0], 3)} @{fmt.count(best[1])}", best[1], best[0])] if best else []
            series = [Series(name, h.eval_steps, h.eval_series(main), color="green", style="line+points")]
            # A task may draw a companion metric on the same axes (question answering: exact match beside F1).
            extra = [key for key in tm.curves if key != main and any(v == v for v in h.eval_series(key))]
            series += [Series(label(key, task=tm.task), h.eval_steps, h.eval_series(key), color=color, style="line+points")
                       for key, color in zip(extra, ("cyan", "magenta"))]
            chart.border_title = f"Eval: {' & '.join(s.label for s in series)}"
            chart.show(series, marks)
        self.query_one(PerClassPanel).show(self.info, h)

    def _status_notice(self) -> None:
        """Say what a crashed or failed run needs; take it back once the run is going again (resumed)."""
        notice = self.query_one(Notice)
        if self.status == "crashed":
            message = ("The worker died without finishing. Press r to resume from the last checkpoint."
                       if self._can_resume() else "The worker died without finishing, before its first checkpoint.")
        elif self.status == "failed" and self.info.get("error"):
            message = f"Failed: {self.info['error']}"
        else:
            message = None
        if message:
            notice.show(message)
        elif self._showing_status_notice:
            notice.clear()
        self._showing_status_notice = bool(message)

    def _can_resume(self) -> bool:
        return self.run_path is not None and Run(self.run_path, self.info).last_checkpoint() is not None

    # --- actions --------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.run_id and self.status in ACTIVE else None
        if action == "resume":
            return True if self.run_id and self.status not in ACTIVE and self.status != "completed" else None
        return True

    def action_stop(self) -> None:
        if not self.run_id:
            return
        from workbench.core.queue import stop_run

        try:
            _, dequeued = stop_run(self.wb.store, self.run_id)
        except WorkbenchError as exc:
            self.query_one(Notice).show(str(exc))
            return
        self.query_one(Notice).show("The run had not started: it left the queue." if dequeued else
                                    "Stop requested: the run saves a checkpoint and stops at the next step.", "ok")
        self._render_header()

    def action_resume(self) -> None:
        if not self.run_id:
            return
        from workbench.ui.actions import resume_run

        try:
            run = resume_run(self.wb.store, self.run_id, spawn=self.wb.spawn)
        except WorkbenchError as exc:
            self.query_one(Notice).show(str(exc))
            return
        self.query_one(Notice).show(f"Resuming from {run.last_checkpoint().name}…", "ok")

    def action_focus_log(self) -> None:
        """The log tail over the whole screen (more lines, full width); l or escape brings the panels back."""
        if self.maximized is not None:
            self.minimize()
        else:
            self.maximize(self.query_one(LogTail), container=False)

    def action_back(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.wb.action_goto("runs")

    def palette_commands(self) -> Iterable[SystemCommand]:
        if self.run_id and self.status in ACTIVE:
            yield SystemCommand("Stop this run", "Ask the run to save a checkpoint and stop (s)", self.action_stop)
        if self.run_id and self.check_action("resume", ()):
            yield SystemCommand("Resume this run", "Continue from the last checkpoint (r)", self.action_resume)
