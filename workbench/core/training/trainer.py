"""Trainer set-up for a run: model, data, TrainingArguments with careful defaults, and the final evaluation."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.config import TASK_DEPENDENT_DEFAULTS, RunConfig
from workbench.core.datasets import LoadedData
from workbench.core.errors import WorkbenchError
from workbench.core.models import ResolvedModel, resolve_model
from workbench.core.runs import CHECKPOINTS_DIR, MODEL_DIR, PREDICTIONS_FILE, RunWriter, atomic_write_text, parse_iso
from workbench.core.telemetry import PACKAGES, package_versions
from workbench.core.tasks import apply_task_defaults, embeddings_frozen, get_task, load_for_config
from workbench.core.training import token_cache
from workbench.core.training.devices import cuda_available, device_name, resolve_attention, resolve_precision
from workbench.core.training.timings import PhaseClock
from workbench.core.training.trackers import (PIP_PACKAGES, apply_env, check_installed, final_evaluation_in_the_same_run,
                                              tensorboard_resumes_at)


def prepare(cfg: RunConfig) -> tuple[ResolvedModel, LoadedData]:
    """Everything that can fail on user input, checked before a run directory exists."""
    cfg.check()
    check_installed(cfg.trackers())  # a missing tracker package is refused before any data is read
    data = load_for_config(cfg)
    resolved = resolve_model(cfg.model, data.schema.task)  # `default` is the task's embedded model
    effective = apply_task_defaults(cfg, data.schema.task, len(data.train))  # e.g. the task's own max_length
    limit = resolved.max_positions
    if limit and effective.max_length > limit:
        raise WorkbenchError(f"max_length {effective.max_length} exceeds what {resolved.display_name} supports ({limit} tokens).")
    task = get_task(data.schema.task)
    task.check_model(resolved, effective)  # e.g. causal-lm-sft refuses an encoder-only model
    task.check_lora(resolved, effective)
    if cfg.pooling != "auto" and not task.capabilities.pooling:
        raise WorkbenchError(f"pooling {cfg.pooling!r} is for text classification; {task.title} does not pool "
                             "(leave it at 'auto').")
    if cfg.dp_epsilon is not None and task.capabilities.private_loss is None:
        raise WorkbenchError(f"differential privacy (dp_epsilon) is not available for {task.title}: "
                             f"{task.capabilities.private_refusal}.")
    return resolved, data


def plan_private_run(cfg: RunConfig, resolved: ResolvedModel, data: LoadedData):
    """For a run with ``dp_epsilon``: its noise multiplier, after checking that Opacus can train the model.

    Builds the model once (a few seconds) so an unsupported layer is refused before a run directory exists.
    ``cfg`` has the task's defaults applied. None for a run without differential privacy.
    """
    if cfg.dp_epsilon is None:
        return None
    from transformers.utils import logging as hf_logging

    from workbench.core.training import privacy

    plan = privacy.plan_privacy(cfg, len(data.train))
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    # The worker prints the model's load report; the command line need not.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        privacy.check_model(get_task(data.schema.task).build_model(resolved.path, data, cfg))
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    return plan


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def planned_steps(cfg: RunConfig, n_train: int) -> int:
    per_step = cfg.batch_size * cfg.grad_accum * world_size()
    if cfg.max_steps:
        return int(cfg.max_steps)
    return max(1, math.ceil(cfg.epochs * math.ceil(n_train / per_step)))


def optimizer_name() -> str:
    """Fused AdamW (one kernel for the whole update) where this torch has it, on CPU and GPU alike."""
    import torch

    try:
        torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return "adamw_torch"
    return "adamw_torch_fused"


def training_arguments(cfg: RunConfig, run_dir: Path, n_train: int, main_metric: str, greater_is_better: bool = True,
                       loss_uses_num_items: bool = False):
    # Under differential privacy each example's gradient is clipped (dp_max_grad_norm); clipping the noisy sum
    # again would only shrink the update.
    """The Trainer's arguments for ``cfg``.

    ``loss_uses_num_items``: the model's loss divides by the token count the Trainer passes
    (``num_items_in_batch``, e.g. causal-LM losses). Only then may the Trainer average tokens across devices: it
    multiplies the loss by the number of processes, which for a plain mean loss (sequence classification) would
    double the reported loss and the gradients under two processes (measured).
    """
    from transformers import TrainingArguments

    cuda = cuda_available()
    precision = resolve_precision(cfg)
    total = planned_steps(cfg, n_train)
    # At least ~20 points on the loss curve, however short the run.
    logging_steps = max(1, min(cfg.logging_steps, total // 20))
    strategy = cfg.eval_strategy
    return TrainingArguments(
        output_dir=str(run_dir / CHECKPOINTS_DIR),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        auto_find_batch_size=cfg.auto_find_batch_size,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio in transformers 5
        lr_scheduler_type=cfg.scheduler,
        max_grad_norm=0.0 if cfg.dp_epsilon is not None else cfg.max_grad_norm,
        optim=optimizer_name(),
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        tf32=True if cuda else None,
        torch_compile=cfg.torch_compile,
        # Length grouping is done by our BucketedLengthSampler (WorkbenchTrainer), not the Trainer's sampler.
        train_sampling_strategy="random",
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=cfg.eval_steps if strategy == "steps" else None,
        save_steps=cfg.eval_steps if strategy == "steps" else None,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=main_metric,
        greater_is_better=greater_is_better,
        logging_strategy="steps",
        logging_steps=logging_steps,
        logging_first_step=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=2 if cuda else 0,
        dataloader_pin_memory=cuda,
        dataloader_persistent_workers=cuda,
        ddp_backend="gloo" if world_size() > 1 and not cuda else None,
        ddp_find_unused_parameters=False,
        average_tokens_across_devices=loss_uses_num_items,
        # The run store is written by RunStoreCallback whatever this says; trackers get a copy of the same logs.
        report_to=cfg.trackers() or "none",
        run_name=run_dir.name,  # the run id, as wandb/mlflow/trackio name their run
        project="sft-workbench",  # trackio's project (only trackio reads it)
        disable_tqdm=True,
        use_cpu=not cuda,
        save_only_model=False,
    )


def make_trainer(lengths: list[int] | None, privacy_plan=None, private_loss: str | None = None, accountant=None,
                 eval_extras=None, eval_lengths: list[int] | None = None, clock: PhaseClock | None = None, **kwargs):
    """A Trainer whose training batches come from :class:`BucketedLengthSampler` when ``lengths`` is given, or
    that trains with DP-SGD (``training/privacy.py``) when ``privacy_plan`` is given. ``eval_extras`` (the task's,
    ``Task.eval_extras``) adds metrics to every evaluation while ``trainer.eval_extras_on`` is true.
    ``eval_lengths`` (tasks whose metrics do not depend on the order of the eval examples) makes evaluations walk
    the eval set from the longest example to the shortest, so each batch holds similar lengths. ``clock`` times the
    evaluations and checkpoints (``timings.PhaseClock``)."""
    from contextlib import nullcontext

    from transformers import Trainer

    from workbench.core.training.sampler import BucketedLengthSampler, LengthSortedSampler

    def timed(name: str):
        return clock.phase(name) if clock is not None else nullcontext()

    eval_sampler = LengthSortedSampler(eval_lengths) if eval_lengths is not None else None

    class WorkbenchTrainer(Trainer):
        eval_extras_on = True

        def _get_train_sampler(self, train_dataset=None):
            if lengths is None:
                return super()._get_train_sampler(train_dataset)
            return BucketedLengthSampler(lengths, self.args.train_batch_size, seed=self.args.seed)

        def _get_eval_sampler(self, eval_dataset):
            # Only the run's own eval set (its columns may have been pruned into a new object: compare sizes).
            if eval_lengths is None or len(eval_dataset) != len(eval_lengths) or self.args.world_size > 1:
                return super()._get_eval_sampler(eval_dataset)
            return eval_sampler

        # Eval-set logits in input order by the step they were computed at (the latest and the best so far), for
        # tasks with batch-invariant evaluation: the final predictions of the best model need not be computed again.
        eval_logits: dict[int, Any]

        def _keep_eval_logits(self, output, prefix: str) -> None:
            logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
            if (eval_lengths is None or prefix != "eval" or self.args.world_size > 1 or logits is None
                    or len(logits) != len(eval_lengths)):
                return
            import numpy as np

            in_order = np.empty_like(logits)
            in_order[eval_sampler.order] = logits
            if not hasattr(self, "eval_logits"):
                self.eval_logits = {}
            keep = {self.state.global_step, self.state.best_global_step}
            self.eval_logits = {k: v for k, v in self.eval_logits.items() if k in keep}
            self.eval_logits[self.state.global_step] = in_order

        def evaluate(self, *args, **kw):
            with timed("evaluation"):
                return super().evaluate(*args, **kw)

        def _save_checkpoint(self, *args, **kw):
            with timed("checkpointing"):
                return super()._save_checkpoint(*args, **kw)

        def _load_best_model(self, *args, **kw):
            with timed("checkpointing"):
                return super()._load_best_model(*args, **kw)

        def evaluation_loop(self, *args, **kw):
            # The extras join the metrics before Trainer.evaluate logs them: one eval event, the best-checkpoint
            # choice and the callbacks all see them.
            output = super().evaluation_loop(*args, **kw)
            self._keep_eval_logits(output, kw.get("metric_key_prefix", "eval"))
            if eval_extras is not None and self.eval_extras_on:
                prefix = kw.get("metric_key_prefix", "eval")
                output.metrics.update({f"{prefix}_{k}": v for k, v in eval_extras(self.model).items()})
            return output

    if privacy_plan is None:
        return WorkbenchTrainer(**kwargs)
    from workbench.core.training.privacy import private_trainer_class

    return private_trainer_class(WorkbenchTrainer, privacy_plan, private_loss)(accountant=accountant, **kwargs)


def sweep_callbacks(writer: RunWriter) -> list:
    """A sweep trial reports its evaluations to the sweep's pruner (one process only: a pruning decision taken on
    rank 0 alone would leave the other ranks training)."""
    sweep = writer.info.get("sweep")
    if not sweep or not is_main_process() or world_size() > 1:
        return []
    from workbench.core.training.callbacks import SweepPruningCallback

    return [SweepPruningCallback(writer, sweep.get("metric") or "accuracy")]


@dataclass
class TrainOutcome:
    stopped: bool
    metrics: dict[str, Any]


def run_training(writer: RunWriter, *, resume: bool = False) -> TrainOutcome:
    """Train the run in ``writer.path`` to the end (or to a stop request) and write its results."""
    from transformers import AutoTokenizer, set_seed

    from workbench.core.runs import Run
    from workbench.core.training.callbacks import RunStoreCallback

    clock = PhaseClock()
    clock.add("startup", time.time() - clock.started)  # interpreter start and imports, before this line
    cfg = RunConfig.from_dict(writer.info["config"])
    run_dir = writer.path
    with clock.phase("data"):
        resolved, data = prepare(cfg)
    task = get_task(data.schema.task)
    # start_run resolves fields left empty (lr) before creating the run; a run created any other way (the
    # API, an older run.json) gets the same values here, and run.json records what training used.
    resolved_cfg = apply_task_defaults(cfg, data.schema.task, len(data.train))
    if resolved_cfg != cfg:
        cfg = resolved_cfg
        writer.update(config={**writer.info["config"],
                              **{k: getattr(cfg, k) for k in (*TASK_DEPENDENT_DEFAULTS, "finetune", "dp_head_lr")}})
    labels = data.schema.labels
    set_seed(cfg.seed)
    if is_main_process():
        for note in data.skip_notes():
            print(f"note: {note}.", flush=True)

    checkpoint = None
    if resume:
        checkpoint = Run(run_dir, writer.info).last_checkpoint()
        if checkpoint is None:
            raise WorkbenchError(f"run {writer.info.get('name')} has no complete checkpoint to resume from.")
        writer.truncate_metrics_after(int(checkpoint.name.split("-")[-1]))

    with clock.phase("model"):
        tokenizer = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=cfg.trust_remote_code)
        model = task.build_model(resolved.path, data, cfg)
        frozen_embeddings = freeze_embeddings(model, cfg, task)
    with clock.phase("data"):
        fingerprints = {"train": data.fingerprint("train"), "dev": data.fingerprint("dev")}
        cache = token_cache.cache_dir(run_dir)
        tokenised, hits = token_cache.tokenized(task, {"train": data.train, "dev": data.eval}, tokenizer, data, cfg,
                                                root=cache, fingerprints=fingerprints)
        train_ds, eval_ds = tokenised["train"], tokenised["dev"]
    if is_main_process() and hits:
        print(f"tokenised {' and '.join(hits)} split{'s' if len(hits) > 1 else ''} taken from the cache ({cache})", flush=True)

    plan = accountant = None
    if cfg.dp_epsilon is not None:
        from workbench.core.training import privacy

        frozen = privacy.check_model(model)
        plan = privacy.plan_privacy(cfg, len(train_ds))
        accountant = privacy.make_accountant(plan)
        print(plan.describe(), flush=True)
        print(f"frozen for differential privacy: {', '.join(frozen) or 'nothing'}", flush=True)
        if cfg.group_by_length:
            print("length-bucketed batches are off: differential privacy samples batches by Poisson sampling.", flush=True)
            cfg = cfg.updated(group_by_length=False)
            writer.update(config={**writer.info["config"], "group_by_length": False})
        if checkpoint is not None:
            print(privacy.restore_accountant(accountant, checkpoint, plan, int(checkpoint.name.split("-")[-1])), flush=True)
        trained = [name for name, p in model.named_parameters() if p.requires_grad]
        writer.update(privacy={**plan.to_dict(), "frozen": frozen,
                               "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                               "trained_layers": len(trained), "epsilon": privacy.epsilon_spent(accountant, plan)})
        if any("lora_" in name for name in trained) and all("lora_" in n or "modules_to_save" in n for n in trained):
            print("LoRA with differential privacy: only the adapter weights (and a task head) are trained, privately.",
                  flush=True)

    writer.update(
        task=data.schema.task,
        labels=labels,
        model_source={"ref": cfg.model, "path": resolved.path, "source": resolved.source, "name": resolved.display_name},
        data={
            "train": {"source": data.sources["train"], "rows": len(data.train), "fingerprint": fingerprints["train"],
                      "tokens_cached": "train" in hits,
                      "skipped": data.skipped_record("train")},
            "eval": {"source": data.sources["dev"], "rows": len(data.eval), "fingerprint": fingerprints["dev"],
                     "tokens_cached": "dev" in hits,
                     "origin": data.eval_split_origin, "skipped": data.skipped_record("dev")},
            **({"kind": data.kind, "languages": list(data.languages) if data.languages else None,
                "instruction": data.instruction} if data.kind else {}),  # source/target data as instructions
            "text_column": data.schema.text_column,
            "label_column": data.schema.label_column,
        },
        versions=package_versions((*PACKAGES, *(PIP_PACKAGES[t] for t in cfg.trackers()))),
        device=device_name(),
        world_size=world_size(),
        precision=resolve_precision(cfg),
        attention=resolve_attention(cfg),
        embeddings="frozen" if frozen_embeddings else "trained",
        parameters=sum(p.numel() for p in model.parameters()),
    )

    args = training_arguments(cfg, run_dir, len(train_ds), task.metrics.main, task.metrics.greater_is_better,
                              task.loss_uses_num_items)
    callback = RunStoreCallback(writer, samples_per_step=cfg.batch_size * cfg.grad_accum * world_size(),
                                is_main=is_main_process())
    # Before the Trainer is built: its tracker callbacks read their directories from the environment then.
    for line in apply_env(cfg.trackers(), run_dir):
        if is_main_process():
            print(line, flush=True)
    cuda = cuda_available()
    lengths = [len(ids) for ids in train_ds["input_ids"]] if cfg.group_by_length else None
    extras = task.eval_extras(data, tokenizer, cfg)
    trainer = make_trainer(
        lengths,
        privacy_plan=plan,
        private_loss=task.capabilities.private_loss,
        accountant=accountant,
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        data_collator=task.collator(tokenizer, pad_to_multiple_of=8 if cuda else None),
        compute_metrics=task.compute_metrics(data, tokenizer, cfg),
        callbacks=[*task.callbacks(data, cfg), callback, *sweep_callbacks(writer)],
        eval_extras=extras,
        eval_lengths=[len(ids) for ids in eval_ds["input_ids"]] if task.capabilities.batch_invariant_eval else None,
        clock=clock,
    )
    if checkpoint is not None and "tensorboard" in cfg.trackers() and is_main_process():
        tensorboard_resumes_at(trainer, int(checkpoint.name.split("-")[-1]))
    with clock.phase("training_steps"):  # less the evaluations and checkpoints inside it (their own phases)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if plan is not None:
        from workbench.core.training.privacy import epsilon_spent

        # The final (epsilon, delta), also for a stopped run: what its checkpoints have spent.
        writer.update(privacy={**writer.info["privacy"], "epsilon": epsilon_spent(accountant, plan),
                               "steps_taken": trainer.state.global_step})
    if callback.stopped_by_user:
        writer.update(timings=clock.record(parse_iso(writer.info.get("created"))))
        return TrainOutcome(stopped=True, metrics={})
    # Evaluation is collective under torchrun: every rank takes part, then only rank 0 writes.
    trainer.eval_extras_on = False  # the task's final evaluation below scores every example
    callback.final_evaluation = True  # the trackers get it; metrics.jsonl has it as the "final" event
    with clock.phase("final_evaluation"), final_evaluation_in_the_same_run(cfg.trackers() if is_main_process() else []):
        # A task's extras (causal-LM generation on a few examples) are left out of the final evaluation: evaluate.
        eval_metrics = best_evaluation(trainer) if extras is None else None
        if eval_metrics is None:
            eval_metrics = trainer.evaluate()
        else:  # the best model's evaluation during training: the same weights, the same numbers; logged once more
            trainer.log(eval_metrics)
    if not is_main_process():
        return TrainOutcome(stopped=False, metrics={})

    # Final evaluation of the best model (loaded at the end), with one record per example for comparisons.
    with clock.phase("final_predictions"):
        # Batch-invariant tasks in fp32: the logits of the evaluation that chose the best checkpoint, which are those
        # the task would compute (under bf16/fp16 autocast they are not: then the task computes them in fp32).
        logits = (getattr(trainer, "eval_logits", {}).get(best_step(trainer))
                  if resolve_precision(cfg) == "fp32" else None)
        report, records = task.final_evaluation(trainer.model, tokenizer, data, cfg, logits=logits)
        atomic_write_text(run_dir / PREDICTIONS_FILE,
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))

    with clock.phase("saving_model"):
        save_final_model(trainer, task, tokenizer, run_dir)

    scalars = task.metrics.scalars
    # extra_metrics: scores a task computes only in its final evaluation (causal-LM SFT: generation metrics).
    metrics = task.final_metrics({**{k: report[k] for k in scalars}, "eval_loss": eval_metrics.get("eval_loss"),
                                  **(report.pop("extra_metrics", None) or {})})
    if plan is not None:
        metrics.update(epsilon=writer.info["privacy"]["epsilon"], delta=plan.delta)
    state = trainer.state
    writer.update(
        metrics=metrics,
        evaluation={k: v for k, v in report.items() if k not in scalars},
        best_metric={"name": task.metrics.main, "value": state.best_metric,
                     "checkpoint": Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None},
    )
    writer.append_metrics({"kind": "final", "step": state.global_step, "epoch": state.epoch, **metrics})
    writer.update(timings=clock.record(parse_iso(writer.info.get("created"))))
    return TrainOutcome(stopped=False, metrics=metrics)


def save_final_model(trainer, task, tokenizer, run_dir: Path) -> None:
    """Save the final model beside, then swap it in: a reader never sees a half-written model/."""
    tmp = run_dir / f".{MODEL_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    to_save = task.model_to_save(trainer.model)  # encoder tasks: LoRA merged into the base weights
    if to_save is trainer.model:
        trainer.save_model(str(tmp))
    else:
        to_save.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; the config lives in run.json
    final = run_dir / MODEL_DIR
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def best_step(trainer) -> int | None:
    """The step of the checkpoint the Trainer loaded as best at the end of training, or None."""
    state = trainer.state
    if not state.best_model_checkpoint or not trainer.args.load_best_model_at_end:
        return None
    try:
        return int(Path(state.best_model_checkpoint).name.rsplit("-", 1)[-1])
    except ValueError:
        return None


def best_evaluation(trainer) -> dict[str, Any] | None:
    """The eval metrics logged during training for the checkpoint the Trainer loaded as best, or None when there is
    none (no evaluation ran, or the best checkpoint is unknown): then the caller evaluates again. The loaded weights
    are those that evaluation saw, so evaluating them once more would only repeat it."""
    step = best_step(trainer)
    if step is None:
        return None
    for entry in reversed(trainer.state.log_history):
        if entry.get("step") == step and "eval_loss" in entry:
            return {k: v for k, v in entry.items() if k.startswith("eval_")}
    return None


def freeze_embeddings(model, cfg: RunConfig, task) -> bool:
    """Keep the word-embedding matrix fixed in full fine-tuning when the run says so (``embeddings``; ``auto``: the
    task's default). Returns whether it is frozen. LoRA leaves it frozen anyway."""
    if not embeddings_frozen(cfg, task.name):
        return False
    embeddings = model.get_input_embeddings()
    if embeddings is None:
        return False
    embeddings.weight.requires_grad_(False)
    return True
