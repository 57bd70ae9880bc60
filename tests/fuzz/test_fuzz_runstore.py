"""Fuzzing the run store: truncated or garbled run.json, metrics.jsonl with torn, corrupt or wrongly typed lines,
missing files. `runs list` shows such a run as broken with the reason, `runs show` and `compare` give one clean
error or their report, and what the Monitor reads (RunFeed, RunHistory) never raises.
"""

from __future__ import annotations

import json
import math
import socket
import tempfile
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from fuzzing import budget, check_cli_error, run_cli
from workbench.core.runs import RunStore

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=10), st.sampled_from(["", "[/]", "[bold]x", "2026-01-15T12:00:00+00:00", "9999-12-31",
                                                          "running", "completed", "crashed", "a\nb", "checkpoint-3"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                      max_leaves=6)
RUN_KEYS = ["id", "name", "task", "status", "created", "started", "finished", "heartbeat", "host", "pid", "config",
            "labels", "data", "progress", "metrics", "evaluation", "best_metric", "error"]
TASKS = ["text-classification", "token-classification", "causal-lm-sft"]


def good_info(run_id: str, task: str) -> dict:
    from workbench.core.config import RunConfig

    return {
        "id": run_id, "name": run_id.split("-", 2)[-1], "task": task, "status": "completed",
        "created": "2026-01-15T11:00:00+00:00", "started": "2026-01-15T11:00:02+00:00",
        "finished": "2026-01-15T11:10:00+00:00", "heartbeat": "2026-01-15T11:10:00+00:00",
        "host": socket.gethostname(), "pid": 4_194_000, "config": RunConfig(data="/data/x").to_dict(),
        "labels": ["neg", "pos"], "data": {"train": {"source": "/data/x", "rows": 10}, "eval": {"source": "/data/x", "rows": 4}},
        "progress": {"step": 6, "max_steps": 6, "epoch": 3.0},
        "metrics": {"accuracy": 0.75, "macro_f1": 0.7, "eval_loss": 0.5} if task != "causal-lm-sft" else {"eval_loss": 2.0, "perplexity": 7.4},
        "evaluation": {"labels": ["neg", "pos"], "confusion_matrix": [[2, 0], [1, 1]],
                       "per_class": {"neg": {"precision": 0.67, "recall": 1.0, "f1": 0.8, "support": 2},
                                     "pos": {"precision": 1.0, "recall": 0.5, "f1": 0.67, "support": 2}}},
        "best_metric": {"name": "accuracy", "value": 0.75, "checkpoint": "checkpoint-6"},
        "error": None,
    }


def good_events() -> list[dict]:
    events = []
    for step in range(1, 7):
        events.append({"time": 1000.0 + step, "kind": "train", "step": step, "epoch": step / 2, "loss": 1.0 / step, "lr": 1e-5})
        if step % 2 == 0:
            events.append({"time": 1000.5 + step, "kind": "eval", "step": step, "epoch": step / 2, "loss": 0.6,
                           "accuracy": 0.5 + step / 20, "macro_f1": 0.5})
    events.append({"time": 1010.0, "kind": "final", "step": 6, "epoch": 3.0, "accuracy": 0.75})
    return events


def good_predictions(task: str) -> list[dict]:
    if task == "token-classification":
        return [{"id": i, "tokens": ["a", "b"], "gold_tags": ["B-PER", "O"], "predicted_tags": ["O", "O"],
                 "gold_spans": [{"type": "PER", "start": 0, "end": 1, "text": "a"}], "predicted_spans": [],
                 "gold": "B-PER O", "predicted": "O O", "correct": False} for i in range(4)]
    if task == "causal-lm-sft":
        return [{"id": i, "loss": 1.0 + i, "tokens": 3} for i in range(4)]
    return [{"id": i, "input": f"t{i}", "gold": "pos" if i % 2 else "neg", "predicted": "pos", "correct": bool(i % 2),
             "scores": {"neg": 0.4, "pos": 0.6}} for i in range(4)]


@st.composite
def event_lines(draw, task: str):
    """metrics.jsonl: good events with values swapped for anything, junk lines, a torn last line."""
    events = good_events()
    lines = []
    for e in events:
        e = dict(e)
        for _ in range(draw(st.integers(0, 2))):
            e[draw(st.sampled_from(sorted(e) + ["kind", "step", "loss", "accuracy", "time", "f1", "gpus"]))] = draw(VALUES)
        lines.append(json.dumps(e, allow_nan=True))
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(
            ["", "{", "[1, 2]", "null", '"text"', "{}", '{"kind": "eval"}', '{"kind": "train", "step": NaN}',
             '{"kind": "train", "step": Infinity, "loss": 1}', "[" * 5000 + "]" * 5000]) | st.text(max_size=20)))
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # torn anywhere, the last line left partial
    return text.encode("utf-8", "surrogatepass")


@st.composite
def run_files(draw):
    """{relative path: bytes or None (a folder)} for one run directory."""
    task = draw(st.sampled_from(TASKS))
    run_id = "20260115-110000-fuzzed"
    info = good_info(run_id, task)
    files: dict[str, bytes | None] = {}
    shape = draw(st.sampled_from(["mutated", "mutated", "mutated", "truncated", "junk", "missing", "folder", "good"]))
    if shape in ("mutated", "good"):
        if shape == "mutated":
            for _ in range(draw(st.integers(1, 4))):
                key = draw(st.sampled_from(RUN_KEYS))
                if draw(st.integers(0, 4)) == 0:
                    info.pop(key, None)
                elif key in ("progress", "metrics", "best_metric", "evaluation", "data", "config") and draw(st.booleans()):
                    inner = dict(info[key]) if isinstance(info.get(key), dict) else {}
                    inner[draw(st.sampled_from(sorted(inner) or ["x"]))] = draw(VALUES)
                    info[key] = inner
                else:
                    info[key] = draw(VALUES)
        files["run.json"] = json.dumps(info, allow_nan=True).encode()
    elif shape == "truncated":
        text = json.dumps(info).encode()
        files["run.json"] = text[: draw(st.integers(0, len(text) - 1))]
    elif shape == "junk":
        files["run.json"] = draw(st.binary(max_size=40) | VALUES.map(lambda v: json.dumps(v, allow_nan=True).encode()))
    elif shape == "folder":
        files["run.json"] = None
    if draw(st.integers(0, 4)):
        files["metrics.jsonl"] = draw(event_lines(task))
    if draw(st.booleans()):
        files["stdout.log"] = draw(st.binary(max_size=60))
    if draw(st.integers(0, 3)):
        records = good_predictions(task)
        for _ in range(draw(st.integers(0, 3))):
            rec = records[draw(st.integers(0, len(records) - 1))]
            rec[draw(st.sampled_from(sorted(rec)))] = draw(VALUES)
        text = "".join(json.dumps(r, allow_nan=True) + "\n" for r in records)
        if draw(st.booleans()):
            text = text[: draw(st.integers(0, len(text)))]
        files["predictions.jsonl"] = text.encode()
    for name in draw(st.lists(st.sampled_from(["checkpoint-6", "checkpoint-x", "checkpoint-²", "checkpoint-99999999999999999999"]),
                              max_size=2, unique=True)):
        files[f"checkpoints/{name}/.complete"] = b"2026-01-15T11:00:00+00:00\n"
    return run_id, task, shape, files


def make_workspace(tmp: str, run) -> tuple[Path, str, str]:
    """A workspace with one well-formed run of the same task and the fuzzed one: (workspace, good id, fuzzed id)."""
    run_id, task, _, files = run
    ws = Path(tmp) / "ws"
    good = ws / "runs" / "20260115-100000-good"
    good.mkdir(parents=True)
    (good / "run.json").write_text(json.dumps(good_info(good.name, task)))
    (good / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in good_events()))
    (good / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good_predictions(task)))
    path = ws / "runs" / run_id
    path.mkdir()
    for rel, content in files.items():
        target = path / rel
        if content is None:
            target.mkdir(parents=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    return ws, good.name, run_id


def _readable(ws: Path, run_id: str) -> bool:
    return any(r.path.name == run_id for r in RunStore(ws).list())


@budget(120)
@given(run=run_files())
def test_runs_list_and_show_never_crash_and_name_the_broken_run(run):
    with tempfile.TemporaryDirectory() as tmp:
        ws, good, fuzzed = make_workspace(tmp, run)
        readable = _readable(ws, fuzzed)
        event(f"run.json: {run[2]} -> {'readable' if readable else 'broken'}")
        code, out, err = run_cli("--workspace", str(ws), "runs", "list")
        assert code == 0 and not err, (code, err)
        assert fuzzed[:15] in out and (readable or "broken" in out), out
        code, out, err = run_cli("--workspace", str(ws), "runs", "list", "--json")
        assert code == 0 and not err, err
        listed = {r["run_dir"]: r for r in json.loads(out)}
        entry = listed[str(ws / "runs" / fuzzed)]
        assert readable or (entry["status"] == "broken" and entry["error"]), entry
        for args in (["runs", "show", fuzzed], ["runs", "show", fuzzed, "--json"]):
            code, out, err = run_cli("--workspace", str(ws), *args)
            if readable:
                assert code == 0 and not err, err
            else:
                check_cli_error(code, out, err, [fuzzed])


@budget(80)
@given(run=run_files(), fmt=st.sampled_from([[], ["--json"], ["--markdown"]]), align=st.sampled_from(["step", "epoch"]))
def test_compare_with_a_damaged_run_gives_a_report_or_one_clean_error(run, fmt, align):
    with tempfile.TemporaryDirectory() as tmp:
        ws, good, fuzzed = make_workspace(tmp, run)
        code, out, err = run_cli("--workspace", str(ws), "compare", good, fuzzed, "--align", align, *fmt)
        if code == 0:
            event("compare: report")
            if fmt == ["--json"]:
                json.loads(out)
        else:
            event("compare: error")
            check_cli_error(code, out, err)


@budget(120)
@given(run=run_files())
def test_what_the_monitor_reads_never_raises(run):
    """RunFeed (the Monitor's thread) and RunHistory (its curves), on whatever the run directory holds."""
    from workbench.ui.feed import RunFeed
    from workbench.ui.history import RunHistory

    with tempfile.TemporaryDirectory() as tmp:
        ws, good, fuzzed = make_workspace(tmp, run)
        feed = RunFeed(ws / "runs" / fuzzed)
        history = RunHistory()
        for _ in range(2):
            update = feed.poll()
            history.add(update.events)
            assert update.problem is None or "\n" not in update.problem
        if update.problem:
            event("feed: problem shown")
        history.steps_per_second()
        history.best("accuracy")
        history.ema_loss()
        # Lines with a NaN or infinite step are skipped by the tail, so every step the history holds is finite.
        assert all(math.isfinite(s) for s in history.train_steps + history.eval_steps)
