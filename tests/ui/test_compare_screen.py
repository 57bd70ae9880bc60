"""Compare: select runs on the Runs screen (space), compare them (c); metrics, verdict, curves aligned by
step or epoch, the disagreements table and its class filter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ui_helpers import new_app, screen_text, wait_for_text, wait_until

import canned
from workbench.core.compare import compare_runs
from workbench.core.runs import RunStore
from workbench.ui.widgets.charts import LineChart
from workbench.ui.widgets.run_table import RunTable

LABELS = ["negative", "positive"]
N = 200
# Outcomes of runs A (older) and B (newer) on each eval example: both right, A only, B only, both wrong.
PATTERN = [(True, True)] * 170 + [(True, False)] * 9 + [(False, True)] * 16 + [(False, False)] * 5


def write_predictions(path: Path, correct: list[bool], confidence: float) -> None:
    records = []
    for i, ok in enumerate(correct):
        gold = LABELS[i % 2]
        predicted = gold if ok else LABELS[1 - i % 2]
        records.append({"id": i, "input": f"eval sentence number {i}", "gold": gold, "predicted": predicted,
                        "correct": ok, "scores": {predicted: confidence, LABELS[LABELS.index(predicted) - 1]:
                                                  round(1 - confidence, 4)}})
    (path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def compare_ws(workspace) -> dict[str, str]:
    """Two finished runs with predictions on the same 200 examples (A 179 right, B 186), and one without."""
    a = canned.make_run(workspace, "sst2-minilm-lr5e-5", status="completed", age_s=3 * 3600, steps=90, max_steps=90,
                        final={"accuracy": 0.895, "macro_f1": 0.8949, "eval_loss": 0.3012})
    b = canned.make_run(workspace, "sst2-minilm-lr1e-4", status="completed", age_s=2 * 3600, steps=90, max_steps=90,
                        steps_per_epoch=45, final={"accuracy": 0.93, "macro_f1": 0.9299, "eval_loss": 0.2501})
    info = json.loads((b / "run.json").read_text())
    info["config"]["lr"] = 1e-4
    (b / "run.json").write_text(json.dumps(info))
    write_predictions(a, [x for x, _ in PATTERN], 0.8)
    write_predictions(b, [y for _, y in PATTERN], 0.9)
    stopped = canned.make_run(workspace, "sst2-stopped-early", status="stopped", age_s=3600, steps=30, max_steps=90)
    return {"A": a.name, "B": b.name, "stopped": stopped.name}


async def open_compare(pilot, ids: dict[str, str]) -> None:
    """On the Runs screen (newest first: stopped, B, A), select A then B and press c."""
    table = pilot.app.screen.query_one(RunTable)
    await pilot.press("down", "down")
    assert table.current_key == ids["A"]
    await pilot.press("space", "up", "space")
    assert pilot.app.screen.selected == [ids["A"], ids["B"]]
    await wait_for_text(pilot, "◆ sst2-minilm-lr1e-4")
    await pilot.press("c")
    assert pilot.app.current_mode == "compare"
    await wait_until(pilot, lambda: pilot.app.screen.comparison is not None, what="the comparison")


async def test_select_two_runs_and_compare_them(workspace, compare_ws):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compare(pilot, compare_ws)
        screen = app.screen
        c = screen.comparison
        assert [r.id for r in c.runs] == [compare_ws["A"], compare_ws["B"]]
        text = await wait_for_text(pilot, "same eval set ✔ (200)")
        assert "A sst2-minilm-lr5e-5" in text and "B sst2-minilm-lr1e-4" in text
        assert "0.9300 ★" in text and "+3.5 pt" in text  # B's accuracy is the best, 3.5 points over A
        pair = c.pairs[0]
        assert pair.verdict and not pair.refused and (pair.a_only, pair.b_only) == (9, 16)
        await wait_for_text(pilot, f"B vs A: {pair.verdict}")
        assert "Disagreements 25" in screen_text(app)


async def test_align_switches_between_step_and_epoch(workspace, compare_ws):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compare(pilot, compare_ws)
        screen = app.screen
        loss = screen.query_one("#cmp-loss", LineChart)
        assert screen.comparison.align == "step" and loss.xlabel == "step"
        assert max(loss.series[0].xs) == 90
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.comparison.align == "epoch", what="epoch alignment")
        assert screen.align == "epoch" and loss.xlabel == "epoch"
        assert max(s.xs[-1] for s in loss.series) == 3.0  # A: 90 steps of 30 per epoch
        await wait_for_text(pilot, "aligned by epoch")
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.comparison.align == "step", what="step alignment again")


async def test_disagreements_tab_lists_what_compare_runs_finds_and_filters_by_class(workspace, compare_ws):
    store = RunStore(workspace)
    expected = compare_runs([store.get(compare_ws["A"]), store.get(compare_ws["B"])])
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compare(pilot, compare_ws)
        screen = app.screen
        await pilot.press("t", "t", "t")  # Curves → Per class → Confusion → Disagreements
        table = screen.query_one("#cmp-disagreements")
        assert screen.query_one("TabbedContent").active == "disagreements"
        assert table.row_count == len(expected.disagreements) == 25
        await wait_for_text(pilot, "25 of 25 examples")
        await pilot.press("f")
        assert screen.gold_filter == "negative"
        assert table.row_count == len(expected.disagreements_for(gold="negative"))
        await wait_for_text(pilot, "gold negative")
        await pilot.press("f", "f")
        assert screen.gold_filter is None and table.row_count == 25


async def test_compare_needs_two_selected_runs(workspace, compare_ws):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await wait_for_text(pilot, "Select at least two runs to compare")
        assert app.current_mode == "runs"
        await pilot.press("space", "c")
        await wait_for_text(pilot, "Select at least two runs to compare")
        await pilot.press("6")  # the screen itself, with nothing handed over
        assert app.current_mode == "compare"
        await wait_for_text(pilot, "Select two or more runs on the Runs screen")


async def test_a_run_without_predictions_gets_the_reason_in_place(workspace, compare_ws):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("space", "down", "space", "c")  # the stopped run (no predictions) and B
        await wait_until(pilot, lambda: app.screen.comparison is not None, what="the comparison")
        text = await wait_for_text(pilot, "no shared eval set ✘")
        assert "has no predictions" in text
