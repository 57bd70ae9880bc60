"""Runs: every run in the workspace, its status, key metric and age. The home screen."""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from workbench.core.errors import WorkbenchError
from workbench.core.queue import RunQueue
from workbench.core.runs import ACTIVE, COMPLETED, CRASHED, FAILED, QUEUED, STOPPED, parse_iso
from workbench.ui import format as fmt
from workbench.ui.messages import RunsListed
from workbench.ui.screens.base import Notice, WorkbenchScreen
from workbench.ui.screens.confirm import ConfirmScreen
from workbench.ui.task_metrics import metrics_line
from workbench.ui.widgets.run_table import RunTable

REFRESH_S = 1.0


def run_detail(s: dict[str, Any], now: float) -> Text:
    """A few lines about one run: what it is, and what the user can do about its state."""
    text = Text()
    text.append(s["name"], style="bold")
    text.append(f"  {s['id']}\n", style="dim")
    data = ((s.get("data") or {}).get("train") or {}).get("source") or (s.get("config") or {}).get("data")
    text.append(f"model {s.get('model') or '—'} · data {data or '—'}\n", style="dim")
    status = s["status"]
    if status == QUEUED and s.get("queue_position"):
        text.append(f"Waiting in the queue at #{s['queue_position']}. ", style="cyan")
        text.append("The queue runner starts it when its turn comes (sft-workbench queue list).")
    elif status in ACTIVE:
        text.append("Training. ", style="green")
        text.append("⏎ watch it live · s stop (saves a checkpoint)")
    elif status == CRASHED:
        text.append("The worker died without finishing. ", style="red")
        text.append(_resume_hint(s))
    elif status == FAILED:
        text.append(f"Failed: {s.get('error') or 'see stdout.log'}", style="red")
        if s.get("can_resume"):
            text.append("\n" + _resume_hint(s))
    elif status == STOPPED:
        text.append("Stopped by request. ", style="yellow")
        text.append(_resume_hint(s))
    elif status == COMPLETED:
        text.append(metrics_line(s.get("task"), s.get("metrics")))
        started, finished = parse_iso(s.get("started")), parse_iso(s.get("finished"))
        if started and finished:
            text.append(f" · took {fmt.duration(finished - started)}", style="dim")
    return text


def _resume_hint(s: dict[str, Any]) -> str:
    if s.get("can_resume"):
        return "Press r to resume it from its last checkpoint."
    return "It has no complete checkpoint, so it cannot be resumed; n starts a new run."


class RunsScreen(WorkbenchScreen):
    MODE = "runs"
    BINDINGS = [
        Binding("s", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("d", "delete", "Delete"),
        # "New", not "New run": with eight screen digits in the footer, one more letter would not fit 80 columns.
        Binding("n", "new", "New"),
        # Not in the footer (no room at 80 columns): c without a selection says how to select.
        Binding("space", "toggle_select", "Select", show=False),
        Binding("c", "compare", "Compare"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summaries: dict[str, dict[str, Any]] = {}
        self._binding_state: tuple | None = None
        self.selected: list[str] = []  # run ids marked for Compare, in the order they were picked

    def compose_body(self) -> ComposeResult:
        yield Static(id="runs-header")
        yield RunTable(id="runs-table")
        yield Notice(id="runs-notice")
        yield Static(id="runs-detail")

    def on_mount(self) -> None:
        # The first listing is synchronous (a few small JSON reads) so the first paint shows the runs.
        self._show(self._list())
        self.set_interval(REFRESH_S, self._tick)
        self.query_one(RunTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def _tick(self) -> None:
        if self.is_current:  # another screen is showing: catch up when this one is shown again
            self.refresh_runs()

    def on_resize(self) -> None:
        table = self.query_one(RunTable)
        if table.fit_width(self.size.width):
            self._show(list(self.summaries.values()))

    # --- data ---------------------------------------------------------------------------------------
    def _list(self) -> list[dict[str, Any]]:
        summaries = [r.summary() for r in self.wb.store.list()]
        # A waiting run's place in the workspace's queue (queue/queue.json; read only when a run waits).
        if any(s["status"] == QUEUED for s in summaries):
            positions = RunQueue(self.wb.workspace).positions()
            for s in summaries:
                if s["status"] == QUEUED and s["id"] in positions:
                    s["queue_position"] = positions[s["id"]]
        return summaries

    @work(thread=True, exclusive=True, group="runs-list", exit_on_error=False)
    def refresh_runs(self) -> None:
        summaries = self._list()
        if not get_current_worker().is_cancelled:
            self.post_message(RunsListed(summaries))

    def on_runs_listed(self, message: RunsListed) -> None:
        self._show(message.summaries)

    def _show(self, summaries: list[dict[str, Any]]) -> None:
        self.summaries = {s["id"]: s for s in summaries}
        now = self.wb.clock()
        table = self.query_one(RunTable)
        self.selected = [run_id for run_id in self.selected if run_id in self.summaries]
        # Selected runs carry a mark before their name (only in the table: the detail shows the real name).
        table.show([{**s, "name": f"◆ {s['name']}"} if s["id"] in self.selected else s for s in summaries], now)
        counts: dict[str, int] = {}
        for s in summaries:
            counts[s["status"]] = counts.get(s["status"], 0) + 1
        header = Text(" Runs", style="bold")
        if summaries:
            parts = [f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1])]
            header.append("  " + " · ".join(parts), style="dim")
        self._update("#runs-header", header)
        self._show_detail()

    def _update(self, selector: str, content: Text) -> None:
        """Update a Static only when its text changes: this runs every second, and each update costs a
        layout pass."""
        widget = self.query_one(selector, Static)
        if getattr(widget, "_shown_text", None) != content:
            widget._shown_text = content
            widget.update(content)

    def _show_detail(self) -> None:
        current = self.current
        if current is None:
            self._update("#runs-detail", Text.from_markup(
                "No runs yet in this workspace.\n[b]n[/b] configure a new run · [b]2[/b] browse data sets"
                if not self.summaries else ""))
        else:
            self._update("#runs-detail", run_detail(current, self.wb.clock()))
        # The footer greys out keys that do not apply; recomposing it is costly, so only on a change.
        state = current and (current["id"], current["status"], current.get("can_resume"))
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    @property
    def current(self) -> dict[str, Any] | None:
        key = self.query_one(RunTable).current_key
        return self.summaries.get(key) if key else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.wb.highlighted_run = event.row_key.value
        self._show_detail()

    def on_key(self, event) -> None:
        # A message about one run goes when the user moves to another (not when a refresh moves the cursor).
        if event.key in ("up", "down", "pageup", "pagedown", "home", "end"):
            self.query_one(Notice).clear()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.wb.open_monitor(event.row_key.value)

    # --- actions ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        current = self.current if self.is_mounted else None
        if action == "stop":
            return None if current is None or current["status"] not in ACTIVE else True
        if action == "resume":
            return None if current is None or not current.get("can_resume") else True
        if action == "delete":
            return None if current is None else True
        return True

    def _notice(self, message: str, kind: str = "error") -> None:
        self.query_one(Notice).show(message, kind)

    def action_stop(self) -> None:
        current = self.current
        if current is None:
            return
        from workbench.core.queue import stop_run

        try:
            run, dequeued = stop_run(self.wb.store, current["id"])
        except WorkbenchError as exc:
            self._notice(str(exc))
            return
        if dequeued:
            self._notice(f"{run.name} had not started: it left the queue.", "ok")
            return
        self._notice(f"Stop requested for {run.name}: it saves a checkpoint and stops at the next step.", "ok")

    def action_resume(self) -> None:
        current = self.current
        if current is None:
            return
        from workbench.ui.actions import resume_run

        try:
            run = resume_run(self.wb.store, current["id"], spawn=self.wb.spawn)
        except WorkbenchError as exc:
            self._notice(str(exc))
            return
        self._notice(f"Resuming {run.name} from {run.last_checkpoint().name}.", "ok")
        self.wb.open_monitor(run.id)

    def action_delete(self) -> None:
        current = self.current
        if current is None:
            return
        if current["status"] in ACTIVE:
            self._notice(f"Run {current['name']} is still running; stop it first (s).")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(current["id"], current["name"])

        self.app.push_screen(
            ConfirmScreen(f"Delete run {current['name']}?",
                          "Its directory, checkpoints and model are removed from disk. This cannot be undone."),
            answered)

    @work(thread=True, exclusive=True, group="runs-delete", exit_on_error=False)
    def _delete(self, run_id: str, name: str) -> None:
        try:
            self.wb.store.delete(run_id)
            self.app.call_from_thread(self._notice, f"Deleted run {name}.", "ok")
        except (WorkbenchError, OSError) as exc:
            self.app.call_from_thread(self._notice, f"Could not delete {name}: {exc}")
        self.post_message(RunsListed(self._list()))

    def action_toggle_select(self) -> None:
        current = self.current
        if current is None:
            return
        if current["id"] in self.selected:
            self.selected.remove(current["id"])
        else:
            self.selected.append(current["id"])
        n = len(self.selected)
        self._notice(f"{n} run{'s' if n != 1 else ''} selected · space: select/unselect · c: compare them"
                     if n else "", "info")
        self._show(list(self.summaries.values()))

    def action_compare(self) -> None:
        if len(self.selected) < 2:
            self._notice("Select at least two runs to compare: space marks the highlighted run, then press c.")
            return
        self.wb.open_compare(list(self.selected))

    def action_new(self) -> None:
        self.wb.open_configure()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("New run", "Configure and launch a new training run (n)", self.action_new)
        yield SystemCommand("Compare selected runs", "Compare the runs marked with space (c)", self.action_compare)
        if self.current is not None:
            name = self.current["name"]
            yield SystemCommand(f"Open {name}", "Watch the highlighted run in the Monitor",
                                lambda: self.wb.open_monitor(self.current["id"]))
            if self.check_action("stop", ()):
                yield SystemCommand(f"Stop {name}", "Ask the highlighted run to stop (s)", self.action_stop)
            if self.check_action("resume", ()):
                yield SystemCommand(f"Resume {name}", "Continue from the last checkpoint (r)", self.action_resume)
            yield SystemCommand(f"Delete {name}", "Delete the highlighted run (d)", self.action_delete)
