"""Export screen: export a tiny trained run to ONNX and see the parity table; a second export without
overwrite is refused in place; the Playground predicts with the export (source: ONNX)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import new_app, wait_for_text, wait_until
from helpers import SAMPLE_DATA, kill_workers
from textual.widgets import Select, Switch
from textual.widgets._toggle_button import ToggleButton
from ui_helpers import svg_text

import canned
from workbench.ui.widgets.toggle import TextCheckbox

RUN_NAME = "tiny-export-ui"
SIZES = [(80, 24), (120, 40)]


@pytest.fixture(scope="module")
def trained_ws(tmp_path_factory, tiny_model_dir):
    """One finished tiny run, trained once for the module through the real CLI."""
    from workbench.cli import main

    ws = tmp_path_factory.mktemp("export-ui-ws")
    try:
        code = main(["--workspace", str(ws), "train", "--data", str(SAMPLE_DATA / "sentiment"), "--model",
                     str(tiny_model_dir), "--max-steps", "4", "--batch-size", "8", "--name", RUN_NAME, "--json"])
        assert code == 0
        yield ws
    finally:
        kill_workers(ws)


async def test_export_shows_parity_then_refuses_a_second_export(trained_ws: Path):
    app = new_app(trained_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        screen = app.screen
        await wait_until(pilot, lambda: screen.run_id, what="a run chosen")
        # The tiny random model's accuracy is meaningless: lift the int8 drop limit.
        screen.query_one("#ex-int8").value = True
        screen.query_one("#ex-drop").value = "100"
        await pilot.press("escape", "e")
        await wait_until(pilot, lambda: screen.manifest, timeout=60, what="export finished")
        shown = await wait_for_text(pilot, "engine acc macro-F1 Δ pts agree max|Δlogit| size")
        assert "onnx-fp32" in shown and "onnx-int8" in shown
        assert [e["engine"] for e in screen.manifest["validation"]["engines"]] == ["pytorch", "onnx-fp32", "onnx-int8"]
        assert (trained_ws / "exports" / RUN_NAME / "model.int8.onnx").is_file()

        await pilot.press("escape", "e")  # again, without overwrite
        await wait_for_text(pilot, "already exists", timeout=20)
        assert screen.busy is None


async def test_playground_predicts_with_an_export(trained_ws: Path):
    if not (trained_ws / "exports" / RUN_NAME / "manifest.json").is_file():
        from workbench.cli import main

        assert main(["--workspace", str(trained_ws), "export", RUN_NAME, "--json"]) == 0
    app = new_app(trained_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await pilot.press("ctrl+o")  # source: ONNX export
        await wait_until(pilot, lambda: screen.source == "export" and screen.ready, timeout=30, what="export loaded")
        await wait_for_text(pilot, "ready · labels: negative, positive · ONNX")
        screen.query_one("#pg-text").focus()
        await pilot.press(*"a lovely film", "enter")
        await wait_until(pilot, lambda: screen.last_scores, timeout=60, what="prediction")
        assert set(screen.last_scores) == {"negative", "positive"}
        await wait_for_text(pilot, "← a lovely film")


# --- toggles read in plain text (NO_COLOR): no training needed --------------------------------------------
def _finished_with_model(workspace):
    run = canned.make_run(workspace, "sst2-done", status="completed", age_s=3600, steps=90, max_steps=90,
                          final={"accuracy": 0.8950, "macro_f1": 0.8949, "eval_loss": 0.3012})
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text(json.dumps({"model_type": "bert"}))  # listed as exportable
    return run


@pytest.mark.parametrize("size", SIZES)
async def test_export_toggles_read_on_and_off_without_colour(workspace, monkeypatch, size):
    monkeypatch.setenv("NO_COLOR", "1")
    _finished_with_model(workspace)
    app = new_app(workspace)
    async with app.run_test(size=size) as pilot:
        assert app.no_color
        await pilot.press("7")
        screen = app.screen
        await wait_until(pilot, lambda: screen.run_id, what="a run chosen")
        await pilot.press("enter")  # the run list: choose the run, which moves on to the options
        assert app.focused is screen.query_one("#ex-int8")
        shown = await wait_for_text(pilot, "[ ] int8 [ ] overwrite")
        assert "▐X▌" not in shown and "sst2-done accuracy 0.895" in shown
        await pilot.press("space")  # int8 on
        await wait_for_text(pilot, "[x] int8 [ ] overwrite")
        await pilot.press("tab", "space")  # overwrite on
        await wait_for_text(pilot, "[x] int8 [x] overwrite")
        assert screen._options() | {"opset": 17} == {"int8": True, "force": True, "opset": 17, "max_int8_drop": None,
                                                     "out": None}
        await pilot.press("space")  # overwrite off again
        await wait_for_text(pilot, "[x] int8 [ ] overwrite")
        # The screenshot a user would see (the SVG of app.export_screenshot) says the same in plain text.
        assert "[x] int8   [ ] overwrite" in svg_text(app.export_screenshot())
        assert [t.state_text for t in screen.query(TextCheckbox)] == ["[x] int8", "[ ] overwrite"]


async def test_every_toggle_in_the_app_reads_as_text(workspace, task_runs, monkeypatch):
    """No Checkbox, RadioButton or Switch that shows its state by colour alone, on any screen; Configure's
    booleans are yes/no pickers, which read in plain text too."""
    monkeypatch.setenv("NO_COLOR", "1")
    _finished_with_model(workspace)
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"):  # F-keys: a screen may focus a text field
            await pilot.press(key)
            await pilot.pause()
            screen = app.screen
            for widget in (*screen.query(ToggleButton), *screen.query(Switch)):
                assert isinstance(widget, TextCheckbox), f"{widget!r} on {app.current_mode} shows its state by colour"
        await pilot.press("f3")
        configure = app.screen
        bools = [f["name"] for f in configure.query_one("#cfg-form").fields if f["type"].startswith("bool")]
        assert {"trust_remote_code", "group_by_length"} <= set(bools)
        for name in bools:
            assert isinstance(configure.query_one(f"#f-{name}"), Select)
        field = configure.query_one("#f-trust_remote_code", Select)
        configure.query_one("#cfg-form-scroll").scroll_to_widget(field, animate=False)
        await wait_for_text(pilot, "trust_remote_code no")
        field.focus()
        await pilot.press("enter", "up", "enter")  # open the picker, move to "yes", choose it
        await wait_until(pilot, lambda: field.value is True, what="trust_remote_code yes")
        await wait_for_text(pilot, "trust_remote_code yes")
