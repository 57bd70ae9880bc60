"""Snapshots of the main screens at 80x24 and 120x40, on canned runs with a fixed clock.

Update after an intended change with ``pytest tests/ui/test_snapshots.py --snapshot-update`` and look at
the SVGs (``tests/ui/__snapshots__/``) before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_helpers import new_app, wait_until
from textual.widgets import Input

from workbench.ui.widgets.charts import Histogram

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
SIZES = [(80, 24), (120, 40)]


async def settle(pilot) -> None:
    """Stop text cursors blinking, so a snapshot never catches one half-way."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def monitor_on(run_id: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        app.open_monitor(run_id)
        await wait_until(pilot, lambda: app.current_mode == "monitor" and app.screen.polls > 0, what="monitor")
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_runs(snap_compare, canned_ws, size):
    async def run_before(pilot) -> None:
        await pilot.press("down", "down")  # the crashed run: its resume hint below the list
        await settle(pilot)

    assert snap_compare(new_app(canned_ws), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_monitor_running_on_gpu(snap_compare, canned_ws, runs, size):
    assert snap_compare(new_app(canned_ws), terminal_size=size, run_before=monitor_on(runs["running"]))


def test_monitor_completed(snap_compare, canned_ws, runs):
    assert snap_compare(new_app(canned_ws), terminal_size=(120, 40), run_before=monitor_on(runs["completed"]))


@pytest.mark.parametrize("size", SIZES)
def test_configure_with_an_error(snap_compare, workspace, size):
    async def run_before(pilot) -> None:
        await pilot.press("3")
        # The memory estimate of the default settings arrives from a thread; wait for it (a stable picture).
        await wait_until(pilot, lambda: "GiB" in str(pilot.app.screen.query_one("#cfg-memory").render()),
                         what="memory estimate", timeout=60)
        field = pilot.app.screen.query_one("#f-batch_size", Input)
        field.focus()
        field.value = ""
        await pilot.press(*"abc")
        await wait_until(pilot, lambda: pilot.app.screen.errors.get("batch_size"), what="error")
        pilot.app.set_focus(None)
        await settle(pilot)

    assert snap_compare(new_app(workspace), terminal_size=size, run_before=run_before)


def test_datasets_stats(snap_compare, workspace):
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.press("2")
        await wait_until(pilot, lambda: app.screen.query_one("#ds-tree").last_line > 3, what="data sets listed")
        app.screen.choose(SAMPLE / "sentiment")
        await pilot.press("i")
        hist = app.screen.query_one(Histogram)
        await wait_until(pilot, lambda: hist.values, timeout=60, what="token lengths")
        app.screen.query_one("#ds-tree").focus()
        await settle(pilot)

    assert snap_compare(new_app(workspace), terminal_size=(120, 40), run_before=run_before)
