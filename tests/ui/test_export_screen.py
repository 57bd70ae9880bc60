"""Export screen: export a tiny trained run to ONNX and see the parity table; a second export without
overwrite is refused in place; the Playground predicts with the export (source: ONNX)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import new_app, wait_for_text, wait_until
from helpers import SAMPLE_DATA, kill_workers

RUN_NAME = "tiny-export-ui"


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
        await wait_until(pilot, lambda: screen.last_scores, timeout=20, what="prediction")
        assert set(screen.last_scores) == {"negative", "positive"}
        await wait_for_text(pilot, "← a lovely film")
