"""The one UI test that trains for real: launch from Configure with a tiny model, watch the Monitor's step
counter and loss curve grow, stop the run, then re-open the workbench and see the whole history."""

from __future__ import annotations

import json
from pathlib import Path

from ui_helpers import new_app, screen_text, wait_for_text, wait_until
from textual.widgets import Input

from workbench.ui.widgets.charts import LineChart
from workbench.ui.widgets.run_panels import ProgressPanel

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


async def test_launch_watch_stop_and_reopen(workspace, tiny_model_dir):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        form = app.screen
        settings = {"data": str(SAMPLE / "sentiment"), "model": str(tiny_model_dir), "max_steps": "2000",
                    "logging_steps": "1", "eval_steps": "25", "name": "tiny-live"}
        for name, value in settings.items():
            form.query_one(f"#f-{name}", Input).value = value
        form.query_one("#f-eval_strategy").value = "steps"
        field = form.query_one("#f-batch_size", Input)
        field.focus()
        field.value = ""
        await pilot.press("8")  # typed, as a user would
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: app.current_mode == "monitor", timeout=60, what="the Monitor")
        monitor = app.screen
        run_id = monitor.run_id
        assert run_id and "tiny-live" in run_id

        progress = monitor.query_one(ProgressPanel)
        loss = monitor.query_one("#mon-loss", LineChart)
        await wait_until(pilot, lambda: progress.step >= 3 and loss.points >= 3, timeout=120, what="first steps")
        first_step, first_points = progress.step, loss.points
        await wait_until(pilot, lambda: progress.step >= first_step + 5 and loss.points > first_points,
                         timeout=60, what="the counter and the curve to grow")
        await wait_until(pilot, lambda: f"step {progress.step:,}/2,000" in screen_text(app),
                         what="the step counter on screen")

        await pilot.press("s")
        await wait_until(pilot, lambda: monitor.status == "stopped", timeout=90, what="the run to stop")
        await wait_for_text(pilot, "■ stopped")

    metrics = workspace / "runs" / run_id / "metrics.jsonl"
    logged = sum(1 for line in metrics.read_text().splitlines() if json.loads(line)["kind"] == "train")
    assert logged >= first_points

    # A new workbench on the same workspace replays the run's whole history.
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "■ stopped")  # on the Runs list
        await pilot.press("enter")
        monitor = app.screen
        await wait_until(pilot, lambda: monitor.query_one("#mon-loss", LineChart).points == logged, timeout=10,
                         what="the full loss history")
        assert monitor.query_one(ProgressPanel).step >= logged
