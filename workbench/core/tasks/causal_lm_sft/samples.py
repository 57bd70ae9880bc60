"""Sample generations of causal-LM SFT runs (run.json ``evaluation.samples``), alone or side by side.

Read-only helpers for the Monitor and Compare screens; no torch.
"""

from __future__ import annotations

from typing import Any, Sequence


def run_samples(info: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's saved sample generations: ``prompt``, ``reference`` and ``generated`` per held-out prompt."""
    samples = (info.get("evaluation") or {}).get("samples") or []
    return [s for s in samples if isinstance(s, dict) and "generated" in s]


def side_by_side(infos: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per prompt (in first-seen order): the reference and each run's generation (None when absent).

    Runs are matched on the prompt text, so runs trained on the same eval data line up even when one of them
    kept fewer samples.
    """
    rows: dict[str, dict[str, Any]] = {}
    for i, info in enumerate(infos):
        for s in run_samples(info):
            key = str(s.get("prompt", ""))
            row = rows.setdefault(key, {"prompt": key, "reference": s.get("reference"), "generated": [None] * len(infos)})
            row["generated"][i] = s.get("generated")
    return list(rows.values())
