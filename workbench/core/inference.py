"""Torch-free inference on an export directory: onnxruntime + tokenizers + numpy, nothing else.

This module is what a deployment imports, so it must never import torch or transformers (a test checks
``sys.modules`` in a subprocess). It reads only what the export directory holds: ``manifest.json`` for the
labels, input names and tokenizer settings, ``tokenizer.json`` for the tokenizer and ``model.onnx`` /
``model.int8.onnx`` for the graph.

    from workbench.core.inference import open_predictor

    clf = open_predictor("exports/my-run", int8="auto", threads=2)
    clf.predict(["a charming and often affecting journey"])
    # [{'label': 'positive', 'scores': {'negative': 0.03, 'positive': 0.97}}]
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Iterable, Iterator, Literal, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.paths import expand_user

MANIFEST_FILE = "manifest.json"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
DEFAULT_BATCH_SIZE = 32

# Column names tried, in order, when a CSV/JSONL file has several columns and none was named. Kept here
# rather than imported from workbench.core.datasets so this module's imports stay minimal by construction.
TEXT_COLUMN_NAMES = ("text", "sentence", "sentence1", "content", "review", "document", "input", "query",
                     "utterance", "comment", "tweet", "body")
TEXT_FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".txt")


def read_manifest(export_dir: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``manifest.json`` of an export directory, or a WorkbenchError saying what is wrong."""
    path = expand_user(export_dir)
    if not path.is_dir():
        raise WorkbenchError(f"export directory {path} not found.")
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"{path} is not an export directory: {MANIFEST_FILE} is missing.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WorkbenchError(f"export {path.name} is corrupt: {MANIFEST_FILE} is not valid JSON.") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("task"), str):
        raise WorkbenchError(f"export {path.name} is corrupt: {MANIFEST_FILE} names no task.")
    return manifest


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so large logits do not overflow."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ORT's runtime optimizer would re-fuse every Add + LayerNormalization into SkipLayerNormalization, whose
# CPU kernel measured ~7x slower than the two ops it replaces (onnxruntime 1.32, 128x384 fp32: 219 µs vs
# 30 µs on one thread). Exports therefore keep them apart and list this in manifest["runtime"].
DEFAULT_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def session_options(threads: int | None = None):
    """ORT session options used everywhere (inference, validation, benchmark), so figures are comparable.

    ``threads`` caps intra-op parallelism; inter-op stays at 1 because an encoder graph is a chain of ops
    and a second pool only competes for the same cores.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    if threads:
        so.intra_op_num_threads = int(threads)
    so.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise to a user
    return so


def create_session(model_path: str | os.PathLike, threads: int | None = None,
                   disabled_optimizers: Sequence[str] | None = DEFAULT_DISABLED_OPTIMIZERS):
    """An ORT CPU session for ``model_path`` with :func:`session_options` and the export's disabled optimizers."""
    import onnxruntime as ort

    return ort.InferenceSession(str(model_path), session_options(threads), providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers or []) or None)


class OnnxEncoder:
    """An encoder export (``model.onnx`` + ``tokenizer.json``) opened for inference; the task predictors
    (``OnnxClassifier``, ``OnnxTagger``) subclass it.

    Args:
        export_dir: a directory written by ``sft-workbench export``.
        int8: ``True`` for ``model.int8.onnx`` (an error if the export has none), ``False`` for the fp32
            ``model.onnx``, or ``"auto"`` for int8 when present and fp32 otherwise.
        threads: intra-op threads for onnxruntime (``None``: onnxruntime's default, one per core).
        max_length: override the truncation length recorded in the manifest (rarely useful).
    """

    # Whether the manifest must list labels (classes, tags); a span reader (question answering) has none.
    has_labels = True

    def __init__(self, export_dir: str | os.PathLike, int8: bool | Literal["auto"] = False,
                 threads: int | None = None, max_length: int | None = None):
        from tokenizers import Tokenizer

        self.export_dir = expand_user(export_dir)
        self.manifest = read_manifest(self.export_dir)
        self.labels: list[str] = list(self.manifest.get("labels") or [])
        if self.has_labels and not self.labels:
            raise WorkbenchError(f"export {self.export_dir.name} is corrupt: {MANIFEST_FILE} has no labels.")
        int8_path = self.export_dir / INT8_FILE
        if int8 == "auto":
            int8 = int8_path.is_file()
        if int8 and not int8_path.is_file():
            raise WorkbenchError(f"export {self.export_dir.name} has no int8 model; re-export with --int8.")
        self.int8 = bool(int8)
        self.model_path = int8_path if self.int8 else self.export_dir / FP32_FILE
        if not self.model_path.is_file():
            raise WorkbenchError(f"export {self.export_dir.name} is incomplete: {self.model_path.name} is missing.")

        tok = self.manifest.get("tokenizer") or {}
        tok_path = self.export_dir / tok.get("file", TOKENIZER_FILE)
        if not tok_path.is_file():
            raise WorkbenchError(f"export {self.export_dir.name} is incomplete: {tok_path.name} is missing.")
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.max_length = int(max_length or tok.get("max_length") or self.manifest.get("max_length") or 512)
        # Set both explicitly: tokenizer.json may carry whatever truncation/padding was active when the
        # training tokenizer was saved, and the export must behave like the run's max_length says.
        self.tokenizer.enable_truncation(self.max_length, direction=tok.get("truncation_side", "right"))
        pad_token = tok.get("pad_token") or "[PAD]"
        pad_id = tok.get("pad_id")
        if pad_id is None:
            pad_id = self.tokenizer.token_to_id(pad_token) or 0
        self.tokenizer.enable_padding(direction=tok.get("padding_side", "right"), pad_id=int(pad_id),
                                      pad_token=pad_token, pad_type_id=int(tok.get("pad_type_id", 0)))

        runtime = self.manifest.get("runtime") or {}
        try:
            self.session = create_session(self.model_path, threads,
                                          runtime.get("disabled_optimizers", DEFAULT_DISABLED_OPTIMIZERS))
        except Exception as exc:  # ORT raises its own exception types for a broken or foreign file
            raise WorkbenchError(f"cannot load {self.model_path}: {str(exc).splitlines()[0]}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Tokenise ``texts`` into the model's inputs, padded to the longest text of the batch."""
        encodings = self.tokenizer.encode_batch([t if isinstance(t, str) else str(t) for t in texts])
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}


def open_predictor(export_dir: str | os.PathLike, *, int8: bool | Literal["auto"] = False, threads: int | None = None):
    """The torch-free predictor of any export, chosen by the task its manifest names: ``predict(texts)`` on
    every one of them (labels and scores, entities, or generated text)."""
    from workbench.core.tasks import get_task

    return get_task(read_manifest(export_dir).get("task")).open_predictor(export_dir, int8=int8, threads=threads)


# ----------------------------------------------------------------------------------- streaming files
def _pick_column(columns: Sequence[str], text_column: str | None, source: str) -> str:
    if text_column:
        if text_column not in columns:
            raise WorkbenchError(f"{source}: no column {text_column!r}; columns are: {', '.join(columns)}.")
        return text_column
    if len(columns) == 1:
        return columns[0]
    lower = {c.lower(): c for c in columns}
    for name in TEXT_COLUMN_NAMES:
        if name in lower:
            return lower[name]
    raise WorkbenchError(f"{source}: cannot tell which column holds the text ({', '.join(columns)}); pass --text-column.")


def iter_texts(path: str | os.PathLike, text_column: str | None = None) -> Iterator[str]:
    """Texts from a CSV/TSV (header row), JSONL (one object a line) or TXT (one text a line) file.

    Reads one row at a time so a file of any size streams in constant memory.
    """
    path = expand_user(path)
    if not path.is_file():
        raise WorkbenchError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in TEXT_FILE_SUFFIXES:
        raise WorkbenchError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; use .csv, .tsv, .jsonl or .txt.")
    try:
        with open(path, encoding="utf-8", newline="" if suffix in (".csv", ".tsv") else None) as fh:
            if suffix == ".txt":
                for line in fh:
                    line = line.rstrip("\r\n")
                    if line.strip():
                        yield line
            elif suffix in (".csv", ".tsv"):
                reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                if not reader.fieldnames:
                    raise WorkbenchError(f"{path.name} is empty.")
                column = _pick_column(reader.fieldnames, text_column, path.name)
                for row in reader:
                    yield row.get(column) or ""
            else:
                column = None
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError:
                        raise WorkbenchError(f"{path.name} line {lineno} is not valid JSON.") from None
                    if isinstance(obj, str):
                        yield obj
                        continue
                    if not isinstance(obj, dict):
                        raise WorkbenchError(f"{path.name} line {lineno}: expected a JSON object or string.")
                    if column is None:
                        column = _pick_column(list(obj), text_column, path.name)
                    value = obj.get(column)
                    yield "" if value is None else str(value)
    except UnicodeDecodeError:
        raise WorkbenchError(f"{path.name} is not UTF-8 text.") from None
    except csv.Error as exc:
        raise WorkbenchError(f"{path.name} is not well-formed CSV: {exc}") from None


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of up to ``size`` items, pulled lazily from ``items``."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
