"""Token classification in the TUI: entity counts in Datasets, per-type F1 in Monitor and Compare, highlighted
entities in the Playground (PyTorch run and ONNX export)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rich.text import Text
from ui_helpers import new_app, screen_text, wait_for_text, wait_until

from workbench.core.compare import compare_runs
from workbench.core.runs import RunStore
from workbench.core.tasks.token_classification.data import entity_counts
from workbench.ui.screens.compare import confusion_group, per_class_table
from workbench.ui.screens.playground import ENTITY_STYLES, highlighted
from workbench.ui.widgets.charts import BarChart, LineChart
from workbench.ui.widgets.dataset_stats import DatasetStats
from workbench.ui.widgets.run_panels import FinalPanel, PerClassPanel, ProgressPanel

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
NER = SAMPLE / "ner"
SENTENCE = "Aiko Tanaka won a gold medal at the Tour de France ."  # a dev sentence (not in train)


def _copy_run(src_ws: Path, dst_ws: Path, name: str, new_name: str | None = None) -> str:
    """Copy a finished run into another workspace (optionally as a second run with another id and name)."""
    run = RunStore(src_ws).get(name)
    run_id = run.id if new_name is None else run.id + "-" + new_name
    dst = dst_ws / "runs" / run_id
    shutil.copytree(run.path, dst)
    if new_name is not None:
        info = json.loads((dst / "run.json").read_text())
        info.update(id=run_id, name=new_name)
        (dst / "run.json").write_text(json.dumps(info))
    return run_id


@pytest.fixture
def ner_ws(workspace, ner_trained):
    """A workspace holding the tiny trained NER run and its ONNX export."""
    from workbench.cli import main

    src, code = ner_trained
    assert code == 0
    if not (src / "exports" / "ner-tiny").exists():
        assert main(["--workspace", str(src), "export", "ner-tiny", "--json"]) == 0
    run_id = _copy_run(src, workspace, "ner-tiny")
    shutil.copytree(src / "exports" / "ner-tiny", workspace / "exports" / "ner-tiny")
    return workspace, run_id


async def test_datasets_show_entity_counts_per_type(workspace):
    from test_datasets_screen import select_in_tree

    train = [json.loads(line)["tags"] for line in (NER / "train.jsonl").read_text().splitlines()]
    expected = entity_counts(train)
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await select_in_tree(pilot, NER)
        stats = app.screen.query_one(DatasetStats)
        bars = stats.query_one(BarChart)
        await wait_until(pilot, lambda: bars.names == ["LOC", "MISC", "ORG", "PER"], timeout=20, what="entity counts")
        assert bars.values == [expected[k] for k in bars.names] and bars.border_title == "Entities (train)"
        await pilot.press("i")
        counts = " · ".join(f"{k} {v}" for k, v in expected.items())
        await wait_for_text(pilot, f"train 150 sentences · {sum(expected.values())} entities: {counts}", timeout=20)


def test_highlighting_styles_each_entity_by_type():
    text = "Angela Merkel visited Paris"
    out = highlighted(text, [{"type": "PER", "start": 0, "end": 13}, {"type": "LOC", "start": 22, "end": 27}])
    assert out.plain == "Angela Merkel PER visited Paris LOC"
    styled = {(out.plain[s.start:s.end], str(s.style)) for s in out.spans}
    assert ("Angela Merkel", ENTITY_STYLES["PER"]) in styled and ("Paris", ENTITY_STYLES["LOC"]) in styled


async def test_playground_highlights_entities_from_the_run_and_its_export(ner_ws):
    workspace, _ = ner_ws
    app = new_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await wait_until(pilot, lambda: screen.ready, timeout=60, what="model loaded")
        await wait_for_text(pilot, "ready · labels: LOC, MISC, ORG, PER")
        await pilot.press(*SENTENCE, "enter")
        await wait_until(pilot, lambda: screen.last_entities is not None, timeout=20, what="entities")
        from_run = screen.last_entities
        assert from_run, "the trained tiny model finds entities in a dev sentence"
        for e in from_run:
            assert SENTENCE[e["start"]:e["end"]] == e["text"]
        shown = screen.last_highlight
        assert shown.plain.startswith(SENTENCE[:from_run[0]["start"]] + from_run[0]["text"] + " " + from_run[0]["type"])
        styled = {(shown.plain[s.start:s.end], str(s.style)) for s in shown.spans}
        for e in from_run:  # every entity is highlighted in its type's style
            assert (e["text"], ENTITY_STYLES[e["type"]]) in styled
        await wait_for_text(pilot, f"{from_run[0]['text']} {from_run[0]['type']}")

        # The same sentence through the ONNX export (onnxruntime, no torch) gives the same entities.
        screen.last_entities = None
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: screen.ready and screen.source == "export", timeout=60, what="export loaded")
        await wait_until(pilot, lambda: screen.last_entities is not None, timeout=20, what="export entities")
        strip = [{k: e[k] for k in ("type", "start", "end", "text")} for e in screen.last_entities]
        assert strip == [{k: e[k] for k in ("type", "start", "end", "text")} for e in from_run]


async def test_monitor_shows_entity_f1_per_type(ner_ws):
    workspace, run_id = ner_ws
    app = new_app(workspace)
    async with app.run_test(size=(100, 40)) as pilot:
        app.open_monitor(run_id)
        await wait_until(pilot, lambda: app.current_mode == "monitor" and app.screen.polls > 0, what="first poll")
        screen = app.screen
        eval_chart = screen.query_one("#mon-eval", LineChart)
        await wait_until(pilot, lambda: eval_chart.series, what="eval curves")
        # The main metric alone on the chart; entity F1 per type in the table beside it.
        assert [s.label for s in eval_chart.series] == ["entity F1"]
        last = [e for e in RunStore(workspace).get(run_id).read_metrics() if e["kind"] == "eval"][-1]
        assert eval_chart.series[0].ys[-1] == last["f1"]
        items = " ".join(t.plain for t in screen.query_one(ProgressPanel)._number_items())
        assert f"eval entity F1 {last['f1']:.4f}" in items
        rows = screen.query_one(PerClassPanel).rows
        assert [r[0] for r in rows] == ["entity F1", "LOC", "MISC", "ORG", "PER"]
        assert rows[1][1] == last["f1_LOC"] and rows[4][1] == last["f1_PER"]
        await wait_until(pilot, lambda: screen.query_one("#mon-final").display, what="final panel")
        text = " ".join(screen_text(app).split())
        assert "entity F1" in text and "entity type" in text


def test_compare_two_ner_runs_per_type_f1(ner_trained, workspace):
    src, _ = ner_trained
    a = _copy_run(src, workspace, "ner-tiny")
    b = _copy_run(src, workspace, "ner-tiny", new_name="ner-tiny-again")
    store = RunStore(workspace)
    c = compare_runs([store.get(a), store.get(b)])
    assert c.main_metric == "f1"
    keys = [m.key for m in c.metrics]
    assert "f1" in keys and "precision" in keys and "accuracy" not in keys
    f1 = next(m for m in c.metrics if m.key == "f1")
    assert f1.main and f1.values[0] == f1.values[1] == store.get(a).metrics["f1"]
    assert [row.label for row in c.per_class] == ["LOC", "MISC", "ORG", "PER"]
    assert c.per_class[3].scores["f1"][0] == store.get(a).info["evaluation"]["per_class"]["PER"]["f1"]
    assert c.confusion == [None, None] and c.same_eval and c.eval_rows == 40
    assert any(s.name == "eval_f1" for s in c.curves)
    assert list(per_class_table(c).columns[0]._cells) == ["LOC", "MISC", "ORG", "PER"]
    assert "no confusion matrix" in " ".join(t.plain for t in confusion_group(c).renderables if isinstance(t, Text))
