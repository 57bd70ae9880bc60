"""The int8 accuracy gate of `export --int8`, on real models rather than fabricated validation reports.

One run of the embedded all-MiniLM-L6-v2 is fine-tuned through the real CLI (40 steps on sample_data/sentiment)
and shared by the module:

* its int8 export passes the default gate (no --max-int8-drop), and the manifest's measured figures are
  checked against an independent re-run of the exported graphs;
* a copy of it with outlier weights injected into the classifier layer keeps its fp32 predictions but
  collapses under per-channel dynamic int8; exporting it trips the default gate with one clear error and
  leaves nothing behind, not even over an earlier export at the same --out path.

The eval split has 80 rows, so one example is 1.25 accuracy points and the default 1-point gate allows no
net loss at all: the gate is only as good as the model's margins. Training runs in fp32 (conftest pins an
AVX2-only host), and these settings were measured for it: with the default seed int8 moves no dev example
more than 3% of its logit margin towards the decision boundary (seeds 1-3 pass too, the closest at 92%).
Softer training leaves less room: at lr 2e-4 the closest example used 94% of its margin, and with bf16
training and --seed 2 int8 lost one example and the default gate refused a healthy model. Those measurements
trained the word embeddings, which text classification now freezes by default; with frozen ones (the rest
unchanged) the default gate refused the int8 export, so this run trains them (``--embeddings train``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from helpers import SAMPLE_DATA, kill_workers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN_NAME = "int8-gate"
OUTLIER_RUN = "int8-gate-outlier"
DEV = SAMPLE_DATA / "sentiment" / "dev.csv"
# 1e3 x the largest classifier weight: the per-channel scale of each output channel becomes ~7.9x the largest
# remaining weight, so every other weight of the channel rounds to zero. (100x is not enough: int8 keeps the
# few largest weights at +-1 level and still gets every dev example right.)
OUTLIER_FACTOR = 1e3
OUTLIER_FEATURE = 0


def _main(ws: Path, *argv: str) -> int:
    from workbench.cli import main

    return main(["--workspace", str(ws), *argv])


def _run_cli(ws: Path, capsys, *argv: str):
    code = _main(ws, *argv)
    out, err = capsys.readouterr()
    return code, out, err


def _error_line(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def _tree(path: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``path``: size, mtime and a content hash (to prove a directory was not touched)."""
    out = {}
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        st = f.stat()
        out[str(f.relative_to(path))] = (st.st_size, st.st_mtime_ns, digest)
    return out


def _dev_rows() -> tuple[list[str], list[str]]:
    with open(DEV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]


@pytest.fixture(scope="module")
def trained_ws(tmp_path_factory):
    """A workspace with one fine-tuned run of the embedded model (one eval and one checkpoint, at the end)."""
    ws = tmp_path_factory.mktemp("int8-gate-ws")
    try:
        code = _main(ws, "train", "--data", str(SAMPLE_DATA / "sentiment"), "--model", "default",
                     "--max-steps", "40", "--batch-size", "16", "--lr", "3e-4", "--max-length", "64",
                     "--eval-strategy", "steps", "--eval-steps", "40", "--embeddings", "train", "--name", RUN_NAME,
                     "--json")
        assert code == 0, [p.read_text()[-2000:] for p in (ws / "runs").glob("*/stdout.log")]
        yield ws
    finally:
        kill_workers(ws)


@pytest.fixture(scope="module")
def healthy_export(trained_ws) -> Path:
    """``export RUN --int8`` with the default gate."""
    code = _main(trained_ws, "export", RUN_NAME, "--int8", "--json")
    assert code == 0, "the default int8 gate refused a healthy fine-tuned model"
    return trained_ws / "exports" / RUN_NAME


@pytest.fixture(scope="module")
def outlier_run(trained_ws) -> Path:
    """A copy of the trained run whose classifier layer has an outlier column the fp32 model never feels.

    Pooled feature ``OUTLIER_FEATURE`` is made constant zero (its pooler row and bias zeroed: tanh(0) == 0), and
    the classifier column that reads it is set to ``OUTLIER_FACTOR`` x the largest classifier weight. In fp32
    the column multiplies an exact zero, so the model loses one of 384 pooled features and predicts as before.
    Per-channel int8 gives each output channel (logit) one scale, set by the outlier, so every other weight of
    both channels quantises to zero and the int8 logits are the classifier bias alone: one class for every text.
    (Output-channel outliers, e.g. a query row x1e3 with its key row /1e3, are absorbed by per-channel scales:
    measured int8 delta 0.0. Removing one encoder layer's attention and FFN outputs the same way cost only
    1-2 examples: the residual stream carries the signal past it.)
    """
    import torch
    from safetensors.torch import load_file, save_file

    from workbench.core.runs import RunStore, atomic_write_json, read_run_json

    src = RunStore(trained_ws).get(RUN_NAME)
    dst = trained_ws / "runs" / src.id.replace(RUN_NAME, OUTLIER_RUN)
    shutil.copytree(src.path, dst, ignore=shutil.ignore_patterns("checkpoints"))
    info = read_run_json(dst)
    info.update(id=dst.name, name=OUTLIER_RUN)
    atomic_write_json(dst / "run.json", info)

    weights = dst / "model" / "model.safetensors"
    state = load_file(weights)
    i = OUTLIER_FEATURE
    state["bert.pooler.dense.weight"][i] = 0.0
    state["bert.pooler.dense.bias"][i] = 0.0
    classifier = state["classifier.weight"]
    classifier[:, i] = classifier.abs().max() * OUTLIER_FACTOR
    assert torch.isfinite(classifier).all()
    save_file(state, weights, metadata={"format": "pt"})
    return dst


# ------------------------------------------------------------------------------------------ healthy
def test_fine_tuned_model_passes_the_default_int8_gate(trained_ws, healthy_export):
    import numpy as np

    from workbench.core.export import DEFAULT_MAX_INT8_DROP, FP32_TOLERANCE
    from workbench.core.tasks.classification.predict import OnnxClassifier
    from workbench.core.runs import RunStore

    manifest = json.loads((healthy_export / "manifest.json").read_text())
    assert manifest["quantization"]["max_int8_drop"] == DEFAULT_MAX_INT8_DROP == 1.0
    report = manifest["validation"]
    assert report["rows"] == 80 and report["data"] == str(SAMPLE_DATA / "sentiment")  # its dev.csv
    engines = {e["engine"]: e for e in report["engines"]}
    pytorch, fp32, int8 = engines["pytorch"], engines["onnx-fp32"], engines["onnx-int8"]
    print(f"\nhealthy: pytorch {pytorch['accuracy']:.4f}, fp32 max|dlogit| {fp32['max_abs_logit_diff']:.3g}, "
          f"int8 {int8['accuracy']:.4f} (delta {int8['accuracy_delta_points']:+.2f} pt, "
          f"max|dlogit| {int8['max_abs_logit_diff']:.3g}, agreement {int8['label_agreement']:.2%})")

    # The delta means something only if the model learned the task: the balanced dev set's chance is 0.5.
    assert pytorch["accuracy"] >= 0.85
    assert pytorch["accuracy"] == pytest.approx(RunStore(trained_ws).get(RUN_NAME).metrics["accuracy"], abs=0.0125 + 1e-9)

    assert math.isfinite(fp32["max_abs_logit_diff"]) and fp32["max_abs_logit_diff"] <= FP32_TOLERANCE == 1e-4
    assert fp32["label_agreement"] == 1.0 and fp32["accuracy_delta_points"] == 0.0

    delta = int8["accuracy_delta_points"]
    assert math.isfinite(delta) and -delta <= DEFAULT_MAX_INT8_DROP
    assert delta == pytest.approx((int8["accuracy"] - pytorch["accuracy"]) * 100, abs=1e-3)
    # int8 really is a different graph from fp32 (it moves logits), yet agrees on (nearly) every label.
    assert 1e-4 < int8["max_abs_logit_diff"] < 5.0 and int8["label_agreement"] >= 0.95

    # The manifest's figures, re-measured on the exported files without the exporter.
    texts, gold = _dev_rows()
    for use_int8, engine in ((False, fp32), (True, int8)):
        clf = OnnxClassifier(healthy_export, int8=use_int8)
        predicted = [clf.labels[k] for k in clf.logits(texts).argmax(-1)]
        assert np.mean([p == g for p, g in zip(predicted, gold)]) == pytest.approx(engine["accuracy"])
    import onnx

    ops = {n.op_type for n in onnx.load(str(healthy_export / "model.int8.onnx"), load_external_data=False).graph.node}
    assert {"MatMulInteger", "QAttention", "QEmbedLayerNormalization"} <= ops


# ------------------------------------------------------------------------------------------ outliers
_DROP = re.compile(r"int8 accuracy dropped (?P<drop>\d+\.\d\d) points \((?P<before>\d\.\d{4}) → (?P<after>\d\.\d{4}) "
                   r"on (?P<rows>\d+) rows, 1\.25 points per example\), more than the allowed 1; "
                   r"export without --int8 or raise --max-int8-drop\.$")


def _assert_int8_refusal(err: str, healthy_accuracy: float) -> dict[str, float]:
    line = _error_line(err)
    print(f"\noutlier run: {line}")
    match = _DROP.search(line)
    assert match, line
    drop, before, after = (float(match[k]) for k in ("drop", "before", "after"))
    assert int(match["rows"]) == 80
    assert drop == pytest.approx((before - after) * 100, abs=0.01)
    # fp32 is intact (PyTorch within one example of the healthy run; fp32 parity passed or the error would
    # be about fp32) while int8 predicts one class for all 80 balanced rows.
    assert abs(before - healthy_accuracy) <= 0.0125 + 1e-9
    assert after == 0.5
    assert drop > 10 * 1.0
    return {"drop": drop, "before": before, "after": after}


def test_outlier_weights_trip_the_default_gate_and_leave_nothing_behind(trained_ws, healthy_export, outlier_run,
                                                                        capsys, tmp_path, monkeypatch):
    healthy = json.loads((healthy_export / "manifest.json").read_text())["validation"]["engines"][0]["accuracy"]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # the exporter's and ORT's temporary directories
    exports = trained_ws / "exports"
    exports_before = sorted(p.name for p in exports.iterdir())
    run_before = sorted(str(p.relative_to(outlier_run)) for p in outlier_run.rglob("*"))

    code, out, err = _run_cli(trained_ws, capsys, "export", OUTLIER_RUN, "--int8")
    assert code == 2, err
    _assert_int8_refusal(err, healthy)
    assert out.strip() == ""
    # No export, no hidden .partial-/.old- directory, no scratch files, nothing added to the run.
    assert sorted(p.name for p in exports.iterdir()) == exports_before == [RUN_NAME]
    assert list(scratch.iterdir()) == []
    assert sorted(str(p.relative_to(outlier_run)) for p in outlier_run.rglob("*")) == run_before


def test_refused_int8_export_leaves_an_earlier_export_at_the_same_path_untouched(trained_ws, healthy_export,
                                                                                outlier_run, capsys, tmp_path):
    healthy = json.loads((healthy_export / "manifest.json").read_text())["validation"]["engines"][0]["accuracy"]
    out_dir = tmp_path / "served" / "sentiment"
    shutil.copytree(healthy_export, out_dir)  # what an earlier export to this --out path left
    before = _tree(out_dir)

    code, _, err = _run_cli(trained_ws, capsys, "export", OUTLIER_RUN, "--int8", "--out", str(out_dir), "--force")
    assert code == 2, err
    _assert_int8_refusal(err, healthy)
    assert _tree(out_dir) == before
    assert sorted(p.name for p in out_dir.parent.iterdir()) == ["sentiment"]
    assert not (trained_ws / "exports" / OUTLIER_RUN).exists()
