"""Process faults: SIGKILL and exact resume, SIGHUP, concurrent resume, a full disk, torn checkpoints."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys


from helpers import SAMPLE_DATA, wait_for
from workbench.core.runs import RunStore

TOPICS = str(SAMPLE_DATA / "topics")


def tiny(model_dir, *extra):
    return ["train", "--data", TOPICS, "--model", str(model_dir), "--batch-size", "16", "--lr", "3e-3",
            "--max-length", "32", "--logging-steps", "5", "--seed", "7", *extra]


def start_detached(cli, *args) -> str:
    code, out, err = cli(*args, "--detach", "--json")
    assert code == 0, err
    return json.loads(out)["id"]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tiny_model_dir, cli, workspace):
    store = RunStore(workspace)
    steps = ["--max-steps", "200", "--eval-strategy", "steps", "--eval-steps", "50"]
    code, out, err = cli(*tiny(tiny_model_dir, *steps, "--name", "whole", "--json"))
    assert code == 0, err
    whole = store.get("whole")

    run_id = start_detached(cli, *tiny(tiny_model_dir, *steps, "--name", "killed"))
    wait_for(lambda: store.get(run_id).last_checkpoint() is not None
             and (store.get(run_id).info.get("progress") or {}).get("step", 0) >= 60, timeout=180, interval=0.05)
    os.killpg(store.get(run_id).info["pid"], signal.SIGKILL)  # mid-epoch (an epoch is 20 steps)
    wait_for(lambda: store.get(run_id).status == "crashed", timeout=30)
    killed = store.get(run_id)
    assert killed.summary()["can_resume"]

    code, out, err = cli("runs", "resume", run_id, "--json")
    assert code == 0, err
    resumed = store.get(run_id)
    assert resumed.status == "completed" and resumed.info["resumes"] == 1
    assert resumed.info["progress"]["step"] == whole.info["progress"]["step"] == 200
    train_steps = [e["step"] for e in resumed.read_metrics() if e["kind"] == "train"]
    assert len(train_steps) == len(set(train_steps)), "resume must not duplicate steps"
    assert train_steps == [e["step"] for e in whole.read_metrics() if e["kind"] == "train"]
    assert abs(resumed.metrics["accuracy"] - whole.metrics["accuracy"]) <= 0.005


def test_sighup_leaves_the_worker_training(tiny_model_dir, cli, workspace):
    store = RunStore(workspace)
    run_id = start_detached(cli, *tiny(tiny_model_dir, "--max-steps", "60"))
    wait_for(lambda: store.get(run_id).status == "running", timeout=120)
    pid = store.get(run_id).info["pid"]
    os.kill(pid, signal.SIGHUP)  # what a closing terminal sends
    wait_for(lambda: store.get(run_id).status == "completed", timeout=180)


def test_second_resume_of_a_running_run_is_refused(tiny_model_dir, cli, workspace):
    store = RunStore(workspace)
    run_id = start_detached(cli, *tiny(tiny_model_dir, "--max-steps", "3000", "--eval-strategy", "steps", "--eval-steps", "20"))
    wait_for(lambda: store.get(run_id).last_checkpoint() is not None, timeout=180)
    cli("runs", "stop", run_id, "--wait", "60")
    assert store.get(run_id).status == "stopped"
    code, _, err = cli("runs", "resume", run_id, "--detach")
    assert code == 0, err
    wait_for(lambda: store.get(run_id).status == "running", timeout=120)
    code, _, err = cli("runs", "resume", run_id, "--detach")
    assert code == 2 and "already running" in err
    # Even a worker started behind the CLI's back cannot write the run: the lock refuses it.
    second = subprocess.run([sys.executable, "-m", "workbench.core.training.worker", str(store.get(run_id).path), "--resume"],
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and "already being written" in second.stderr
    assert store.get(run_id).status == "running"
    cli("runs", "stop", run_id, "--wait", "60")


def test_disk_full_during_checkpoint_fails_cleanly(tiny_model_dir, cli, workspace):
    """RLIMIT_FSIZE lets the 4 MB model through but not the 8 MB optimizer state of a checkpoint."""
    from workbench.core.config import RunConfig

    store = RunStore(workspace)
    cfg = RunConfig(data=TOPICS, model=str(tiny_model_dir), batch_size=16, max_length=32, max_steps=40,
                    eval_strategy="steps", eval_steps=20)
    run = store.create(cfg.to_dict(), name="diskfull", task="text-classification")
    limit = 6 * 1024 * 1024

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "workbench.core.training.worker", str(run.path)], preexec_fn=cap,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    run = store.get(run.id)
    assert run.status == "failed"
    assert "disk full" in run.info["error"] and "resume" in run.info["error"], run.info["error"]
    assert run.last_checkpoint() is None, "a checkpoint cut short must never be offered for resume"


def test_checkpoint_without_completion_marker_is_ignored(tmp_path):
    store = RunStore(tmp_path)
    run = store.create({}, name="torn", task="text-classification")
    whole = run.checkpoints_dir / "checkpoint-10"
    torn = run.checkpoints_dir / "checkpoint-20"
    for folder in (whole, torn):
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")
    from workbench.core.runs import mark_complete

    mark_complete(whole)
    assert run.last_checkpoint() == whole


def test_stray_temp_files_from_a_torn_write_are_harmless(tmp_path):
    store = RunStore(tmp_path)
    run = store.create({"lr": 1}, name="tmpfile", task="text-classification")
    (run.path / ".run.json.abc123.tmp").write_text('{"half": ')
    (run.path / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 1.0}\n{"kind": "train", "st')
    assert store.get(run.id).config == {"lr": 1}
    assert [e["step"] for e in store.get(run.id).read_metrics()] == [1]
