"""The TrainerCallback that turns Trainer events into the run store's metrics.jsonl and heartbeat."""

from __future__ import annotations

import os
import time
from typing import Any

from transformers import TrainerCallback

from workbench.core import telemetry
from workbench.core.runs import CHECKPOINTS_DIR, RunWriter, mark_complete

SYSTEM_INTERVAL_S = 10.0


class RunStoreCallback(TrainerCallback):
    """Writes train/eval/system events, keeps the progress in run.json fresh, and obeys the stop file.

    Only the main process (rank 0) writes; other ranks still watch the stop file so all stop together.
    """

    def __init__(self, writer: RunWriter, *, samples_per_step: int, is_main: bool = True):
        self.writer = writer
        self.samples_per_step = samples_per_step
        self.is_main = is_main
        self.stopped_by_user = False
        # Set for the evaluation after training: it scores the best checkpoint at the last step, so an eval event
        # for it would put the best checkpoint's figures on the last epoch's point; the "final" event holds them.
        self.final_evaluation = False
        self._last_time = time.time()
        self._last_step = 0
        self._last_tokens = 0
        self._last_system = 0.0

    # -- helpers --------------------------------------------------------------------------------
    def _progress(self, state) -> dict[str, Any]:
        return {"step": state.global_step, "max_steps": state.max_steps, "epoch": round(state.epoch or 0.0, 4),
                "num_epochs": state.num_train_epochs}

    def _system(self, state, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_system >= SYSTEM_INTERVAL_S:
            self._last_system = now
            self.writer.append_metrics({"kind": "system", "step": state.global_step, "epoch": state.epoch,
                                        **telemetry.system_readings(os.getpid())})

    # -- events ---------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self._last_time, self._last_step = time.time(), state.global_step
        self._last_tokens = getattr(state, "num_input_tokens_seen", 0) or 0
        if self.is_main:
            self.writer.set_progress(**self._progress(state))
            self._system(state, force=True)

    def _stop_requested(self, args) -> bool:
        """The stop file, agreed by all ranks (one rank stopping alone would hang the others)."""
        requested = self.writer.stop_requested
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            import torch

            flag = torch.tensor([1 if requested else 0], device=args.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            requested = bool(flag.item())
        return requested

    def on_step_end(self, args, state, control, **kwargs):
        if self._stop_requested(args):
            self.stopped_by_user = True
            control.should_training_stop = True
            control.should_save = True
        if self.is_main:
            self.writer.set_progress(**self._progress(state))
            self._system(state)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self.is_main or not logs:
            return
        base = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        if "loss" in logs:
            now = time.time()
            dt = max(now - self._last_time, 1e-9)
            steps = state.global_step - self._last_step
            tokens = (getattr(state, "num_input_tokens_seen", 0) or 0) - self._last_tokens
            event = {"kind": "train", **base, "loss": logs["loss"], "lr": logs.get("learning_rate"),
                     "grad_norm": logs.get("grad_norm")}
            if "epsilon" in logs:  # differential privacy: the budget spent so far
                event["epsilon"] = logs["epsilon"]
            if steps > 0:
                event["samples_per_s"] = round(steps * self.samples_per_step / dt, 2)
                if tokens > 0:
                    event["tokens_per_s"] = round(tokens / dt, 1)
            self.writer.append_metrics(event)
            self._last_time, self._last_step = now, state.global_step
            self._last_tokens = getattr(state, "num_input_tokens_seen", 0) or 0
        elif any(k.startswith("eval_") for k in logs):
            if self.final_evaluation:
                return
            values = {k[5:]: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, (int, float))}
            self.writer.append_metrics({"kind": "eval", **base, **values})
        elif "train_runtime" in logs:
            self.writer.update(train_summary={k: v for k, v in logs.items() if isinstance(v, (int, float))})

    def on_evaluate(self, args, state, control, **kwargs):
        # Throughput covers training time only: restart the interval after an evaluation.
        self._last_time = time.time()

    def on_save(self, args, state, control, **kwargs):
        if self.is_main:
            folder = self.writer.path / CHECKPOINTS_DIR / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                mark_complete(folder)
            self.writer.append_metrics({"kind": "checkpoint", "step": state.global_step, "epoch": state.epoch,
                                        "path": f"checkpoint-{state.global_step}"})


class SweepPruningCallback(TrainerCallback):
    """A sweep trial's evaluations go to its Optuna study; when the pruner says the trial is hopeless, training stops
    here (the best checkpoint so far is still evaluated and saved) and run.json records ``pruned``."""

    def __init__(self, writer: RunWriter, metric: str):
        self.writer = writer
        self.metric = metric
        self.training = False
        self.pruned = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.training = True

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False  # the final evaluation after training is not one of the trial's steps

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        value = (metrics or {}).get(f"eval_{self.metric}")
        if not self.training or not isinstance(value, (int, float)):
            return
        from workbench.core.sweep_study import report_evaluation

        evaluation = sum(1 for entry in state.log_history if any(k.startswith("eval_") for k in entry))
        if report_evaluation(self.writer.info, self.writer.path.parent.parent, evaluation, float(value)):
            self.pruned = True
            self.writer.update(pruned={"evaluation": evaluation, "step": state.global_step,
                                       "epoch": round(state.epoch or 0.0, 4), "value": float(value)})
            print(f"pruned by the sweep at evaluation {evaluation} (step {state.global_step}, "
                  f"{self.metric} {value:.4f})", flush=True)
            control.should_training_stop = True
        return control
