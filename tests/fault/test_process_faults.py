"""Process faults: SIGKILL and exact resume, SIGHUP, concurrent resume, a full disk, torn checkpoints."""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import subprocess
import sys
import time

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
    """Exact resume: every train and eval event the resumed worker redoes, and the final predictions, equal the
    uninterrupted run's. Precision stays `auto`: fp32 on an AVX2-only CPU and bf16 autocast on one with
    AVX512-BF16/AMX both replay bit for bit (measured: max |Δ| 0 for loss, lr and scores), so no need to pin fp32."""
    store = RunStore(workspace)
    # An epoch is 20 steps; checkpoints every 65 steps (65, 130, 195) all fall mid-epoch, so the resume always
    # skips batches into an epoch and restores the RNG there, wherever the kill lands.
    steps = ["--max-steps", "200", "--eval-strategy", "steps", "--eval-steps", "65"]
    code, out, err = cli(*tiny(tiny_model_dir, *steps, "--name", "whole", "--json"))
    assert code == 0, err
    whole = store.get("whole")
    per_epoch = math.ceil(whole.info["data"]["train"]["rows"] / 16)

    run_id = start_detached(cli, *tiny(tiny_model_dir, *steps, "--name", "killed"))

    def trained_past_a_checkpoint():
        # metrics.jsonl is flushed per event (run.json's progress is written once a second, dozens of steps here).
        events = store.get(run_id).read_metrics()
        saved = [e["step"] for e in events if e["kind"] == "checkpoint"]
        return saved and any(e["kind"] == "train" and e["step"] > saved[-1] for e in events)

    wait_for(trained_past_a_checkpoint, timeout=180, interval=0.02)
    os.killpg(store.get(run_id).info["pid"], signal.SIGKILL)
    wait_for(lambda: store.get(run_id).status == "crashed", timeout=30)
    killed = store.get(run_id)
    assert killed.summary()["can_resume"]
    before = killed.read_metrics()
    # The resume starts from the newest complete checkpoint (Run.last_checkpoint): a mid-run, mid-epoch one.
    ckpt_step = int(killed.last_checkpoint().name.split("-")[-1])
    assert 0 < ckpt_step < 200 and ckpt_step % per_epoch, f"resume would start at step {ckpt_step}"

    resume_started = time.time()
    code, out, err = cli("runs", "resume", run_id, "--json")
    assert code == 0, err
    resumed = store.get(run_id)
    assert resumed.status == "completed" and resumed.info["resumes"] == 1
    assert resumed.info["progress"]["step"] == whole.info["progress"]["step"] == 200
    after = resumed.read_metrics()
    train_steps = [e["step"] for e in after if e["kind"] == "train"]
    assert len(train_steps) == len(set(train_steps)), "resume must not duplicate steps"
    assert train_steps == [e["step"] for e in whole.read_metrics() if e["kind"] == "train"]

    # Events up to the checkpoint are the killed worker's, kept as written; every later one is the resumed
    # worker's. So the resume really started at ckpt_step: one from step 0 would have rewritten them all.
    def logged(events, upto):
        return [e for e in events if e["kind"] in ("train", "eval", "checkpoint") and e["step"] <= upto]

    assert logged(after, ckpt_step) == logged(before, ckpt_step) and logged(before, ckpt_step)
    assert all(e["time"] >= resume_started for e in after if e["step"] > ckpt_step)

    def redone(run, kind):
        return [e for e in run.read_metrics() if e["kind"] == kind and e["step"] > ckpt_step]

    # eval events name their values without the "eval_" prefix (loss is eval_loss).
    for kind, keys in (("train", ("loss", "lr", "grad_norm")), ("eval", ("loss", "accuracy", "macro_f1"))):
        ours, theirs = redone(resumed, kind), redone(whole, kind)
        assert ours and [e["step"] for e in ours] == [e["step"] for e in theirs], kind
        for a, b in zip(ours, theirs):
            for key in keys:
                assert abs(a[key] - b[key]) <= 1e-5, (kind, a["step"], key, a[key], b[key])

    ours, theirs = resumed.read_predictions(), whole.read_predictions()
    assert ours and [p["predicted"] for p in ours] == [p["predicted"] for p in theirs]
    for a, b in zip(ours, theirs):
        assert a["scores"].keys() == b["scores"].keys()
        assert all(abs(a["scores"][k] - b["scores"][k]) <= 1e-5 for k in a["scores"]), (a["id"], a["scores"], b["scores"])
    assert resumed.metrics["accuracy"] == whole.metrics["accuracy"]


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
    # Trained word embeddings: their AdamW state is most of those 8 MB (text classification freezes them by default).
    cfg = RunConfig(data=TOPICS, model=str(tiny_model_dir), batch_size=16, max_length=32, max_steps=40,
                    eval_strategy="steps", eval_steps=20, embeddings="train")
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
