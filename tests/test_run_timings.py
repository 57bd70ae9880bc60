"""Where a run's time goes, and the training shortcuts that must not change its results: phase timings in
run.json, length-sorted evaluation, the final evaluation taken from training's, frozen word embeddings, and the
first-token-only last layer of a BERT classifier."""

from __future__ import annotations

import json
import time

import pytest
import torch

from helpers import SAMPLE_DATA, kill_workers
from workbench.core.runs import RunStore
from workbench.core.training.sampler import LengthSortedSampler
from workbench.core.training.timings import PHASES, PhaseClock


def test_phase_clock_excludes_nested_phases_from_the_enclosing_one():
    clock = PhaseClock(started=time.time())
    with clock.phase("training_steps"):
        time.sleep(0.05)
        with clock.phase("evaluation"):
            time.sleep(0.1)
        with clock.phase("evaluation"):
            time.sleep(0.1)
    record = clock.record(created_epoch=clock.started - 2.0)
    phases = record["phases"]
    assert phases["evaluation"] == pytest.approx(0.2, abs=0.05)
    assert phases["training_steps"] == pytest.approx(0.05, abs=0.04)  # the loop less its two evaluations
    assert record["worker_wall_s"] >= phases["evaluation"] + phases["training_steps"]
    assert record["launch_s"] == pytest.approx(2.0, abs=0.01)


def test_length_sorted_sampler_goes_longest_first_and_keeps_ties_in_order():
    sampler = LengthSortedSampler([3, 9, 1, 9, 5])
    assert list(sampler) == [1, 3, 4, 0, 2] and len(sampler) == 5


def _tiny_classifier(tiny_model_dir, attn: str):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=3, attn_implementation=attn)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_first_token_last_layer_gives_the_same_logits_and_gradients(tiny_model_dir, attn):
    from workbench.core.tasks.classification.first_token import first_token_only

    full, short = _tiny_classifier(tiny_model_dir, attn), _tiny_classifier(tiny_model_dir, attn)
    assert first_token_only(short)
    ids = torch.randint(5, 1000, (4, 11))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[3, 2:] = 0  # padding, as length-bucketed batches have
    labels = torch.tensor([0, 1, 2, 1])
    for model in (full, short):
        model.eval()  # no dropout: the two must agree exactly
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    with torch.no_grad():
        a = full(input_ids=ids, attention_mask=mask).logits
        b = short(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    for (name, p), q in zip(full.named_parameters(), short.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name
    # Training mode (dropout on) still runs and gives a finite loss.
    short.train()
    assert torch.isfinite(short(input_ids=ids, attention_mask=mask, labels=labels).loss)


def test_first_token_last_layer_applies_only_to_bert_classifiers_and_survives_lora(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForTokenClassification

    from workbench.core.tasks.classification.first_token import applies_to, first_token_only

    tagger = AutoModelForTokenClassification.from_pretrained(str(tiny_model_dir), num_labels=3)
    assert not applies_to(tagger) and not first_token_only(tagger)  # NER reads every token
    model = get_peft_model(_tiny_classifier(tiny_model_dir, "eager"),
                           LoraConfig(r=4, target_modules=["query", "value"], task_type="SEQ_CLS"))
    reference = model(input_ids=torch.randint(5, 1000, (2, 7))).logits
    assert first_token_only(model)
    model.eval()
    ids = torch.randint(5, 1000, (2, 7))
    with torch.no_grad():
        short = model(input_ids=ids).logits
        layer = model.get_base_model().bert.encoder.layer[-1]
        del layer.forward  # the class's own forward again
        full = model(input_ids=ids).logits
    assert reference.shape == short.shape and torch.allclose(short, full, atol=1e-5)


@pytest.fixture(scope="module")
def timed_runs(tiny_model_dir, tmp_path_factory):
    """Two tiny classification runs of 2 epochs (an evaluation and a checkpoint each): the defaults, and one that
    trains its word embeddings."""
    from workbench.cli import main

    ws = tmp_path_factory.mktemp("timings-ws")
    common = ["train", "--data", str(SAMPLE_DATA / "topics"), "--model", str(tiny_model_dir), "--batch-size", "16",
              "--lr", "3e-3", "--max-length", "32", "--epochs", "2", "--logging-steps", "5", "--json"]
    codes = [main(["--workspace", str(ws), *common, "--name", "defaults"]),
             main(["--workspace", str(ws), *common, "--name", "trained-embeddings", "--embeddings", "train"])]
    yield ws, codes
    kill_workers(ws)


def _embedding(model_dir):
    from safetensors.torch import load_file

    weights = load_file(str(model_dir / "model.safetensors"))
    return next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))


def test_run_json_says_where_the_time_went(timed_runs):
    ws, codes = timed_runs
    assert codes == [0, 0]
    run = RunStore(ws).get("defaults")
    timings = run.info["timings"]
    assert list(timings["phases"]) == list(PHASES)
    assert all(v >= 0 for v in timings["phases"].values())
    assert timings["phases"]["training_steps"] > 0 and timings["phases"]["evaluation"] > 0
    assert timings["phases"]["checkpointing"] > 0 and timings["phases"]["startup"] > 0
    assert sum(timings["phases"].values()) <= timings["worker_wall_s"] + 0.5
    assert timings["launch_s"] >= 0


def test_classification_freezes_word_embeddings_by_default_and_trains_them_when_told(timed_runs, tiny_model_dir):
    ws, _ = timed_runs
    store = RunStore(ws)
    frozen, trained = store.get("defaults"), store.get("trained-embeddings")
    assert (frozen.info["embeddings"], trained.info["embeddings"]) == ("frozen", "trained")
    assert (frozen.config["embeddings"], trained.config["embeddings"]) == ("auto", "train")
    base = _embedding(tiny_model_dir)
    assert torch.equal(_embedding(frozen.model_dir), base)
    assert not torch.equal(_embedding(trained.model_dir), base)


def test_final_metrics_are_the_best_evaluation_and_match_predictions(timed_runs):
    ws, _ = timed_runs
    run = RunStore(ws).get("defaults")
    events = run.read_metrics()
    evals = [e for e in events if e["kind"] == "eval"]
    best = run.info["best_metric"]
    step = int(best["checkpoint"].split("-")[-1])
    # One eval event per epoch: the final evaluation (the best checkpoint, scored at the last step) is the "final"
    # event, not an eval event that would give the last epoch's point the best checkpoint's figures.
    assert [e["epoch"] for e in evals] == [1.0, 2.0]
    assert [e["kind"] for e in events].count("final") == 1
    during = [e for e in evals if e["step"] == step][0]
    # The final report is the evaluation that chose the best checkpoint, not a new pass over the eval set.
    assert run.metrics["accuracy"] == pytest.approx(during["accuracy"])
    assert run.metrics["eval_loss"] == pytest.approx(during["loss"])
    assert run.info["timings"]["phases"]["final_evaluation"] < run.info["timings"]["phases"]["evaluation"]
    preds = run.read_predictions()
    assert [p["id"] for p in preds] == list(range(len(preds)))  # input order, though evaluation went by length
    assert sum(p["correct"] for p in preds) / len(preds) == pytest.approx(run.metrics["accuracy"])
    import csv

    with open(SAMPLE_DATA / "topics" / "dev.csv", newline="") as f:
        assert [p["input"] for p in preds] == [row["text"] for row in csv.DictReader(f)]


def test_runs_show_says_where_the_time_went(timed_runs, capsys):
    from workbench.cli import main

    ws, _ = timed_runs
    assert main(["--workspace", str(ws), "runs", "show", "defaults", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["timings"]["phases"]["training_steps"] > 0
    assert main(["--workspace", str(ws), "runs", "show", "defaults"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the table wraps long values at the terminal's width
    assert "in the worker:" in out and "training steps" in out
