"""ONNX export, torch-free prediction and the CPU benchmark, on a tiny randomly initialised BERT.

One tiny run is trained per module (through the real CLI, in-process) and exported once with --int8;
the tests then read that export. The tiny model's accuracy is meaningless, so the int8 drop limit is
lifted for it; tests/test_int8_gate.py tests the limit on the fine-tuned embedded model, and here only the
boundaries and wording of check_validation (fp32 NaN, the limit itself) are checked on hand-made reports.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, SAMPLE_DATA, kill_workers

RUN_NAME = "tiny-sentiment"


def _main(ws: Path, *argv: str) -> int:
    from workbench.cli import main

    return main(["--workspace", str(ws), *argv])


@pytest.fixture(scope="module")
def trained_ws(tmp_path_factory, tiny_model_dir):
    """A workspace holding one finished tiny run (the `workspace` fixture is per test, this is per module)."""
    ws = tmp_path_factory.mktemp("export-ws")
    try:
        code = _main(ws, "train", "--data", str(SAMPLE_DATA / "sentiment"), "--model", str(tiny_model_dir),
                     "--max-steps", "4", "--batch-size", "8", "--name", RUN_NAME, "--json")
        assert code == 0, (ws / "runs").glob("*/stdout.log")
        yield ws
    finally:
        kill_workers(ws)


@pytest.fixture(scope="module")
def export_dir(trained_ws) -> Path:
    code = _main(trained_ws, "export", RUN_NAME, "--int8", "--max-int8-drop", "100", "--json")
    assert code == 0
    return trained_ws / "exports" / RUN_NAME


def _run_cli(ws: Path, capsys, *argv: str):
    code = _main(ws, *argv)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_error_line(err: str, *fragments: str) -> None:
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ------------------------------------------------------------------------------------------ export
def test_export_writes_an_hf_like_directory(export_dir, trained_ws):
    names = {p.name for p in export_dir.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "config.json", "tokenizer.json", "manifest.json", "README.md"} <= names
    # Nothing half-built is left beside it.
    assert [p.name for p in (trained_ws / "exports").iterdir()] == [RUN_NAME]

    config = json.loads((export_dir / "config.json").read_text())
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert manifest["labels"] == ["negative", "positive"]
    assert manifest["source_run"]["name"] == RUN_NAME
    assert manifest["task"] == "text-classification"
    assert manifest["opset"] == 17
    assert [i["name"] for i in manifest["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    assert manifest["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 2]}]
    assert {"torch", "transformers", "onnx", "onnxruntime", "tokenizers"} <= set(manifest["versions"])
    assert manifest["tokenizer"]["max_length"] == 128

    # Eager attention + the TorchScript exporter is what lets ORT fuse attention: one per layer.
    opt = manifest["optimization"]
    assert opt["attention_fused"] is True
    assert opt["fused_ops"]["Attention"] == 2
    assert opt["fused_ops"]["EmbedLayerNormalization"] == 1
    assert opt["fused_ops"]["BiasGelu"] == 2
    assert "SkipLayerNormalization" not in opt["fused_ops"]  # deliberately unfused: the slow CPU kernel
    assert manifest["runtime"]["disabled_optimizers"] == ["SkipLayerNormFusion"]

    card = (export_dir / "README.md").read_text()
    assert "from workbench.core.inference import open_predictor" in card
    assert "onnxruntime as ort" in card and "Tokenizer.from_file" in card
    assert manifest["pooling"] == "first" and "reads BERT's first-token pooler" in card


def test_fp32_matches_pytorch_on_the_eval_split(export_dir):
    report = json.loads((export_dir / "manifest.json").read_text())["validation"]
    assert report["rows"] == 80  # sample_data/sentiment dev
    engines = {e["engine"]: e for e in report["engines"]}
    assert set(engines) == {"pytorch", "onnx-fp32", "onnx-int8"}
    fp32 = engines["onnx-fp32"]
    assert fp32["max_abs_logit_diff"] < 1e-4
    assert fp32["label_agreement"] == 1.0
    assert fp32["accuracy"] == engines["pytorch"]["accuracy"]
    assert math.isfinite(engines["onnx-int8"]["accuracy_delta_points"])
    assert report["outputs"]["onnx-fp32"] == {"name": "logits", "shape": [80, 2]}


def test_validation_limits_raise_clear_errors():
    """Edges no real export produces on demand: fp32 NaN or just over tolerance, a drop exactly at the limit."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.tasks.classification.export import check_validation

    def report(fp32_diff, int8_delta):
        return {"rows": 10, "engines": [
            {"engine": "pytorch", "accuracy": 0.9},
            {"engine": "onnx-fp32", "accuracy": 0.9, "max_abs_logit_diff": fp32_diff, "label_agreement": 1.0},
            {"engine": "onnx-int8", "accuracy": 0.9 + int8_delta / 100, "accuracy_delta_points": int8_delta}]}

    check_validation(report(5e-6, -0.9))
    check_validation(report(5e-6, -1.0))  # the limit is inclusive
    with pytest.raises(WorkbenchError, match="ONNX fp32 does not match PyTorch"):
        check_validation(report(2e-4, 0.0))
    with pytest.raises(WorkbenchError, match="ONNX fp32 does not match"):
        check_validation(report(float("nan"), 0.0))
    with pytest.raises(WorkbenchError, match=r"int8 accuracy dropped 1.50 points .*10 rows, 10.00 points per example"):
        check_validation(report(1e-6, -1.5))
    check_validation(report(1e-6, -1.5), max_int8_drop=2.0)


def test_int8_export(export_dir):
    from workbench.core.tasks.classification.predict import OnnxClassifier

    manifest = json.loads((export_dir / "manifest.json").read_text())
    q = manifest["quantization"]
    assert q["per_channel"] is True and q["reduce_range"] is False and q["why"]
    # What was not measured on this host says where and when it was; the host's own VNNI is recorded.
    assert q["measured"]["when"] == "2026-11-28" and "Xeon" in q["measured"]["where"]
    assert q["exporting_host_vnni"] is False  # the suite's pinned host: an AVX2-only CPU
    assert manifest["sizes_bytes"]["model.int8.onnx"] < manifest["sizes_bytes"]["model.onnx"]
    auto = OnnxClassifier(export_dir, int8="auto", threads=1)
    assert auto.int8 and auto.model_path.name == "model.int8.onnx"
    preds = auto.predict(["a lovely film", "dull and far too long"])
    assert [set(p["scores"]) for p in preds] == [{"negative", "positive"}] * 2


def test_refuses_to_overwrite_without_force_and_validates_on_given_data(trained_ws, capsys, tmp_path):
    out = tmp_path / "custom-export"
    stale = tmp_path / f".{out.name}.partial-999999999"  # a killed export's leftovers (pid long gone)
    stale.mkdir()
    dev = SAMPLE_DATA / "sentiment" / "dev.csv"
    code, _, err = _run_cli(trained_ws, capsys, "export", RUN_NAME, "--out", str(out), "--data", str(dev), "--json")
    assert code == 0, err
    assert not stale.exists()
    first = json.loads((out / "manifest.json").read_text())
    assert first["validation"]["data"] == str(dev) and first["files"]["int8"] is None

    code, _, err = _run_cli(trained_ws, capsys, "export", RUN_NAME, "--out", str(out))
    assert code == 2
    _assert_one_error_line(err, "already exists", "--force")
    assert json.loads((out / "manifest.json").read_text())["created"] == first["created"]

    code, _, err = _run_cli(trained_ws, capsys, "export", RUN_NAME, "--out", str(out), "--force", "--int8",
                            "--max-int8-drop", "100")
    assert code == 0, err
    assert (out / "model.int8.onnx").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_failed_validation_leaves_nothing_behind(trained_ws, capsys, tmp_path, monkeypatch):
    import workbench.core.tasks.classification.export as export
    from workbench.core.errors import WorkbenchError

    def fail(*_args, **_kwargs):
        raise WorkbenchError("ONNX fp32 does not match PyTorch (simulated).")

    monkeypatch.setattr(export, "check_validation", fail)
    code, _, err = _run_cli(trained_ws, capsys, "export", RUN_NAME, "--out", str(tmp_path / "x"))
    assert code == 2
    _assert_one_error_line(err, "does not match")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("problem", ["missing", "corrupt", "no-model"])
def test_bad_runs_give_one_clear_error(workspace, cli, problem):
    runs = workspace / "runs"
    runs.mkdir()
    if problem == "corrupt":
        (runs / "20260101-000000-broken").mkdir()
        (runs / "20260101-000000-broken" / "run.json").write_text("{not json")
        ref, expected = "20260101-000000-broken", "corrupt"
    elif problem == "no-model":
        run = runs / "20260101-000000-failed"
        run.mkdir()
        (run / "run.json").write_text(json.dumps({"id": run.name, "name": "failed", "status": "failed",
                                                  "task": "text-classification", "config": {}}))
        ref, expected = "failed", "no final model"
    else:
        ref, expected = "nope", "no run 'nope'"
    code, out, err = cli("export", ref)
    assert code == 2
    _assert_one_error_line(err, expected)
    assert not (workspace / "exports").exists() or not any((workspace / "exports").iterdir())


# ------------------------------------------------------------------------------------------ predict
def test_predict_texts(trained_ws, export_dir, capsys):
    code, out, err = _run_cli(trained_ws, capsys, "predict", str(export_dir), "a lovely film", "dull", "--json")
    assert code == 0, err
    preds = json.loads(out)
    assert [p["text"] for p in preds] == ["a lovely film", "dull"]
    for p in preds:
        assert p["label"] in ("negative", "positive")
        assert abs(sum(p["scores"].values()) - 1.0) < 1e-6
        assert p["scores"][p["label"]] == max(p["scores"].values())

    # By name under the workspace's exports/, as a table.
    code, out, _ = _run_cli(trained_ws, capsys, "predict", RUN_NAME, "a lovely film")
    assert code == 0 and "a lovely film" in out and "positive" in out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "txt"])
def test_predict_streams_a_file(trained_ws, export_dir, capsys, tmp_path, fmt):
    from workbench.core.tasks.classification.predict import OnnxClassifier

    texts = ["a lovely film", "dull and far too long", "the cast, \"brilliant\"", "meh", "would watch again"]
    path = tmp_path / f"texts.{fmt}"
    if fmt == "csv":
        import csv

        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "review"])
            writer.writerows(enumerate(texts))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    else:
        path.write_text("\n".join(texts) + "\n")
    code, out, err = _run_cli(trained_ws, capsys, "predict", str(export_dir), "--file", str(path),
                              "--batch-size", "2", "--json")
    assert code == 0, err
    lines = [json.loads(l) for l in out.splitlines()]
    assert [l["row"] for l in lines] == [1, 2, 3, 4, 5]
    assert [l["text"] for l in lines] == texts
    expected = OnnxClassifier(export_dir).predict(texts)
    assert [l["label"] for l in lines] == [e["label"] for e in expected]
    for got, want in zip(lines, expected):
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-6)

    code, out, _ = _run_cli(trained_ws, capsys, "predict", str(export_dir), "--file", str(path))
    assert code == 0 and out.splitlines()[0] == "row\tlabel\tscore\ttext" and len(out.splitlines()) == 6


def test_predict_errors(trained_ws, export_dir, capsys, tmp_path):
    code, _, err = _run_cli(trained_ws, capsys, "predict", str(export_dir))
    assert code == 2
    _assert_one_error_line(err, "nothing to predict")
    code, _, err = _run_cli(trained_ws, capsys, "predict", str(tmp_path / "nowhere"), "text")
    assert code == 2
    _assert_one_error_line(err, "not found")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    code, out, err = _run_cli(trained_ws, capsys, "predict", str(export_dir), "--file", str(bad))
    assert code == 2 and out == ""
    _assert_one_error_line(err, "--text-column")
    fp32_only = tmp_path / "fp32-only"
    shutil.copytree(export_dir, fp32_only, ignore=shutil.ignore_patterns("model.int8.onnx"))
    code, _, err = _run_cli(trained_ws, capsys, "predict", str(fp32_only), "x", "--int8")
    assert code == 2
    _assert_one_error_line(err, "no int8 model")


def test_prediction_never_imports_torch_or_transformers(export_dir):
    code = f"""
import json, sys
from workbench.core.inference import open_predictor
preds = open_predictor({str(export_dir)!r}, int8="auto").predict(["a lovely film"])
from workbench.cli import main
assert main(["predict", {str(export_dir)!r}, "a lovely film", "--json"]) == 0
# yaml too: a config is never read on this path (~14 ms of start-up)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "datasets", "sklearn", "yaml"))
print(json.dumps({{"heavy": heavy, "label": preds[0]["label"]}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["label"] in ("negative", "positive")


# ------------------------------------------------------------------------------------------ bench
def test_bench_saves_results_and_skips_a_missing_pytorch_model(trained_ws, export_dir, capsys, tmp_path):
    code, out, err = _run_cli(trained_ws, capsys, "bench", str(export_dir), "--threads", "1", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert list(result["engines"]) == ["pytorch", "onnx-fp32", "onnx-int8"]
    for row in result["engines"].values():
        assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p95_ms"] and row["throughput_per_s"] > 0 and row["size_bytes"] > 0
    assert result["engines"]["onnx-int8"]["speedup_p50"] > 0
    assert result["settings"]["threads"] == 1 and result["settings"]["seq_len"] == 128
    assert json.loads((export_dir / "manifest.json").read_text())["benchmark"]["engines"].keys() == result["engines"].keys()

    from workbench.core.bench import BenchSettings, bench_export
    from workbench.core.export import update_manifest

    orphan = tmp_path / "orphan"
    shutil.copytree(export_dir, orphan)
    update_manifest(orphan, source_run={"id": "gone", "name": "gone", "model_dir": str(tmp_path / "gone" / "model")})
    quick = BenchSettings(threads=1, seq_len=16, throughput_batch=4, rounds=1, latency_iters=2, throughput_iters=1, warmup=1)
    result = bench_export(orphan, quick)
    assert list(result["engines"]) == ["onnx-fp32", "onnx-int8"]
    assert any("pytorch skipped" in n for n in result["notes"])
