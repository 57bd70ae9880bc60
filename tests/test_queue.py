"""The run queue: runs wait as queued, one detached runner per workspace starts them one per device, and a runner
killed mid-run (with its run) picks up where it was: the killed run resumes from its checkpoint, the rest follow,
nothing runs twice. Real tiny trainings through the CLI, plus the runner's device bookkeeping with a fake launch."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from helpers import SAMPLE_DATA, kill_runner, runner_pid, wait_for
from workbench.core.queue import RunQueue, runner_lock_held
from workbench.core.runs import RunStore

TOPICS = str(SAMPLE_DATA / "topics")


def tiny_args(model_dir, *extra):
    return ["--data", TOPICS, "--model", str(model_dir), "--batch-size", "16", "--lr", "3e-3", "--max-length", "32",
            "--logging-steps", "2", *extra]


def starts(run) -> tuple[int, int]:
    """How often the run's worker started from scratch and resumed (from its log)."""
    text = run.log_path.read_text() if run.log_path.exists() else ""
    return text.count(" starting run "), text.count(" resuming run ")


def test_queued_runs_run_one_at_a_time_in_order(tiny_model_dir, cli, workspace):
    code, out, _ = cli("queue", "pause")
    assert code == 0
    ids = []
    for name in ("first", "second", "third"):
        code, out, err = cli("train", *tiny_args(tiny_model_dir, "--max-steps", "6", "--name", name), "--queue", "--json")
        assert code == 0, err
        [queued] = json.loads(out)
        assert queued["status"] == "queued"
        ids.append(queued["id"])
    assert [json.loads(out)[0]["queue_position"]] == [3]
    # Paused: nothing starts, the positions show in `runs list`, and the order can change.
    code, out, _ = cli("runs", "list", "--json")
    listed = {r["id"]: r for r in json.loads(out)}
    assert [listed[i]["queue_position"] for i in ids] == [1, 2, 3]
    assert all(listed[i]["status"] == "queued" for i in ids)
    code, _, _ = cli("queue", "move", "third", "1")
    assert code == 0
    assert RunQueue(workspace).positions() == {ids[2]: 1, ids[0]: 2, ids[1]: 3}
    code, _, _ = cli("queue", "remove", "second")
    assert code == 0
    store = RunStore(workspace)
    assert store.get(ids[1]).status == "stopped" and "queue" in store.get(ids[1]).info["error"]
    code, _, err = cli("queue", "remove", "nothing-like-it")
    assert code == 2 and "not in the queue" in err

    code, _, _ = cli("queue", "resume")
    assert code == 0
    wait_for(lambda: all(store.get(i).status == "completed" for i in (ids[0], ids[2])), timeout=240)
    first, third = store.get(ids[0]), store.get(ids[2])
    # One at a time, in the queue's order: "third" (moved to the front) finished before "first" started.
    assert third.info["finished"] <= first.info["started"]
    assert starts(first) == (1, 0) and starts(third) == (1, 0)
    assert not store.get(ids[1]).log_path.exists()  # removed before it started: never ran
    wait_for(lambda: not runner_lock_held(workspace / "queue"), timeout=30)  # an empty queue: the runner exits
    code, out, _ = cli("queue", "list", "--json")
    assert json.loads(out)["entries"] == [] and json.loads(out)["runner"] is None


def test_runner_killed_mid_run_resumes_it_and_runs_the_rest_once(tiny_model_dir, cli, workspace):
    cli("queue", "pause")
    code, out, _ = cli("train", *tiny_args(tiny_model_dir, "--max-steps", "400", "--eval-strategy", "steps",
                                           "--eval-steps", "20", "--name", "long"), "--queue", "--json")
    long_id = json.loads(out)[0]["id"]
    code, out, _ = cli("train", *tiny_args(tiny_model_dir, "--max-steps", "6", "--name", "after"), "--queue", "--json")
    after_id = json.loads(out)[0]["id"]
    cli("queue", "resume")
    store = RunStore(workspace)
    wait_for(lambda: store.get(long_id).last_checkpoint() is not None, timeout=180)
    assert store.get(long_id).status == "running" and store.get(after_id).status == "queued"
    # A crash or a reboot: the runner and the run it started die together.
    runner, worker = runner_pid(workspace), store.get(long_id).info["pid"]
    os.kill(runner, signal.SIGKILL)
    os.killpg(os.getpgid(worker), signal.SIGKILL)
    wait_for(lambda: store.get(long_id).status == "crashed", timeout=30)
    killed_at = store.get(long_id).last_checkpoint().name
    wait_for(lambda: not runner_lock_held(workspace / "queue"), timeout=30)  # the kernel frees its flock as it dies

    # The next sft-workbench starts a runner again; it resumes the killed run, then starts the next one.
    code, out, _ = cli("queue", "start")
    assert code == 0 and "started" in out
    wait_for(lambda: store.get(after_id).status == "completed", timeout=300)
    long = store.get(long_id)
    assert long.status == "completed" and long.info["progress"]["step"] == 400
    assert long.info["resumes"] == 1 and starts(long) == (1, 1)
    assert f"resuming from {killed_at}" in (workspace / "queue" / "runner.log").read_text()
    assert starts(store.get(after_id)) == (1, 0)
    assert long.info["finished"] <= store.get(after_id).info["started"]
    steps = [e["step"] for e in long.read_metrics() if e["kind"] == "train"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # the steps after the checkpoint, once


def test_two_processes_starting_runners_at_once_one_wins(tiny_model_dir, cli, workspace):
    cli("queue", "pause")
    code, out, _ = cli("train", *tiny_args(tiny_model_dir, "--max-steps", "6", "--name", "once"), "--queue", "--json")
    run_id = json.loads(out)[0]["id"]
    wait_for(lambda: not runner_lock_held(workspace / "queue"), timeout=30)  # paused, nothing running: it left
    RunQueue(workspace).set_paused(False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "workbench", "--workspace", str(workspace), "queue", "start"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    store = RunStore(workspace)
    wait_for(lambda: store.get(run_id).status == "completed", timeout=180)
    log = (workspace / "queue" / "runner.log").read_text()
    # Both may have started a runner; exactly one held the lock and ran the queue, any other left at once.
    assert len(re.findall(r"queue runner \d+ for ", log)) == 1, log
    assert log.count(f"run {run_id}: starting") == 1
    assert starts(store.get(run_id)) == (1, 0)


def test_runs_queue_checks_every_config_before_queueing_any(tiny_model_dir, cli, workspace, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(f"data: {TOPICS}\nmodel: {tiny_model_dir}\nmax_steps: 4\nbatch_size: 16\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data: {TOPICS}\nmodel: {tiny_model_dir}\nlr: -1\n")
    cli("queue", "pause")
    code, out, err = cli("runs", "queue", str(good), str(bad))
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert RunQueue(workspace).read().entries == []
    code, out, err = cli("runs", "queue", str(good), str(good), "--json")
    assert code == 0, err
    assert [q["queue_position"] for q in json.loads(out)] == [1, 2]
    code, out, _ = cli("queue", "clear", "--yes")
    assert code == 0 and RunQueue(workspace).read().entries == []
    assert all(r.status == "stopped" for r in RunStore(workspace).list())


def test_stopping_a_waiting_run_takes_it_out_of_the_queue(tiny_model_dir, cli, workspace):
    cli("queue", "pause")
    code, out, _ = cli("train", *tiny_args(tiny_model_dir, "--max-steps", "4"), "--queue", "--json")
    run_id = json.loads(out)[0]["id"]
    code, out, _ = cli("runs", "stop", run_id)
    assert code == 0 and "left the queue" in out
    assert RunQueue(workspace).read().entries == [] and RunStore(workspace).get(run_id).status == "stopped"


# --- the runner's device bookkeeping, without training ---------------------------------------------------
class FakeProc:
    def __init__(self):
        self.pid = os.getpid()

    def poll(self):
        return None


@pytest.fixture
def fake_launch(monkeypatch):
    launched = []

    def launch(run, *, resume=False, env=None):
        launched.append((run.id, resume, (env or {}).get("CUDA_VISIBLE_DEVICES")))
        return FakeProc()

    monkeypatch.setattr("workbench.core.training.launcher.launch_worker", launch)
    return launched


def queued_runs(workspace, n, **config):
    store = RunStore(workspace)
    queue = RunQueue(workspace)
    runs = []
    for i in range(n):
        run = store.create({"data": "x", **config}, name=f"r{i}", task="text-classification", extra={"queued": "now"})
        queue.add_run(run)
        runs.append(run)
    return runs


@pytest.mark.parametrize("devices, parallel, expected", [
    ([], 4, [None]),                 # a CPU: one run at a time, whatever --parallel says
    ([0, 1], 2, ["0", "1"]),         # two GPUs, two at a time: one GPU each
    ([0, 1, 2, 3], 2, ["0", "1"]),   # four GPUs, --parallel 2
])
def test_runner_gives_each_run_its_own_device(workspace, fake_launch, devices, parallel, expected):
    from workbench.core.training.queue_runner import QueueRunner

    runs = queued_runs(workspace, 3)
    RunQueue(workspace).set_parallel(parallel)
    runner = QueueRunner(RunQueue(workspace).workspace, devices=devices)
    runner.tick()
    assert [(rid, env) for rid, _, env in fake_launch] == list(zip([r.id for r in runs], expected))
    state = RunQueue(workspace).read()
    assert len(state.started) == len(expected) and len(state.waiting) == 3 - len(expected)
    runner.tick()  # the started runs are still "launching": nothing more starts
    assert len(fake_launch) == len(expected)


def test_a_run_needing_two_gpus_waits_for_two(workspace, fake_launch):
    from workbench.core.training.queue_runner import QueueRunner

    small = queued_runs(workspace, 1)[0]
    queued_runs(workspace, 1, nproc=2)
    RunQueue(workspace).set_parallel(2)
    runner = QueueRunner(RunQueue(workspace).workspace, devices=[0, 1])
    runner.tick()
    assert [rid for rid, _, _ in fake_launch] == [small.id]  # the big one waits for both GPUs, in order


@pytest.fixture(autouse=True)
def _no_runner_left(workspace):
    yield
    kill_runner(workspace)


def test_resuming_a_waiting_run_says_it_waits(workspace, cli):
    [run] = queued_runs(workspace, 1)
    code, _, err = cli("runs", "resume", run.id)
    assert code == 2 and "waiting in the queue" in err
