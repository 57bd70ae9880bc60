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
def test_monitor_ner_held_out(snap_compare, workspace, task_runs, size):
    """A live NER run with 6 entity types: the entity-F1 curve alone with its best point, F1 per type in a
    table (scrolled into view at 80x24, where the panels stack)."""
    async def run_before(pilot) -> None:
        await monitor_on(task_runs["ner"])(pilot)
        if size == (80, 24):
            screen = pilot.app.screen
            screen.query_one("#mon-body").scroll_to_widget(screen.query_one("#mon-eval"), animate=False, top=True)
        await settle(pilot)

    assert snap_compare(new_app(workspace), terminal_size=size, run_before=run_before)


def test_runs_of_three_tasks(snap_compare, workspace, task_runs):
    """Classification, NER and causal-LM SFT runs side by side, each with its own named headline metric."""
    async def run_before(pilot) -> None:
        await pilot.press("down", "down")  # the SFT run: eval loss and perplexity below the list
        await settle(pilot)

    assert snap_compare(new_app(workspace), terminal_size=(80, 24), run_before=run_before)


def test_export_options_without_colour(snap_compare, workspace, monkeypatch):
    """NO_COLOR: int8 on and overwrite off read as [x] and [ ]."""
    import json

    import canned

    monkeypatch.setenv("NO_COLOR", "1")
    run = canned.make_run(workspace, "sst2-done", status="completed", age_s=3600, steps=90, max_steps=90,
                          final={"accuracy": 0.8950, "macro_f1": 0.8949, "eval_loss": 0.3012})
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text(json.dumps({"model_type": "bert"}))

    async def run_before(pilot) -> None:
        await pilot.press("7")
        await wait_until(pilot, lambda: pilot.app.screen.run_id, what="a run chosen")
        await pilot.press("enter", "space")  # to the options; int8 on
        pilot.app.set_focus(None)
        await settle(pilot)

    assert snap_compare(new_app(workspace), terminal_size=(80, 24), run_before=run_before)


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


@pytest.mark.parametrize("size", SIZES)
def test_sweeps(snap_compare, workspace, sleeper, size):
    """A sweep half-way: three trials completed, one pruned, one training, one queued; the chart against lr."""
    import canned

    canned.make_sweep(workspace, live_pid=sleeper)

    async def run_before(pilot) -> None:
        await pilot.press("8")
        await wait_until(pilot, lambda: pilot.app.screen.loads > 0, timeout=30, what="the sweep's results")
        await settle(pilot)

    assert snap_compare(new_app(workspace), terminal_size=size, run_before=run_before)
