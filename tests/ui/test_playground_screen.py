"""Playground: choose a finished run, type a text, see the predicted label and the scores."""

from __future__ import annotations

import shutil

import pytest
from ui_helpers import new_app, wait_for_text, wait_until

import canned


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model_dir, tmp_path_factory):
    """A run's model/ folder: the tiny random BERT with a two-label classification head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = tmp_path_factory.mktemp("tiny-classifier")
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1})
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    return path


async def test_predicts_a_label_with_scores(workspace, tiny_classifier):
    run = canned.make_run(workspace, "tiny-done", status="completed", age_s=60, steps=10, max_steps=10,
                          final={"accuracy": 0.5, "macro_f1": 0.5})
    shutil.copytree(tiny_classifier, run / "model")
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await wait_until(pilot, lambda: screen.ready, timeout=60, what="model loaded")  # the newest run is chosen
        await wait_for_text(pilot, "ready · labels: negative, positive")
        await pilot.press(*"a lovely film", "enter")
        await wait_until(pilot, lambda: screen.last_scores, timeout=20, what="prediction")
        assert set(screen.last_scores) == {"negative", "positive"}
        assert sum(screen.last_scores.values()) == pytest.approx(1.0, abs=1e-4)
        best = max(screen.last_scores, key=screen.last_scores.get)
        await wait_for_text(pilot, f"{best} {screen.last_scores[best]:.1%} ← a lovely film")


async def test_without_finished_runs_it_says_what_to_do(canned_ws):
    app = new_app(canned_ws)  # canned runs have no model/ folder
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_for_text(pilot, "No finished run with a model yet")
        await pilot.press(*"hello", "enter")
        await wait_for_text(pilot, "Choose a run first")


async def test_a_broken_model_is_reported_in_place(workspace):
    run = canned.make_run(workspace, "broken-model", status="completed", age_s=60, steps=1, max_steps=1)
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text("{not json")
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_for_text(pilot, "cannot load the model", timeout=60)
