"""ONNX export of a text classification run: the shared pipeline, then validation on real data (logit
differences, label agreement, accuracy and macro-F1 per engine) and the model card."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.export.pipeline import DEFAULT_MAX_INT8_DROP, FP32_TOLERANCE, Progress, export_encoder
from workbench.core.format import number
from workbench.core.pooling import CONFIG_KEY as POOLING_KEY
from workbench.core.runs import Run
from workbench.core.tasks.classification.predict import OnnxClassifier
from workbench.core.tasks.classification.train import AUTO_CLASS
from workbench.core.tasks import run_setting


# --------------------------------------------------------------------------------------- validation data
@dataclass
class ValidationData:
    texts: list[str]
    gold: list[str]
    source: str
    warning: str | None = None  # e.g. the eval data changed since training


def load_validation_data(run: Run, data: str | os.PathLike | None = None) -> ValidationData:
    """The run's evaluation split (re-derived exactly as training did), or the data set at ``data``."""
    from workbench.core.datasets import read_source
    from workbench.core.tasks.classification.data import infer_schema, load_data, normalise

    run_data = run.info.get("data") or {}
    if data is not None:
        raw = read_source(data)
        df = raw.get("dev", raw.get("test", raw.get("train")))
        text_col = run_data.get("text_column") if run_data.get("text_column") in df.columns else None
        label_col = run_data.get("label_column") if run_data.get("label_column") in df.columns else None
        norm, _ = normalise(df, infer_schema(df, text_col, label_col, source=str(data)), split="eval", source=str(data))
        return ValidationData(norm["text"].tolist(), norm["label"].tolist(), str(data))

    cfg = run.config
    if not cfg.get("data"):
        raise WorkbenchError(f"run {run.name} records no training data to take the eval split from; pass --data PATH.")
    # load_for_training is what the trainer called, so a held-out split comes out identical (same seed).
    try:
        loaded = load_data(read_source(cfg["data"]), data=cfg["data"], eval_data=cfg.get("eval_data"),
                           text_column=run_data.get("text_column") or cfg.get("text_column"),
                           label_column=run_data.get("label_column") or cfg.get("label_column"),
                           dev_fraction=cfg.get("dev_fraction", 0.1), seed=cfg.get("seed", 42),
                           strict=bool(cfg.get("strict_data")))
    except WorkbenchError as exc:
        raise WorkbenchError(f"cannot re-read the eval split of run {run.name} ({exc}); pass --data PATH.") from None
    recorded = (run_data.get("eval") or {})
    source = recorded.get("source") or cfg.get("eval_data") or cfg["data"]
    warning = None
    if recorded.get("fingerprint") and recorded["fingerprint"] != loaded.fingerprint("dev"):
        warning = (f"the eval data ({source}) changed since run {run.name} was trained; "
                   "validation used the current rows.")
    return ValidationData(list(loaded.eval["text"]), list(loaded.eval["label"]), str(source), warning)


def _engine_report(name: str, logits, reference, gold_ids: list[int], labels: list[str]) -> dict[str, Any]:
    import numpy as np

    from workbench.core.tasks.classification.evaluate import classification_report

    pred = logits.argmax(-1)
    report = classification_report(gold_ids, pred.tolist(), labels)
    out: dict[str, Any] = {"engine": name, "accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
    if reference is not None:
        diff = np.abs(logits.astype(np.float64) - reference.astype(np.float64))
        out.update(max_abs_logit_diff=float(diff.max()), mean_abs_logit_diff=float(diff.mean()),
                   label_agreement=float((pred == reference.argmax(-1)).mean()))
    return out


def validate_export(run: Run, export_dir: Path, data: ValidationData, *, torch_model, torch_tokenizer,
                    int8: bool, progress: Progress | None = None) -> dict[str, Any]:
    """PyTorch vs ONNX fp32 (vs ONNX int8) on real data: logit differences, label agreement, metrics."""
    import numpy as np

    from workbench.core.tasks.classification.evaluate import predict_logits

    say = progress or (lambda _msg: None)
    labels = [torch_model.config.id2label[i] for i in range(torch_model.config.num_labels)]
    unseen = sorted(set(data.gold) - set(labels))
    if unseen:
        raise WorkbenchError(f"{data.source} has label(s) the model was not trained on: {', '.join(map(repr, unseen[:5]))}.")
    label2id = {label: i for i, label in enumerate(labels)}
    gold_ids = [label2id[g] for g in data.gold]
    max_length = int(run_setting(run, "max_length"))

    say(f"validating on {len(data.texts)} rows: PyTorch…")
    reference = predict_logits(torch_model, torch_tokenizer, data.texts, max_length=max_length)
    engines = [_engine_report("pytorch", reference, None, gold_ids, labels)]
    files = [("onnx-fp32", False)] + ([("onnx-int8", True)] if int8 else [])
    outputs = {}
    for name, use_int8 in files:
        say(f"validating on {len(data.texts)} rows: {name}…")
        clf = OnnxClassifier(export_dir, int8=use_int8)
        logits = clf.logits(data.texts)
        outputs[name] = {"name": clf.output_name, "shape": list(logits.shape)}
        if logits.shape != reference.shape or not np.isfinite(logits).all():
            raise WorkbenchError(f"{name} produced logits of shape {logits.shape} (expected {reference.shape}) "
                                 "or non-finite values; the export is broken.")
        engines.append(_engine_report(name, logits, reference, gold_ids, labels))
    base = engines[0]["accuracy"]
    for e in engines[1:]:
        e["accuracy_delta_points"] = round((e["accuracy"] - base) * 100, 4)
    return {"data": data.source, "rows": len(data.texts), "max_length": max_length, "engines": engines,
            "outputs": outputs, "fp32_tolerance": FP32_TOLERANCE}


def check_validation(report: dict[str, Any], *, max_int8_drop: float = DEFAULT_MAX_INT8_DROP,
                     tolerance: float = FP32_TOLERANCE) -> None:
    """Raise a WorkbenchError if fp32 is not faithful or int8 lost more than ``max_int8_drop`` points."""
    by_name = {e["engine"]: e for e in report["engines"]}
    fp32 = by_name.get("onnx-fp32")
    if fp32 is not None and not fp32["max_abs_logit_diff"] <= tolerance:  # "not <=" also catches NaN
        raise WorkbenchError(
            f"ONNX fp32 does not match PyTorch: max |logit difference| {fp32['max_abs_logit_diff']:.3g} exceeds "
            f"{tolerance:g} on {report['rows']} rows (label agreement {fp32['label_agreement']:.2%}); the export was not written.")
    q = by_name.get("onnx-int8")
    if q is not None:
        drop = -q["accuracy_delta_points"]
        if drop > max_int8_drop:
            # On a small eval set one example is a big step; saying so explains a "surprising" failure.
            step = 100.0 / max(1, report["rows"])
            raise WorkbenchError(
                f"int8 accuracy dropped {drop:.2f} points ({by_name['pytorch']['accuracy']:.4f} → {q['accuracy']:.4f} "
                f"on {report['rows']} rows, {step:.2f} points per example), more than the allowed {max_int8_drop:g}; "
                "export without --int8 or raise --max-int8-drop.")


POOLING_LINES = {
    "mean": "The classifier reads the mean of the last layer over the text's tokens (`workbench_pooling: mean` in\n"
            "`config.json`; the graph computes it, so nothing needs doing at inference; plain `transformers` would read\n"
            "BERT's first-token pooler from that config instead).",
    "first": "The classifier reads BERT's first-token pooler (the usual head).",
}


def model_card(manifest: dict[str, Any]) -> str:
    """The export's README.md: what it is, how to run it without torch, and how it was validated."""
    name = Path(manifest["name"]).name
    labels = manifest["labels"]
    inputs = [i["name"] for i in manifest["inputs"]]
    tok = manifest["tokenizer"]
    has_int8 = bool(manifest["files"].get("int8"))
    validation = manifest.get("validation") or {}
    rows = []
    for e in validation.get("engines", []):
        diff = e.get("max_abs_logit_diff")
        rows.append(f"| {e['engine']} | {number(e['accuracy'])} | {number(e['macro_f1'])} | "
                    f"{'—' if diff is None else format(diff, '.2e')} | {number(e.get('label_agreement'))} |")
    encoding_attr = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
    feed_lines = "\n".join(f'    "{n}": np.array([e.{encoding_attr[n]} for e in encodings], dtype=np.int64),'
                           for n in inputs)
    quant = manifest.get("quantization") or {}
    return f"""# {name} (ONNX)

Text classifier exported by sft-workbench from run `{manifest['source_run']['id']}`
(task `{manifest['task']}`, base model `{manifest['source_run'].get('model')}`).

Labels: {', '.join(f'`{l}`' for l in labels)}. Inputs: {', '.join(f'`{i}`' for i in inputs)} (int64, shape
`[batch, sequence]`); output `logits` (float32, shape `[batch, {len(labels)}]`). Texts are truncated to
{tok['max_length']} tokens. {POOLING_LINES.get(manifest.get('pooling'), '')}

| File | What |
|---|---|
| `model.onnx` | fp32 graph, fused by ONNX Runtime's transformer optimizer (opset {manifest['opset']}) |
{'| `model.int8.onnx` | dynamic int8 quantisation (per_channel=' + str(quant.get('per_channel')) + ', reduce_range=' + str(quant.get('reduce_range')) + ') |' + chr(10) if has_int8 else ''}| `tokenizer.json` | the tokenizer (load it with the `tokenizers` package) |
| `config.json` | the model config, with `id2label` |
| `manifest.json` | provenance, fusions, quantisation, validation and benchmark results |

## Run it with sft-workbench's torch-free predictor

```python
from workbench.core.inference import open_predictor  # needs onnxruntime, tokenizers, numpy; never torch

clf = open_predictor("{name}", int8={'"auto"' if has_int8 else 'False'}, threads=2)
print(clf.predict(["an example text"]))  # [{{'label': ..., 'scores': {{label: probability}}}}]
```

or from the shell: `sft-workbench predict {name} "an example text"` (`--file texts.csv` streams a file).

## Run it with onnxruntime and tokenizers alone

```python
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer

labels = {labels!r}
tok = Tokenizer.from_file("{name}/tokenizer.json")
tok.enable_truncation({tok['max_length']})
tok.enable_padding(pad_id={tok['pad_id']}, pad_token="{tok['pad_token']}")
# disabled_optimizers: optional but faster; ORT's fused SkipLayerNormalization kernel is the slow path on CPU.
session = ort.InferenceSession("{name}/{'model.int8.onnx' if has_int8 else 'model.onnx'}", providers=["CPUExecutionProvider"],
                               disabled_optimizers={manifest.get('runtime', {}).get('disabled_optimizers', [])!r})

encodings = tok.encode_batch(["an example text", "another one"])
feed = {{
{feed_lines}
}}
logits = session.run(["logits"], feed)[0]
probs = np.exp(logits - logits.max(-1, keepdims=True)); probs /= probs.sum(-1, keepdims=True)
print([labels[i] for i in probs.argmax(-1)])
```

## Validation

On {validation.get('rows', '?')} rows of `{validation.get('data', '?')}` (PyTorch is the run's own model):

| engine | accuracy | macro-F1 | max abs logit diff | label agreement |
|---|---|---|---|---|
{chr(10).join(rows)}

fp32 must match PyTorch within {FP32_TOLERANCE:g} (max abs logit difference) or the export fails.
{('int8 settings: ' + str(quant.get('why', '')) + chr(10) + chr(10) + str(quant.get('portability', '')) + chr(10)) if has_int8 else ''}
Speed: `sft-workbench bench {name}` compares PyTorch, ONNX fp32 and ONNX int8 and stores the results in
`manifest.json` under `benchmark`.
"""


def export(run: Run, *, target: Path, int8: bool, opset: int, data: str | os.PathLike | None,
           max_int8_drop: float, progress: Progress | None = None) -> dict[str, Any]:
    """Called by ``export.export_run`` (which has checked the run, the opset and the target): the fused graph,
    int8 when asked, validated against the run's model on real data; fails (leaving nothing) when fp32 misses
    :data:`FP32_TOLERANCE` or int8 loses more than ``max_int8_drop`` accuracy points."""
    say = progress or (lambda _msg: None)
    # Data problems surface before any slow step.
    say("reading validation data…")
    vdata = load_validation_data(run, data)
    if not vdata.texts:
        raise WorkbenchError(f"{vdata.source} has no rows to validate the export on.")

    return export_encoder(
        run, target, auto_class=AUTO_CLASS, int8=int8, opset=opset, max_int8_drop=max_int8_drop,
        validate=lambda export_dir, model, tokenizer: validate_export(
            run, export_dir, vdata, torch_model=model, torch_tokenizer=tokenizer, int8=int8, progress=say),
        check=lambda report, drop: check_validation(report, max_int8_drop=drop),
        card=model_card, warning=vdata.warning, progress=progress, manifest_extra={"pooling": run_pooling(run)})


def run_pooling(run: Run) -> str:
    """"mean" or "first": what the run's classifier reads (its saved config says so; see core/pooling.py)."""
    try:
        config = json.loads((run.model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return "first"
    return "mean" if config.get(POOLING_KEY) == "mean" else "first"
