"""The UI's Textual-free parts: formatting, metric history, the run feed, form logic, data discovery and
the paged preview index."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import canned
from workbench.core.config import RunConfig
from workbench.core.errors import WorkbenchError
from workbench.core.preview import RecordIndex, TablePreview, open_preview
from workbench.ui import format as fmt
from workbench.ui.feed import RunFeed, TextTail
from workbench.ui.history import EMA_ALPHA, RunHistory, downsample
from workbench.ui.run_form import PRESETS, cli_command, form_errors, form_values, model_choices
from workbench.ui.sources import default_roots, discover, discover_all
from workbench.ui.task_metrics import headline, headline_figure, metrics_line, task_metrics

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"

LOSSES = [2.0, 1.0, 0.5, 0.25]
# The debiased EMA of LOSSES with alpha 0.1, by hand: the average starts at 0 and each point moves it a tenth
# of the way, m1 = 0.2, m2 = 0.9*0.2 + 0.1 = 0.28, m3 = 0.9*0.28 + 0.05 = 0.302, m4 = 0.9*0.302 + 0.025 = 0.2968;
# the weights sum to 1 - 0.9^4 = 0.3439, so the debiased average is 0.2968 / 0.3439.
HAND_EMA = 0.2968 / 0.3439  # 0.86304...
# Starting the average at the first loss instead gives 2.0, 1.9, 1.76, 1.609: stuck near the first loss.
BIASED_EMA = 1.609


# --- format --------------------------------------------------------------------------------------------
def test_formatters():
    assert fmt.duration(580) == "9m 40s" and fmt.duration(7500) == "2h 05m" and fmt.duration(None) == "—"
    assert fmt.age(100.0, 100.0 + 3 * 3600) == "3h ago" and fmt.age(None, 0) == "—"
    assert fmt.count(3412) == "3,412" and fmt.number(float("nan")) == "—" and fmt.number(0.88412, 3) == "0.884"
    assert fmt.rate(92300.0) == "92,300" and fmt.rate(250_000) == "250k"
    assert fmt.bar(0.5, 10) == "█████░░░░░" and len(fmt.bar(0.33, 17)) == 17 and fmt.bar(None, 3) == "░░░"


# --- history ------------------------------------------------------------------------------------------
def test_history_curves_eta_and_best():
    events = canned.metric_events(start=1000.0, steps=60, max_steps=90, steps_per_epoch=30, gpu=True)
    h = RunHistory()
    h.add(events)
    assert len(h.train_steps) == 60 and h.last_step == 60
    assert h.eval_steps == [30.0, 60.0] and h.eval_metrics["accuracy"] == [0.83, 0.86]
    assert h.best("accuracy") == (0.86, 60.0)
    assert h.steps_per_second() == pytest.approx(2.0)  # canned: one step every 0.5 s
    assert h.eta_seconds(60, 90) == pytest.approx(15.0)
    assert h.last_system["gpus"][0]["name"] == "NVIDIA H200"
    assert 0.1 < h.ema_loss() < 1.0


def test_the_loss_ema_is_debiased():
    assert EMA_ALPHA == 0.1
    h = RunHistory()
    h.add([{"kind": "train", "step": i + 1, "loss": v} for i, v in enumerate(LOSSES)])
    assert h.ema_loss() == pytest.approx(HAND_EMA, abs=1e-12)
    assert abs(h.ema_loss() - BIASED_EMA) > 0.7
    one = RunHistory()
    one.add([{"kind": "train", "step": 1, "loss": 3.0}])
    assert one.ema_loss() == pytest.approx(3.0)  # one point: the average is that point, not a tenth of it
    # A non-finite loss (a diverged step) is left out of the average rather than poisoning it.
    h.add([{"kind": "train", "step": 5, "loss": math.nan}, {"kind": "train", "step": 6, "loss": math.inf}])
    assert h.ema_loss() == pytest.approx(HAND_EMA, abs=1e-12)
    assert RunHistory().ema_loss() is None


def test_history_pads_a_metric_first_seen_late():
    h = RunHistory()
    h.add([{"kind": "eval", "step": 10, "loss": 0.5}, {"kind": "eval", "step": 20, "loss": 0.4, "accuracy": 0.9}])
    assert math.isnan(h.eval_metrics["accuracy"][0]) and h.eval_metrics["accuracy"][1] == 0.9


def test_downsample_keeps_ends():
    xs = list(range(1000))
    dx, dy = downsample(xs, xs, 50)
    assert len(dx) == 50 and dx[0] == 0 and dx[-1] == 999


# --- feed -----------------------------------------------------------------------------------------------
def test_feed_replays_follows_and_detects_rewrite(workspace):
    path = canned.make_run(workspace, "feed", status="completed", age_s=60, steps=10, max_steps=10,
                           steps_per_epoch=5, final={"accuracy": 0.9})
    feed = RunFeed(path)
    first = feed.poll()
    assert first.info["name"] == "feed" and first.status == "completed"
    assert sum(e["kind"] == "train" for e in first.events) == 10 and first.log_lines
    assert feed.poll().empty

    with open(path / "metrics.jsonl", "a") as fh:  # a partial line is held back until its newline
        fh.write('{"kind": "train", "step": 11, "loss": 0.1')
    assert feed.poll().events == []
    with open(path / "metrics.jsonl", "a") as fh:
        fh.write("}\n")
    assert [e["step"] for e in feed.poll().events] == [11]

    # A resume rewrites the file atomically (new inode), possibly longer than before: still a reset.
    kept = [json.dumps({"kind": "train", "step": s, "loss": 0.5}) for s in range(1, 40)]
    tmp = path / "metrics.tmp"
    tmp.write_text("\n".join(kept) + "\n")
    os.replace(tmp, path / "metrics.jsonl")
    update = feed.poll()
    assert update.reset and len(update.events) == 39

    shutil.rmtree(path)
    assert feed.poll().vanished


def test_feed_reports_corrupt_run_json(workspace):
    path = canned.make_run(workspace, "broken", status="completed", age_s=60, steps=3, max_steps=3)
    (path / "run.json").write_text("{not json")
    assert "not valid JSON" in RunFeed(path).poll().problem


def test_text_tail_starts_near_the_end_of_a_big_log(tmp_path):
    log = tmp_path / "stdout.log"
    log.write_text("".join(f"line {i}\n" for i in range(20000)))
    tail = TextTail(log, initial_bytes=1000)
    lines, reset = tail.read_new()
    assert lines[-1] == "line 19999" and len(lines) < 200 and all(ln.startswith("line ") for ln in lines)
    log.write_text("fresh\n")  # truncated and rewritten
    assert tail.read_new() == (["fresh"], True)


# --- form logic -----------------------------------------------------------------------------------------
def test_presets_are_valid_configs():
    for name, values in PRESETS.items():
        cfg = RunConfig(data="x", **values)
        assert cfg.validate() == {}, name


def test_form_errors_coerce_and_check_paths(tmp_path):
    values = form_values(RunConfig())
    values.update(data=str(tmp_path / "missing.csv"), batch_size="abc", lr="2", model="./nope")
    cfg, errors = form_errors(values)
    assert "whole number" in errors["batch_size"] and "too large" in errors["lr"]
    assert "no such file" in errors["data"] and "no such directory" in errors["model"]
    values.update(data=str(SAMPLE / "sentiment"), batch_size="8", lr="1e-4", model="default")
    cfg, errors = form_errors(values)
    assert errors == {} and cfg.batch_size == 8 and cfg.lr == 1e-4


def test_cli_command_lists_only_changed_settings():
    cfg = RunConfig(data="my data", max_steps=30, batch_size=8, scheduler="cosine")
    command, needs_config = cli_command(cfg)
    assert command == "sft-workbench train --data 'my data' --max-steps 30 --batch-size 8 --scheduler cosine"
    assert needs_config == []
    # A bool turned off has its --no- flag; an empty value where the default is not needs a config file.
    command, needs_config = cli_command(RunConfig(data="d.csv", group_by_length=False, model=""))
    assert command == "sft-workbench train --data d.csv --no-group-by-length"
    assert needs_config == ["model"]


def test_model_choices_find_local_models_and_finished_runs(tmp_path):
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    (tmp_path / "models" / "tiny" / "config.json").write_text("{}")
    run = canned.make_run(tmp_path, "done", status="completed", age_s=5, steps=1, max_steps=1)
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text("{}")
    from workbench.core.runs import RunStore

    from workbench.core.models import embedded_lm_gguf

    labels = [label for label, _ in model_choices(tmp_path, RunStore(tmp_path).list())]
    lm = ["smollm2 — embedded SmolLM2-135M-Instruct (causal LM)"] if embedded_lm_gguf() is not None else []
    assert labels == ["default — embedded all-MiniLM-L6-v2", "local: tiny", "run: done", *lm]


# --- sources --------------------------------------------------------------------------------------------
def test_discover_groups_split_folders_and_skips_runs(tmp_path):
    (tmp_path / "sst").mkdir()
    (tmp_path / "sst" / "train.csv").write_text("text,label\na,1\n")
    (tmp_path / "sst" / "dev.csv").write_text("text,label\na,1\n")
    (tmp_path / "loose.jsonl").write_text('{"text": "a", "label": 1}\n')
    canned.make_run(tmp_path, "r", status="completed", age_s=5, steps=1, max_steps=1)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "x.csv").write_text("a\n")
    found = discover(tmp_path)
    assert [(e.label(tmp_path), e.kind) for e in found.entries] == [("loose.jsonl", "file"), ("sst/", "folder")]
    assert discover(tmp_path / "nope").problem.endswith("does not exist.")


def test_sample_data_is_listed_once_under_its_own_root():
    roots = discover_all(default_roots(SAMPLE.parent))
    assert [r.name for r in roots] == ["workspace", "sample_data"]
    assert not any("sentiment" in str(e.path) for e in roots[0].entries)
    assert any(e.path.name == "sentiment" for e in roots[1].entries)


# --- preview index --------------------------------------------------------------------------------------
def write_csv(path: Path, n: int) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(n):
            # Every 7th text has a quoted comma and a newline inside: one record, two lines.
            w.writerow([f"row {i}, with comma\nand newline" if i % 7 == 0 else f"row {i}", i % 3])


def test_record_index_pages_a_large_csv_with_quoted_newlines(tmp_path):
    path = tmp_path / "big.csv"
    write_csv(path, 200_000)
    index = open_preview(path)
    assert isinstance(index, RecordIndex) and index.rows == 0
    index.build(chunk_bytes=1 << 20)  # small chunks: records straddle chunk boundaries
    assert index.done and index.rows == 200_000 and index.columns == ["text", "label"]
    assert index.read_rows(0, 2) == [["row 0, with comma\nand newline", "0"], ["row 1", "1"]]
    last = index.read_rows(199_998, 100)
    assert last == [["row 199998", "0"], ["row 199999", "1"]]


def test_record_index_serves_pages_while_building(tmp_path):
    path = tmp_path / "big.csv"
    write_csv(path, 50_000)
    index = RecordIndex(path)
    seen = []
    index.build(chunk_bytes=64 << 10, on_chunk=lambda: seen.append(index.read_rows(0, 3)))
    assert seen[0][2] == ["row 2", "2"] and len(seen) > 5


def test_record_index_jsonl_tsv_and_errors(tmp_path):
    jl = tmp_path / "d.jsonl"
    jl.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y", "extra": [1]}\nnot json\n')
    index = open_preview(jl)
    index.build()
    assert index.columns == ["text", "label", "extra"] and index.rows == 3
    assert index.read_rows(0, 3)[1] == ["b", "y", "[1]"] and "invalid JSON" in index.read_rows(2, 1)[0][0]
    tsv = tmp_path / "d.tsv"
    tsv.write_text('sentence\tlabel\nit "quoted" here\t1\n')  # TSV is read without quoting, like the loader
    index = open_preview(tsv)
    index.build()
    assert index.read_rows(0, 1) == [['it "quoted" here', "1"]]
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(WorkbenchError, match="empty"):
        open_preview(tmp_path / "empty.csv")
    with pytest.raises(WorkbenchError, match="not found"):
        open_preview(tmp_path / "missing.csv")


def test_table_preview_for_json_arrays(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"text": f"t{i}", "label": i % 2} for i in range(250)]))
    preview = open_preview(path)
    assert isinstance(preview, TablePreview)
    preview.build()
    assert preview.rows == 250 and preview.columns == ["text", "label"] and preview.read_rows(249, 10) == [["t249", "1"]]


# --- priority -------------------------------------------------------------------------------------------
PRIORITY_PROBE = r"""
import asyncio, json, os, subprocess, threading
from workbench.ui.priority import lower_ui_priority

def nice(tid):
    with open(f"/proc/self/task/{tid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[16])

def child_nice():
    out = subprocess.run(["sh", "-c", "cut -d' ' -f19 /proc/$$/stat"], capture_output=True, text=True)
    return int(out.stdout)

async def main():
    loop = asyncio.get_running_loop()
    base = os.getpriority(os.PRIO_PROCESS, 0)
    spawn = lower_ui_priority(loop)
    worker_nice = await loop.run_in_executor(None, lambda: nice(threading.get_native_id()))
    print(json.dumps({"base": base, "ui": nice(threading.get_native_id()), "ui_worker": worker_nice,
                      "launched_from_ui": child_nice(), "launched_via_spawn": spawn(child_nice)}))

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux-only")
@pytest.mark.parametrize("extra_nice", [0, 4, 15])
def test_the_ui_runs_below_training_but_launches_at_normal_priority(extra_nice):
    # In a child process: lowering priority cannot be undone, and pytest must keep its own. The child starts
    # at pytest's nice level plus extra_nice (whatever level CI runs at), up to 19: the UI goes to at least
    # UI_NICE, never back up, and launches keep the level the app started with.
    from workbench.ui.priority import UI_NICE

    out = subprocess.run([sys.executable, "-c", PRIORITY_PROBE], capture_output=True, text=True, check=True,
                         timeout=60, preexec_fn=lambda: os.nice(extra_nice))
    seen = json.loads(out.stdout)
    base = seen.pop("base")
    assert base == min(19, os.getpriority(os.PRIO_PROCESS, 0) + extra_nice)
    lowered = max(UI_NICE, base)
    assert seen == {"ui": lowered, "ui_worker": lowered, "launched_from_ui": lowered, "launched_via_spawn": base}


def test_live_curves_back_off_when_the_cpu_is_saturated(monkeypatch):
    from workbench.ui.widgets import charts

    monkeypatch.setattr(charts.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(charts.os, "getloadavg", lambda: (2.1, 2.0, 2.0))  # CPU training on both cores
    assert charts.redraw_interval() == charts.SLOW_REDRAW_S
    monkeypatch.setattr(charts.os, "getloadavg", lambda: (0.7, 0.5, 0.5))  # a GPU run feeding from one core
    assert charts.redraw_interval() == charts.FAST_REDRAW_S


# --- each task's headline metric ----------------------------------------------------------------------
def test_each_task_has_its_own_headline():
    assert headline("text-classification", {"accuracy": 0.8950, "token_accuracy": 0.5}) == ("accuracy", "0.895")
    assert headline("token-classification", {"f1": 0.741, "token_accuracy": 0.95}) == ("entity F1", "0.741")
    assert headline("causal-lm-sft", {"eval_loss": 2.5257, "perplexity": 12.5}) == ("eval loss", "2.526")
    assert headline_figure("causal-lm-sft", {"eval_loss": 2.5257, "perplexity": 12.5}) == ("perplexity", "12.50")
    assert headline_figure("token-classification", {"f1": 0.741}) == headline("token-classification", {"f1": 0.741})
    assert headline(None, {}) == ("accuracy", "—")  # an older run.json without "task" is classification
    assert metrics_line("text-classification", {"accuracy": 0.895, "macro_f1": 0.8949, "eval_loss": 0.3012}) == \
        "accuracy 0.8950 · macro-F1 0.8949 · eval loss 0.3012"
    assert metrics_line("token-classification", {"f1": 0.748, "precision": 0.76, "recall": 0.737,
                                                 "token_accuracy": 0.96, "eval_loss": 0.25}) == \
        "entity F1 0.7480 · P 0.7600 · R 0.7370 · token acc 0.9600 · eval loss 0.2500"
    assert metrics_line("causal-lm-sft", {"eval_loss": 2.5257, "perplexity": 12.5}) == \
        "eval loss 2.5257 · perplexity 12.50"


def test_the_headline_constants_are_the_task_modules_own_read_without_importing_them():
    from workbench.core.tasks import TASKS, get_task

    for task in TASKS:
        declared, tm = get_task(task).metrics, task_metrics(task)
        assert (tm.main, tm.greater_is_better, tm.scalars) == tuple(declared)
    code = ("import sys; from workbench.ui.task_metrics import task_metrics; from workbench.core.tasks import TASKS\n"
            "[task_metrics(t) for t in TASKS]\n"
            # The task packages' __init__ and base.py only: no data, train, evaluate ... module.
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy' or (m.startswith('workbench.core.tasks.')"
            " and m.count('.') > 3)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"  # not even numpy: the Runs screen shows at start
