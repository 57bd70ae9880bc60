"""The torch-free text classifier of an export: onnxruntime + tokenizers + numpy, nothing else.

    from workbench.core.tasks.classification.predict import OnnxClassifier

    clf = OnnxClassifier("exports/my-run", int8="auto", threads=2)
    clf.predict(["a charming and often affecting journey"])
    # [{'label': 'positive', 'scores': {'negative': 0.03, 'positive': 0.97}}]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.core.inference import DEFAULT_BATCH_SIZE, OnnxEncoder, softmax


class OnnxClassifier(OnnxEncoder):
    """A text classifier served from an export directory (arguments: see ``OnnxEncoder``)."""

    def logits(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Raw logits, shape ``(len(texts), num_labels)``, in input order.

        Texts are batched by length so a long text does not make a whole batch pad to its length.
        """
        texts = list(texts)
        batch_size = max(1, int(batch_size))
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]) if isinstance(texts[i], str) else 0)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            feed = self.encode([texts[i] for i in idx])
            out[idx] = self.session.run([self.output_name], feed)[0]
        return out

    def predict(self, texts: Sequence[str] | str, batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
        """One ``{"label", "scores"}`` per text; ``scores`` maps every label to its probability."""
        if isinstance(texts, str):
            texts = [texts]
        probs = softmax(self.logits(texts, batch_size=batch_size).astype(np.float64))
        return [
            {"label": self.labels[int(row.argmax())], "scores": {lab: float(p) for lab, p in zip(self.labels, row)}}
            for row in probs
        ]


