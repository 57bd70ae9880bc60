"""ONNX export of a token-classification (NER) run: per-piece logits with dynamic batch and sequence axes.

The same pipeline as text classification (``workbench.core.export``: TorchScript export of eager attention,
ORT's transformer optimizer, optional dynamic int8, build in a hidden directory and rename into place after
validation), with NER's own validation: on the run's eval sentences, the max abs logit difference over every
real word piece (fp32 must stay within ``FP32_TOLERANCE``), word-tag agreement with PyTorch, and entity F1
for PyTorch, ONNX fp32 and ONNX int8.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.export import pipeline as base
from workbench.core.runs import Run
from workbench.core.tasks.token_classification.spans import CASE_TYPES_KEY
from workbench.core.tasks.token_classification.train import AUTO_CLASS
from workbench.core.tasks import run_setting


def load_validation_sentences(run: Run, data: str | os.PathLike | None = None) -> tuple[list, list, str, str | None]:
    """``(sentences, gold_tags, source, warning)``: the run's eval split re-derived as training did, or ``data``."""
    from workbench.core.datasets import read_source
    from workbench.core.tasks.token_classification.data import normalise_sentences

    if data is not None:
        raw = read_source(data)
        df = raw.get("dev", raw.get("test", raw.get("train")))
        norm, _, _ = normalise_sentences(df, token_column=None, tag_column=None, split="eval", source=str(data))
        return norm["tokens"].tolist(), norm["tags"].tolist(), str(data), None
    loaded, source, warning = base.run_eval_split(run, "token-classification")
    return list(loaded.eval["tokens"]), list(loaded.eval["tags"]), source, warning


def torch_piece_logits(model, tokenizer, sentences, *, max_length: int, batch_size: int = 64):
    """PyTorch's logits per sentence over its real pieces, in input order (what the ONNX side is compared to)."""
    import torch

    from workbench.core.tasks.token_classification.train import encode_words, uses_case_types

    out: list[Any] = [None] * len(sentences)
    order = sorted(range(len(sentences)), key=lambda i: sum(len(w) + 1 for w in sentences[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = encode_words(tokenizer, [sentences[i] for i in idx], max_length=max_length,
                               case_types=uses_case_types(model), padding=True, return_tensors="pt")
            logits = model(**enc).logits.float().numpy()
            for row, i in enumerate(idx):
                n = int(enc["attention_mask"][row].sum())
                out[i] = (logits[row, :n], enc.word_ids(row)[:n])
    return out


def _word_tags(pieces, sentences, labels) -> list[list[str]]:
    tags_out = []
    for words, (logits, word_ids) in zip(sentences, pieces):
        tags, previous = ["O"] * len(words), None
        for pos, word in enumerate(word_ids):
            if word is not None and word != previous:
                tags[word] = labels[int(logits[pos].argmax())]
            previous = word
        tags_out.append(tags)
    return tags_out


def validate_ner_export(run: Run, export_dir: Path, sentences, gold, source: str, *, torch_model, torch_tokenizer,
                        int8: bool, progress=None) -> dict[str, Any]:
    """PyTorch vs ONNX fp32 (vs ONNX int8) on real sentences: piece-logit differences, tag agreement, entity F1."""
    import numpy as np

    from workbench.core.tasks.token_classification.predict import OnnxTagger
    from workbench.core.tasks.token_classification.evaluate import ner_report

    say = progress or (lambda _msg: None)
    labels = [torch_model.config.id2label[i] for i in range(torch_model.config.num_labels)]
    max_length = int(run_setting(run, "max_length"))
    say(f"validating on {len(sentences)} sentences: PyTorch…")
    reference = torch_piece_logits(torch_model, torch_tokenizer, sentences, max_length=max_length)
    ref_tags = _word_tags(reference, sentences, labels)

    def engine(name: str, tags) -> dict[str, Any]:
        r = ner_report(gold, tags)
        return {"engine": name, "f1": r["f1"], "precision": r["precision"], "recall": r["recall"],
                "token_accuracy": r["token_accuracy"], "per_type_f1": {t: v["f1"] for t, v in r["per_class"].items()}}

    engines = [engine("pytorch", ref_tags)]
    outputs = {}
    for name, use_int8 in [("onnx-fp32", False)] + ([("onnx-int8", True)] if int8 else []):
        say(f"validating on {len(sentences)} sentences: {name}…")
        tagger = OnnxTagger(export_dir, int8=use_int8)
        pieces = tagger.piece_logits(sentences)
        diffs = []
        for (logits, ids), (ref, ref_ids) in zip(pieces, reference):
            if logits.shape != ref.shape or list(ids) != list(ref_ids) or not np.isfinite(logits).all():
                raise WorkbenchError(f"{name} produced logits of shape {logits.shape} (expected {ref.shape}) or non-finite "
                                     "values, or tokenised differently from PyTorch; the export is broken.")
            diffs.append(np.abs(logits.astype(np.float64) - ref.astype(np.float64)))
        diff = np.concatenate([d.ravel() for d in diffs]) if diffs else np.zeros(1)
        tags = _word_tags(pieces, sentences, labels)
        words = sum(len(t) for t in tags)
        agree = sum(a == b for t, r in zip(tags, ref_tags) for a, b in zip(t, r))
        report = engine(name, tags)
        report.update(max_abs_logit_diff=float(diff.max()), mean_abs_logit_diff=float(diff.mean()),
                      tag_agreement=agree / max(1, words), f1_delta_points=round((report["f1"] - engines[0]["f1"]) * 100, 4))
        engines.append(report)
        outputs[name] = {"name": tagger.output_name, "shape": ["batch", "sequence", len(labels)]}
    return {"data": source, "rows": len(sentences), "max_length": max_length, "engines": engines,
            "outputs": outputs, "fp32_tolerance": base.FP32_TOLERANCE}


def check_ner_validation(report: dict[str, Any], *, max_int8_drop: float) -> None:
    by_name = {e["engine"]: e for e in report["engines"]}
    fp32 = by_name.get("onnx-fp32")
    if fp32 is not None and not fp32["max_abs_logit_diff"] <= base.FP32_TOLERANCE:
        raise WorkbenchError(
            f"ONNX fp32 does not match PyTorch: max |logit difference| {fp32['max_abs_logit_diff']:.3g} exceeds "
            f"{base.FP32_TOLERANCE:g} on {report['rows']} sentences (tag agreement {fp32['tag_agreement']:.2%}); the export was not written.")
    q = by_name.get("onnx-int8")
    if q is not None and -q["f1_delta_points"] > max_int8_drop:
        raise WorkbenchError(
            f"int8 entity F1 dropped {-q['f1_delta_points']:.2f} points ({by_name['pytorch']['f1']:.4f} → {q['f1']:.4f} on "
            f"{report['rows']} sentences), more than the allowed {max_int8_drop:g}; export without --int8 or raise --max-int8-drop.")


def case_note(manifest: dict[str, Any]) -> str:
    if not (manifest.get("decoding") or {}).get(CASE_TYPES_KEY):
        return ""
    return ("\n\nThe base model is uncased, so the tagger was trained with capitalisation in `token_type_ids`: 1 on every "
            "piece of a word that starts with an upper-case letter, 0 elsewhere (`workbench.core.tasks.token_classification.spans.case_type_ids`). "
            "Feed them the same way when you call the graph yourself; `OnnxTagger` does.")


def model_card(manifest: dict[str, Any]) -> str:
    name = Path(manifest["name"]).name
    rows = "\n".join(
        f"| {e['engine']} | {e['f1']:.4f} | {e['precision']:.4f} | {e['recall']:.4f} | "
        f"{'—' if e.get('max_abs_logit_diff') is None else format(e['max_abs_logit_diff'], '.2e')} | "
        f"{'—' if e.get('tag_agreement') is None else format(e['tag_agreement'], '.4f')} |"
        for e in (manifest.get("validation") or {}).get("engines", []))
    types = sorted({l.split("-", 1)[1] for l in manifest["labels"] if l != "O"})
    return f"""# {name} (ONNX, token classification)

Named-entity tagger exported by sft-workbench from run `{manifest['source_run']['id']}` (base model
`{manifest['source_run'].get('model')}`). Entity types: {', '.join(f'`{t}`' for t in types)}; tags are IOB2
({', '.join(f'`{l}`' for l in manifest['labels'])}). Output `logits`: float32 `[batch, sequence, {len(manifest['labels'])}]`,
one row per word piece; a word takes the tag of its first piece.{case_note(manifest)}

```python
from workbench.core.inference import open_predictor  # onnxruntime, tokenizers, numpy; never torch

tagger = open_predictor("{name}")
print(tagger.predict(["Angela Merkel visited Paris"])[0]["entities"])
```

or `sft-workbench predict {name} "Angela Merkel visited Paris"`.

## Validation

On {(manifest.get('validation') or {}).get('rows', '?')} sentences of `{(manifest.get('validation') or {}).get('data', '?')}`:

| engine | entity F1 | precision | recall | max abs logit diff | tag agreement |
|---|---|---|---|---|---|
{rows}
"""


def export_ner_run(run: Run, *, target: Path, int8: bool, opset: int, data, max_int8_drop: float, progress=None) -> dict[str, Any]:
    """Called by ``export.export_run`` (which has checked the run, the opset and the target)."""
    say = progress or (lambda _msg: None)
    say("reading validation data…")
    sentences, gold, source, warning = load_validation_sentences(run, data)
    if not sentences:
        raise WorkbenchError(f"{source} has no sentences to validate the export on.")

    decoding = {"word_piece": "first", "scheme": "IOB2", "words": "workbench.core.tasks.token_classification.predict.WORD_RE"}
    return base.export_encoder(
        run, target, auto_class=AUTO_CLASS, int8=int8, opset=opset, max_int8_drop=max_int8_drop,
        logits_axes={0: "batch", 1: "sequence"},
        # token type 1 on every piece of a capitalised word (workbench.core.tasks.token_classification.spans.case_type_ids)
        manifest_extra={"decoding": {**decoding, CASE_TYPES_KEY: bool(json.loads(
            (run.model_dir / "config.json").read_text(encoding="utf-8")).get(CASE_TYPES_KEY, False))}},
        validate=lambda export_dir, model, tokenizer: validate_ner_export(
            run, export_dir, sentences, gold, source, torch_model=model, torch_tokenizer=tokenizer, int8=int8,
            progress=say),
        check=lambda report, drop: check_ner_validation(report, max_int8_drop=drop),
        card=model_card, warning=warning, progress=progress)
