"""Token classification training pieces: the model, word-piece label alignment, capitals as token types.

Only the first word piece of a word carries its label; the other pieces and the special tokens get -100 and
are ignored by the loss.

An uncased encoder cannot see capitals, so when the model's tokenizer folds case and its embeddings have a
second token type, every piece of a capitalised word gets token type 1 (``spans.case_type_ids``). The
model's config records this as ``case_type_ids: true`` (a seeded fifth of the training sentences is shown
without capitals, :data:`UNCASED_TRAIN_FRACTION`), and every path that feeds the model (training,
evaluation, the Playground, export validation, the torch-free ``OnnxTagger``) encodes words the same way."""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.tasks.token_classification.spans import CASE_TYPES_KEY, case_type_ids


# With capitals as token types, this fraction of the training sentences is shown without them (all type ids
# 0, which is what lower-cased text gives), so the tagger uses capitals when a text has them without failing
# on text that has none. Measured on CoNLL-2003 (benchmarks/conll.py --lowercased): test F1 0.8868 with
# capitals on every sentence but 0.5843 on the lower-cased test set; with this fifth 0.8832 and 0.8621
# (no capitals at all: 0.8663 and 0.8664).
UNCASED_TRAIN_FRACTION = 0.2


IGNORE = -100


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

# The transformers class a finished run's model is loaded as (evaluation, the Playground, export, bench).
AUTO_CLASS = "AutoModelForTokenClassification"


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
