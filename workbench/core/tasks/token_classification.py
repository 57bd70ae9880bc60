"""Token classification (NER): CoNLL/JSONL loaders, IOB handling, word-piece label alignment, seqeval metrics.

Data is a list of words per sentence (``tokens``) with one IOB tag per word (``tags``). IOB1 input is
converted to IOB2 on load, so the model always learns (and predicts) IOB2. Only the first word piece of a
word carries its label; the other pieces and the special tokens get -100 and are ignored by the loss.
Metrics are entity-level (seqeval, conlleval-compatible): micro precision/recall/F1 and per-type scores.

An uncased encoder cannot see capitals, so when the model's tokenizer folds case and its embeddings have a
second token type, every piece of a capitalised word gets token type 1 (``ner_spans.case_type_ids``). The
model's config records this as ``case_type_ids: true`` (a seeded fifth of the training sentences is shown
without capitals, :data:`UNCASED_TRAIN_FRACTION`), and every path that feeds the model (training,
evaluation, the Playground, export validation, the torch-free ``OnnxTagger``) encodes words the same way.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError, shown_list
from workbench.core.tasks import METRICS
from workbench.core.ner_spans import CASE_TYPES_KEY, case_type_ids, iob1_to_iob2, split_tag, tags_to_spans

# The scalar metrics stored in run.json "metrics" (the rest of the report goes to "evaluation").
MAIN_METRIC, GREATER_IS_BETTER, SCALAR_METRICS = METRICS["token-classification"]

# This task's values for the fields a user leaves empty (see tasks.apply_task_defaults). Measured with
# benchmarks/conll.py on CoNLL-2003 train → test, default model, 3 epochs (before capitals as token types): test
# entity F1 after epochs 1-3 was 0.805, 0.828, 0.847 at lr 5e-5 and 0.831, 0.862, 0.863 at lr 2e-4 (see
# README, "Token classification"). The small uncased MiniLM learns tagging faster with the larger step.
TASK_DEFAULTS = {"lr": 2e-4}
# With capitals as token types, this fraction of the training sentences is shown without them (all type ids
# 0, which is what lower-cased text gives), so the tagger uses capitals when a text has them without failing
# on text that has none. Measured on CoNLL-2003 (benchmarks/conll.py --lowercased): test F1 0.8868 with
# capitals on every sentence but 0.5843 on the lower-cased test set; with this fifth 0.8832 and 0.8621
# (no capitals at all: 0.8663 and 0.8664).
UNCASED_TRAIN_FRACTION = 0.2

TOKEN_COLUMNS = ("tokens", "words")
TAG_COLUMNS = ("tags", "ner_tags", "labels")
DOCSTART = "-DOCSTART-"
_TAG_RE = re.compile(r"^(O|[BI]-\S+)$")
IGNORE = -100


# --------------------------------------------------------------------------------------- loading
def read_conll(path: str | Path):
    """A CoNLL column file (``token … tag`` per line, blank line between sentences) as a DataFrame with
    ``tokens`` and ``tags`` list columns. ``-DOCSTART-`` lines are skipped; the last column is the tag."""
    import pandas as pd

    path = Path(path)
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    width = None
    try:
        with open(path, encoding="utf-8-sig") as fh:  # a UTF-8 BOM is not part of the first token
            for lineno, line in enumerate(fh, 1):
                fields = line.split()
                if not fields:
                    if tokens:
                        sentences.append((tokens, tags))
                        tokens, tags = [], []
                    continue
                if fields[0] == DOCSTART:
                    continue
                if len(fields) < 2:
                    raise WorkbenchError(f"{path.name} line {lineno}: {fields[0]!r} has no tag; each line needs a token and a tag column.")
                if width is None:
                    width = len(fields)
                elif len(fields) != width:
                    raise WorkbenchError(f"{path.name} line {lineno} has {len(fields)} columns, the lines before it {width}.")
                if not _TAG_RE.match(fields[-1]):
                    raise WorkbenchError(f"{path.name} line {lineno}: {fields[-1]!r} is not an IOB tag (O, B-TYPE or I-TYPE).")
                tokens.append(fields[0])
                tags.append(fields[-1])
    except UnicodeDecodeError as exc:
        raise WorkbenchError(f"{path.name} is not UTF-8 text (bad byte at position {exc.start}); re-save it as UTF-8.") from None
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise WorkbenchError(f"{path.name} has no sentences.")
    return pd.DataFrame({"tokens": [s[0] for s in sentences], "tags": [s[1] for s in sentences]})


def _column(df, given: str | None, names: Sequence[str], what: str, source: str) -> str:
    columns = [str(c) for c in df.columns]
    if given:
        if given not in columns:
            raise WorkbenchError(f"{what} column {given!r} not found in {source}; columns are: {shown_list(columns)}.")
        return given
    lower = {c.lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    raise WorkbenchError(f"{source} has no {what} column ({' or '.join(names)}); columns are: {shown_list(columns)}.")


def _as_list(value: Any) -> list | None:
    if isinstance(value, np.ndarray):  # Parquet list columns arrive as arrays
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def normalise_sentences(df, *, token_column: str | None, tag_column: str | None, split: str, source: str):
    """``tokens``/``tags`` list columns with IOB2 tags; returns ``(DataFrame, converted_from_iob1)``."""
    import pandas as pd

    tok_col = _column(df, token_column, TOKEN_COLUMNS, "token", source)
    tag_col = _column(df, tag_column, TAG_COLUMNS, "tag", source)
    all_tokens, all_tags, converted = [], [], False
    for row, (toks, tags) in enumerate(zip(df[tok_col], df[tag_col]), 1):
        toks, tags = _as_list(toks), _as_list(tags)
        if toks is None or tags is None:
            raise WorkbenchError(f"{source} ({split}) row {row}: {tok_col!r} and {tag_col!r} must be lists (one entry per word).")
        if not toks:
            raise WorkbenchError(f"{source} ({split}) row {row} is an empty sentence (no tokens).")
        if len(toks) != len(tags):
            raise WorkbenchError(f"{source} ({split}) row {row} has {len(toks)} tokens but {len(tags)} tags.")
        if any(isinstance(t, (int, float)) and not isinstance(t, bool) for t in tags):
            raise WorkbenchError(f"{source} ({split}) row {row}: tags are numbers; give tag names such as B-PER, I-PER and O.")
        tags = [str(t).strip() for t in tags]
        bad = next((t for t in tags if not _TAG_RE.match(t)), None)
        if bad is not None:
            raise WorkbenchError(f"{source} ({split}) row {row}: {bad!r} is not an IOB tag (O, B-TYPE or I-TYPE).")
        iob2 = iob1_to_iob2(tags)
        converted = converted or iob2 != tags
        all_tokens.append([str(t) for t in toks])
        all_tags.append(iob2)
    if not all_tokens:
        raise WorkbenchError(f"{source} ({split}) has no sentences.")
    return pd.DataFrame({"tokens": all_tokens, "tags": all_tags}), converted


def label_set(tag_lists) -> list[str]:
    """``O`` first, then ``B-``/``I-`` of every entity type seen (both, so the model can always continue an entity)."""
    types = sorted({split_tag(t)[1] for tags in tag_lists for t in tags if t != "O"})
    return ["O"] + [f"{p}-{kind}" for kind in types for p in ("B", "I")]


def load_data(raw: dict[str, Any], *, data: str, eval_data: str | None = None, text_column: str | None = None,
              label_column: str | None = None, dev_fraction: float = 0.1, seed: int = 42):
    """Splits with ``tokens`` and ``tags`` columns; the dev split is the eval file, the folder's dev file,
    or a seeded random ``dev_fraction`` of train."""
    from datasets import Dataset

    from workbench.core.datasets import LoadedData, Schema, read_source

    kw = dict(token_column=text_column, tag_column=label_column)
    train, iob1 = normalise_sentences(raw["train"], split="train", source=str(data), **kw)
    sources = {"train": str(data)}
    origin = "file"
    if eval_data:
        eval_raw = read_source(eval_data)
        eval_df = eval_raw.get("dev", eval_raw.get("test", eval_raw.get("train")))
        dev, dev_iob1 = normalise_sentences(eval_df, split="eval", source=str(eval_data), **kw)
        sources["dev"] = str(eval_data)
    elif "dev" in raw:
        dev, dev_iob1 = normalise_sentences(raw["dev"], split="dev", source=str(data), **kw)
        sources["dev"] = str(data)
    else:
        if len(train) < 2:
            raise WorkbenchError(f"{data}: {len(train)} sentence(s) are too few to hold out a dev split; at least 2 are "
                                 "needed (one to train on, one to evaluate), or give evaluation data (--eval-data).")
        n_dev = max(1, int(round(len(train) * dev_fraction)))
        order = np.random.default_rng(seed).permutation(len(train))
        dev = train.iloc[np.sort(order[:n_dev])].reset_index(drop=True)
        train = train.iloc[np.sort(order[n_dev:])].reset_index(drop=True)
        dev_iob1 = False
        origin = "held-out from train"
        sources["dev"] = f"{data} (random {dev_fraction:.0%} of train, seed {seed})"
    labels = label_set(train["tags"])
    if labels == ["O"]:
        raise WorkbenchError(f"{data}: the training data has no entities (every tag is O).")
    unseen = sorted({split_tag(t)[1] for tags in dev["tags"] for t in tags if t != "O"} - {split_tag(l)[1] for l in labels})
    if unseen:
        raise WorkbenchError(f"{sources['dev']}: the evaluation data has entity type(s) never seen in training: "
                             f"{', '.join(map(repr, unseen[:5]))}.")
    schema = Schema("token-classification", "tokens", "tags", labels)
    splits = {"train": Dataset.from_pandas(train, preserve_index=False), "dev": Dataset.from_pandas(dev, preserve_index=False)}
    loaded = LoadedData(splits, schema, sources, origin)
    loaded.tag_scheme = "IOB1 (converted to IOB2)" if (iob1 or dev_iob1) else "IOB2"
    return loaded


# --------------------------------------------------------------------------------------- model inputs
def build_model(path: str, data, cfg):
    """A token-classification head on the pretrained encoder, with id2label/label2id in its config."""
    from transformers import AutoModelForTokenClassification

    from workbench.core.training.devices import model_load_kwargs

    labels = data.schema.labels
    model = AutoModelForTokenClassification.from_pretrained(
        path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        **model_load_kwargs(cfg),  # fp32 master weights (bf16/fp16 from autocast), the attention kernel
    )
    # Saved in config.json with the model: inference must encode words the way training did.
    setattr(model.config, CASE_TYPES_KEY, case_types_for(path, cfg.trust_remote_code))
    return model


def folds_case(tokenizer) -> bool:
    """True when the tokenizer gives "Paris NATO" and "paris nato" the same ids (an uncased model)."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    ids = lambda text: backend.encode(text, add_special_tokens=False).ids
    return ids("Paris NATO") == ids("paris nato")


@functools.lru_cache(maxsize=8)
def case_types_for(path: str, trust_remote_code: bool = False) -> bool:
    """Whether a tagger trained from the model at ``path`` gets capitalisation through its token type ids:
    its tokenizer folds case, returns token type ids, and its embeddings have at least two token types."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    if int(getattr(config, "type_vocab_size", 0) or 0) < 2:
        return False
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    return "token_type_ids" in tokenizer.model_input_names and getattr(tokenizer, "is_fast", False) and folds_case(tokenizer)


def uses_case_types(model) -> bool:
    """Whether ``model`` (a trained tagger) was trained with capitalisation in its token type ids."""
    return bool(getattr(model.config, CASE_TYPES_KEY, False))


def encode_words(tokenizer, sentences: Sequence[Sequence[str]], *, max_length: int, case_types: bool, **kwargs):
    """Pre-split words → model inputs (truncated to ``max_length``; ``kwargs`` such as ``padding=True,
    return_tensors="pt"`` go to the tokenizer). With ``case_types`` the token type ids carry capitalisation."""
    sentences = [list(s) for s in sentences]
    enc = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length, **kwargs)
    if case_types:
        types = [case_type_ids(words, enc.word_ids(i)) for i, words in enumerate(sentences)]
        if kwargs.get("return_tensors") == "pt":
            import torch

            types = torch.tensor(types, dtype=torch.long)
        enc["token_type_ids"] = types
    return enc


def align_labels(word_ids: Sequence[int | None], word_labels: Sequence[int]) -> list[int]:
    """Word labels → word-piece labels: the first piece of each word gets its label, every other piece
    and each special token (word id None) gets -100."""
    out, previous = [], None
    for word in word_ids:
        out.append(IGNORE if word is None or word == previous else word_labels[word])
        previous = word
    return out


def uncased_rows(n: int, seed: int, fraction: float = UNCASED_TRAIN_FRACTION) -> np.ndarray:
    """The training rows (a seeded ``fraction`` of ``n``) shown without capitals: their case type ids are all 0."""
    return np.random.default_rng(seed).random(n) < fraction


def tokenize(dataset, tokenizer, data, cfg):
    """Pre-split words → word pieces (unpadded), labels aligned to the first piece of each word. With case types,
    a seeded :data:`UNCASED_TRAIN_FRACTION` of the *training* rows get no capitals, as lower-cased text would."""
    if not getattr(tokenizer, "is_fast", False):
        raise WorkbenchError("token classification needs a fast tokenizer (word ids); this model has only a slow one.")
    label2id = {label: i for i, label in enumerate(data.schema.labels)}
    max_length = cfg.max_length
    case_types = case_types_for(tokenizer.name_or_path, cfg.trust_remote_code)  # as build_model decided
    uncased = uncased_rows(len(dataset), cfg.seed) if case_types and dataset is data.train else None

    def encode(batch, indices):
        enc = encode_words(tokenizer, batch["tokens"], max_length=max_length, case_types=case_types)
        if uncased is not None:
            enc["token_type_ids"] = [[0] * len(t) if uncased[i] else t for i, t in zip(indices, enc["token_type_ids"])]
        enc["labels"] = [align_labels(enc.word_ids(i), [label2id[t] for t in tags]) for i, tags in enumerate(batch["tags"])]
        return enc

    return dataset.map(encode, batched=True, with_indices=True, remove_columns=dataset.column_names, desc=None)


def collator(tokenizer, *, pad_to_multiple_of: int | None = None):
    """Dynamic padding of inputs and labels (labels padded with -100)."""
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


# --------------------------------------------------------------------------------------- metrics
def ner_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level micro precision/recall/F1 and per-type scores (seqeval, conlleval mode), token accuracy."""
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

    gold, pred = [list(g) for g in gold], [list(p) for p in pred]
    per = classification_report(gold, pred, output_dict=True, zero_division=0)
    types = sorted(k for k in per if k not in ("micro avg", "macro avg", "weighted avg"))
    return {
        "f1": float(f1_score(gold, pred, zero_division=0)),
        "precision": float(precision_score(gold, pred, zero_division=0)),
        "recall": float(recall_score(gold, pred, zero_division=0)),
        "token_accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        "per_class": {t: {"precision": float(per[t]["precision"]), "recall": float(per[t]["recall"]),
                          "f1": float(per[t]["f1-score"]), "support": int(per[t]["support"])} for t in types},
        "entity_types": types,
    }


def metrics_hook(data):
    """The Trainer's ``compute_metrics``: word-level tags from the first piece of each word."""
    labels = list(data.schema.labels)

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, label_ids = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        pred_ids = np.asarray(logits).argmax(-1)
        gold, pred = [], []
        for p_row, g_row in zip(pred_ids, np.asarray(label_ids)):
            keep = g_row != IGNORE
            gold.append([labels[i] for i in g_row[keep]])
            pred.append([labels[i] for i in p_row[keep]])
        report = ner_report(gold, pred)
        out = {k: report[k] for k in ("f1", "precision", "recall", "token_accuracy")}
        out.update({f"f1_{t}": v["f1"] for t, v in report["per_class"].items()})
        return out

    return compute_metrics


# --------------------------------------------------------------------------------------- prediction
def predict_word_tags(model, tokenizer, sentences: Sequence[Sequence[str]], *, max_length: int,
                      batch_size: int = 64) -> list[list[str]]:
    """One predicted tag per word, in input order (length-sorted batches). A word cut off by truncation is
    predicted ``O``."""
    import torch

    id2label = {int(k): v for k, v in model.config.id2label.items()}
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out: list[list[str]] = [[] for _ in sentences]
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = encode_words(tokenizer, [sentences[i] for i in idx], max_length=max_length,
                               case_types=uses_case_types(model), padding=True, return_tensors="pt")
            ids = model(**enc.to(model.device)).logits.argmax(-1).cpu().numpy()
            for row, i in enumerate(idx):
                tags = ["O"] * len(sentences[i])
                previous = None
                for pos, word in enumerate(enc.word_ids(row)):
                    if word is not None and word != previous:
                        tags[word] = id2label[int(ids[row, pos])]
                    previous = word
                out[i] = tags
    return out


class TorchTagger:
    """A run's PyTorch model behind the same ``predict(texts)`` as the ONNX ``OnnxTagger`` (for the Playground)."""

    def __init__(self, model, tokenizer, max_length: int = 128):
        self.model, self.tokenizer, self.max_length = model.eval(), tokenizer, max_length
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def from_run(cls, run) -> "TorchTagger":
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        if not (run.model_dir / "config.json").is_file():
            raise WorkbenchError(f"run {run.name} has no final model (status: {run.status}).")
        tokenizer = AutoTokenizer.from_pretrained(str(run.model_dir))
        model = AutoModelForTokenClassification.from_pretrained(str(run.model_dir), use_safetensors=True)
        return cls(model, tokenizer, int(run.config.get("max_length") or 128))

    def tag_words(self, sentences, batch_size: int = 32) -> list[dict[str, Any]]:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(sentences), batch_size):
                batch = [list(s) for s in sentences[start:start + batch_size]]
                enc = encode_words(self.tokenizer, batch, max_length=self.max_length,
                                   case_types=uses_case_types(self.model), padding=True, return_tensors="pt")
                probs = torch.softmax(self.model(**enc).logits.float(), -1).numpy()
                for row, words in enumerate(batch):
                    tags, scores, previous = ["O"] * len(words), [1.0] * len(words), None
                    for pos, word in enumerate(enc.word_ids(row)):
                        if word is not None and word != previous:
                            best = int(probs[row, pos].argmax())
                            tags[word], scores[word] = self.labels[best], float(probs[row, pos, best])
                        previous = word
                    out.append({"tags": tags, "scores": scores})
        return out

    def predict(self, texts, batch_size: int = 32) -> list[dict[str, Any]]:
        from workbench.core.ner_inference import predict_texts

        return predict_texts(self.tag_words, texts, batch_size)


def prediction_records(sentences, gold, pred) -> list[dict[str, Any]]:
    """One record per sentence. ``gold``/``predicted`` hold the tags joined by spaces, so the generic
    comparison code (exact-match correctness, McNemar) works on them unchanged."""
    records = []
    for i, (tokens, g, p) in enumerate(zip(sentences, gold, pred)):
        tokens, g, p = list(tokens), list(g), list(p)
        records.append({
            "id": i,
            "input": " ".join(tokens),
            "tokens": tokens,
            "gold": " ".join(g),
            "predicted": " ".join(p),
            "gold_tags": g,
            "predicted_tags": p,
            "gold_spans": tags_to_spans(g, tokens),
            "predicted_spans": tags_to_spans(p, tokens),
            "correct": g == p,
        })
    return records


def final_evaluation(model, tokenizer, data, cfg) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The full report and one record per eval sentence, in input order, from our own predict loop (the
    Trainer's eval loader may reorder by length)."""
    sentences, gold = list(data.eval["tokens"]), list(data.eval["tags"])
    pred = predict_word_tags(model, tokenizer, sentences, max_length=cfg.max_length, batch_size=cfg.eval_batch_size)
    report = ner_report(gold, pred)
    report["labels"] = list(data.schema.labels)
    report["sentence_accuracy"] = float(np.mean([g == p for g, p in zip(gold, pred)])) if gold else 0.0
    report["tag_scheme"] = getattr(data, "tag_scheme", "IOB2")
    return report, prediction_records(sentences, gold, pred)


def evaluate_run(run, data: str, *, text_column: str | None = None, label_column: str | None = None,
                 batch_size: int = 64) -> dict[str, Any]:
    """``sft-workbench eval`` for an NER run: entity metrics of the run's model on any tagged data set."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from workbench.core.datasets import read_source

    if not (run.model_dir / "config.json").is_file():
        raise WorkbenchError(f"run {run.name} has no final model (status: {run.status}).")
    raw = read_source(data)
    df = raw.get("dev", raw.get("test", raw.get("train")))
    norm, iob1 = normalise_sentences(df, token_column=text_column, tag_column=label_column, split="eval", source=str(data))
    tokenizer = AutoTokenizer.from_pretrained(str(run.model_dir))
    model = AutoModelForTokenClassification.from_pretrained(str(run.model_dir), use_safetensors=True)
    known = {split_tag(l)[1] for l in model.config.id2label.values()}
    unseen = sorted({split_tag(t)[1] for tags in norm["tags"] for t in tags if t != "O"} - known)
    if unseen:
        raise WorkbenchError(f"{data} has entity type(s) the model was not trained on: {', '.join(map(repr, unseen[:5]))}.")
    sentences, gold = norm["tokens"].tolist(), norm["tags"].tolist()
    pred = predict_word_tags(model, tokenizer, sentences, max_length=int(run.config.get("max_length", 128)), batch_size=batch_size)
    report = ner_report(gold, pred)
    report.update(task="token-classification", rows=len(sentences), data=str(data), run=run.id,
                  tag_scheme="IOB1 (converted to IOB2)" if iob1 else "IOB2",
                  sentence_accuracy=float(np.mean([g == p for g, p in zip(gold, pred)])))
    return report


# --------------------------------------------------------------------------------------- inspect
def entity_counts(tag_lists) -> dict[str, int]:
    """Entities per type (IOB2 spans)."""
    counts: Counter[str] = Counter()
    for tags in tag_lists:
        counts.update(span["type"] for span in tags_to_spans(tags))
    return {k: counts[k] for k in sorted(counts)}


def inspect(raw: dict[str, Any], path: str, *, text_column: str | None = None, label_column: str | None = None,
            tokenizer=None, max_length: int = 128) -> dict[str, Any]:
    """``datasets inspect`` for tagged data: sentences, words, entity counts per type, word-piece lengths."""
    from workbench.core.datasets import _percentiles

    report: dict[str, Any] = {"path": str(path), "task": "token-classification", "splits": {}, "warnings": [],
                              "columns": {c: str(t) for c, t in next(iter(raw.values())).dtypes.items()}}
    warnings = report["warnings"]
    all_tags = []
    schemes = set()
    for split, df in raw.items():
        norm, iob1 = normalise_sentences(df, token_column=text_column, tag_column=label_column, split=split, source=str(path))
        schemes.add("IOB1" if iob1 else "IOB2")
        report.setdefault("text_column", "tokens")
        report.setdefault("label_column", "tags")
        all_tags.extend(norm["tags"])
        counts = entity_counts(norm["tags"])
        info: dict[str, Any] = {
            "rows": len(norm),
            "words": int(sum(len(t) for t in norm["tokens"])),
            "label_counts": counts,  # entities per type: what the label charts show for NER
            "entities": int(sum(counts.values())),
            "sentences_without_entities": int(sum(all(t == "O" for t in tags) for tags in norm["tags"])),
            "word_length": _percentiles([len(t) for t in norm["tokens"]]),
            "empty_texts": 0,
            "duplicates": int(norm["tokens"].map(tuple).duplicated().sum()),
            "char_length": _percentiles([sum(map(len, t)) + len(t) - 1 for t in norm["tokens"]]),
        }
        if tokenizer is not None:
            enc = tokenizer(norm["tokens"].tolist(), is_split_into_words=True, truncation=False)["input_ids"]
            lengths = [len(ids) for ids in enc]
            over = sum(1 for n in lengths if n > max_length)
            info["token_length"] = _percentiles(lengths)
            info["token_lengths"] = lengths[:5000]
            info["over_max_length"] = over
            if over:
                warnings.append(f"{split}: {over} sentence(s) are longer than max_length {max_length} word pieces; "
                                f"their last words are predicted O.")
        if info["duplicates"]:
            warnings.append(f"{split}: {info['duplicates']} duplicate sentence(s).")
        report["splits"][split] = info
    if "IOB1" in schemes:
        warnings.append("tags are IOB1; they are converted to IOB2 for training.")
    report["tag_scheme"] = "IOB1" if "IOB1" in schemes else "IOB2"
    report["labels"] = label_set(all_tags)
    report["entity_types"] = sorted({split_tag(l)[1] for l in report["labels"] if l != "O"})
    if "train" in report["splits"] and "dev" in report["splits"]:
        unseen = sorted(set(report["splits"]["dev"]["label_counts"]) - set(report["splits"]["train"]["label_counts"]))
        if unseen:
            warnings.append(f"dev: entity type(s) not in train: {', '.join(unseen[:5])}.")
    return report
