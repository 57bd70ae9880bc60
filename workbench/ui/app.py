"""The Textual workbench: eight screens over one workspace's run store.

Each screen is an app *mode* (Runs, Datasets, Configure, Monitor, Playground, Compare, Export, Sweeps) with
its own stack, so switching keeps each screen's state. Screen modules are imported on first use: the Runs screen paints
before the chart library (or anything heavier) is loaded. torch, transformers and friends are only
ever imported inside thread workers.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from workbench.core.runs import ACTIVE, RunStore
from workbench.ui.messages import HandoffChanged
from workbench.ui.priority import call_directly, lower_ui_priority
from workbench.paths import Workspace

# mode name, title, key, module, class
SCREENS = (
    ("runs", "Runs", "1", "runs", "RunsScreen"),
    ("datasets", "Datasets", "2", "datasets", "DatasetsScreen"),
    ("configure", "Configure", "3", "configure", "ConfigureScreen"),
    ("monitor", "Monitor", "4", "monitor", "MonitorScreen"),
    ("playground", "Playground", "5", "playground", "PlaygroundScreen"),
    ("compare", "Compare", "6", "compare", "CompareScreen"),
    ("export", "Export", "7", "export", "ExportScreen"),
    ("sweeps", "Sweeps", "8", "sweeps", "SweepsScreen"),
)
DESCRIPTIONS = {
    "runs": "All runs: open, stop, resume or delete them",
    "datasets": "Browse data sets: preview, schema, label and length charts, health warnings",
    "configure": "Configure and launch a training run",
    "monitor": "Watch one run live: progress, curves, system and log",
    "playground": "Try a finished run's model on your own text",
    "compare": "Compare runs side by side: metrics, significance, curves, per class, disagreements",
    "export": "Export a finished run to ONNX (fp32/int8), check parity, benchmark it",
    "sweeps": "Hyper-parameter sweeps: trials ranked live, metric vs parameter, best vs runner-up",
}
_SCREEN_KEYS = Binding.Group("screens", compact=True)
LIGHT_THEME, DARK_THEME = "textual-light", "textual-dark"


def _lazy_screen(module: str, cls: str) -> Callable[[], Screen]:
    def make() -> Screen:
        return getattr(importlib.import_module(f"workbench.ui.screens.{module}"), cls)()

    return make


class WorkbenchApp(App):
    CSS_PATH = "workbench.tcss"
    TITLE = "sft-workbench"
    MODES = {mode: _lazy_screen(module, cls) for mode, _, _, module, cls in SCREENS}
    DEFAULT_MODE = "runs"
    # Screens get "-narrow" below 100 columns and stack their panels (see workbench.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    # Digits switch screens; F1–F8 do the same and also work while typing in a form field. The footer
    # shows them as one compact group ("12345678 screens") so a screen's own keys fit in 80 columns; the
    # nav bar at the top spells out which digit is which screen.
    BINDINGS = [
        *(Binding(f"{key},f{key}", f"goto('{mode}')", title, id=f"screen-{mode}", group=_SCREEN_KEYS)
          for mode, title, key, _, _ in SCREENS),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
    ]

    def __init__(self, workspace: str | Path | None = None, *, clock: Callable[[], float] = time.time,
                 poll_interval: float = 0.5) -> None:
        super().__init__()
        self.workspace = Workspace.resolve(workspace)
        self.store = RunStore(self.workspace)
        # Injected so snapshot tests see fixed ages and elapsed times.
        self.clock = clock
        self.poll_interval = poll_interval
        # Cross-screen hand-offs, read by the receiving screen when it is shown.
        self.monitored_run: str | None = None
        self.pending_dataset: dict[str, Any] | None = None
        self.highlighted_run: str | None = None
        self.compared_runs: list[str] = []
        self.theme = DARK_THEME
        # How worker processes are started: directly, until on_mount lowers the UI's priority.
        self.spawn: Callable[..., Any] = call_directly

    def on_mount(self) -> None:
        # In a real terminal the UI yields the CPU to training (see priority.py). Not when headless:
        # tests and snapshots run the app in the test process, which must keep its priority.
        if not self.is_headless:
            self.spawn = lower_ui_priority(asyncio.get_running_loop())
            # Queued runs waiting for a runner that died with the machine: the next sft-workbench starts one (at
            # normal priority, like every launch).
            from workbench.core.queue import RunQueue

            self.spawn(RunQueue(self.workspace).ensure_runner)

    # --- navigation --------------------------------------------------------------------------------
    def action_goto(self, mode: str) -> None:
        if mode == "monitor" and self.monitored_run is None:
            self.monitored_run = self._default_monitor_run()
        self.switch_mode(mode)

    def _default_monitor_run(self) -> str | None:
        """The run the Runs list points at, else the newest active run, else the newest run."""
        if self.highlighted_run:
            return self.highlighted_run
        runs = self.store.list()
        active = [r for r in runs if r.status in ACTIVE]
        candidates = active or runs
        return candidates[0].id if candidates else None

    def open_monitor(self, run_id: str) -> None:
        self.monitored_run = run_id
        if self.current_mode == "monitor":
            self.screen.post_message(HandoffChanged())
        else:
            self.switch_mode("monitor")

    def open_compare(self, run_ids: list[str]) -> None:
        self.compared_runs = list(run_ids)
        if self.current_mode == "compare":
            self.screen.post_message(HandoffChanged())
        else:
            self.switch_mode("compare")

    def open_configure(self, dataset: dict[str, Any] | None = None) -> None:
        if dataset is not None:
            self.pending_dataset = dataset
        if self.current_mode == "configure":
            self.screen.post_message(HandoffChanged())
        else:
            self.switch_mode("configure")

    def action_toggle_theme(self) -> None:
        self.theme = DARK_THEME if self.current_theme.dark is False else LIGHT_THEME

    # --- command palette ---------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for mode, title, key, _, _ in SCREENS:
            yield SystemCommand(f"{title} screen ({key})", DESCRIPTIONS[mode], lambda m=mode: self.action_goto(m))
        yield SystemCommand("Toggle light/dark theme (ctrl+t)", "Switch between the light and dark theme",
                            self.action_toggle_theme)
        extra = getattr(screen, "palette_commands", None)
        if extra is not None:
            yield from extra()
        yield from super().get_system_commands(screen)


def make_app(workspace: str | Path | None = None, **options: Any) -> WorkbenchApp:
    """The workbench app for ``workspace`` (default: $SFT_WORKBENCH_HOME or the current directory)."""
    return WorkbenchApp(workspace, **options)
