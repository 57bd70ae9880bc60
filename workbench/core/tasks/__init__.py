"""One module per task: preprocessing, collator, metrics, prediction records.

Adding a task (token classification, causal-LM SFT) means adding a module with the same interface and
registering it in ``TASKS``; the run store, launcher, callbacks and CLI stay as they are. A task module has:

- ``MAIN_METRIC`` (str), ``GREATER_IS_BETTER`` (bool), ``SCALAR_METRICS`` (the keys copied into run.json
  ``metrics``; the rest of the final report goes to ``evaluation``), taken from ``METRICS`` below;
- ``build_model(path, data, cfg)``: the model to train, fp32 master weights;
- ``tokenize(dataset, tokenizer, data, cfg)``: a split as model inputs (unpadded);
- ``collator(tokenizer, *, pad_to_multiple_of=None)``: batches with dynamic padding;
- ``metrics_hook(data)``: the Trainer's ``compute_metrics`` (or None when eval loss is the metric);
- ``final_evaluation(model, tokenizer, data, cfg)``: ``(report, records)``, the full report and one
  prediction record per eval example in input order (written to predictions.jsonl);
- for tasks other than text classification, ``load_data(raw, *, data, eval_data, cfg_kwargs)``
  (called by ``datasets.load_for_training``) returning a ``LoadedData``.

``data`` is the ``workbench.core.datasets.LoadedData`` and ``cfg`` the ``RunConfig``.
"""

from __future__ import annotations

from importlib import import_module
from typing import NamedTuple

from workbench.core.errors import WorkbenchError

TASKS = {"text-classification": "workbench.core.tasks.classification"}
TASKS["token-classification"] = "workbench.core.tasks.token_classification"
TASKS["causal-lm-sft"] = "workbench.core.tasks.causal_lm_sft"


class Metrics(NamedTuple):
    main: str                  # MAIN_METRIC: the run.json "metrics" key the best checkpoint is chosen by
    greater_is_better: bool    # GREATER_IS_BETTER
    scalars: tuple[str, ...]   # SCALAR_METRICS: the keys copied into run.json "metrics"


# Declared here, not only in the task modules, so readers that must stay light (the UI at start) know each
# task's headline metric without importing the module (and numpy with it). The modules take theirs from here.
METRICS = {
    "text-classification": Metrics("accuracy", True, ("accuracy", "macro_f1")),
    "token-classification": Metrics("f1", True, ("f1", "precision", "recall", "token_accuracy")),
    "causal-lm-sft": Metrics("eval_loss", False, ()),
}


def get_task(name: str):
    try:
        return import_module(TASKS[name])
    except KeyError:
        raise WorkbenchError(f"task {name!r} is not supported; supported: {', '.join(TASKS)}.") from None


def apply_task_defaults(cfg, task_name: str):
    """``cfg`` with every task-dependent field the user left empty filled in: the task's own default
    (``TASK_DEFAULTS`` in its module, chosen by measurement), else the shared one
    (``config.TASK_DEPENDENT_DEFAULTS``). A value the user gave always wins; the run records the result."""
    from workbench.core.config import TASK_DEPENDENT_DEFAULTS

    own = getattr(get_task(task_name), "TASK_DEFAULTS", None) or {}
    changes = {k: own.get(k, shared) for k, shared in TASK_DEPENDENT_DEFAULTS.items() if getattr(cfg, k) is None}
    return cfg.updated(**changes) if changes else cfg
