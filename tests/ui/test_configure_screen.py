"""Configure: inline validation as you type, presets, YAML save/load, the command-line preview, and
launch errors shown in place."""

from __future__ import annotations

from pathlib import Path

from ui_helpers import new_app, screen_text, type_into, wait_for_text, wait_until
from textual.widgets import Input

from workbench.core.config import RunConfig
from workbench.ui.widgets.config_form import ConfigForm

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def error_of(app, name: str) -> str:
    err = app.screen.query_one(f"#row-{name} .field-error")
    return str(err.render()) if err.display else ""


async def test_an_invalid_value_shows_its_error_as_you_type(workspace):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await type_into(pilot, "batch_size", "abc")
        await wait_until(pilot, lambda: "batch_size must be a whole number" in error_of(app, "batch_size"))
        assert "batch_size must be a whole number, got 'abc'." in " ".join(screen_text(app).split())
        await type_into(pilot, "batch_size", "8")  # fixed: the message goes
        await wait_until(pilot, lambda: error_of(app, "batch_size") == "", what="error cleared")
        await type_into(pilot, "lr", "3")
        await wait_until(pilot, lambda: "far too large" in error_of(app, "lr"))
        await type_into(pilot, "data", "/no/such/data.csv")
        await wait_until(pilot, lambda: "no such file or folder" in error_of(app, "data"))


async def test_launch_with_errors_launches_nothing(workspace):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await type_into(pilot, "epochs", "-1")
        await pilot.press("ctrl+l")
        await wait_for_text(pilot, "Cannot launch: 2 setting(s) need fixing (data, epochs).")
        assert "data is required" in error_of(app, "data")  # untouched fields are checked on launch
        assert not (workspace / "runs").exists()


async def test_launch_failure_from_the_data_is_shown_in_place(workspace, tmp_path):
    one_class = tmp_path / "one-class.csv"
    one_class.write_text("text,label\na fine day,good\nanother fine day,good\n")  # exists, but a single class
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await type_into(pilot, "data", str(one_class))
        await pilot.press("ctrl+l")
        await wait_for_text(pilot, "the training data has a single class", timeout=60)
        assert app.current_mode == "configure" and not app.screen.launching
        assert not list((workspace / "runs").glob("*")) if (workspace / "runs").exists() else True


async def test_presets_cli_preview_and_yaml_round_trip(workspace):
    app = new_app(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        await type_into(pilot, "data", str(SAMPLE / "sentiment"))
        screen.apply_preset("quick test")
        await wait_until(pilot, lambda: screen.query_one("#f-max_steps", Input).value == "30")
        await wait_until(pilot, lambda: "--max-steps 30" in screen.command_line, what="command line")
        assert screen.command_line.startswith(f"sft-workbench train --data {SAMPLE / 'sentiment'}")
        assert "--batch-size 16" in screen.command_line and "--max-length 64" in screen.command_line

        await pilot.press("ctrl+s")
        await wait_for_text(pilot, f"Saved {workspace / 'run.yaml'}")
        saved = RunConfig.load(workspace / "run.yaml")
        assert saved.max_steps == 30 and saved.data == str(SAMPLE / "sentiment")

        await type_into(pilot, "batch_size", "64")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: screen.query_one(ConfigForm).values()["batch_size"] == "16", what="load")

        screen.query_one("#cfg-yaml", Input).value = "missing.yaml"
        await pilot.press("ctrl+o")
        await wait_for_text(pilot, "config file not found")


async def test_model_picker_offers_the_default_and_local_models(workspace, tmp_path):
    (workspace / "models" / "tiny").mkdir(parents=True)
    (workspace / "models" / "tiny" / "config.json").write_text("{}")
    app = new_app(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        pick = app.screen.query_one("#cfg-model-pick")
        assert [str(label) for label, _ in pick._options if _ is not pick.NULL][:2] == [
            "default — embedded all-MiniLM-L6-v2", "local: tiny"]
        pick.value = str(workspace / "models" / "tiny")
        await wait_until(pilot, lambda: app.screen.query_one("#f-model", Input).value.endswith("models/tiny"))


async def test_ctrl_n_queues_the_run_instead_of_starting_it(workspace, tiny_model_dir):
    from helpers import kill_workers

    from workbench.core.queue import RunQueue
    from workbench.core.runs import RunStore

    RunQueue(workspace).set_paused(True)  # the runner starts nothing: the run stays queued
    app = new_app(workspace)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3")
            await type_into(pilot, "data", str(SAMPLE / "sentiment"))
            await type_into(pilot, "model", str(tiny_model_dir))
            await type_into(pilot, "max_steps", "4")
            await pilot.press("ctrl+n")
            await wait_for_text(pilot, "Queued ", timeout=60)
            assert "at position 1" in " ".join(screen_text(app).split())
            assert app.current_mode == "configure"
        [run] = RunStore(workspace).list()
        assert run.status == "queued" and RunQueue(workspace).positions() == {run.id: 1}
    finally:
        kill_workers(workspace)
