"""Runs: the list of runs, statuses (a dead worker reads as crashed), and stop/resume/delete/new."""

from __future__ import annotations

import pytest
from ui_helpers import flat, new_app, screen_text, wait_for_text, wait_until

from workbench.core.runs import STOP_FILE
from workbench.ui.widgets.run_table import RunTable

SIZES = [(80, 24), (120, 40)]


async def test_lists_runs_with_effective_status_and_resume_hint(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        text = screen_text(app)
        for status in ("● running", "✔ completed", "✖ crashed ↻", "■ stopped ↻", "✖ failed"):
            assert status in text
        assert "0.895" in text and "12m ago" in text and "2d ago" in text
        table = app.screen.query_one(RunTable)
        assert table.current_key == runs["running"]  # newest first
        await pilot.press("down", "down")
        assert table.current_key == runs["crashed"]
        await wait_for_text(pilot, "Press r to resume it from its last checkpoint.")


async def test_enter_opens_the_monitor_on_the_highlighted_run(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "enter")
        assert app.current_mode == "monitor"
        await wait_until(pilot, lambda: app.screen.run_id == runs["completed"], what="monitor on the run")


async def test_stop_asks_a_running_run_to_stop_and_is_disabled_otherwise(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        assert (canned_ws / "runs" / runs["running"] / STOP_FILE).exists()
        await wait_for_text(pilot, "Stop requested for sst2-minilm-0428")
        await pilot.press("down", "s")  # the completed run: the key is disabled, nothing happens
        assert not (canned_ws / "runs" / runs["completed"] / STOP_FILE).exists()


async def test_resume_launches_a_worker_for_a_crashed_run_and_refuses_a_running_one(canned_ws, runs, monkeypatch):
    launched = []
    monkeypatch.setattr("workbench.core.training.launcher.launch_worker",
                        lambda run, resume=False: launched.append((run.id, resume)))
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.action_resume()  # the key is disabled for a running run; the action still refuses
        await wait_for_text(pilot, "is already running")
        await pilot.press("down", "down", "r")
        assert launched == [(runs["crashed"], True)]
        assert app.current_mode == "monitor"


async def test_delete_asks_first(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "d")
        await wait_for_text(pilot, "Delete run sst2-minilm-lr1e-4?")
        await pilot.press("n")
        assert (canned_ws / "runs" / runs["completed"]).is_dir()
        await pilot.press("d")
        await wait_for_text(pilot, "Delete run sst2-minilm-lr1e-4?")
        await pilot.press("y")
        await wait_until(pilot, lambda: not (canned_ws / "runs" / runs["completed"]).exists(), what="deletion")
        await wait_for_text(pilot, "Deleted run sst2-minilm-lr1e-4.")
        await wait_until(pilot, lambda: app.screen.query_one(RunTable).row_count == 4, what="row removed")


async def test_refuses_to_delete_a_running_run(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await wait_for_text(pilot, "still running; stop it first")
        assert (canned_ws / "runs" / runs["running"]).is_dir()


async def test_new_run_opens_configure_and_a_finished_run_shows_up(workspace):
    import canned

    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "No runs yet in this workspace.")
        canned.make_run(workspace, "late", status="completed", age_s=30, steps=3, max_steps=3)
        await wait_for_text(pilot, "late", timeout=5)  # the list refreshes by itself
        await pilot.press("n")
        assert app.current_mode == "configure"


async def test_a_queued_run_shows_its_place_in_the_queue(workspace):
    """Runs waiting in the workspace's queue read "queued #N" (N from queue/queue.json, 1 = next to start)."""
    import json

    import canned

    ids = []
    for name, age in (("waits-first", 120), ("waits-second", 60)):
        path = canned.make_run(workspace, name, status="queued", age_s=age, steps=0)
        info = json.loads((path / "run.json").read_text())
        info.update(queued=canned.iso(canned.NOW - age), started=None, progress={})
        (path / "run.json").write_text(json.dumps(info))
        ids.append(path.name)
    (workspace / "queue").mkdir()
    (workspace / "queue" / "queue.json").write_text(json.dumps(
        {"entries": [{"kind": "run", "id": run_id} for run_id in ids], "paused": False, "parallel": 1}))
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        text = flat(screen_text(app))
        assert "◌ queued #2 waits-second" in text and "◌ queued #1 waits-first" in text
        await wait_for_text(pilot, "Waiting in the queue at #2.")  # the newest run, highlighted first


async def test_every_screen_has_a_key_and_a_palette_command(canned_ws):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for name in ("Runs", "Datasets", "Configure", "Monitor", "Playground", "Compare", "Export", "Sweeps"):
            assert any(t.startswith(name) for t in titles)
        from workbench.ui.app import SCREENS

        assert "".join(key for _, _, key, _, _ in SCREENS) + " screens" in screen_text(app)  # the footer
        # F-keys work even where a text field has focus (the Playground focuses its text field).
        for key, mode in (("2", "datasets"), ("3", "configure"), ("5", "playground"), ("f4", "monitor"),
                          ("8", "sweeps"), ("f8", "sweeps"), ("f1", "runs")):
            await pilot.press(key)
            assert app.current_mode == mode
        await pilot.press("ctrl+p")
        await pilot.press(*"datasets")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_mode == "datasets", what="palette command")


async def test_theme_toggle_and_no_color(canned_ws, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.no_color
        assert app.current_theme.dark
        await pilot.press("ctrl+t")
        assert not app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark


@pytest.mark.parametrize("size", SIZES)
async def test_runs_table_names_each_runs_own_metric(workspace, task_runs, size):
    app = new_app(workspace)
    async with app.run_test(size=size) as pilot:
        text = flat(screen_text(app))
        assert "main metric" in text and " acc " not in text and "token" not in text
        assert "conll-held-out 107/120 entity F1 — 10m ago" in text  # running: no final metric yet
        assert "conll-ner-done 120/120 entity F1 0.748" in text
        assert "sst2-minilm-lr1e-4 90/90 accuracy 0.895" in text
        assert "alpaca-sft 30/30 eval loss 2.526" in text
        # The SFT run's detail: eval loss and perplexity, no accuracy or macro-F1 (not even as "—").
        table = app.screen.query_one("#runs-table")
        table.move_cursor(row=table.get_row_index(task_runs["sft_done"]))
        text = await wait_for_text(pilot, "eval loss 2.5257 · perplexity 12.50")
        assert "accuracy —" not in text and "macro-F1" not in text
        await pilot.press("up")  # the NER run finished an hour ago
        await wait_for_text(pilot, "entity F1 0.7480 · P 0.7600 · R 0.7370 · token acc 0.9600 · eval loss 0.2500")


async def test_stop_on_a_waiting_run_takes_it_out_of_the_queue(workspace):
    """`s` on a queued run that has not started: it leaves the queue, marked stopped (a stop file alone would be
    cleared by the worker when the runner starts it)."""
    import json

    import canned

    from workbench.core.queue import RunQueue
    from workbench.core.runs import RunStore

    path = canned.make_run(workspace, "waits", status="queued", age_s=30, steps=0)
    info = json.loads((path / "run.json").read_text())
    info.update(queued=canned.iso(canned.NOW - 30), started=None, progress={}, pid=None)
    (path / "run.json").write_text(json.dumps(info))
    RunQueue(workspace).set_paused(True)
    RunQueue(workspace).add_run(RunStore(workspace).get(path.name))
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_for_text(pilot, "waits had not started: it left the queue.")
    assert RunQueue(workspace).read().entries == [] and RunStore(workspace).get(path.name).status == "stopped"
    assert not (path / STOP_FILE).exists()
