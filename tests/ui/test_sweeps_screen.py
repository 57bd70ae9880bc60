"""Sweeps: the ranked trial table (live), the metric-vs-parameter chart and its parameter key, the verdict on the
best two trials, opening a trial in the Monitor, comparing the top two, stopping and resuming a sweep.

The sweep is canned (canned.make_sweep): sweep.json written by hand, a real Optuna journal study told each
finished trial's value, and a canned run per trial with predictions, so ``SweepStore.results`` works without
training."""

from __future__ import annotations

import json
import re

import pytest
from ui_helpers import flat, new_app, screen_text, wait_for_text, wait_until

import canned
from workbench.core.errors import WorkbenchError
from workbench.core.queue import RunQueue
from workbench.core.runs import STOP_FILE
from workbench.core.sweeps import SweepStore
from workbench.ui.screens.sweeps import CREATE_HINT, chart_spec, log_ticks
from workbench.ui.widgets.charts import ScatterChart

RANKED = [1, 2, 0, 3, 4, 5]  # trial numbers best first: three completed, the pruned one, then running and queued


@pytest.fixture
def sweep(workspace, sleeper) -> dict:
    return canned.make_sweep(workspace, live_pid=sleeper)


async def open_sweeps(pilot):
    await pilot.press("8")
    assert pilot.app.current_mode == "sweeps"
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.loads > 0, timeout=30, what="the sweep's results")
    return screen


def table_keys(screen) -> list[str]:
    table = screen.query_one("#sw-trials")
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


async def test_trials_ranked_with_their_values_the_verdict_and_importance(workspace, sweep):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sweeps(pilot)
        assert table_keys(screen) == [sweep["runs"][n] for n in RANKED]
        text = screen_text(app)
        lines = text.splitlines()
        # Rank, trial, lr, batch size, accuracy, status, epoch, time, in rank order.
        rows = [flat(line) for line in lines if re.match(r"^\s+(\d+|—)\s+\d+\s", line)]
        assert rows[:4] == ["1 1 3e-05 32 0.9150 ★ ✔ completed 3.00 50s",
                            "2 2 0.0001 16 0.8950 ✔ completed 3.00 50s",
                            "3 0 1e-05 16 0.8500 ✔ completed 3.00 50s",
                            "4 3 0.0003 32 0.6200 x pruned 1.00 20s"]
        assert "— 4 0.0002 16 — ● running 1.50 —" in flat(text)
        assert "lr-sweep ● running · 4/8 trials done · 1 running · 1 queued" in text
        shown = flat(text)
        assert ("best (trial 1) vs runner-up (trial 2) on the validation split: no significant difference "
                "(McNemar p = 0.63") in shown
        assert "parameter importance (Optuna, fANOVA): lr" in shown
        assert "search space: lr ∈ [1e-05, 0.0003] log; batch_size ∈ {16, 32}" in shown


async def test_p_cycles_the_chart_parameter(workspace, sweep):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sweeps(pilot)
        chart = screen.query_one(ScatterChart)
        assert screen.chart_param == "lr"
        assert chart.border_title == "accuracy vs lr (log x) · p: 1/2" and chart.xlog
        completed, pruned, best = chart.series
        assert (completed.label, sorted(completed.xs)) == ("completed", [1e-5, 3e-5, 1e-4])
        assert (pruned.label, pruned.xs, pruned.ys) == ("pruned", [3e-4], [0.62])
        assert (best.label, best.xs, best.ys) == ("best (trial 1)", [3e-5], [0.915])
        await pilot.press("p")
        assert screen.chart_param == "batch_size"
        assert chart.border_title == "accuracy vs batch_size · p: 2/2" and not chart.xlog
        assert sorted(chart.series[0].xs) == [16, 16, 32] and chart.xticks == ([16.0, 32.0], ["16", "32"])
        await wait_for_text(pilot, "accuracy vs batch_size")
        await pilot.press("p")
        assert screen.chart_param == "lr"


def test_chart_axes_log_for_wide_spans_categorical_for_names():
    results = {"metric": "accuracy", "best": None, "params": [
        {"name": "weight_decay", "values": [0.0001, 0.001, 0.1]}, {"name": "optim", "values": ["adamw", "sgd"]},
        {"name": "warmup_ratio", "low": 0.0, "high": 0.1, "log": False, "integer": False}],
        "trials": [{"trial": 0, "status": "completed", "value": 0.8,
                    "params": {"weight_decay": 0.001, "optim": "sgd", "warmup_ratio": 0.05}}]}
    spec = chart_spec(results, "weight_decay")  # listed values spanning three decades: a log axis
    assert spec["xlog"] and spec["xticks"] == ([0.0001, 0.001, 0.1], ["1e-4", "0.001", "0.1"])
    spec = chart_spec(results, "optim")  # names: positions 0, 1 with the names as ticks
    assert not spec["xlog"] and spec["xticks"] == ([0, 1], ["adamw", "sgd"]) and spec["series"][0].xs == [1]
    spec = chart_spec(results, "warmup_ratio")  # a linear range starting at 0: no log axis possible
    assert not spec["xlog"] and spec["xticks"] is None and spec["title"] == "accuracy vs warmup_ratio · p: 3/3"
    assert log_ticks(1e-5, 3e-4) == [1e-5, 1e-4, 3e-4]


async def test_enter_and_m_open_the_highlighted_trial_in_the_monitor(workspace, sweep):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sweeps(pilot)
        await pilot.press("down", "enter")  # the runner-up, trial 2
        assert app.current_mode == "monitor" and app.monitored_run == sweep["runs"][2]
        await wait_until(pilot, lambda: app.screen.run_id == sweep["runs"][2], what="the monitor on trial 2")
        await pilot.press("8", "down", "m")  # back on the same row: one down is trial 0
        assert app.current_mode == "monitor" and app.monitored_run == sweep["runs"][0]


async def test_c_compares_the_runner_up_with_the_best(workspace, sweep):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sweeps(pilot)
        await pilot.press("c")
        assert app.current_mode == "compare"
        # A (the baseline) is the runner-up and B the best, so Compare's deltas read best − runner-up.
        assert app.compared_runs == [sweep["runs"][2], sweep["runs"][1]]
        await wait_until(pilot, lambda: app.screen.comparison is not None, what="the comparison")
        await wait_for_text(pilot, "+2.0 pt")


async def test_the_table_follows_a_trial_that_finishes(workspace, sweep):
    """Trial 4 finishes with the best score so far: it moves to the top by itself, the verdict follows."""
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sweeps(pilot)
        store = SweepStore(workspace)
        record = store.get(sweep["id"])
        run_dir = workspace / "runs" / sweep["runs"][4]
        info = json.loads((run_dir / "run.json").read_text())
        info.update(status="completed", finished=info["started"], pid=None,
                    metrics={"accuracy": 0.93, "macro_f1": 0.929, "eval_loss": 0.25},
                    best_metric={"name": "accuracy", "value": 0.93, "checkpoint": "checkpoint-90"},
                    progress={**info["progress"], "step": 90, "epoch": 3.0})
        canned.write_predictions(run_dir, 0.93, seed=4)
        (run_dir / "run.json").write_text(json.dumps(info))
        store.study(record).tell(4, 0.93)
        await wait_until(pilot, lambda: table_keys(screen)[0] == sweep["runs"][4], what="trial 4 ranked first")
        await wait_for_text(pilot, "best (trial 4) vs runner-up (trial 1)")
        assert "5/8 trials done" in screen_text(app)


async def test_s_stops_a_running_sweep_and_r_resumes_it(workspace, sweep, monkeypatch):
    started = []
    monkeypatch.setattr(RunQueue, "ensure_runner", lambda self: started.append(self.workspace.root))
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sweeps(pilot)
        await pilot.press("s")
        store = SweepStore(workspace)
        await wait_until(pilot, lambda: store.get(sweep["id"])["status"] == "stopped", what="the sweep stopped")
        assert (workspace / "runs" / sweep["runs"][4] / STOP_FILE).exists()  # the running trial saves and stops
        assert RunQueue(workspace).read().entries == []  # the waiting trial and the sweep left the queue
        await wait_for_text(pilot, "Stopped sweep lr-sweep")
        await wait_for_text(pilot, "lr-sweep ■ stopped")
        await pilot.press("s")  # no longer running: the key does nothing
        await pilot.press("r")
        await wait_until(pilot, lambda: store.get(sweep["id"])["status"] == "running", what="the sweep resumed")
        assert started == [workspace]
        assert {"kind": "sweep", "id": sweep["id"]} in [{k: e[k] for k in ("kind", "id")}
                                                        for e in RunQueue(workspace).read().entries]
        await wait_for_text(pilot, "Resumed sweep lr-sweep")
        await wait_for_text(pilot, "lr-sweep ● running")


async def test_a_refused_stop_is_shown_in_place(workspace, sweep, monkeypatch):
    def refuse(self, ref):
        raise WorkbenchError("sweep lr-sweep is not running (status: completed).")

    monkeypatch.setattr(SweepStore, "stop", refuse)
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sweeps(pilot)
        await pilot.press("s")
        await wait_for_text(pilot, "sweep lr-sweep is not running (status: completed).")
        assert app.current_mode == "sweeps"


async def test_an_empty_workspace_says_how_to_create_a_sweep(workspace):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("8")
        text = await wait_for_text(pilot, "No sweeps in this workspace yet.")
        assert CREATE_HINT in text
        await pilot.press("s", "r", "c", "m", "p")  # nothing to act on: no error, no traceback
        assert app.current_mode == "sweeps"


async def test_the_sweep_list_picks_which_sweep_the_table_shows(workspace, sweep, sleeper):
    older = canned.make_sweep(workspace, "old-sweep", live_pid=sleeper, status="completed", planned=2,
                              age_s=26 * 3600, trials=(({"lr": 2e-5, "batch_size": 16}, "completed", 0.87),
                                                       ({"lr": 6e-5, "batch_size": 16}, "completed", 0.9)))
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sweeps(pilot)
        assert screen.sweep_id == sweep["id"]  # the newest sweep first
        text = flat(screen_text(app))
        assert "● running lr-sweep 4/8" in text and "✔ completed old-sweep 2/2" in text
        await pilot.press("shift+tab", "down")  # to the list of sweeps, then the older one
        await wait_until(pilot, lambda: screen.results and screen.results["id"] == older["id"], what="old-sweep")
        assert table_keys(screen) == [older["runs"][1], older["runs"][0]]
        await wait_for_text(pilot, "old-sweep ✔ completed · 2/2 trials done")
        await wait_for_text(pilot, "best (trial 1) vs runner-up (trial 0)")
        assert screen.check_action("stop", ()) is None and screen.check_action("resume", ()) is None
        await pilot.press("enter")  # back to the trials
        assert app.focused is screen.query_one("#sw-trials")
        await pilot.press("m")
        assert app.monitored_run == older["runs"][1]
