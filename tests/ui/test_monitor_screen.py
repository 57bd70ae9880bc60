"""Monitor: one run's history replayed on open, live growth, rewrites on resume, the end of a run, and a
run directory that disappears while watched."""

from __future__ import annotations

import json
import os
import shutil

from ui_helpers import new_app, screen_text, wait_for_text, wait_until

from workbench.core.runs import STOP_FILE
from workbench.ui.widgets.charts import LineChart
from workbench.ui.widgets.run_panels import ProgressPanel, SystemPanel


def chart(app, wid: str) -> LineChart:
    return app.screen.query_one(f"#{wid}", LineChart)


async def open_monitor(pilot, run_id: str):
    app = pilot.app
    app.open_monitor(run_id)
    await wait_until(pilot, lambda: app.current_mode == "monitor" and app.screen.polls > 0, what="first poll")
    return app.screen


async def test_replays_the_whole_history_of_a_running_run(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(pilot, runs["running"])
        text = await wait_for_text(pilot, "step 45/90")
        assert "sst2-minilm-0428 ─ ● running" in text and "11m 58s elapsed" in text and "ETA 22s" in text
        assert chart(app, "mon-loss").points == 45 and chart(app, "mon-eval").points == 1
        assert screen.query_one(SystemPanel).border_title == "GPU 0 · H200"


async def test_new_metric_lines_show_up_and_grow_the_curve(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(pilot, runs["running"])
        metrics = canned_ws / "runs" / runs["running"] / "metrics.jsonl"
        with open(metrics, "a") as fh:
            for step in (46, 47, 48):
                fh.write(json.dumps({"time": 1.0, "kind": "train", "step": step, "epoch": 1.6, "loss": 0.2,
                                     "lr": 1e-5, "samples_per_s": 10.0}) + "\n")
        await wait_until(pilot, lambda: chart(app, "mon-loss").points == 48, timeout=5, what="curve growth")
        assert screen.query_one(ProgressPanel).step == 48
        await wait_for_text(pilot, "step 48/90")


async def test_a_rewritten_metrics_file_rebuilds_the_curves(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_monitor(pilot, runs["running"])
        await wait_until(pilot, lambda: chart(app, "mon-loss").points == 45, what="replay")
        # What a resume does: keep the events up to the checkpoint, rewrite the file atomically.
        metrics = canned_ws / "runs" / runs["running"] / "metrics.jsonl"
        kept = [line for line in metrics.read_text().splitlines() if json.loads(line).get("step", 0) <= 30]
        tmp = metrics.with_suffix(".tmp")
        tmp.write_text("\n".join(kept) + "\n")
        os.replace(tmp, metrics)
        await wait_until(pilot, lambda: chart(app, "mon-loss").points == 30, timeout=5, what="rebuild")


async def test_a_finished_run_shows_final_metrics_and_confusion_matrix(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_monitor(pilot, runs["completed"])
        text = await wait_for_text(pilot, "Final evaluation")
        assert "accuracy 0.8950" in text and "rows: gold · columns: predicted" in text
        assert "88 12" in text and "9 91" in text
        assert "✔ completed" in text and "100%" in text
        assert not app.screen.query_one(SystemPanel).display


async def test_a_crashed_run_offers_resume_and_a_failed_run_shows_its_error(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_monitor(pilot, runs["crashed"])
        await wait_for_text(pilot, "The worker died without finishing. Press r to resume")
        await open_monitor(pilot, runs["failed"])
        await wait_for_text(pilot, "Failed: the evaluation data has label(s) never seen in training")


async def test_stop_key_and_back(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_monitor(pilot, runs["running"])
        await pilot.press("s")
        assert (canned_ws / "runs" / runs["running"] / STOP_FILE).exists()
        await wait_for_text(pilot, "stop requested")
        await pilot.press("q")
        assert app.current_mode == "runs"


async def test_a_run_deleted_while_watched_is_reported_in_place(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_monitor(pilot, runs["completed"])
        shutil.rmtree(canned_ws / "runs" / runs["completed"])
        await wait_for_text(pilot, "was deleted while it was being watched", timeout=5)
        assert chart(app, "mon-loss").points == 90  # what was shown stays


async def test_a_corrupt_run_json_is_reported_not_fatal(canned_ws, runs):
    (canned_ws / "runs" / runs["stopped"] / "run.json").write_text("{oops")
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_monitor(runs["stopped"])
        await wait_for_text(pilot, "is corrupt: run.json is not valid JSON")


async def test_monitor_key_picks_the_newest_active_run(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await wait_until(pilot, lambda: app.screen.run_id == runs["running"], what="monitor target")
        assert "sst2-minilm-0428" in screen_text(app)


async def test_monitor_with_no_runs_says_what_to_do(workspace):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await wait_for_text(pilot, "No run to monitor yet.")
