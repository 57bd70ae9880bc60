"""Monitor: one run's history replayed on open, live growth, rewrites on resume, the end of a run, and a
run directory that disappears while watched."""

from __future__ import annotations

import json
import os
import shutil

import io
import math

import pytest
from rich.console import Console
from textual.content import Content
from ui_helpers import flat, new_app, screen_text, wait_for_text, wait_until

import canned
from workbench.core.runs import STOP_FILE
from workbench.ui.widgets.charts import LineChart, Mark
from workbench.ui.widgets.run_panels import FinalPanel, PerClassPanel, ProgressPanel, SystemPanel

SIZES = [(80, 24), (120, 40)]
LOSSES = [2.0, 1.0, 0.5, 0.25]
# The debiased EMA of LOSSES with alpha 0.1, by hand: the average starts at 0 and each point moves it a tenth
# of the way, m1 = 0.2, m2 = 0.9*0.2 + 0.1 = 0.28, m3 = 0.9*0.28 + 0.05 = 0.302, m4 = 0.9*0.302 + 0.025 = 0.2968;
# the weights sum to 1 - 0.9^4 = 0.3439, so the debiased average is 0.2968 / 0.3439.
HAND_EMA = 0.2968 / 0.3439  # 0.86304...


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


# --- reading it at a glance: the loss EMA, the main eval curve and its best point, per-type scores ------------
@pytest.mark.parametrize("size", SIZES)
async def test_monitor_shows_the_hand_computed_ema(workspace, size):
    canned.make_run(workspace, "short-run", status="completed", age_s=600, steps=4, max_steps=4, steps_per_epoch=2,
                    losses=LOSSES)
    app = new_app(workspace)
    async with app.run_test(size=size) as pilot:
        screen = await open_monitor(pilot, "short-run")
        assert screen.history.ema_loss() == pytest.approx(HAND_EMA)
        await wait_for_text(pilot, f"loss 0.2500 (ema {HAND_EMA:.4f})")  # (ema 0.8630)


@pytest.mark.parametrize("size", SIZES)
async def test_eval_chart_holds_the_main_curve_and_its_best_point(workspace, task_runs, size):
    app = new_app(workspace)
    async with app.run_test(size=size) as pilot:
        screen = await open_monitor(pilot, task_runs["ner"])
        evals = [canned.ner_eval(n) for n in range(1, 6)]  # at steps 20, 40, 60, 80, 100
        assert len([k for k in evals[-1] if k == "f1" or k.startswith("f1_")]) == 7  # seven eval series logged
        chart = screen.query_one("#mon-eval", LineChart)
        await wait_until(pilot, lambda: chart.series, what="the eval curve")
        assert [s.label for s in chart.series] == ["entity F1"]
        main = chart.series[0]
        assert main.xs == [20.0, 40.0, 60.0, 80.0, 100.0] and main.ys == [e["f1"] for e in evals]
        assert (main.xs[-1], main.ys[-1]) == (100.0, 0.733)  # the last point
        assert chart.marks == [Mark("best 0.741 @80", 80.0, 0.741)]  # the best evaluation, not the last
        assert chart.border_title == "Eval: entity F1"
        # The legend is the bottom border, outside the plot; the plot shows the curve, its points and ◆.
        assert Content.from_markup(chart.border_subtitle).plain == "─•─ entity F1  ◆ best 0.741 @80"
        plot = chart.render().plain
        assert "◆" in plot and "•" in plot and "entity F1" not in plot and "PER" not in plot
        assert "eval entity F1 0.7330 ▼ best 0.741 @80" in flat(screen_text(app))
        screen.query_one("#mon-body").scroll_to_widget(chart, animate=False)
        text = await wait_for_text(pilot, "◆ best 0.741 @80")
        assert "Eval: entity F1" in text
        # Per-type F1 as a table: the overall row, then one row per entity type, latest and best.
        panel = screen.query_one(PerClassPanel)
        assert panel.display and panel.border_title == "F1 by entity type (6)"
        assert [r[0] for r in panel.rows] == ["entity F1", *canned.ENTITY_TYPES]
        for name, latest, best in panel.rows[1:]:
            assert latest == evals[-1][f"f1_{name}"] and best == max(e[f"f1_{name}"] for e in evals)
        screen.query_one("#mon-body").scroll_to_widget(panel, animate=False)
        await wait_for_text(pilot, f"PROD {evals[-1]['f1_PROD']:.3f} {max(e['f1_PROD'] for e in evals):.3f}")


async def test_a_finished_run_swaps_the_training_table_for_the_final_one(workspace, task_runs):
    app = new_app(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_monitor(pilot, task_runs["ner_done"])
        await wait_until(pilot, lambda: screen.query_one("#mon-final").display, what="the final evaluation")
        assert not screen.query_one("#mon-per-class").display
        assert screen.query_one("#mon-eval", LineChart).marks == [Mark("best 0.748 @120", 120.0, 0.748)]
        console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
        console.print(screen.query_one(FinalPanel).content)
        final = flat(console.export_text())
        assert "entity F1 0.7480 P 0.7600 R 0.7370 token acc 0.9600 eval loss 0.2500" in final
        assert "best entity F1 from checkpoint-120" in final and "entity type P R F1 n PER" in final


async def test_a_language_model_headlines_its_eval_loss(workspace, task_runs):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(pilot, task_runs["sft_done"])
        chart = screen.query_one("#mon-eval", LineChart)
        await wait_until(pilot, lambda: chart.series, what="the eval curve")
        loss = math.log(12.5)
        assert [s.label for s in chart.series] == ["eval loss"] and chart.series[0].ys[-1] == round(loss + 0.1, 4)
        # Lower is better: the best point is the lowest eval loss (the last one here).
        assert chart.marks == [Mark(f"best {loss + 0.1:.3f} @30", 30.0, round(loss + 0.1, 4))]
        items = " ".join(t.plain for t in screen.query_one(ProgressPanel)._number_items())
        assert f"eval loss {loss + 0.1:.4f} ▼ best {loss + 0.1:.3f} @30" in items and "perplexity" in items
        assert "accuracy" not in items and not screen.query_one("#mon-per-class").display
