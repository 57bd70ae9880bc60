"""Two TUIs watching one run: both replay the history and both follow new lines (readers never write)."""

from __future__ import annotations

import json

from conftest import new_app, wait_until

from workbench.ui.widgets.charts import LineChart


async def test_two_apps_follow_the_same_run(canned_ws, runs):
    first, second = new_app(canned_ws), new_app(canned_ws)
    async with first.run_test(size=(80, 24)) as p1, second.run_test(size=(100, 30)) as p2:
        for pilot in (p1, p2):
            pilot.app.open_monitor(runs["running"])
        for pilot in (p1, p2):
            await wait_until(pilot, lambda a=pilot.app: a.current_mode == "monitor"
                             and a.screen.query_one("#mon-loss", LineChart).points == 45, what="replay")
        metrics = canned_ws / "runs" / runs["running"] / "metrics.jsonl"
        before = metrics.read_bytes()
        with open(metrics, "a") as fh:
            for step in (46, 47):
                fh.write(json.dumps({"time": 1.0, "kind": "train", "step": step, "epoch": 1.6, "loss": 0.2}) + "\n")
        for pilot in (p1, p2):
            await wait_until(pilot, lambda a=pilot.app: a.screen.query_one("#mon-loss", LineChart).points == 47,
                             timeout=5, what="both follow")
        # Watching never writes to the run directory.
        assert metrics.read_bytes().startswith(before)
