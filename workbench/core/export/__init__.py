"""ONNX export of a finished run: the checks every task shares, then the run's task builds and validates it.

``pipeline`` holds the task-free steps (torch.onnx wrapper, ORT optimiser, int8, building in a partial
directory, manifest); each task's ``export`` module validates the graphs on real data its own way (labels,
entity F1, greedy parity and perplexity) and writes the model card.
"""

from __future__ import annotations

import os
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.export.pipeline import (DEFAULT_MAX_INT8_DROP, DEFAULT_OPSET, FP32_TOLERANCE, INT8_SETTINGS,
                                            Progress, build_in_place, default_export_dir, update_manifest)
from workbench.core.runs import Run
from workbench.paths import Workspace, expand_user

__all__ = ["DEFAULT_MAX_INT8_DROP", "DEFAULT_OPSET", "FP32_TOLERANCE", "INT8_SETTINGS", "build_in_place",
           "default_export_dir", "export_run", "update_manifest"]


def export_run(run: Run, *, out: str | os.PathLike | None = None, workspace: Workspace | str | None = None,
               int8: bool = False, opset: int = DEFAULT_OPSET, force: bool = False,
               data: str | os.PathLike | None = None, max_int8_drop: float | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
    """Export ``run``'s final model to an ONNX directory, validate it on real data, and return the manifest.

    Raises WorkbenchError (and leaves nothing behind) if the run has no model, the target exists without
    ``force``, the export or optimiser fails, fp32 parity fails, or int8 loses more than ``max_int8_drop``
    of the task's gate (``None``: the task's default, see ``Task.export_gate``).
    """
    from workbench.core.tasks import get_task

    task = get_task(run.task)
    gate = task.export_gate
    if not task.has_model(run):
        raise WorkbenchError(f"run {run.name} has no final model to export (status: {run.status}).")
    low, high = gate.opsets
    if not low <= int(opset) <= high:
        raise WorkbenchError(f"--opset {opset} is out of range; a {task.title} export supports opsets {low} to {high}.")
    max_int8_drop = gate.default if max_int8_drop is None else max_int8_drop
    if max_int8_drop < 0:
        raise WorkbenchError(f"--max-int8-drop must be zero or more ({gate.unit}).")
    target = expand_user(out).resolve() if out else default_export_dir(workspace, run)
    if target.exists() and not force:
        raise WorkbenchError(f"{target} already exists; pass --force to replace it.")
    if target.exists() and not target.is_dir():
        raise WorkbenchError(f"{target} exists and is not a directory.")
    return task.export(run, target=target, int8=int8, opset=int(opset), data=data, max_int8_drop=max_int8_drop,
                       progress=progress)
