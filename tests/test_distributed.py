"""Several processes through torchrun: two CPU processes with the gloo backend train one run."""

from __future__ import annotations

import json
import math

import pytest

from helpers import SAMPLE_DATA, wait_for
from workbench.core.config import RunConfig
from workbench.core.runs import Run, RunStore
from workbench.core.training.launcher import worker_command

TOPICS = str(SAMPLE_DATA / "topics")


def tiny_ddp(model_dir, *extra):
    return ["train", "--data", TOPICS, "--model", str(model_dir), "--batch-size", "16", "--max-length", "32",
            "--logging-steps", "2", "--nproc", "2", *extra]


def test_worker_command_uses_torchrun_only_for_several_processes(tmp_path):
    store = RunStore(tmp_path)
    one = store.create(RunConfig(data=TOPICS).to_dict(), name="one", task="text-classification")
    assert worker_command(one)[1:3] == ["-m", "workbench.core.training.worker"]
    local = store.create(RunConfig(data=TOPICS, nproc=2).to_dict(), name="local", task="text-classification")
    assert worker_command(local)[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m"]
    two = store.create(RunConfig(data=TOPICS, nproc=2, nnodes=2, node_rank=1, master_addr="10.0.0.5").to_dict(),
                       name="two", task="text-classification")
    cmd = worker_command(two, resume=True)
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert {"--nproc-per-node=2", "--nnodes=2", "--node-rank=1", "--master-addr=10.0.0.5"} <= set(cmd)
    assert cmd[-3:] == ["workbench.core.training.worker", str(two.path), "--resume"]


def test_two_gloo_processes_write_one_consistent_run(tiny_model_dir, cli, workspace):
    code, out, err = cli(*tiny_ddp(tiny_model_dir, "--max-steps", "12", "--name", "ddp", "--json"))
    assert code == 0, err
    run = RunStore(workspace).get("ddp")
    assert run.status == "completed", run.info.get("error")
    assert run.info["world_size"] == 2
    # 320 rows, 16 per process and step, 2 processes: 10 steps an epoch.
    assert run.info["progress"]["step"] == 12 and run.info["progress"]["epoch"] == pytest.approx(1.2)
    assert [p.name for p in (workspace / "runs").iterdir()] == [run.path.name]
    events = run.read_metrics()
    train_steps = [e["step"] for e in events if e["kind"] == "train"]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] == 12, "one writer: no step logged twice"
    # Each process sees its own 16 examples; the loss is the true mean (not multiplied by the world size).
    assert all(e["loss"] < 1.2 * math.log(4) for e in events if e["kind"] == "train")
    assert (run.model_dir / "model.safetensors").is_file() and (run.model_dir / "config.json").is_file()
    records = [json.loads(line) for line in run.predictions_path.read_text().splitlines()]
    assert len(records) == 80
    assert sum(r["correct"] for r in records) / 80 == pytest.approx(run.metrics["accuracy"])
    assert run.info["pid"] != 0 and not run.is_active


def test_stop_reaches_every_rank_and_the_run_resumes(tiny_model_dir, cli, workspace):
    store = RunStore(workspace)
    code, out, err = cli(*tiny_ddp(tiny_model_dir, "--max-steps", "400", "--eval-strategy", "steps",
                                   "--eval-steps", "1000", "--name", "ddp-stop", "--detach", "--json"))
    assert code == 0, err
    run_id = json.loads(out)["id"]
    wait_for(lambda: (store.get(run_id).info.get("progress") or {}).get("step", 0) >= 5, timeout=120, interval=0.1)
    store.request_stop(store.get(run_id))
    wait_for(lambda: store.get(run_id).status == "stopped", timeout=120)
    stopped = store.get(run_id)
    checkpoint = stopped.last_checkpoint()
    assert checkpoint is not None and 5 <= int(checkpoint.name.split("-")[1]) < 400

    code, out, err = cli("runs", "resume", run_id, "--json")
    assert code == 0, err
    done: Run = store.get(run_id)
    assert done.status == "completed" and done.info["progress"]["step"] == 400
    steps = [e["step"] for e in done.read_metrics() if e["kind"] == "train"]
    assert len(steps) == len(set(steps))
