"""NER export: ONNX with per-piece logits validated against PyTorch, and torch-free span decoding in predict."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO, SAMPLE_DATA
from workbench.core.tasks.token_classification.predict import split_words

NER = SAMPLE_DATA / "ner"


@pytest.fixture(scope="module")
def ner_export(ner_trained):
    """The shared tiny NER run, exported with int8."""
    from workbench.cli import main

    ws, code = ner_trained
    assert code == 0
    export_dir = ws / "exports" / "ner-tiny"
    if not export_dir.exists():
        assert main(["--workspace", str(ws), "export", "ner-tiny", "--int8", "--max-int8-drop", "100", "--json"]) == 0
    return ws, export_dir


def test_export_manifest_parity_and_entity_f1(ner_export):
    from workbench.core.runs import RunStore

    ws, export_dir = ner_export
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["task"] == "token-classification"
    assert manifest["outputs"][0]["shape"] == ["batch", "sequence", 9]
    assert (export_dir / "model.onnx").is_file() and (export_dir / "model.int8.onnx").is_file()
    report = manifest["validation"]
    assert report["rows"] == 40
    engines = {e["engine"]: e for e in report["engines"]}
    assert engines["onnx-fp32"]["max_abs_logit_diff"] <= 1e-4
    assert engines["onnx-fp32"]["tag_agreement"] == 1.0
    assert engines["onnx-fp32"]["f1"] == pytest.approx(engines["pytorch"]["f1"])
    # PyTorch's F1 here is the run's own final F1: same model, same eval sentences, same decoding.
    assert engines["pytorch"]["f1"] == pytest.approx(RunStore(ws).get("ner-tiny").metrics["f1"])
    assert 0.0 <= engines["onnx-int8"]["tag_agreement"] <= 1.0 and "f1" in engines["onnx-int8"]
    assert "token classification" in (export_dir / "README.md").read_text()
    assert manifest["decoding"]["case_type_ids"] is True  # the parity above holds with capitals in the type ids


def test_the_onnx_tagger_sees_capitals(ner_export):
    import numpy as np

    from workbench.core.tasks.token_classification.predict import OnnxTagger

    tagger = OnnxTagger(ner_export[1])
    (upper, _), (lower, _) = tagger.piece_logits([["Angela", "Merkel", "visited", "Paris"], ["angela", "merkel", "visited", "paris"]])
    assert upper.shape == lower.shape and not np.allclose(upper, lower)
    tagger.case_types = False  # as an export trained without them would be fed: the same pieces, the same logits
    (upper, _), (lower, _) = tagger.piece_logits([["Angela", "Merkel", "visited", "Paris"], ["angela", "merkel", "visited", "paris"]])
    assert np.allclose(upper, lower)


def test_predict_prints_entity_spans(ner_export, capsys):
    from workbench.cli import main

    ws, export_dir = ner_export
    rows = [json.loads(line) for line in (NER / "dev.jsonl").read_text().splitlines()]
    row = next(r for r in rows if "B-PER" in r["tags"])
    text = " ".join(row["tokens"])
    assert main(["--workspace", str(ws), "predict", str(export_dir), text, "Nothing to see .", "--json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert len(preds) == 2 and preds[0]["tokens"] == row["tokens"] and len(preds[0]["tags"]) == len(row["tokens"])
    for e in preds[0]["entities"]:  # character offsets point at the entity's words in the text
        assert text[e["start"]:e["end"]] == e["text"] and e["type"] in {"PER", "ORG", "LOC", "MISC"}
        assert e["text"] == " ".join(row["tokens"][e["start_word"]:e["end_word"]])
    # The model tags the sentence as the run's own (PyTorch) prediction did.
    from workbench.core.runs import RunStore

    record = next(r for r in RunStore(ws).get("ner-tiny").read_predictions() if r["tokens"] == row["tokens"])
    assert preds[0]["tags"] == record["predicted_tags"]
    assert main(["--workspace", str(ws), "predict", str(export_dir), text]) == 0
    out = capsys.readouterr().out
    assert "entity" in out and "type" in out


def test_word_splitting_keeps_dates_and_splits_punctuation():
    assert [w for w, _, _ in split_words("BRUSSELS 1996-08-22: O'Neill met Merkel.")] == \
        ["BRUSSELS", "1996-08-22", ":", "O'Neill", "met", "Merkel", "."]
    assert split_words("Hi  Paris")[1] == ("Paris", 4, 9)
    # Abbreviations keep their final dot, as CoNLL writes them ("U.S." is one token there).
    assert [w for w, _, _ in split_words("The U.S. and U.K. met, e.g. in 2.5 hours.")] == \
        ["The", "U.S.", "and", "U.K.", "met", ",", "e.g.", "in", "2.5", "hours", "."]


def test_ner_prediction_never_imports_torch_or_transformers(ner_export):
    _, export_dir = ner_export
    code = f"""
import json, sys
from workbench.core.inference import open_predictor
preds = open_predictor({str(export_dir)!r}, int8="auto").predict(["Angela Merkel visited Paris"])
from workbench.cli import main
assert main(["predict", {str(export_dir)!r}, "Angela Merkel visited Paris", "--json"]) == 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "datasets", "sklearn", "seqeval"))
print(json.dumps({{"heavy": heavy, "tags": preds[0]["tags"]}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and len(result["tags"]) == 4


def test_a_classifier_export_is_refused_by_the_tagger(tmp_path):
    from workbench.core.errors import WorkbenchError
    from workbench.core.tasks.token_classification.predict import OnnxTagger

    (tmp_path / "manifest.json").write_text(json.dumps({"task": "text-classification", "labels": ["a", "b"]}))
    with pytest.raises(WorkbenchError, match="not token classification"):
        OnnxTagger(tmp_path)
