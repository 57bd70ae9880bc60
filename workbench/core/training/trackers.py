"""Experiment trackers (``report_to``): the Trainer's own integrations, checked before launch and kept local.

The run store stays the record of a run; a tracker is an extra copy of the same logs (the Trainer hands each
integration the log dicts that ``RunStoreCallback`` writes to metrics.jsonl). Nothing here imports a tracker:
``check_installed`` only looks packages up, so a missing one is one error before a run directory exists.

Where each tracker writes is set through its own environment variables, in the worker process only
(``apply_env``), so the files land in the run directory and nothing goes over the network unless asked for:

- tensorboard: ``TENSORBOARD_LOGGING_DIR`` (read by transformers' ``TensorBoardCallback`` when it is built;
  ``TrainingArguments.logging_dir`` is gone in transformers 5): ``<run_dir>/tensorboard``, always.
- wandb: ``WANDB_MODE=offline`` unless the user set a mode; ``WANDB_DIR=<run_dir>`` (wandb adds ``wandb/``)
  unless set.
- mlflow: ``MLFLOW_TRACKING_URI`` a file store at ``<run_dir>/mlruns`` unless set; with it
  ``MLFLOW_ALLOW_FILE_STORE=true``, without which MLflow 3.x refuses a file store (measured: mlflow 3.17 raises
  at ``start_run``, which failed the run); its database stores need SQLAlchemy, which mlflow-skinny lacks.
- trackio: local already (no Space unless ``TRACKIO_SPACE_ID`` is set); ``TRACKIO_DIR=<run_dir>/trackio``
  unless set (trackio reads it when imported).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

from workbench.core.errors import WorkbenchError

# Per tracker: the modules that provide it (any one will do) and the pip package to install.
MODULES = {
    "tensorboard": ("tensorboard", "tensorboardX"),  # TensorBoardCallback falls back to tensorboardX
    "trackio": ("trackio",),
    "mlflow": ("mlflow",),
    "wandb": ("wandb",),
}
PIP_PACKAGES = {"tensorboard": "tensorboard", "trackio": "trackio", "mlflow": "mlflow", "wandb": "wandb"}

TENSORBOARD_DIR = "tensorboard"
MLFLOW_DIR = "mlruns"
TRACKIO_DIR = "trackio"


def check_installed(trackers: Iterable[str]) -> None:
    """Raise one ``WorkbenchError`` naming the pip packages to install when a tracker's package is missing."""
    missing = [name for name in trackers if all(find_spec(m) is None for m in MODULES[name])]
    if not missing:
        return
    packages = " ".join(PIP_PACKAGES[name] for name in missing)
    what = f"the {missing[0]} package is" if len(missing) == 1 else f"the packages for {', '.join(missing)} are"
    raise WorkbenchError(f"report_to {','.join(missing)}: {what} not installed; install with: pip install {packages}")


def tracker_env(trackers: Iterable[str], run_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables to set so that ``trackers`` write inside ``run_dir`` and stay offline; a value
    the user has already set in ``environ`` (default: ``os.environ``) is kept, except TensorBoard's directory."""
    environ = os.environ if environ is None else environ
    run_dir = Path(run_dir).resolve()
    wanted: dict[str, str] = {}
    names = set(trackers)
    if "tensorboard" in names:
        wanted["TENSORBOARD_LOGGING_DIR"] = str(run_dir / TENSORBOARD_DIR)
    defaults: dict[str, str] = {}
    if "wandb" in names:
        defaults["WANDB_MODE"] = "offline"
        defaults["WANDB_DIR"] = str(run_dir)
    if "mlflow" in names and not environ.get("MLFLOW_TRACKING_URI"):
        defaults["MLFLOW_TRACKING_URI"] = (run_dir / MLFLOW_DIR).as_uri()
        defaults["MLFLOW_ALLOW_FILE_STORE"] = "true"  # only for the store chosen here
    if "trackio" in names:
        defaults["TRACKIO_DIR"] = str(run_dir / TRACKIO_DIR)
    wanted.update({key: value for key, value in defaults.items() if not environ.get(key)})
    return wanted


def apply_env(trackers: list[str], run_dir: Path) -> list[str]:
    """Set ``tracker_env`` in this process (the worker: before the Trainer builds its callbacks) and return a
    line per tracker saying where it writes, for the run's log."""
    env = tracker_env(trackers, run_dir)
    os.environ.update(env)
    lines = []
    for name in trackers:
        if name == "tensorboard":
            where = os.environ["TENSORBOARD_LOGGING_DIR"]
        elif name == "wandb":
            where = f"{os.environ['WANDB_DIR']}/wandb (WANDB_MODE={os.environ['WANDB_MODE']})"
        elif name == "mlflow":
            where = os.environ["MLFLOW_TRACKING_URI"]
        else:
            where = f"{os.environ['TRACKIO_DIR']} (trackio show --project sft-workbench)"
        lines.append(f"reporting to {name}: {where}")
    return lines


def tensorboard_resumes_at(trainer, step: int) -> None:
    """On resume from the checkpoint at ``step`` (main process only): TensorBoard drops what an earlier attempt
    logged past it, as ``metrics.jsonl`` is rewritten to that step. The writer it gets opens the run's event
    folder with ``purge_step``, which records a restart that TensorBoard's reader honours; without it a crashed
    run's steps after its last checkpoint would show twice."""
    from transformers.integrations import TensorBoardCallback

    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # as TensorBoardCallback does
        from tensorboardX import SummaryWriter

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.tb_writer is None:
            callback.tb_writer = SummaryWriter(log_dir=callback.logging_dir, purge_step=step + 1)


@contextmanager
def final_evaluation_in_the_same_run(trackers: Iterable[str]) -> Iterator[None]:
    """Around the evaluation after ``trainer.train()`` (main process): MLflowCallback ends its MLflow run at the
    end of training, and MLflow would give the evaluation's metrics to a new, randomly named run (measured with
    mlflow 3.17); this reopens the training run for them. The other trackers keep their run open or reopen it
    themselves (TensorBoard's writer, trackio's resume by name)."""
    if "mlflow" not in trackers:
        yield
        return
    import mlflow

    last = mlflow.last_active_run()
    if last is None or mlflow.active_run() is not None:
        yield
        return
    mlflow.start_run(run_id=last.info.run_id)
    try:
        yield
    finally:
        mlflow.end_run()
