"""A sweep's Optuna study and its record file, read by the sweep store and by the training worker.

The worker (``training/callbacks.py``) reports a trial's evaluations through ``report_evaluation``; it needs the
study and the record, not the rest of ``sweeps.py`` (which starts runs through the launcher, above training).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

SWEEPS_DIR = "sweeps"
SWEEP_FILE = "sweep.json"
STUDY_FILE = "study.journal"


def read_record(path: Path) -> dict[str, Any]:
    """A sweep record (sweep.json) as written, or one WorkbenchError saying why it cannot be read."""
    try:
        data = json.loads((path / SWEEP_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"{path.name} is not a sweep: {SWEEP_FILE} is missing.") from None
    except (OSError, ValueError):
        raise WorkbenchError(f"sweep {path.name} is corrupt: {SWEEP_FILE} is not valid JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        raise WorkbenchError(f"sweep {path.name} is corrupt: {SWEEP_FILE} is not a sweep record.")
    data["id"] = path.name
    return data


def open_study(record: dict[str, Any], root: Path, *, seed_offset: int = 0, sampling: bool = False):
    """The sweep's Optuna study with its pruner, and with its sampler when ``sampling`` (for ``ask``; neither is
    stored, both are rebuilt here). Telling and reading use a plain sampler: the grid sampler stops the study
    when its last point is told, which Optuna allows only inside ``optimize``."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = int(record.get("seed") or 0) + seed_offset
    if not sampling or record["search"] in ("grid", "random"):
        # Random search, and a grid, whose points are enqueued in order when the sweep is created (every ask
        # takes the next one, so no sampler is consulted). The seed moves on with each ask: a sampler rebuilt
        # with the same seed would draw the same point again.
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, record["trials_planned"] // 3)))
    pruner = {"median": optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
              "halving": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
              "none": optuna.pruners.NopPruner()}[record["pruner"]]
    storage = JournalStorage(JournalFileBackend(str(root / record["id"] / STUDY_FILE)))
    return optuna.create_study(storage=storage, study_name=record["id"], sampler=sampler, pruner=pruner,
                               direction=record["direction"], load_if_exists=True)


# ------------------------------------------------------------------------------------------ the worker side
def report_evaluation(run_info: dict[str, Any], workspace_root: Path, evaluation: int, value: float) -> bool:
    """Report a trial's validation value at its ``evaluation``-th evaluation to the study; whether the pruner
    says to stop it."""
    import optuna

    info = run_info["sweep"]
    root = Path(workspace_root) / SWEEPS_DIR
    record = read_record(root / info["id"])
    study = open_study(record, root)
    frozen = next((t for t in study.get_trials(deepcopy=False) if t.number == int(info["trial"])), None)
    if frozen is None or frozen.state.is_finished():
        return False
    trial = optuna.trial.Trial(study, frozen._trial_id)
    if evaluation not in frozen.intermediate_values:  # a resumed run repeats no report
        trial.report(value, evaluation)
    return trial.should_prune()
