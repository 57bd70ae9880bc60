"""Export: pick a finished run, export it to ONNX (optionally int8), see the parity report; benchmark it.

``export_run`` and ``bench_export`` run in thread workers (torch, onnxruntime and friends are imported
there, on first use); their progress lines come back as messages and are shown live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from workbench.core.errors import WorkbenchError
from workbench.core.tasks import find_task, get_task
from workbench.ui.screens.base import Notice, WorkbenchScreen
from workbench.ui.task_metrics import headline_figure
from workbench.ui.widgets.toggle import TextCheckbox

PROGRESS_LINES = 6


# --- messages (posted by the workers) ------------------------------------------------------------------
class ExportProgressed(Message):
    def __init__(self, job: str, line: str) -> None:
        super().__init__()
        self.job = job
        self.line = line


class ExportFinished(Message):
    def __init__(self, run_id: str, manifest: dict[str, Any]) -> None:
        super().__init__()
        self.run_id = run_id
        self.manifest = manifest


class BenchFinished(Message):
    def __init__(self, export_dir: str, result: dict[str, Any]) -> None:
        super().__init__()
        self.export_dir = export_dir
        self.result = result


class ExportJobFailed(Message):
    def __init__(self, job: str, message: str) -> None:
        super().__init__()
        self.job = job
        self.message = message


# --- tables ---------------------------------------------------------------------------------------------
def parity_table(manifest: dict[str, Any]) -> Group:
    """The validation report of an export (the task's table), then the fused-op counts, warnings and its path."""
    parts: list[Any] = list(get_task(manifest.get("task")).export_report(manifest))
    if manifest.get("optimization"):
        fused = manifest["optimization"].get("fused_ops") or {}
        parts.append(Text.assemble(("fused ops: ", "bold"), ", ".join(f"{k} {v}" for k, v in fused.items()) or "none"))
    for warning in manifest.get("warnings") or []:
        parts.append(Text.assemble(("warning: ", "yellow"), warning))
    if manifest.get("path"):
        parts.append(Text.assemble(("→ ", "green"), (str(manifest["path"]), "bold")))
    return Group(*parts)


def bench_table(task: str | None, result: dict[str, Any]) -> Group:
    """A benchmark of an export of ``task`` (the task's table), then its notes."""
    parts: list[Any] = list(get_task(task).bench_report(result))
    for note in result.get("notes") or []:
        parts.append(Text.assemble(("note: ", "yellow"), note))
    return Group(*parts)


class ExportScreen(WorkbenchScreen):
    MODE = "export"
    BINDINGS = [
        Binding("e", "export", "Export"),
        Binding("b", "bench", "Bench"),
        Binding("escape", "leave_field", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_id: str | None = None
        self.busy: str | None = None  # "export" or "bench" while a worker runs
        self.manifest: dict[str, Any] | None = None  # the last export made (or found) for the chosen run
        self.bench_result: dict[str, Any] | None = None
        self.progress: list[str] = []

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="ex-top"):
            yield OptionList(id="ex-runs", classes="panel")
            with Vertical(id="ex-opts", classes="panel"):
                with Horizontal(classes="ex-line"):
                    yield TextCheckbox("int8", id="ex-int8", compact=True)
                    yield TextCheckbox("overwrite", id="ex-force", compact=True)
                with Horizontal(classes="ex-line"):
                    yield Label("opset", classes="ex-name")
                    yield Input("17", type="integer", compact=True, id="ex-opset")
                    yield Label(" max int8 drop", classes="ex-name")
                    yield Input("", placeholder="1 pt (LM: 5% ppl)", type="number", compact=True, id="ex-drop")
                with Horizontal(classes="ex-line"):
                    yield Label("output", classes="ex-name")
                    yield Input(placeholder="exports/<run name>", compact=True, id="ex-out")
                with Horizontal(classes="ex-line"):
                    yield Button("Export (e)", id="ex-export", compact=True, variant="primary")
                    yield Button("Bench (b)", id="ex-bench", compact=True)
        yield Notice(id="ex-notice")
        with VerticalScroll(id="ex-body"):
            yield Static(id="ex-progress", classes="panel")
            yield Static(id="ex-parity", classes="panel")
            yield Static(id="ex-benchres", classes="panel")

    def on_mount(self) -> None:
        self.query_one("#ex-runs").border_title = "Finished runs"
        self.query_one("#ex-opts").border_title = "Options"
        self.query_one("#ex-progress").border_title = "Progress"
        self.query_one("#ex-parity").border_title = "Validation (parity)"
        self.query_one("#ex-benchres").border_title = "Benchmark"
        for wid in ("#ex-progress", "#ex-parity", "#ex-benchres"):
            self.query_one(wid).display = False

    def on_screen_resume(self) -> None:
        self._refresh_runs()
        self.query_one("#ex-runs", OptionList).focus()

    def _finished_runs(self) -> list:
        # A run of a task this version does not know has nothing to export.
        return [r for r in self.wb.store.list() if (task := find_task(r.task)) is not None and task.has_model(r)]

    def _refresh_runs(self) -> None:
        runs = self._finished_runs()
        options = self.query_one("#ex-runs", OptionList)
        options.clear_options()
        exports = self.wb.workspace.exports_dir
        for r in runs:
            done = (exports / r.name / "manifest.json").is_file()
            score = "  {} {}".format(*headline_figure(r.task, r.metrics))  # "entity F1 0.741", "perplexity 12.50"
            label = Text.assemble(r.name, (score, "dim"),
                                  (" ✓onnx" if done else "", "green"))
            options.add_option(Option(label, id=r.id))
        ids = [r.id for r in runs]
        if not ids:
            self.run_id = None
            self.query_one(Notice).show("No finished run with a model yet: train one (3 Configure) and come back.",
                                        "info")
            return
        if self.run_id not in ids:
            self.run_id = ids[0]
        options.highlighted = ids.index(self.run_id)

    @on(OptionList.OptionHighlighted, "#ex-runs")
    def _run_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        run_id = event.option.id
        if run_id == self.run_id and self.manifest is not None:
            return
        self.run_id = run_id
        if self.busy:
            return
        self._show_existing()

    @on(OptionList.OptionSelected, "#ex-runs")
    def _run_selected(self, _: OptionList.OptionSelected) -> None:
        self.query_one("#ex-int8", Checkbox).focus()

    def _run(self):
        if self.run_id is None:
            return None
        try:
            return self.wb.store.get(self.run_id)
        except WorkbenchError as exc:
            self.query_one(Notice).show(str(exc))
            return None

    def _target(self, run) -> Path:
        out = self.query_one("#ex-out", Input).value.strip()
        if out:
            path = Path(out).expanduser()
            return path if path.is_absolute() else (self.wb.workspace.root / path)
        return self.wb.workspace.exports_dir / run.name

    def _show_existing(self) -> None:
        """Show the chosen run's export (its manifest) if there is one already."""
        self.manifest, self.bench_result = None, None
        self.query_one("#ex-progress").display = False
        self.query_one(Notice).clear()
        run = self._run()
        parity, bench = self.query_one("#ex-parity", Static), self.query_one("#ex-benchres", Static)
        parity.display = bench.display = False
        if run is None:
            return
        from workbench.core.inference import read_manifest

        target = self._target(run)
        if not (target / "manifest.json").is_file():
            return
        try:
            manifest = read_manifest(target)
        except WorkbenchError:
            return
        manifest.setdefault("path", str(target))
        self.manifest = manifest
        if manifest.get("validation"):
            parity.update(parity_table(manifest))
            parity.display = True
        if manifest.get("benchmark"):
            self.bench_result = manifest["benchmark"]
            bench.update(bench_table(manifest.get("task"), self.bench_result))
            bench.display = True

    # --- export ---------------------------------------------------------------------------------------
    @on(Button.Pressed, "#ex-export")
    def _export_pressed(self) -> None:
        self.action_export()

    @on(Button.Pressed, "#ex-bench")
    def _bench_pressed(self) -> None:
        self.action_bench()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_export()

    def _options(self) -> dict[str, Any] | None:
        notice = self.query_one(Notice)
        try:
            opset = int(self.query_one("#ex-opset", Input).value.strip() or 17)
        except ValueError:
            notice.show("opset must be a whole number (7 to 21).")
            return None
        try:
            text = self.query_one("#ex-drop", Input).value.strip()
            drop = float(text) if text else None  # None: the task's default (1 point; 5% perplexity for an LM)
        except ValueError:
            notice.show("max int8 drop must be a number (accuracy points; for a causal LM, percent of perplexity).")
            return None
        out = self.query_one("#ex-out", Input).value.strip() or None
        if out and not Path(out).expanduser().is_absolute():
            out = str(self.wb.workspace.root / out)
        return {"int8": self.query_one("#ex-int8", Checkbox).value, "force": self.query_one("#ex-force", Checkbox).value,
                "opset": opset, "max_int8_drop": drop, "out": out}

    def action_export(self) -> None:
        notice = self.query_one(Notice)
        if self.busy:
            notice.show(f"Wait: the {self.busy} is still running.", "info")
            return
        if self.run_id is None:
            notice.show("Choose a finished run first.")
            return
        options = self._options()
        if options is None:
            return
        notice.clear()
        self._start("export", "exporting… (the first export imports torch: a few seconds)")
        self.query_one("#ex-parity").display = False
        self.query_one("#ex-benchres").display = False
        self.run_export(self.run_id, options)

    def _start(self, job: str, first: str) -> None:
        self.busy = job
        self.progress = [first]
        progress = self.query_one("#ex-progress", Static)
        progress.border_title = "Export" if job == "export" else "Benchmark"
        progress.display = True
        self._render_progress()

    def _render_progress(self, style: str = "") -> None:
        lines = self.progress[-PROGRESS_LINES:]
        text = Text()
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            text.append(("\n" if i else "") + line, style=(style or "yellow") if last else "dim")
        self.query_one("#ex-progress", Static).update(text)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def run_export(self, run_id: str, options: dict[str, Any]) -> None:
        try:
            from workbench.core.export import export_run
            from workbench.ui.actions import quiet_transformers

            quiet_transformers()
            run = self.wb.store.get(run_id)
            manifest = export_run(run, workspace=self.wb.workspace,
                                  progress=lambda line: self.post_message(ExportProgressed("export", line)), **options)
        except WorkbenchError as exc:
            self.post_message(ExportJobFailed("export", str(exc)))
            return
        except Exception as exc:  # a failing exporter or optimiser must not take the app down
            self.post_message(ExportJobFailed("export", f"export failed: {type(exc).__name__}: {str(exc)[:300]}"))
            return
        self.post_message(ExportFinished(run_id, manifest))

    def on_export_progressed(self, message: ExportProgressed) -> None:
        if message.job != self.busy:
            return
        self.progress.append(message.line)
        self._render_progress()

    def on_export_finished(self, message: ExportFinished) -> None:
        self.busy = None
        self.manifest = message.manifest
        self.query_one("#ex-progress").display = False  # the room goes to the table
        parity = self.query_one("#ex-parity", Static)
        parity.update(parity_table(message.manifest))
        parity.display = True
        self.query_one(Notice).show("Exported. b: benchmark it · 5 Playground: try it (source: ONNX export).", "ok")
        self._refresh_runs()
        self.query_one("#ex-body", VerticalScroll).scroll_to_widget(parity, animate=False)

    def on_export_job_failed(self, message: ExportJobFailed) -> None:
        self.busy = None
        self.progress.append(f"{message.job} failed")
        self._render_progress("red")
        self.query_one(Notice).show(message.message)

    # --- bench ----------------------------------------------------------------------------------------
    def action_bench(self) -> None:
        notice = self.query_one(Notice)
        if self.busy:
            notice.show(f"Wait: the {self.busy} is still running.", "info")
            return
        run = self._run()
        if run is None:
            notice.show("Choose a finished run first.")
            return
        target = Path(self.manifest["path"]) if self.manifest and self.manifest.get("path") else self._target(run)
        if not (target / "manifest.json").is_file():
            notice.show(f"No export at {target} yet: press e to export it first.")
            return
        notice.clear()
        self._start("bench", "benchmarking… (about a minute for a MiniLM-sized model)")
        self.run_bench(str(target))

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def run_bench(self, export_dir: str) -> None:
        try:
            from workbench.core.bench import bench_export

            result = bench_export(export_dir, progress=lambda line: self.post_message(ExportProgressed("bench", line)))
        except WorkbenchError as exc:
            self.post_message(ExportJobFailed("bench", str(exc)))
            return
        except Exception as exc:
            self.post_message(ExportJobFailed("bench", f"benchmark failed: {type(exc).__name__}: {str(exc)[:300]}"))
            return
        self.post_message(BenchFinished(export_dir, result))

    def on_bench_finished(self, message: BenchFinished) -> None:
        self.busy = None
        self.bench_result = message.result
        self.query_one("#ex-progress").display = False
        bench = self.query_one("#ex-benchres", Static)
        bench.update(bench_table((self.manifest or {}).get("task"), message.result))
        bench.display = True
        self.query_one(Notice).show("Benchmarked (saved in the export's manifest.json).", "ok")
        self.query_one("#ex-body", VerticalScroll).scroll_to_widget(bench, animate=False)

    def action_leave_field(self) -> None:
        self.set_focus(None)
