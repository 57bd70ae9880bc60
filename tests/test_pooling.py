"""Mean pooling for text classification (workbench.core.pooling): what the classifier reads, kept across saving,
loading and export, chosen by ``pooling`` (auto: the mean in a private run), refused where it cannot apply."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import SAMPLE_DATA
from sft_helpers import tiny_llama_dir  # noqa: F401  (fixture)

from workbench.core import pooling
from workbench.core.config import RunConfig
from workbench.core.errors import WorkbenchError
from workbench.core.runs import RunStore


def _classifier(model_dir):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(1)
    return AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=3).eval()


def _batch():
    ids = torch.randint(5, 1000, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    return ids, mask


def test_the_classifier_reads_the_masked_mean_of_the_last_layer(tiny_model_dir):
    model = _classifier(tiny_model_dir)
    ids, mask = _batch()
    with torch.no_grad():
        first = model(input_ids=ids, attention_mask=mask).logits
        assert pooling.mean_pooled(model) and pooling.pooling_of(model) == "mean"
        got = model(input_ids=ids, attention_mask=mask).logits
        hidden = type(model.bert).forward(model.bert, ids, mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        expected = model.classifier((hidden * m).sum(1) / m.sum(1))
        # Padding changes nothing: the second text alone, unpadded, gives its logits again.
        alone = model(input_ids=ids[1:2, :5], attention_mask=mask[1:2, :5]).logits
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, first, atol=1e-3)  # it is not the pooler any more
    assert torch.allclose(alone, got[1:2], atol=1e-5)
    assert model.config.workbench_pooling == "mean"
    # The pooler's weights are frozen (nothing reads them); the encoder below still learns.
    assert not any(p.requires_grad for p in model.bert.pooler.parameters())
    model.train()
    model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 2])).loss.backward()
    assert model.bert.encoder.layer[-1].output.dense.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.bert.pooler.parameters())


def test_a_saved_model_is_read_with_the_pooling_it_was_trained_with(tiny_model_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = _classifier(tiny_model_dir)
    pooling.mean_pooled(model)
    model.save_pretrained(tmp_path / "mean")
    ids, mask = _batch()
    plain = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "mean")).eval()
    restored = pooling.restore_pooling(AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "mean")).eval())
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(restored(input_ids=ids, attention_mask=mask).logits, want, atol=1e-6)
        assert not torch.allclose(plain(input_ids=ids, attention_mask=mask).logits, want, atol=1e-3)
    # A model fine-tuned from that one with the pooler says so, and is read with the pooler again.
    again = _classifier(tmp_path / "mean")
    pooling.first_pooled(again)
    again.save_pretrained(tmp_path / "first")
    reread = pooling.restore_pooling(AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "first")))
    assert pooling.pooling_of(reread) == "first" and reread.bert.forward.__func__ is type(reread.bert).forward


def test_only_bert_classifiers_take_the_mean_and_lora_keeps_it(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForTokenClassification

    tagger = AutoModelForTokenClassification.from_pretrained(str(tiny_model_dir), num_labels=3)
    assert not pooling.mean_pooled(tagger) and not hasattr(tagger.config, "workbench_pooling")
    assert pooling.supports_mean("bert") and not pooling.supports_mean("llama")
    tagger.config.update({"workbench_pooling": "mean"})  # a config that asks for what this head cannot read
    with pytest.raises(WorkbenchError, match="cannot read"):
        pooling.restore_pooling(tagger)
    model = get_peft_model(_classifier(tiny_model_dir), LoraConfig(r=4, target_modules=["query", "value"], task_type="SEQ_CLS"))
    assert pooling.mean_pooled(model) and pooling.pooling_of(model) == "mean"
    ids, mask = _batch()
    with torch.no_grad():
        before = model(input_ids=ids, attention_mask=mask).logits
        merged = model.merge_and_unload()  # what a LoRA run saves
        assert torch.allclose(merged(input_ids=ids, attention_mask=mask).logits, before, atol=1e-5)


@pytest.mark.parametrize("dp, setting, expected", [
    (None, "auto", "first"), (8.0, "auto", "mean"), (None, "mean", "mean"), (8.0, "first", "first"),
])
def test_auto_is_the_mean_in_a_private_run_only(tiny_model_dir, dp, setting, expected):
    from workbench.core.tasks.classification.train import build_model

    class Data:
        class schema:
            labels = ["a", "b"]

    cfg = RunConfig(data="x", dp_epsilon=dp, pooling=setting, precision="fp32")
    model = build_model(str(tiny_model_dir), Data, cfg)
    assert pooling.pooling_of(model) == expected
    # The pooler reading keeps its shorter last layer (first_token.py); the mean needs every position.
    assert ("forward" in vars(model.bert.encoder.layer[-1])) == (expected == "first")


@pytest.mark.parametrize("extra, message", [
    (["--data", str(SAMPLE_DATA / "ner"), "--pooling", "mean"], "pooling 'mean' is for text classification"),
    (["--data", str(SAMPLE_DATA / "sentiment"), "--pooling", "median"], "invalid choice: 'median'"),
])
def test_a_pooling_that_cannot_apply_is_one_error_line(tiny_model_dir, cli, workspace, extra, message):
    code, _, err = cli("train", "--model", str(tiny_model_dir), "--max-steps", "1", *extra)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and lines[0].startswith("error:") and message in " ".join(lines), err
    assert not (workspace / "runs").exists() or not list((workspace / "runs").iterdir())


def test_mean_pooling_is_refused_for_a_model_that_cannot_read_it(tiny_llama_dir, cli, workspace):  # noqa: F811
    code, _, err = cli("train", "--data", str(SAMPLE_DATA / "sentiment"), "--model", str(tiny_llama_dir),
                       "--task", "text-classification", "--pooling", "mean", "--max-steps", "1")
    assert code == 2 and "pooling 'mean' is available for bert models" in err and "llama" in err


def test_a_mean_pooled_run_trains_exports_and_predicts_with_the_mean(tiny_model_dir, cli, workspace, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from workbench.core.inference import open_predictor
    from workbench.core.models import load_run_model

    code, _, err = cli("train", "--data", str(SAMPLE_DATA / "sentiment"), "--model", str(tiny_model_dir), "--pooling",
                       "mean", "--max-steps", "6", "--batch-size", "16", "--lr", "3e-3", "--max-length", "32",
                       "--name", "mean", "--json")
    assert code == 0, err
    run = RunStore(workspace).get("mean")
    assert json.loads((run.model_dir / "config.json").read_text())["workbench_pooling"] == "mean"
    code, _, err = cli("export", "mean", "--out", str(tmp_path / "exp"), "--json")
    assert code == 0, err
    fp32 = {e["engine"]: e for e in json.loads((tmp_path / "exp" / "manifest.json").read_text())["validation"]["engines"]}
    assert fp32["onnx-fp32"]["max_abs_logit_diff"] < 1e-4  # the export gate compares against the mean-reading model
    # ONNX scores are the mean-reading model's, not those of the same weights read through the pooler.
    texts = ["a gripping, tender film", "dull and far too long", "fine"]
    onnx = torch.tensor([[p["scores"][label] for label in sorted(p["scores"])]
                         for p in open_predictor(tmp_path / "exp").predict(texts)])
    model, tokenizer = load_run_model(run, "AutoModelForSequenceClassification")
    plain = AutoModelForSequenceClassification.from_pretrained(str(run.model_dir)).eval()
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    order = [labels.index(label) for label in sorted(labels)]
    with torch.no_grad():
        mean = model(**enc).logits.softmax(-1)[:, order]
        first = plain(**enc).logits.softmax(-1)[:, order]
    assert torch.allclose(onnx, mean, atol=1e-4)
    assert not torch.allclose(onnx, first, atol=1e-3)
