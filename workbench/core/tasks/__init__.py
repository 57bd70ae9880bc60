"""The task registry: task name → the package that implements it (``workbench.core.tasks.base.Task``).

Adding a task means adding one package (see ``base.py`` for what it holds) and one line in :data:`TASKS`, or,
for a task that lives outside this repository, an entry point in the ``sft_workbench.tasks`` group::

    [project.entry-points."sft_workbench.tasks"]
    my-task = "my_package.my_task:TASK"

Task packages are imported on first use, so the UI can start without numpy or torch. The functions below are
the task-dispatching entry points: recognising a data set's task, loading it for training, inspecting it.
"""

from __future__ import annotations

import functools
from importlib import import_module
from typing import TYPE_CHECKING, Any, Sequence

from workbench.core.errors import WorkbenchError, shown_list
from workbench.core.tasks.names import DEFAULT_TASK

if TYPE_CHECKING:
    from workbench.core.datasets import LoadedData
    from workbench.core.tasks.base import Task

# name → "module:attribute" of the Task instance. For ``--task auto`` the first task whose
# ``recognises(columns)`` is true wins; text classification (any text and label columns) is tried last.
TASKS: dict[str, str] = {
    "text-classification": "workbench.core.tasks.classification:TASK",
    "token-classification": "workbench.core.tasks.token_classification:TASK",
    "causal-lm-sft": "workbench.core.tasks.causal_lm_sft:TASK",
    "question-answering": "workbench.core.tasks.question_answering:TASK",
}
ENTRY_POINT_GROUP = "sft_workbench.tasks"
# Values for RunConfig fields left empty (None) whose default depends on the task: the task's ``defaults``
# win, else these (see apply_task_defaults). RunConfig's own defaults are task-independent.
TASK_DEPENDENT_DEFAULTS: dict[str, Any] = {"lr": 5e-5, "max_length": 128, "batch_size": 32, "eval_batch_size": 128}
# Differentially private runs (dp_epsilon set) fill the same fields differently when left empty, whatever the
# task, because DP-SGD's noise is divided by the batch and spread over every trained weight (measured on SST-2
# with the default model, benchmarks/private.py; the README's privacy section has the figures): `finetune`
# "auto" becomes LoRA (full fine-tuning at ε = 8 learned nothing on 8,000 rows: dev accuracy stayed at the
# majority class at lr 5e-5 and 1.5e-4, and diverged at 5e-4), the expected batch is large (noise / batch),
# and LoRA's step is 5e-4 unless the task measured its own (Task.private_lora_lr: text classification's is 1e-2;
# on 20,000 rows with the pooler, 2e-3 made the loss rise, but that was before the head had its own rate and the
# classifier read the mean). A private text classifier also reads the mean of the last layer (RunConfig.pooling
# auto, workbench.core.pooling): on all of SST-2 at ε = 8, GLUE dev 0.81 against 0.70 with the pooler at lr 5e-4,
# 0.83 at 1e-2, still 6 points under the non-private run: see the README's privacy section.
PRIVATE_LORA_LR = 5e-4
PRIVATE_MAX_BATCH = 1024
# The task head's own learning rate in a private run (``dp_head_lr`` left empty). A private run has few steps
# (60 for 20,000 rows at batch 1,024 over 3 epochs), and the pooled features a fresh classifier reads vary little
# (all-MiniLM-L6-v2's pooler output: about 0.036 per dimension around a mean of norm 1.05), so at the rate of the
# rest (5e-4) the classifier learns only the class prior in that many steps: the majority class, with or
# without the noise. Measured on precomputed pooler features of 4,000 SST-2 rows (48 Poisson steps of 256,
# clipping 1.0, Adam; benchmarks/private_signal.py): selection accuracy 0.565 (the majority) at 5e-4 and 0.570 at
# 5e-3 with no noise at all, 0.738 at 5e-2 without noise and 0.736 with σ 0.615 (ε = 8); 5e-1 did as well. The
# classifier's clipped gradient is what stands out of the noise (the same script), so a large step there is safe.
PRIVATE_HEAD_LR = 5e-2


def private_batch_size(n_examples: int | None) -> int:
    """A private run's expected batch when left empty: 1,024, or an eighth of the training set when smaller
    (at least 8), so that an epoch still has about eight noisy steps."""
    if not n_examples:
        return PRIVATE_MAX_BATCH
    return int(min(PRIVATE_MAX_BATCH, max(8, n_examples // 8)))

_loaded: dict[str, "Task"] = {}


@functools.cache
def _registry() -> dict[str, str]:
    """The built-in tasks plus those installed packages declare through entry points (built-ins win); read once
    per process (importing importlib.metadata and scanning the installed distributions: ~20 ms on a 2-core Xeon, and
    compare asks for every task's group). :func:`get_task` skips it for a built-in name."""
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in TASKS}
    return {**TASKS, **found}


def task_names() -> list[str]:
    return list(_registry())


def get_task(name: str | None) -> "Task":
    """The task called ``name`` (a run's or an export's task; None is the default text classification)."""
    name = name or DEFAULT_TASK
    if name in _loaded:
        return _loaded[name]
    # A built-in task wins over entry points anyway, so its name needs no scan (see _registry for its cost).
    target = TASKS.get(name) or _registry().get(name)
    if target is None:
        raise WorkbenchError(f"task {name!r} is not supported; supported: {', '.join(_registry())}.")
    module, _, attribute = target.partition(":")
    task = getattr(import_module(module), attribute or "TASK")
    if task.name != name:
        raise WorkbenchError(f"the task registered as {name!r} calls itself {task.name!r}.")
    _loaded[name] = task
    return task


def find_task(name: Any) -> "Task | None":
    """The task called ``name``, or None for a name this version does not know (a run or export written by
    another version or installation) or for no name at all."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return get_task(name)
    except WorkbenchError:
        return None


def task_or_default(name: Any) -> "Task":
    """The task called ``name``; the default task when it has none or one this version does not know, so that
    readers (the screens, compare) still show such runs."""
    return find_task(name) or get_task(DEFAULT_TASK)


def infer_task(columns: Sequence[str]) -> str:
    """The task whose data has these columns (``--task auto``)."""
    # Text classification (any text and label columns) is the catch-all, tried last.
    names = [n for n in task_names() if n != DEFAULT_TASK] + [DEFAULT_TASK]
    return next(name for name in names if get_task(name).recognises(list(map(str, columns))))


def task_of(cfg) -> str:
    """The task a run config trains: ``cfg.task``, or for "auto" the one its training data's columns say (the
    data is read; errors are the reader's WorkbenchError)."""
    if cfg.task not in (None, "auto"):
        return cfg.task
    from workbench.core.datasets import read_source

    return infer_task(list(read_source(cfg.data)["train"].columns))


def finetune_method(cfg) -> str:
    """What ``cfg.finetune`` trains: "auto" is LoRA for a differentially private run, else full fine-tuning."""
    if cfg.finetune != "auto":
        return cfg.finetune
    return "lora" if cfg.dp_epsilon is not None else "full"


def embeddings_frozen(cfg, task_name: str) -> bool:
    """Whether full fine-tuning keeps the word embeddings fixed (``embeddings``; ``auto``: the task's default).
    LoRA leaves them frozen anyway, and this answers False for it (nothing extra is frozen)."""
    choice = cfg.embeddings if cfg.embeddings != "auto" else get_task(task_name).defaults.get("embeddings", "train")
    return choice == "freeze" and finetune_method(cfg) == "full"


def load_for_config(cfg) -> "LoadedData":
    """The train and eval splits a run config names (its columns, task, dev fraction, seed and strictness)."""
    return load_for_training(cfg.data, cfg.eval_data, text_column=cfg.text_column, label_column=cfg.label_column,
                             task=cfg.task, dev_fraction=cfg.dev_fraction, seed=cfg.seed, strict=cfg.strict_data,
                             instruction=cfg.instruction)


def apply_task_defaults(cfg, task_name: str, n_train: int | None = None):
    """``cfg`` with every task-dependent field the user left empty filled in: the task's own default
    (``Task.defaults``, chosen by measurement), else the shared one (:data:`TASK_DEPENDENT_DEFAULTS`);
    differentially private runs have their own batch size (from ``n_train``, the training examples), method
    and learning rate (``Task.private_lora_lr``, else :data:`PRIVATE_LORA_LR`). A value the user gave always wins; the run records the result."""
    task = get_task(task_name)
    own = dict(task.defaults)
    changes: dict[str, Any] = {}
    method = finetune_method(cfg)
    if method != cfg.finetune:
        changes["finetune"] = method
    if cfg.dp_epsilon is not None:
        own["batch_size"] = private_batch_size(n_train)
        if method == "lora":
            own["lr"] = task.private_lora_lr or PRIVATE_LORA_LR
        if cfg.dp_head_lr is None:
            changes["dp_head_lr"] = PRIVATE_HEAD_LR
    changes.update({k: own.get(k, shared) for k, shared in TASK_DEPENDENT_DEFAULTS.items() if getattr(cfg, k) is None})
    return cfg.updated(**changes) if changes else cfg


def run_setting(run, key: str) -> Any:
    """A task-dependent setting of a finished run: run.json's value, or, where the run recorded none (a run
    created through the API, or before the field was task-dependent), the task's default as training applied it."""
    value = (run.config or {}).get(key)
    if value is not None:
        return value
    return task_or_default(run.task).defaults.get(key, TASK_DEPENDENT_DEFAULTS[key])


def load_for_training(data: str, eval_data: str | None = None, *, text_column: str | None = None,
                      label_column: str | None = None, task: str = "auto", dev_fraction: float = 0.1,
                      seed: int = 42, strict: bool = False,
                      instruction: str | None = None) -> "LoadedData":
    """Read ``data``, recognise (or take) its task, and let the task normalise and split it; every problem
    is one WorkbenchError. Rows that cannot be used are skipped when they are at most 1% of their split and
    recorded in ``LoadedData.skipped`` (``datasets.BadRows``); ``strict`` refuses any."""
    from workbench.core.datasets import read_source

    raw = read_source(data)
    if "train" not in raw:
        raise WorkbenchError(f"{data} has no train split (found: {', '.join(raw)}).")
    name = infer_task(list(raw["train"].columns)) if task in (None, "auto") else task
    if name not in task_names():
        raise WorkbenchError(f"{data}: task {name!r} is not supported; supported: {', '.join(task_names())}.")
    return get_task(name).load_data(raw, data=data, eval_data=eval_data, text_column=text_column,
                                    label_column=label_column, dev_fraction=dev_fraction, seed=seed, strict=strict,
                                    instruction=instruction)


def inspect_source(path: str, *, text_column: str | None = None, label_column: str | None = None,
                   model: str | None = "default", max_length: int | None = None, sample: int = 20000,
                   task: str = "auto", strict: bool = False) -> dict[str, Any]:
    """Everything ``datasets inspect`` shows for ``path``: rows, columns, labels, token lengths, warnings, and per
    split the rows skipped because they cannot be used (``strict``: any is an error, as training would refuse).
    ``max_length`` None: the task's default (what a run on this data would use)."""
    from workbench.core.datasets import inspect_tokenizer, read_source

    raw = read_source(path)
    first = raw.get("train", next(iter(raw.values())))
    name = infer_task(list(first.columns)) if task in (None, "auto") else task
    if name not in task_names():
        raise WorkbenchError(f"{path}: task {name!r} is not supported (columns: {shown_list(map(str, first.columns))}).")
    tokenizer = display = None
    if model:
        tokenizer, display = inspect_tokenizer(model, name)
    if max_length is None:
        max_length = get_task(name).defaults.get("max_length", TASK_DEPENDENT_DEFAULTS["max_length"])
    report = get_task(name).inspect(raw, str(path), text_column=text_column, label_column=label_column,
                                    tokenizer=tokenizer, max_length=max_length, sample=sample, strict=strict)
    if display is not None:
        report.setdefault("tokenizer", display)
    return report
