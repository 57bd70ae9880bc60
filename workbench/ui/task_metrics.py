"""Each task's headline metric, its direction and the names the screens give metrics.

The metrics come from each task's declaration (``Task.metrics`` in ``workbench.core.tasks.<task>``), whose
package ``__init__`` is import-light: reading them pulls neither numpy nor torch into the UI at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.ui import format as fmt

# How a metric key reads on screen. Keys are those of run.json "metrics" and of metrics.jsonl eval
# events (which carry them without the "eval_" prefix; "loss" there is the eval loss).
LABELS = {
    "accuracy": "accuracy", "macro_f1": "macro-F1", "f1": "entity F1", "precision": "precision", "recall": "recall",
    "token_accuracy": "token accuracy", "eval_loss": "eval loss", "loss": "eval loss", "perplexity": "perplexity",
    "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "bleu": "BLEU", "chrf": "chrF", "exact_match": "EM",
}
# Causal-LM SFT's generation scores (0–100), in eval events and run.json metrics when a run scores generations.
GENERATION_KEYS = ("rougeL", "rouge1", "rouge2", "bleu", "chrf", "exact_match")
SHORT_LABELS = {"precision": "P", "recall": "R", "token_accuracy": "token acc"}
# Lower is better for these whatever the task's main metric is.
LOWER_IS_BETTER = {"eval_loss", "loss", "perplexity"}
# Per-class keys of eval events: token classification writes entity F1 per type as f1_<TYPE>.
PER_CLASS_PREFIX = "f1_"


@dataclass(frozen=True)
class TaskMetrics:
    task: str
    main: str                  # MAIN_METRIC: the run.json "metrics" key the best checkpoint is chosen by
    greater_is_better: bool
    scalars: tuple[str, ...]   # SCALAR_METRICS
    curves: tuple[str, ...] = ()  # further metrics the Monitor's eval chart draws beside the main one

    @property
    def main_label(self) -> str:
        return label(self.main, task=self.task)

    @property
    def eval_key(self) -> str:
        """The main metric's key in metrics.jsonl eval events (no "eval_" prefix)."""
        return self.main[5:] if self.main.startswith("eval_") else self.main

    def shown(self) -> tuple[str, ...]:
        """The run.json metrics worth a line, main first: the task's scalars, then eval loss (and
        perplexity for a language model, whose only quality metric is its loss)."""
        keys = [self.main, *self.scalars, "eval_loss"]
        if not self.greater_is_better:
            keys.append("perplexity")
        return tuple(dict.fromkeys(keys))


def label(key: str, short: bool = False, task: Any = None) -> str:
    """How ``key`` reads on screen; ``task``'s own name for it first (``Task.metric_labels``: QA's "f1" is "F1",
    not "entity F1")."""
    if task is not None:
        from workbench.core.tasks import task_or_default

        own = task_or_default(task).metric_labels
        if key in own:
            return own[key]
    if short and key in SHORT_LABELS:
        return SHORT_LABELS[key]
    if key.startswith(PER_CLASS_PREFIX):
        return f"F1 {key[len(PER_CLASS_PREFIX):]}"
    return LABELS.get(key, key.replace("_", " "))


def greater_is_better(key: str, tm: TaskMetrics | None = None) -> bool:
    if tm is not None and key in (tm.main, tm.eval_key):
        return tm.greater_is_better
    return key not in LOWER_IS_BETTER


def task_metrics(task: Any) -> TaskMetrics:
    """The headline metric of ``task`` (a run.json "task"; missing, not a name, or a task this version does not
    know: treated like text classification)."""
    from workbench.core.tasks import DEFAULT_TASK, task_or_default

    declared = task_or_default(task).metrics
    known = task_or_default(task)
    return TaskMetrics(task if isinstance(task, str) and task else DEFAULT_TASK, declared.main,
                       declared.greater_is_better, declared.scalars, known.capabilities.eval_curves)


def headline(task: Any, metrics: Any, digits: int = 3) -> tuple[str, str]:
    """(label, value) of a run's main metric, e.g. ("entity F1", "0.741"); the value is "—" when absent."""
    tm = task_metrics(task)
    return tm.main_label, fmt.number(metrics.get(tm.main) if isinstance(metrics, dict) else None, digits)


def headline_figure(task: Any, metrics: Any, digits: int = 3) -> tuple[str, str]:
    """(label, value) of the figure a person reads a run by (``Task.headline``, first entry): the main metric,
    except for a language model, whose perplexity reads better than its loss: ("perplexity", "12.50")."""
    from workbench.core.tasks import task_or_default

    declared = task_or_default(task).headline
    value = metrics.get(declared.keys[0]) if isinstance(metrics, dict) else None
    return declared.labels[0], fmt.number(value, min(digits, declared.digits[0]))


def metrics_line(task: Any, metrics: Any, digits: int = 4) -> str:
    """Every metric of a finished run that means something for its task, main first:
    ``accuracy 0.8950 · macro-F1 0.8949 · eval loss 0.3012``; ``eval loss 2.5257 · perplexity 12.50``."""
    tm = task_metrics(task)
    metrics = metrics if isinstance(metrics, dict) else {}
    parts = []
    for key in tm.shown():
        if key == tm.main or key in metrics:
            value = metrics.get(key)
            parts.append(f"{label(key, short=key != tm.main, task=tm.task)} "
                         f"{fmt.number(value, 2 if key == 'perplexity' else digits)}")
    return " · ".join(parts)


def task_words(task: Any):
    """What the screens call ``task``'s examples and labels (``Task.words``; a task this version does not know
    gets the default task's)."""
    from workbench.core.tasks import task_or_default

    return task_or_default(task).words
