"""``--report-to``: the Trainer's tracker integrations, checked before launch, writing inside the run directory."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from helpers import SAMPLE_DATA
from workbench.core.config import RunConfig
from workbench.core.runs import RunStore
from workbench.core.training import trackers

TOPICS = str(SAMPLE_DATA / "topics")


def tiny_args(model_dir, *extra):
    return ["train", "--data", TOPICS, "--model", str(model_dir), "--batch-size", "16", "--lr", "3e-3",
            "--max-length", "32", "--logging-steps", "2", *extra]


def no_run_directory(workspace: Path) -> bool:
    runs = workspace / "runs"
    return not runs.exists() or not any(runs.iterdir())


def test_tensorboard_events_in_the_run_directory_hold_the_run_stores_losses(tiny_model_dir, cli, workspace):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    code, _, err = cli(*tiny_args(tiny_model_dir, "--max-steps", "12", "--report-to", "tensorboard", "--name", "tb",
                                  "--json"))
    assert code == 0, err
    run = RunStore(workspace).get("tb")
    assert run.status == "completed" and run.config["report_to"] == "tensorboard"
    logdir = run.path / "tensorboard"
    assert list(logdir.glob("events.out.tfevents.*"))
    assert not list((run.path / "checkpoints").rglob("events.out.tfevents.*"))  # not the Trainer's default place
    assert "reporting to tensorboard: " + str(logdir.resolve()) in run.log_path.read_text()
    assert run.info["versions"]["tensorboard"]

    events = EventAccumulator(str(logdir))
    events.Reload()
    assert "train/loss" in events.Tags()["scalars"]
    logged = {e.step: e.value for e in events.Scalars("train/loss")}
    train = {e["step"]: e["loss"] for e in run.read_metrics() if e["kind"] == "train"}
    assert len(train) >= 5 and logged.keys() == train.keys()
    for step, loss in train.items():
        assert logged[step] == pytest.approx(loss, rel=1e-6), step  # TensorBoard stores float32
    evals = [e for e in run.read_metrics() if e["kind"] == "eval"]
    assert evals and "eval/accuracy" in events.Tags()["scalars"]


def test_a_resumed_run_shows_each_step_once_in_tensorboard(tiny_model_dir, cli, workspace):
    import shutil

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from workbench.core.runs import FAILED, RunWriter

    code, _, err = cli(*tiny_args(tiny_model_dir, "--max-steps", "12", "--eval-strategy", "steps", "--eval-steps", "6",
                                  "--save-total-limit", "3", "--report-to", "tensorboard", "--name", "tb-resume", "--json"))
    assert code == 0, err
    store = RunStore(workspace)
    run = store.get("tb-resume")
    # As if the worker had died after logging step 12 but before its checkpoint was complete: steps 7-12 are
    # trained and logged again from checkpoint-6.
    shutil.rmtree(run.path / "checkpoints" / "checkpoint-12")
    writer = RunWriter(run.path)
    writer.update(status=FAILED)
    writer.close()
    code, _, err = cli("runs", "resume", "tb-resume", "--json")
    assert code == 0, err
    run = store.get("tb-resume")
    assert run.status == "completed" and len(list((run.path / "tensorboard").glob("events.out.tfevents.*"))) >= 2

    events = EventAccumulator(str(run.path / "tensorboard"))
    events.Reload()
    steps = [e.step for e in events.Scalars("train/loss")]
    train = {e["step"]: e["loss"] for e in run.read_metrics() if e["kind"] == "train"}
    assert steps == sorted(train) and max(steps) == 12  # each once: the first attempt's 7-12 were dropped
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx([train[s] for s in steps], rel=1e-6)


def test_an_unknown_tracker_is_one_error_before_launch(tiny_model_dir, cli, workspace):
    code, out, err = cli(*tiny_args(tiny_model_dir, "--max-steps", "2", "--report-to", "tensorboard,tensorbord"))
    assert code != 0 and out == ""
    assert err.startswith("error: report_to has unknown tracker(s) 'tensorbord' (did you mean 'tensorboard'?)")
    assert "none, tensorboard, trackio, mlflow, wandb" in err and err.count("\n") == 1
    assert no_run_directory(workspace)


def test_a_missing_tracker_package_names_what_to_install(tiny_model_dir, cli, workspace, monkeypatch):
    monkeypatch.setattr(trackers, "find_spec", lambda name: None if name == "wandb" else importlib.util.find_spec(name))
    code, out, err = cli(*tiny_args(tiny_model_dir, "--max-steps", "2", "--report-to", "tensorboard,wandb", "--json"))
    assert code != 0 and out == ""
    assert err.startswith("error: report_to wandb: the wandb package is not installed")
    assert err.rstrip().endswith("pip install wandb") and err.count("\n") == 1
    assert no_run_directory(workspace)


def test_several_missing_packages_are_one_error(monkeypatch):
    monkeypatch.setattr(trackers, "find_spec", lambda name: None)
    with pytest.raises(trackers.WorkbenchError, match=r"report_to mlflow,trackio: .*pip install mlflow trackio$"):
        trackers.check_installed(["mlflow", "trackio"])
    trackers.check_installed([])  # nothing asked for, nothing looked up


def test_offline_environment_for_wandb_mlflow_and_trackio(tmp_path, monkeypatch):
    for key in ("WANDB_MODE", "WANDB_DIR", "MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "TRACKIO_DIR",
                "TENSORBOARD_LOGGING_DIR"):
        monkeypatch.delenv(key, raising=False)
    run_dir = (tmp_path / "runs" / "r1").resolve()
    env = trackers.tracker_env(["tensorboard", "wandb", "mlflow", "trackio"], run_dir)
    assert env == {
        "TENSORBOARD_LOGGING_DIR": str(run_dir / "tensorboard"),
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(run_dir),
        "MLFLOW_TRACKING_URI": f"file://{run_dir}/mlruns",
        "MLFLOW_ALLOW_FILE_STORE": "true",  # MLflow 3 refuses a file store without it
        "TRACKIO_DIR": str(run_dir / "trackio"),
    }
    assert trackers.tracker_env([], run_dir) == {}
    assert trackers.tracker_env(["mlflow"], run_dir) == {"MLFLOW_TRACKING_URI": f"file://{run_dir}/mlruns",
                                                         "MLFLOW_ALLOW_FILE_STORE": "true"}


def test_what_the_user_set_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # a server of the user's: no file store opt-out
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", "/elsewhere")
    env = trackers.tracker_env(["wandb", "mlflow", "tensorboard"], tmp_path)
    # A chosen wandb mode and mlflow server win; TensorBoard's files always go in the run directory.
    assert env == {"WANDB_DIR": str(tmp_path), "TENSORBOARD_LOGGING_DIR": str(tmp_path / "tensorboard")}


def test_apply_env_sets_this_process_only_and_says_where(tmp_path, monkeypatch):
    import os

    for key in ("WANDB_MODE", "WANDB_DIR"):
        monkeypatch.delenv(key, raising=False)
    lines = trackers.apply_env(["wandb"], tmp_path)
    assert os.environ["WANDB_MODE"] == "offline" and os.environ["WANDB_DIR"] == str(tmp_path)
    assert lines == [f"reporting to wandb: {tmp_path}/wandb (WANDB_MODE=offline)"]


@pytest.mark.parametrize("value,expected", [
    ("none", []), ("", []), ("tensorboard", ["tensorboard"]), ("tensorboard, mlflow", ["tensorboard", "mlflow"]),
    ("wandb,wandb,trackio", ["wandb", "trackio"]), (["tensorboard", "mlflow"], ["tensorboard", "mlflow"]),
])
def test_report_to_values(value, expected):
    cfg = RunConfig.from_dict({"data": "d.csv", "report_to": value})
    assert "report_to" not in cfg.validate() and cfg.trackers() == expected


@pytest.mark.parametrize("value,message", [
    ("tensorbord", "report_to has unknown tracker(s) 'tensorbord' (did you mean 'tensorboard'?)"),
    ("none,wandb", "report_to 'none' cannot be combined with trackers"),
    ("all", "report_to has unknown tracker(s) 'all'"),  # the Trainer's 'all' would depend on what is installed
    (None, "report_to must be tracker names"),
    ({"a": 1}, "report_to must be tracker names"),
])
def test_bad_report_to_values_are_a_per_field_error(value, message):
    error = RunConfig.from_dict({"data": "d.csv", "report_to": value}).validate()["report_to"]
    assert error.startswith(message) and "\n" not in error


def test_the_training_arguments_carry_the_trackers(tmp_path, monkeypatch):
    from workbench.core.training.trainer import training_arguments

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    cfg = RunConfig(data="d.csv", report_to="tensorboard", batch_size=8, lr=1e-4)
    args = training_arguments(cfg, tmp_path / "run-id", 100, "accuracy")
    assert args.report_to == ["tensorboard"] and args.run_name == "run-id"
    assert training_arguments(RunConfig(data="d.csv", batch_size=8, lr=1e-4), tmp_path, 100, "accuracy").report_to == []


def test_the_final_evaluation_goes_to_the_training_runs_mlflow_run(monkeypatch):
    """MLflowCallback ends its run when training ends; the evaluation after it reopens that run (a fake mlflow
    here: the real one, 3.17, was checked by hand, and without this gave the metrics to a second, random run)."""
    import sys
    from types import SimpleNamespace

    calls = []
    fake = SimpleNamespace(last_active_run=lambda: SimpleNamespace(info=SimpleNamespace(run_id="abc")),
                           active_run=lambda: None, start_run=lambda run_id: calls.append(("start", run_id)),
                           end_run=lambda: calls.append(("end",)))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    with trackers.final_evaluation_in_the_same_run(["tensorboard", "mlflow"]):
        calls.append(("evaluate",))
    assert calls == [("start", "abc"), ("evaluate",), ("end",)]
    calls.clear()
    with trackers.final_evaluation_in_the_same_run(["tensorboard"]):
        calls.append(("evaluate",))
    assert calls == [("evaluate",)]
