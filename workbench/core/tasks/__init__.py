"""One module per task: preprocessing, collator, metrics, prediction records.

Adding a task (token classification, causal-LM SFT) means adding a module with the same functions
and registering it in ``TASKS``; the run store, launcher, callbacks and CLI stay as they are.
"""

from __future__ import annotations

from importlib import import_module

from workbench.core.errors import WorkbenchError

TASKS = {"text-classification": "workbench.core.tasks.classification"}


def get_task(name: str):
    try:
        return import_module(TASKS[name])
    except KeyError:
        raise WorkbenchError(f"task {name!r} is not supported; supported: {', '.join(TASKS)}.") from None
