"""Extractive QA in the TUI: questions, passages and answer lengths in Datasets, the stride in Configure, EM and
F1 in the Monitor, and the Playground answering a question about a pasted passage (PyTorch run and ONNX export)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea
from ui_helpers import new_app, screen_text, wait_for_text, wait_until

from workbench.core.runs import RunStore
from workbench.ui.screens.playground import ANSWER_STYLE
from workbench.ui.widgets.charts import BarChart, LineChart
from workbench.ui.widgets.dataset_stats import DatasetStats

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
QA = SAMPLE / "qa"
PASSAGE = "The Tamsin Bridge is a suspension bridge. It was designed by Clara Voss and opened to traffic in 1998."


@pytest.fixture
def qa_ws(workspace, qa_trained):
    """A workspace holding the tiny trained QA run and its ONNX export."""
    from workbench.cli import main

    src, code = qa_trained
    assert code == 0
    if not (src / "exports" / "qa-tiny").exists():
        assert main(["--workspace", str(src), "export", "qa-tiny", "--json"]) == 0
    run = RunStore(src).get("qa-tiny")
    shutil.copytree(run.path, workspace / "runs" / run.id)
    shutil.copytree(src / "exports" / "qa-tiny", workspace / "exports" / "qa-tiny")
    return workspace, run.id


async def test_datasets_show_questions_passages_and_answer_lengths(workspace):
    from test_datasets_screen import select_in_tree

    app = new_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await select_in_tree(pilot, QA)
        bars = app.screen.query_one(DatasetStats).query_one(BarChart)
        await wait_until(pilot, lambda: bars.names == ["1", "2", "3", "4-5", "6-10", "11+"], timeout=20, what="answer lengths")
        assert sum(bars.values) == 36 and bars.border_title == "Answer words (train)"
        await pilot.press("i")
        summary = app.screen.query_one("#st-summary")
        text = lambda: " ".join(str(summary.render()).split())
        await wait_until(pilot, lambda: "36 windows" in text(), timeout=30, what="window counts")  # with the tokenizer
        assert "train 36 questions · 9 passages · answers 1×36 · 36 windows (0 questions need more than one)" in text()
        assert "dev 12 questions · 3 passages · answers 1×10, 2×2 · 12 windows" in text()
        assert "max_length 384, doc_stride 128" in text()
        await wait_for_text(pilot, "9 passages")


async def test_configure_offers_the_stride_and_checks_it(workspace):
    from test_configure_screen import error_of
    from ui_helpers import type_into

    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        assert app.screen.query_one("#f-doc_stride", Input).value == "128"
        await type_into(pilot, "doc_stride", "-1")
        await wait_until(pilot, lambda: "doc_stride must be a non-negative whole number" in error_of(app, "doc_stride"))
        await type_into(pilot, "doc_stride", "64")
        await wait_until(pilot, lambda: error_of(app, "doc_stride") == "", what="error cleared")


async def test_monitor_plots_exact_match_beside_f1(qa_ws):
    workspace, run_id = qa_ws
    app = new_app(workspace)
    async with app.run_test(size=(100, 40)) as pilot:
        app.open_monitor(run_id)
        await wait_until(pilot, lambda: app.current_mode == "monitor" and app.screen.polls > 0, what="first poll")
        chart = app.screen.query_one("#mon-eval", LineChart)
        await wait_until(pilot, lambda: chart.series, what="eval curves")
        assert [s.label for s in chart.series] == ["F1", "exact match"] and chart.border_title == "Eval: F1 & exact match"
        last = [e for e in RunStore(workspace).get(run_id).read_metrics() if e["kind"] == "eval"][-1]
        assert chart.series[0].ys[-1] == last["f1"] and chart.series[1].ys[-1] == last["exact_match"]
        await wait_until(pilot, lambda: app.screen.query_one("#mon-final").display, what="final panel")
        text = " ".join(screen_text(app).split())
        assert "eval F1" in text and "entity F1" not in text


async def test_playground_answers_a_question_about_a_pasted_passage(qa_ws):
    workspace, _ = qa_ws
    app = new_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await wait_until(pilot, lambda: screen.ready, timeout=60, what="model loaded")
        await wait_for_text(pilot, "paste a passage, then ask a question about it")
        passage = screen.query_one("#pg-context", TextArea)
        assert passage.display
        question = screen.query_one("#pg-text", Input)  # a question without a passage is refused in place
        question.focus()
        await pilot.press(*"Who designed it?", "enter")
        await wait_for_text(pilot, "Paste a passage first")
        passage.focus()
        await pilot.press(*PASSAGE)
        assert passage.text == PASSAGE
        question.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.last_answer is not None, timeout=20, what="answer")
        answer = screen.last_answer
        assert PASSAGE[answer["start"]:answer["end"]] == answer["answer"] and answer["answer"]
        styled = {(screen.last_highlight.plain[s.start:s.end], str(s.style)) for s in screen.last_highlight.spans}
        assert (answer["answer"], ANSWER_STYLE) in styled
        await wait_for_text(pilot, f"{answer['score']:.1%}")

        # The same question through the ONNX export (onnxruntime, no torch) finds the same span.
        screen.last_answer = None
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: screen.ready and screen.source == "export", timeout=60, what="export loaded")
        assert screen.query_one("#pg-context", TextArea).display
        question.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.last_answer is not None, timeout=20, what="export answer")
        assert (screen.last_answer["start"], screen.last_answer["end"]) == (answer["start"], answer["end"])


async def test_compare_two_qa_runs_shows_em_f1_and_the_f1_verdict(qa_ws):
    from workbench.ui.widgets.run_table import RunTable

    workspace, run_id = qa_ws
    # A second run: the same model's records with every exact miss answered right (as a better run would).
    src = workspace / "runs" / run_id
    other = workspace / "runs" / (run_id + "-better")
    shutil.copytree(src, other)
    info = json.loads((other / "run.json").read_text())
    records = [json.loads(line) for line in (other / "predictions.jsonl").read_text().splitlines()]
    for r in records:
        r.update(predicted=r["golds"][0], exact_match=1.0, f1=1.0, correct=True)
    (other / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    info.update(id=other.name, name="qa-tiny-better", metrics={**info["metrics"], "exact_match": 1.0, "f1": 1.0})
    (other / "run.json").write_text(json.dumps(info))
    app = new_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_until(pilot, lambda: table.row_count == 2, what="two runs")
        await pilot.press("space", "down", "space", "c")
        await wait_until(pilot, lambda: app.current_mode == "compare", what="compare")
        await wait_for_text(pilot, "exact match", timeout=20)
        text = " ".join(screen_text(app).split())
        assert "F1" in text and "entity F1" not in text
        await wait_until(pilot, lambda: "better than qa-tiny on F1" in " ".join(screen_text(app).split()), timeout=20,
                         what="the F1 verdict")
