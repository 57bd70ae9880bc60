"""Sweeps through Optuna: a 4-trial grid of a tiny model through the real CLI and queue runner, ranked, with
hopeless trials pruned at their first evaluation; stop, resume and extend; the search-space parser and its
refusals; random and TPE asks within their ranges."""

from __future__ import annotations

import json
import math

import pytest

from helpers import SAMPLE_DATA, kill_runner, wait_for
from workbench.core.errors import WorkbenchError
from workbench.core.queue import RunQueue, runner_lock_held
from workbench.core.runs import RunStore
from workbench.core.sweeps import Param, SweepStore, parse_param

SENTIMENT = str(SAMPLE_DATA / "sentiment")


def base_args(model_dir, *extra):
    # Loss is the metric: the tiny random model's accuracy barely moves on 320 rows, its validation loss does.
    return ["sweep", "--data", SENTIMENT, "--model", str(model_dir), "--batch-size", "16", "--max-length", "32",
            "--eval-strategy", "steps", "--eval-steps", "10", "--max-steps", "30", "--logging-steps", "5",
            "--metric", "loss", *extra]


@pytest.fixture(autouse=True)
def _no_runner_left(workspace):
    yield
    kill_runner(workspace)


def test_grid_sweep_ranks_trials_and_prunes_hopeless_ones(tiny_model_dir, cli, workspace):
    # Trials in the order written: lr 1e-2 twice (learns), then lr 1e-9 twice (cannot). The median pruner starts
    # judging at the third trial, whose first validation loss is worse than the median of the first two there.
    code, out, err = cli(*base_args(tiny_model_dir, "--param", "lr=1e-2,1e-9", "--param", "warmup_ratio=0.0,0.1",
                                    "--name", "grid"), "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["trials_planned"] == 4 and record["search"] == "grid" and record["direction"] == "minimize"
    sweeps = SweepStore(workspace)
    wait_for(lambda: sweeps.get(record["id"])["status"] == "completed", timeout=400)

    code, out, _ = cli("sweep", "show", record["id"], "--json")
    shown = json.loads(out)
    trials = shown["trials"]
    assert [t["trial"] for t in trials] == [0, 1, 2, 3] or {t["trial"] for t in trials[:2]} == {0, 1}
    by_number = {t["trial"]: t for t in trials}
    assert [by_number[n]["params"] for n in range(4)] == [
        {"lr": 0.01, "warmup_ratio": 0.0}, {"lr": 0.01, "warmup_ratio": 0.1},
        {"lr": 1e-9, "warmup_ratio": 0.0}, {"lr": 1e-9, "warmup_ratio": 0.1}]
    assert [by_number[n]["status"] for n in range(4)] == ["completed", "completed", "pruned", "pruned"]
    assert shown["counts"]["completed"] == 2 and shown["counts"]["pruned"] == 2
    # Ranked: completed trials first, lower validation loss first, each value the run's best evaluation.
    store = RunStore(workspace)
    for row in trials:
        run = store.get(row["run_id"])
        assert run.info["sweep"] == {"id": record["id"], "trial": row["trial"], "params": row["params"], "metric": "loss"}
        losses = [e["loss"] for e in run.read_metrics() if e["kind"] == "eval"]
        if row["status"] == "completed":
            assert row["value"] == pytest.approx(min(losses))
            assert run.info["progress"]["step"] == 30
    assert [t["rank"] for t in trials] == [1, 2, 3, 4]
    assert trials[0]["value"] <= trials[1]["value"] and trials[0]["status"] == "completed"
    # Pruned at their first evaluation (step 10 of 30): stopped early, said so in run.json and the log.
    for n in (2, 3):
        run = store.get(by_number[n]["run_id"])
        assert run.info["pruned"]["evaluation"] == 1 and run.info["pruned"]["step"] == 10
        assert run.info["progress"]["step"] == 10 and "pruned by the sweep" in run.log_path.read_text()
    # Is the best really better? compare's paired test of the best against the runner-up.
    pair = shown["best_vs_runner_up"]
    assert pair["best"] == trials[0]["run_id"] and pair["runner_up"] == trials[1]["run_id"] and pair["verdict"]
    assert shown["importance"]["values"] is not None or shown["importance"]["reason"]

    code, out, _ = cli("sweep", "show", "grid", "--markdown")
    assert code == 0 and "| rank | trial | lr | warmup_ratio |" in out and "runner-up" in out
    code, out, _ = cli("sweep", "show", "grid")
    assert code == 0 and "pruned" in out
    code, out, _ = cli("sweep", "list", "--json")
    assert json.loads(out)[0]["trials"] == 4 and json.loads(out)[0]["status"] == "completed"
    wait_for(lambda: not runner_lock_held(workspace / "queue"), timeout=30)


def test_stop_resume_and_extend(tiny_model_dir, cli, workspace):
    code, out, err = cli(*base_args(tiny_model_dir, "--param", "lr=3e-3", "--search", "random", "--trials", "1",
                                    "--pruner", "none", "--name", "grow"), "--json")
    assert code == 0, err
    sweep_id = json.loads(out)["id"]
    sweeps, store = SweepStore(workspace), RunStore(workspace)
    wait_for(lambda: sweeps.get(sweep_id)["status"] == "completed", timeout=200)
    code, _, err = cli("sweep", "resume", sweep_id)
    assert code == 2 and "extend" in err
    code, out, _ = cli("sweep", "extend", sweep_id, "--trials", "1", "--json")
    assert code == 0 and json.loads(out)["trials_planned"] == 2
    wait_for(lambda: sweeps.get(sweep_id)["status"] == "completed" and len(sweeps.get(sweep_id)["trials"]) == 2,
             timeout=200)
    shown = sweeps.results(sweep_id)
    assert [t["status"] for t in shown["trials"]] == ["completed", "completed"]

    # A longer trial, stopped while it runs: it saves a checkpoint; resuming the sweep resumes that trial. The
    # second trial is only there to be run after the resumed one, so it is short.
    code, out, err = cli("sweep", "--data", SENTIMENT, "--model", str(tiny_model_dir), "--batch-size", "16",
                         "--max-length", "32", "--eval-strategy", "steps", "--eval-steps", "20", "--lr", "3e-3",
                         "--param", "max_steps=300,20", "--pruner", "none", "--name", "halt", "--json")
    assert code == 0, err
    sweep_id = json.loads(out)["id"]
    wait_for(lambda: sweeps.get(sweep_id)["trials"] and store.get(sweeps.get(sweep_id)["trials"][0]["run_id"]).last_checkpoint(),
             timeout=200)
    code, out, _ = cli("sweep", "stop", sweep_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "stopped"
    first = sweeps.get(sweep_id)["trials"][0]["run_id"]
    wait_for(lambda: store.get(first).status == "stopped", timeout=120)
    assert len(sweeps.get(sweep_id)["trials"]) == 1  # no new trial after the stop
    code, _, err = cli("sweep", "stop", sweep_id)
    assert code == 2 and "not running" in err
    code, out, _ = cli("sweep", "resume", sweep_id, "--json")
    assert code == 0
    wait_for(lambda: sweeps.get(sweep_id)["status"] == "completed", timeout=400)
    run = store.get(first)
    assert run.status == "completed" and run.info["resumes"] == 1 and run.info["progress"]["step"] == 300
    assert [t["status"] for t in sweeps.results(sweep_id, compare=False)["trials"]] == ["completed", "completed"]


# --- the search space -------------------------------------------------------------------------------------
def test_parse_param():
    assert parse_param("lr=1e-5,3e-5") == Param("lr", values=(1e-5, 3e-5))
    assert parse_param("lr=log:1e-5..3e-4") == Param("lr", low=1e-5, high=3e-4, log=True)
    assert parse_param("epochs=1..3") == Param("epochs", low=1.0, high=3.0)  # epochs is a float setting
    assert parse_param("lora-r=4..32") == Param("lora_r", low=4, high=32, integer=True)
    assert parse_param("scheduler=linear,cosine") == Param("scheduler", values=("linear", "cosine"))
    assert parse_param("warmup_ratio=0..0.1").low == 0.0


@pytest.mark.parametrize("text, message", [
    ("lr", "NAME=V1,V2"),
    ("nope=1,2", "no such setting"),
    ("data=a,b", "cannot vary data"),
    ("lr=log:0..1", "positive low end"),
    ("lr=3..1", "from low to high"),
    ("lr=a..b", "not a range of numbers"),
    ("batch_size=8,eight", "not a int"),
    ("lr=1e-3,1e-3", "listed twice"),
    ("scheduler=a..b", "numeric setting"),
])
def test_parse_param_refusals(text, message):
    with pytest.raises(WorkbenchError, match=message):
        parse_param(text)


@pytest.mark.parametrize("extra, message", [
    (["--param", "lr=log:1e-5..1e-3"], "grid needs listed values"),
    (["--param", "lr=-1,1e-3"], "--param lr=-1"),
    (["--param", "lr=1e-3", "--param", "lr=1e-4"], "given twice"),
    (["--param", "lr=1e-3,1e-4", "--trials", "3"], "2 combinations"),
    (["--param", "lr=log:1e-5..1e-3", "--search", "tpe"], "needs --trials"),
    (["--param", "lr=1e-3", "--metric", "bleu"], "main metric"),
    ([], "at least one --param"),
])
def test_bad_sweeps_are_one_error_and_leave_nothing(tiny_model_dir, cli, workspace, extra, message):
    code, out, err = cli("sweep", "--data", SENTIMENT, "--model", str(tiny_model_dir), *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (workspace / "sweeps").exists() or not any((workspace / "sweeps").iterdir())
    assert RunQueue(workspace).read().entries == []


@pytest.mark.parametrize("search", ["random", "tpe"])
def test_random_and_tpe_ask_within_the_ranges(tiny_model_dir, cli, workspace, search):
    cli("queue", "pause")  # the runner starts nothing: the asks below are made here
    code, out, err = cli("sweep", "--data", SENTIMENT, "--model", str(tiny_model_dir), "--search", search, "--trials", "3",
                         "--param", "lr=log:1e-5..1e-2", "--param", "lora_r=4..8", "--param", "scheduler=linear,cosine",
                         "--json")
    assert code == 0, err
    sweep_id = json.loads(out)["id"]
    sweeps = SweepStore(workspace)
    runs = [sweeps.next_trial(sweep_id) for _ in range(4)]
    assert runs[3] is None  # three planned
    seen = []
    for run in runs[:3]:
        params = run.info["sweep"]["params"]
        assert 1e-5 <= params["lr"] <= 1e-2 and params["lora_r"] in range(4, 9) and params["scheduler"] in ("linear", "cosine")
        assert run.config["lr"] == params["lr"] and run.config["lora_r"] == params["lora_r"]
        assert run.status == "queued" and run.name == f"sweep-sentiment-t{run.info['sweep']['trial']}"
        seen.append(params["lr"])
    assert len(set(seen)) == 3 and all(math.isfinite(v) for v in seen)  # a new point each ask, not a replay
    RunQueue(workspace).clear()
