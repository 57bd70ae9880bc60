"""Torch-free NER on an export directory: onnxruntime + tokenizers + numpy, nothing else.

The graph returns one row of logits per word piece. Words are encoded pre-tokenized
(``encode_batch(..., is_pretokenized=True)``), each word takes the tag of its first piece (as in
training), and IOB2 tags become entity spans with :func:`workbench.core.tasks.token_classification.spans.tags_to_spans`.

    from workbench.core.tasks.token_classification.predict import OnnxTagger

    tagger = OnnxTagger("exports/my-ner-run")
    tagger.predict(["Angela Merkel visited Paris"])
    # [{'text': ..., 'tokens': [...], 'tags': ['B-PER', 'I-PER', 'O', 'B-LOC'],
    #   'entities': [{'type': 'PER', 'text': 'Angela Merkel', 'start': 0, 'end': 13, 'score': 0.99, ...}, ...]}]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.inference import DEFAULT_BATCH_SIZE, OnnxEncoder, read_manifest, softmax
from workbench.core.tasks.token_classification.spans import CASE_TYPES_KEY, case_type_ids, tags_to_spans

# Words as CoNLL-style data has them: abbreviations written with dots ("U.S.", "e.g."), runs of word
# characters (joined by - ' . inside a word, so "1996-08-22" and "O'Neill" stay whole) and each other
# non-space character on its own ("Paris." → "Paris", ".").
WORD_RE = re.compile(r"(?:[^\W\d_]\.){2,}|\w+(?:[-'’.]\w+)*|\S")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """``(word, start, end)`` character spans of ``text``."""
    return [(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(text)]


class OnnxTagger(OnnxEncoder):
    """A token classifier (NER) served from an export directory; arguments: see ``OnnxEncoder``."""

    def __init__(self, export_dir, *args: Any, **kwargs: Any):
        task = read_manifest(export_dir).get("task")
        if task != "token-classification":
            raise WorkbenchError(f"export {Path(export_dir).name} is a {task} model, not token classification.")
        super().__init__(export_dir, *args, **kwargs)
        # Trained with capitalisation in the token type ids (uncased encoders): feed them the same way.
        self.case_types = bool((self.manifest.get("decoding") or {}).get(CASE_TYPES_KEY, False))

    def piece_logits(self, sentences: Sequence[Sequence[str]], batch_size: int = DEFAULT_BATCH_SIZE):
        """Per sentence, in input order: ``(logits, word_ids)`` over its real (unpadded) pieces."""
        sentences = [list(map(str, s)) for s in sentences]
        out: list[Any] = [None] * len(sentences)
        order = sorted(range(len(sentences)), key=lambda i: sum(len(w) + 1 for w in sentences[i]))
        for start in range(0, len(order), max(1, int(batch_size))):
            idx = order[start:start + batch_size]
            encodings = self.tokenizer.encode_batch([sentences[i] for i in idx], is_pretokenized=True)
            types = ([case_type_ids(sentences[i], e.word_ids) for i, e in zip(idx, encodings)] if self.case_types
                     else [e.type_ids for e in encodings])
            columns = {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings],
                       "token_type_ids": types}
            feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}
            logits = self.session.run([self.output_name], feed)[0]
            for row, (i, enc) in enumerate(zip(idx, encodings)):
                n = int(sum(enc.attention_mask))
                out[i] = (logits[row, :n], list(enc.word_ids[:n]))
        return out

    def tag_words(self, sentences: Sequence[Sequence[str]], batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
        """Per sentence: ``tags`` (one per word, from its first piece; ``O`` for a word cut off by truncation)
        and ``scores`` (the probability of each word's tag)."""
        results = []
        for words, (logits, word_ids) in zip(sentences, self.piece_logits(sentences, batch_size)):
            probs = softmax(logits.astype(np.float64))
            tags, scores = ["O"] * len(words), [1.0] * len(words)
            previous = None
            for pos, word in enumerate(word_ids):
                if word is not None and word != previous:
                    best = int(probs[pos].argmax())
                    tags[word], scores[word] = self.labels[best], float(probs[pos, best])
                previous = word
            results.append({"tags": tags, "scores": scores})
        return results

    def predict(self, texts: Sequence[str] | str, batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
        """Entities of each raw text: ``{"text", "tokens", "tags", "entities"}``; an entity has ``type``,
        ``text``, character ``start``/``end`` in the text, word ``start_word``/``end_word`` and ``score``
        (the mean probability of its words' tags)."""
        return predict_texts(self.tag_words, texts, batch_size)


def predict_texts(tag_words, texts: Sequence[str] | str, batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
    """Raw texts → words → ``tag_words`` (any engine: ONNX here, PyTorch in the Playground) → entities."""
    if isinstance(texts, str):
        texts = [texts]
    texts = [t if isinstance(t, str) else str(t) for t in texts]
    split = [split_words(t) for t in texts]
    tagged = tag_words([[w for w, _, _ in s] for s in split], batch_size)
    return [{"text": text, "tokens": [w for w, _, _ in words], "tags": result["tags"],
             "entities": entities_of(text, words, result["tags"], result["scores"])}
            for text, words, result in zip(texts, split, tagged)]


def entities_of(text: str, words: Sequence[tuple[str, int, int]], tags: Sequence[str],
                scores: Sequence[float]) -> list[dict[str, Any]]:
    """Entity spans with character offsets into ``text`` and the mean probability of their words' tags."""
    entities = []
    for span in tags_to_spans(tags):
        first, last = words[span["start"]], words[span["end"] - 1]
        entities.append({"type": span["type"], "text": text[first[1]:last[2]], "start": first[1], "end": last[2],
                         "start_word": span["start"], "end_word": span["end"],
                         "score": round(float(np.mean(scores[span["start"]:span["end"]])), 6)})
    return entities
