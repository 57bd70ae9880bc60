"""ONNX export of an extractive QA run: ``start_logits`` and ``end_logits`` with dynamic batch and sequence axes.

The shared encoder pipeline (``workbench.core.export.pipeline.export_encoder``) with QA's own validation: on the
run's eval questions (or ``--data``), the same windows fed to PyTorch, ONNX fp32 and ONNX int8; the max abs
start/end logit difference over every real token (fp32 must stay within ``FP32_TOLERANCE``), how often each
engine's answer is PyTorch's, and exact match and F1 for each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.export import pipeline as base
from workbench.core.runs import Run
from workbench.core.tasks.question_answering.train import AUTO_CLASS, WindowSettings


def load_validation_questions(run: Run, data: str | os.PathLike | None = None):
    """``(questions, contexts, golds, source, warning)``: the run's eval split re-derived as training did, or ``data``."""
    from workbench.core.datasets import read_source
    from workbench.core.tasks.question_answering.data import normalise

    if data is not None:
        raw = read_source(data)
        df, _ = normalise(raw.get("dev", raw.get("test", raw.get("train"))), split="eval", source=str(data))
        return df["question"].tolist(), df["context"].tolist(), df["answer_texts"].tolist(), str(data), None
    loaded, source, warning = base.run_eval_split(run, "question-answering")
    ev = loaded.eval
    return list(ev["question"]), list(ev["context"]), list(ev["answer_texts"]), source, warning


def validate_qa_export(run: Run, export_dir: Path, questions, contexts, golds, source: str, *, torch_model,
                       torch_tokenizer, int8: bool, progress=None) -> dict[str, Any]:
    """PyTorch vs ONNX fp32 (vs ONNX int8) on the same windows: logit differences, answer agreement, EM and F1."""
    import numpy as np

    from workbench.core.tasks.question_answering import squad
    from workbench.core.tasks.question_answering.evaluate import model_inputs, score_answers, torch_batch_runner
    from workbench.core.tasks.question_answering.predict import OnnxReader
    from workbench.core.tasks.question_answering.train import windows_for

    say = progress or (lambda _msg: None)
    settings = WindowSettings.of_run(run.config)
    windows = windows_for(torch_tokenizer, questions, contexts, settings)
    pad_id = int(torch_tokenizer.pad_token_id or 0)
    say(f"validating on {len(questions)} questions ({len(windows)} windows): PyTorch…")
    torch_model.eval()
    ref = squad.window_logits(torch_batch_runner(torch_model), windows, input_names=model_inputs(torch_model, torch_tokenizer),
                              pad_id=pad_id, batch_size=64)
    ref_answers = [s["text"] for s in squad.best_spans(*ref, windows, contexts)]

    def engine(name: str, answers) -> dict[str, Any]:
        scores = score_answers(answers, golds)
        return {"engine": name, "exact_match": scores["exact_match"], "f1": scores["f1"]}

    engines = [engine("pytorch", ref_answers)]
    outputs = {}
    for name, use_int8 in [("onnx-fp32", False)] + ([("onnx-int8", True)] if int8 else []):
        say(f"validating on {len(questions)} questions: {name}…")
        reader = OnnxReader(export_dir, int8=use_int8)
        starts, ends = reader.window_logits(windows, batch_size=64)
        diffs = []
        for got, want in ((starts, ref[0]), (ends, ref[1])):
            for g, w in zip(got, want):
                if g.shape != w.shape or not np.isfinite(g).all():
                    raise WorkbenchError(f"{name} produced logits of shape {g.shape} (expected {w.shape}) or non-finite "
                                         "values; the export is broken.")
                diffs.append(np.abs(g.astype(np.float64) - w.astype(np.float64)))
        diff = np.concatenate([d.ravel() for d in diffs]) if diffs else np.zeros(1)
        answers = [s["text"] for s in squad.best_spans(starts, ends, windows, contexts)]
        report = engine(name, answers)
        report.update(max_abs_logit_diff=float(diff.max()), mean_abs_logit_diff=float(diff.mean()),
                      answer_agreement=float(np.mean([a == b for a, b in zip(answers, ref_answers)])) if answers else 1.0,
                      f1_delta_points=round((report["f1"] - engines[0]["f1"]) * 100, 4),
                      exact_match_delta_points=round((report["exact_match"] - engines[0]["exact_match"]) * 100, 4))
        engines.append(report)
        outputs[name] = {"names": reader.output_names, "shape": ["batch", "sequence"]}
    return {"data": source, "rows": len(questions), "windows": len(windows), "max_length": settings.max_length,
            "doc_stride": settings.doc_stride, "engines": engines, "outputs": outputs, "fp32_tolerance": base.FP32_TOLERANCE}


def check_qa_validation(report: dict[str, Any], *, max_int8_drop: float) -> None:
    by_name = {e["engine"]: e for e in report["engines"]}
    fp32 = by_name.get("onnx-fp32")
    if fp32 is not None and not fp32["max_abs_logit_diff"] <= base.FP32_TOLERANCE:
        raise WorkbenchError(
            f"ONNX fp32 does not match PyTorch: max |logit difference| {fp32['max_abs_logit_diff']:.3g} exceeds "
            f"{base.FP32_TOLERANCE:g} on {report['rows']} questions (answer agreement {fp32['answer_agreement']:.2%}); "
            "the export was not written.")
    q = by_name.get("onnx-int8")
    if q is not None and -q["f1_delta_points"] > max_int8_drop:
        raise WorkbenchError(
            f"int8 F1 dropped {-q['f1_delta_points']:.2f} points ({by_name['pytorch']['f1']:.4f} → {q['f1']:.4f} on "
            f"{report['rows']} questions), more than the allowed {max_int8_drop:g}; export without --int8 or raise --max-int8-drop.")


def model_card(manifest: dict[str, Any]) -> str:
    name = Path(manifest["name"]).name
    validation = manifest.get("validation") or {}
    rows = "\n".join(
        f"| {e['engine']} | {100 * e['exact_match']:.2f} | {100 * e['f1']:.2f} | "
        f"{'—' if e.get('max_abs_logit_diff') is None else format(e['max_abs_logit_diff'], '.2e')} | "
        f"{'—' if e.get('answer_agreement') is None else format(e['answer_agreement'], '.4f')} |"
        for e in validation.get("engines", []))
    decoding = manifest.get("decoding") or {}
    return f"""# {name} (ONNX, extractive question answering)

Extractive question-answering model exported by sft-workbench from run `{manifest['source_run']['id']}` (base
model `{manifest['source_run'].get('model')}`). Inputs: the question, then a window of the passage
(`max_length` {manifest.get('max_length')}, consecutive windows overlapping by {decoding.get('doc_stride')} tokens).
Outputs `start_logits` and `end_logits`: float32 `[batch, sequence]`; an answer is the passage span with the
highest start + end logit, at most {decoding.get('max_answer_tokens')} tokens long, over all windows.

```python
from workbench.core.inference import open_predictor  # onnxruntime, tokenizers, numpy; never torch

reader = open_predictor("{name}")
print(reader.predict([{{"question": "Who wrote Faust?", "context": "Faust is a tragic play by Goethe."}}])[0]["answer"])
```

or `sft-workbench predict {name} --question "Who wrote Faust?" --context-file passage.txt`.

## Validation

On {validation.get('rows', '?')} questions ({validation.get('windows', '?')} windows) of `{validation.get('data', '?')}`
(SQuAD v1.1 exact match and F1, in percent):

| engine | EM | F1 | max abs logit diff | answer agreement |
|---|---|---|---|---|
{rows}
"""


def export_qa_run(run: Run, *, target: Path, int8: bool, opset: int, data, max_int8_drop: float, progress=None) -> dict[str, Any]:
    """Called by ``export.export_run`` (which has checked the run, the opset and the target)."""
    from workbench.core.tasks.question_answering.squad import MAX_ANSWER_TOKENS, MAX_QUESTION_TOKENS

    say = progress or (lambda _msg: None)
    say("reading validation data…")
    questions, contexts, golds, source, warning = load_validation_questions(run, data)
    if not questions:
        raise WorkbenchError(f"{source} has no questions to validate the export on.")
    axes = {0: "batch", 1: "sequence"}
    decoding = {"doc_stride": WindowSettings.of_run(run.config).doc_stride, "max_answer_tokens": MAX_ANSWER_TOKENS,
                "max_question_tokens": MAX_QUESTION_TOKENS, "windows": "workbench.core.tasks.question_answering.squad"}
    return base.export_encoder(
        run, target, auto_class=AUTO_CLASS, int8=int8, opset=opset, max_int8_drop=max_int8_drop,
        outputs={"start_logits": axes, "end_logits": axes}, labels=[], manifest_extra={"decoding": decoding},
        validate=lambda export_dir, model, tokenizer: validate_qa_export(
            run, export_dir, questions, contexts, golds, source, torch_model=model, torch_tokenizer=tokenizer,
            int8=int8, progress=say),
        check=lambda report, drop: check_qa_validation(report, max_int8_drop=drop),
        card=model_card, warning=warning, progress=progress)
