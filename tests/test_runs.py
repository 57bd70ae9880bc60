import json
import os
import subprocess
import sys
import time

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.runs import (
    CRASHED, RUNNING, MetricsTail, Run, RunStore, RunWriter, atomic_write_json, atomic_write_text, name_problem, now_iso,
)


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path)


@pytest.mark.parametrize("name", ["a/b", "..", "../x", "a\\b", "x" * 300, "bad\x00", "", "-lead", "sp ace"])
def test_bad_run_names(name):
    assert name_problem(name)


def test_good_names():
    assert name_problem("sst2-minilm_v1.2") is None


def test_create_list_get(store):
    a = store.create({"model": "m"}, name="alpha", task="text-classification")
    time.sleep(1.1)
    b = store.create({"model": "m"}, name="beta", task="text-classification")
    assert [r.name for r in store.list()] == ["beta", "alpha"]  # newest first
    assert store.get("alpha").id == a.id
    assert store.get(b.id).name == "beta"
    assert store.get(a.id[:-4]).id == a.id  # a unique id prefix
    with pytest.raises(WorkbenchError, match="no run"):
        store.get("gamma")
    with pytest.raises(WorkbenchError):
        store.get("../etc")
    with pytest.raises(WorkbenchError, match="must not contain"):
        store.create({}, name="../evil", task="text-classification")


def test_corrupt_run_json_is_skipped_in_list_and_clear_in_get(store):
    run = store.create({}, name="ok", task="text-classification")
    bad = store.root / "20200101-000000-bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    assert [r.id for r in store.list()] == [run.id]
    with pytest.raises(WorkbenchError, match="corrupt"):
        store.get(bad.name)


def _with(run: Run, **info) -> Run:
    run.info.update(info)
    atomic_write_json(run.path / "run.json", run.info)
    return run.reload()


def test_status_is_derived_from_pid_and_heartbeat(store):
    run = store.create({}, name="r", task="text-classification")
    assert run.status == "queued"
    # A live process with a fresh heartbeat is running.
    assert _with(run, status=RUNNING, pid=os.getpid(), heartbeat=now_iso()).status == RUNNING
    # A dead pid is crashed, whatever run.json says.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert _with(run, pid=dead.pid).status == CRASHED
    # A stale heartbeat is crashed even if the pid exists (it may have been reused).
    assert _with(run, pid=os.getpid(), heartbeat="2020-01-01T00:00:00+00:00").status == CRASHED
    assert _with(run, status="completed").status == "completed"


def test_metrics_tail_keeps_partial_lines_and_resets_on_rewrite(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.read_new() == []
    with open(path, "w") as fh:
        fh.write(json.dumps({"step": 1}) + "\n" + '{"step": 2, "lo')
    assert [e["step"] for e in tail.read_new()] == [1]
    with open(path, "a") as fh:
        fh.write('ss": 0.5}\n')
    assert tail.read_new() == [{"step": 2, "loss": 0.5}]
    path.write_text(json.dumps({"step": 1}) + "\n")  # shorter: rewritten by a resume
    assert [e["step"] for e in tail.read_new()] == [1] and tail.reset


def test_a_writer_waits_for_the_lock_of_one_that_is_exiting(store):
    """A writer that dies a moment later (its lock still held meanwhile) does not make a resume fail."""
    run = store.create({}, name="handover", task="text-classification")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from workbench.core.runs import RunWriter; "
                               "w = RunWriter(sys.argv[1]); print('held', flush=True); time.sleep(1.0)", str(run.path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    writer = RunWriter(run.path)  # waits for the holder to exit instead of refusing
    assert holder.wait(timeout=10) == 0
    writer.close()


def test_writer_lock_refuses_a_second_writer(store):
    run = store.create({}, name="locked", task="text-classification")
    writer = RunWriter(run.path)
    try:
        code = subprocess.run(
            [sys.executable, "-c", "import sys; from workbench.core.runs import RunWriter; RunWriter(sys.argv[1])", str(run.path)],
            capture_output=True, text=True)
        assert code.returncode != 0 and "already being written" in code.stderr
    finally:
        writer.close()
    RunWriter(run.path).close()  # free again once the first writer is gone


def test_truncate_metrics_after_drops_redone_steps(store):
    run = store.create({}, name="t", task="text-classification")
    writer = RunWriter(run.path)
    for step in range(1, 11):
        writer.append_metrics({"kind": "train", "step": step, "loss": 1.0 / step})
    writer.truncate_metrics_after(6)
    writer.append_metrics({"kind": "train", "step": 7, "loss": 0.1})
    writer.close()
    steps = [e["step"] for e in run.read_metrics()]
    assert steps == [1, 2, 3, 4, 5, 6, 7]


def test_delete_refuses_running_and_removes_finished(store):
    run = _with(store.create({}, name="d", task="text-classification"), status=RUNNING, pid=os.getpid(), heartbeat=now_iso())
    with pytest.raises(WorkbenchError, match="still running"):
        store.delete(run.id)
    _with(run, status="completed")
    store.delete(run.id)
    assert not run.path.exists() and store.list() == []


def test_stop_request_needs_an_active_run(store):
    run = _with(store.create({}, name="s", task="text-classification"), status="completed")
    with pytest.raises(WorkbenchError, match="not running"):
        store.request_stop(run.id)


def test_metrics_tail_resets_on_an_atomic_rewrite_that_already_grew_past_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    atomic_write_text(path, "".join(json.dumps({"step": s}) + "\n" for s in (1, 2)))
    tail = MetricsTail(path)
    assert [e["step"] for e in tail.read_new()] == [1, 2]
    # A resume rewrites the file (new inode) and appends before the reader looks again: larger than before.
    atomic_write_text(path, "".join(json.dumps({"step": s, "resumed": True}) + "\n" for s in (1, 2, 3, 4)))
    events = tail.read_new()
    assert tail.reset and [e["step"] for e in events] == [1, 2, 3, 4] and all(e["resumed"] for e in events)
    assert tail.read_new() == [] and not tail.reset


# ------------------------------------------------------------------------------------------ damaged runs (fuzzing)
@pytest.mark.parametrize("field,value", [("created", 20260101), ("pid", "1234"), ("progress", [1, 2]), ("id", None),
                                         ("metrics", 0.5), ("name", ["a"]), ("progress", {"step": "six"}),
                                         ("train_summary", "fast")])
def test_run_json_with_a_field_of_the_wrong_type_is_broken_not_a_crash(store, field, value):
    """Found by tests/fuzz: such fields raised TypeError/AttributeError in list(), status or summary()."""
    good = store.create({}, name="ok", task="text-classification")
    bad = store.create({}, name="bad", task="text-classification")
    info = json.loads((bad.path / "run.json").read_text())
    info[field] = value
    (bad.path / "run.json").write_text(json.dumps(info))
    if field == "id":  # the directory is the id; run.json's copy does not matter
        assert {r.id for r in store.list()} == {good.id, bad.id}
        return
    assert [r.id for r in store.list()] == [good.id]
    assert [(p.name, "corrupt" in reason and field in reason) for p, reason in store.broken()] == [(bad.path.name, True)]
    with pytest.raises(WorkbenchError, match=f"corrupt: run.json field '{field}'|corrupt: run.json progress"):
        store.get(bad.id)


def test_runs_list_shows_broken_runs_with_the_reason(store, capsys):
    from workbench.cli import main

    store.create({}, name="ok", task="text-classification")
    torn = store.root / "20260101-000000-torn"
    torn.mkdir()
    (torn / "run.json").write_text('{"id": "20260101-000000-torn", "na')
    assert main(["--workspace", str(store.workspace.root), "runs", "list"]) == 0
    out = capsys.readouterr().out
    assert "broken" in out and "run 20260101-000000-torn is corrupt: run.json is not valid JSON." in out
    assert main(["--workspace", str(store.workspace.root), "runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["status"]) for r in listed] == [("ok", "queued"), (torn.name, "broken")]
    assert "not valid JSON" in listed[1]["error"]


def test_markup_in_a_run_name_or_error_is_printed_as_text(store, capsys):
    """Found by tests/fuzz: a name or error holding "[/]" raised rich's MarkupError in runs list/show."""
    from workbench.cli import main

    run = store.create({}, name="ok", task="text-classification")
    info = json.loads((run.path / "run.json").read_text())
    info.update(name="[/]", error="shape [/bold] mismatch", status="failed")
    (run.path / "run.json").write_text(json.dumps(info))
    ws = str(store.workspace.root)
    assert main(["--workspace", ws, "runs", "list"]) == 0
    assert "[/]" in capsys.readouterr().out
    assert main(["--workspace", ws, "runs", "show", run.id]) == 0
    assert "shape [/bold] mismatch" in capsys.readouterr().out


def test_a_pid_beyond_any_process_is_not_alive():
    """Found by tests/fuzz: os.kill raised OverflowError for a pid of 2**64 written into run.json."""
    from workbench.core.runs import pid_alive

    assert pid_alive(2**64) is False


def test_metrics_tail_skips_lines_nested_too_deep_or_with_non_finite_steps(tmp_path):
    """Found by tests/fuzz: a deeply nested line raised RecursionError; a NaN or infinite step reached the
    Monitor, whose int(step) raised; a list where a reading should be (lr, gpus) made its panel raise."""
    path = tmp_path / "metrics.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n" + '{"kind": "train", "step": NaN, "loss": 1}\n'
                    + '{"kind": "train", "step": Infinity}\n{"kind": "train", "step": "3"}\n'
                    + '{"kind": "train", "step": 3, "lr": [1e-5]}\n{"kind": "system", "step": 3, "gpus": [1]}\n'
                    + '{"kind": "train", "step": 2, "loss": 0.5}\n')
    assert MetricsTail(path).read_new() == [{"kind": "train", "step": 2, "loss": 0.5}]


def test_a_checkpoint_named_with_a_non_decimal_digit_is_ignored(store):
    """Found by tests/fuzz: "checkpoint-²" passed str.isdigit() and then int() raised."""
    run = store.create({}, name="ok", task="text-classification")
    for name in ("checkpoint-²", "checkpoint-4"):
        (run.checkpoints_dir / name).mkdir(parents=True)
        (run.checkpoints_dir / name / ".complete").write_text("done\n")
    assert run.last_checkpoint().name == "checkpoint-4"


def test_exit_problem_explains_a_process_that_died_before_the_worker_recorded_anything(store):
    from workbench.core.runs import COMPLETED, FAILED, exit_problem

    launched = time.time()
    run = _with(store.create({}, name="r", task="text-classification"), status=COMPLETED, finished=now_iso())
    assert exit_problem(run, 0, launched) is None
    assert exit_problem(run, 1, launched) is None  # the worker recorded its end after the launch
    run = _with(run, finished="2020-01-01T00:00:00+00:00")  # an end from an earlier launch (before a resume)
    run.log_path.write_text("".join(f"line {i}\n" for i in range(8)) + "torchrun: error\n")
    problem = exit_problem(run, 3, launched)
    assert problem.startswith("the training process exited with code 3 before recording a result (status still completed)")
    assert problem.endswith("line 5\n  line 6\n  line 7\n  torchrun: error") and "line 3" not in problem
    assert exit_problem(_with(run, status=FAILED), 3, launched) is None  # the status says it already
    assert exit_problem(_with(run, status=COMPLETED, finished="torn"), 3, launched).startswith("the training process")
