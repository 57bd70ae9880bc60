"""Differentially private training: DP-SGD through Opacus, inside the Trainer (no hand-written loop).

What a run with ``dp_epsilon`` changes, and why:

- Batches are Poisson-sampled: each training example joins a step's batch with probability
  q = 1 / ceil(N / batch_size), independently (Opacus's ``UniformWithReplacementSampler``), which is what the
  accountant's analysis assumes. So ``batch_size`` is the *expected* batch and the length-bucketed sampler is off.
- Each example's gradient is computed (Opacus's per-sample gradient hooks), clipped to ``dp_max_grad_norm``,
  summed, given Gaussian noise of standard deviation sigma * dp_max_grad_norm and divided by the expected batch
  (Opacus's ``DPOptimizer``). sigma, the noise multiplier, is Opacus's ``get_noise_multiplier`` for the target
  (epsilon, delta), q and the planned number of steps.
- The loss each example's gradient comes from depends on that example alone (its own mean over tokens for
  token-level tasks): a batch-wide token mean would scale every example by the others' lengths, and the
  sensitivity argument behind the guarantee would no longer hold.
- A Poisson batch is split into forward/backward passes of ``dp_physical_batch_size`` examples; the optimizer
  accumulates the clipped gradients and steps only after the last pass, as Opacus's ``BatchMemoryManager``
  does, so memory depends on the physical size and the guarantee on the logical one.
- The embedding tables are frozen (Opacus materialises a per-example gradient as large as the whole table:
  30,522 x 384 floats an example for the default model). Measured on the default model, SST-2 rows, a logical
  batch of 256 on a 2-core Xeon: 18.1 s a step with the tables trained, 10.7 s frozen; pretrained embeddings
  are what private fine-tuning usually keeps (Yu et al. 2022).
- The accountant's history is saved with every checkpoint and restored on resume, so epsilon continues.

The guarantee is per training example (a row; a sentence for NER). Question answering is refused: one question's
passage windows are several examples, and a per-window guarantee is not the one a user would read it as.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from workbench.core.errors import WorkbenchError

ACCOUNTANT_FILE = "dp_accountant.json"
# A collated batch carries this key when Poisson sampling drew no example: the step still adds noise.
EMPTY_BATCH_KEY = "dp_empty_batch"
# Each example's loss, by what a task's labels are (``Capabilities.private_loss``).
PRIVATE_LOSSES = ("sequence", "token", "next-token")
# How each example's gradient is clipped (dp_clipping): "flat", all of it to dp_max_grad_norm C (Opacus's
# default), or "head", the task head's part and the rest's part apart, each to C / sqrt(2) (group-wise clipping,
# He et al. 2022). Both bound an example's whole gradient by C, so the noise (sigma * C) and the guarantee are the
# same; what differs is the share of the bound each part gets. Measured on the default model at initialisation
# (benchmarks/private_signal.py, LoRA, mean pooling, 256 SST-2 rows): an example's gradient norm is 3.7 on the
# classifier and 0.57 on the adapters, so flat clipping divides both by about 3.8 and the adapters keep a
# fifteenth of the bound; clipped apart they keep their whole gradient.


def default_delta(n_examples: int) -> float:
    """The power of ten strictly below 1/N: 1/N itself would let the mechanism reveal one example outright."""
    if n_examples < 1:
        raise WorkbenchError("differential privacy needs at least one training example.")
    exponent = math.floor(math.log10(1.0 / n_examples))
    delta = 10.0 ** exponent
    if delta >= 1.0 / n_examples:
        delta /= 10.0
    return float(f"{delta:.0e}")


@dataclass(frozen=True)
class PrivacyPlan:
    """What a private run's guarantee rests on, fixed before training (run.json records it)."""

    target_epsilon: float
    delta: float
    max_grad_norm: float
    accountant: str
    examples: int
    sample_rate: float
    steps: int
    noise_multiplier: float
    expected_batch_size: float
    physical_batch_size: int
    head_lr: float | None = None  # the task head's learning rate (dp_head_lr); None: the run's lr
    clipping: str = "flat"  # dp_clipping (DP_CLIPPINGS); runs from before it was a setting clipped flat

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "PrivacyPlan":
        """The plan in a run.json ``privacy`` record (which adds what training reports: ε spent, frozen layers)."""
        return cls(**{f: record[f] for f in cls.__dataclass_fields__ if f in record})  # head_lr: newer runs only

    def describe(self) -> str:
        return (f"differential privacy: target ε {self.target_epsilon:g}, δ {self.delta:.0e} → noise multiplier "
                f"{self.noise_multiplier:.3f} (Poisson sampling rate {self.sample_rate:.4g} over {self.examples:,} "
                f"examples, {self.steps:,} steps, {self.accountant.upper()} accountant, per-example clipping at "
                f"{self.max_grad_norm:g}{'' if self.clipping == 'flat' else ', the task head and the rest apart'})")


def plan_privacy(cfg, n_examples: int) -> PrivacyPlan:
    """The noise multiplier for ``cfg``'s target (epsilon, delta) on ``n_examples`` training examples."""
    from opacus.accountants.utils import get_noise_multiplier

    quiet_opacus_warnings()
    if cfg.batch_size > n_examples:
        raise WorkbenchError(f"batch_size {cfg.batch_size} is larger than the {n_examples:,} training examples; "
                             "differential privacy samples batches from the training set, so lower it.")
    steps_per_epoch = math.ceil(n_examples / cfg.batch_size)
    sample_rate = 1.0 / steps_per_epoch
    steps = int(cfg.max_steps) if cfg.max_steps else max(1, math.ceil(cfg.epochs * steps_per_epoch))
    delta = cfg.dp_delta if cfg.dp_delta is not None else default_delta(n_examples)
    try:
        sigma = get_noise_multiplier(target_epsilon=float(cfg.dp_epsilon), target_delta=delta,
                                     sample_rate=sample_rate, steps=steps, accountant=cfg.dp_accountant,
                                     epsilon_tolerance=0.01)
    except ValueError as exc:  # Opacus: "The target privacy budget is too low."
        raise WorkbenchError(f"no noise level reaches ε {cfg.dp_epsilon:g} at δ {delta:.0e} over {steps:,} steps "
                             f"({exc}); raise dp_epsilon or train fewer steps.") from None
    return PrivacyPlan(target_epsilon=float(cfg.dp_epsilon), delta=delta, max_grad_norm=float(cfg.dp_max_grad_norm),
                       accountant=cfg.dp_accountant, examples=n_examples, sample_rate=sample_rate, steps=steps,
                       noise_multiplier=float(sigma), expected_batch_size=n_examples * sample_rate,
                       physical_batch_size=int(cfg.dp_physical_batch_size),
                       head_lr=None if cfg.dp_head_lr is None else float(cfg.dp_head_lr),
                       clipping=str(getattr(cfg, "dp_clipping", "flat")))


# ------------------------------------------------------------------------------------------ the model
def freeze_embeddings(model) -> list[str]:
    """Freeze every trainable embedding table (see the module docstring); the names of those frozen."""
    import torch

    frozen = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Embedding) and module.weight.requires_grad:
            module.weight.requires_grad_(False)
            frozen.append(f"{name}.weight")
    return frozen


def unsupported_layers(model) -> list[str]:
    """Trainable layers Opacus cannot compute per-example gradients for (with the reason), empty when none."""
    from opacus.grad_sample import GradSampleModule
    from opacus.validators import ModuleValidator

    problems = [str(e).strip() for e in ModuleValidator.validate(model, strict=False)]
    problems += [str(e).strip() for e in GradSampleModule.validate(model, strict=False)]
    return list(dict.fromkeys(problems))


def check_model(model) -> list[str]:
    """Prepare ``model`` for DP-SGD: embeddings frozen, every trainable layer supported; the frozen names."""
    model.train()  # Opacus validates a model in training mode
    frozen = freeze_embeddings(model)
    if not any(p.requires_grad for p in model.parameters()):
        raise WorkbenchError("differential privacy: the model has nothing left to train once its embeddings are frozen.")
    problems = unsupported_layers(model)
    if problems:
        shown = "; ".join(p[:200] for p in problems[:3])
        raise WorkbenchError(f"differential privacy cannot train this model: Opacus cannot compute per-example "
                             f"gradients for {len(problems)} of its layers ({shown}).")
    return frozen


def quiet_opacus_warnings() -> None:
    """Two warnings every private run would print, neither actionable: Opacus's hooks on a model whose first
    layers are frozen, and the accountant's note that its largest order was the optimum (a bound, still valid)."""
    import warnings

    warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed with respect to module outputs")
    warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")


def add_grad_sample_hooks(model):
    """Opacus's per-example gradient hooks on ``model``'s trainable layers; the model itself is unchanged.

    The returned ``GradSampleModule`` owns the hooks (keep it); the Trainer keeps training, saving and
    evaluating the plain model, so checkpoints and ``model/`` read exactly as in other runs.
    """
    from opacus.grad_sample import GradSampleModule

    quiet_opacus_warnings()
    return GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True)


def upcast_grad_samples(params) -> None:
    """Per-example gradients in fp32 before they are clipped: under bf16 autocast Opacus computes most of them in
    bf16, and a norm summed in bf16 can read up to a few tenths of a percent low, letting a clipped gradient
    exceed the bound the guarantee rests on (and the noise would be drawn in bf16 too)."""
    import torch

    for p in params:
        sample = getattr(p, "grad_sample", None)
        if torch.is_tensor(sample) and sample.dtype != torch.float32:
            p.grad_sample = sample.float()


def per_example_loss(logits, labels, kind: str):
    """Each example's own loss (shape: batch): its cross-entropy, averaged over its own labelled tokens."""
    import torch.nn.functional as F

    logits = logits.float()
    if kind == "sequence":
        if logits.shape[-1] == 1:  # a regression head
            return F.mse_loss(logits.squeeze(-1), labels.float(), reduction="none")
        return F.cross_entropy(logits, labels, reduction="none")
    if kind == "next-token":
        logits, labels = logits[:, :-1, :], labels[:, 1:]
    elif kind != "token":
        raise ValueError(f"unknown private loss {kind!r}")
    token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                            reduction="none").view(labels.shape)
    counted = (labels != -100).sum(dim=1)
    return token.sum(dim=1) / counted.clamp(min=1)


# The modules a task puts on top of the pretrained model (sequence and token classifiers; peft keeps a trained
# copy under ``classifier.modules_to_save.default``): what ``dp_head_lr`` applies to.
HEAD_MODULES = ("classifier", "score")


def is_head_parameter(name: str) -> bool:
    return any(part in HEAD_MODULES for part in name.split("."))


def with_head_lr(optimizer, model, head_lr: float):
    """``optimizer`` (not stepped yet) with the task head's parameters moved into groups of their own at ``head_lr``;
    every other setting, the weight-decay split included, is kept. Unchanged when the model has no trained head."""
    names = {id(p): n for n, p in model.named_parameters()}
    groups, moved = [], False
    for group in optimizer.param_groups:
        settings = {k: v for k, v in group.items() if k != "params"}
        head, body = [], []
        for p in group["params"]:
            (head if is_head_parameter(names.get(id(p), "")) else body).append(p)
        moved = moved or bool(head)
        groups += [{**settings, "params": body}] if body else []
        groups += [{**settings, "params": head, "lr": float(head_lr)}] if head else []
    if moved:
        optimizer.param_groups.clear()  # no state yet: regrouping is all there is to change
        for group in groups:
            optimizer.add_param_group(group)
    return optimizer


def group_clipping_optimizer(optimizer, model, *, noise_multiplier: float, max_grad_norm: float,
                             expected_batch_size: int):
    """Opacus's DPOptimizer over ``optimizer`` with each example's gradient clipped in two groups, the task head's
    parameters and the rest, each to ``max_grad_norm / sqrt(2)``: an example's whole gradient still has norm at most
    ``max_grad_norm``, the bound the noise is scaled to (Opacus's own DPPerLayerOptimizer does the same per
    parameter). None when the model has no trained head or nothing else trained: flat clipping is then the same."""
    import torch
    from opacus.optimizers import DPOptimizer
    from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

    names = {id(p): n for n, p in model.named_parameters()}
    trained = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    in_head = [is_head_parameter(names.get(id(p), "")) for p in trained]
    if all(in_head) or not any(in_head):
        return None
    bound = max_grad_norm / math.sqrt(2.0)

    class GroupClippingDPOptimizer(DPOptimizer):
        def clip_and_accumulate(self):
            samples = self.grad_samples
            if len(samples[0]) == 0:  # an empty Poisson batch: nothing to clip, the noise still comes
                factors = [torch.zeros((0,), device=samples[0].device)] * len(self.params)
            else:
                norms = [g.reshape(len(g), -1).norm(2, dim=-1).to(samples[0].device) for g in samples]
                factors = []
                per_group = {}
                for head in (True, False):
                    members = [n for n, h in zip(norms, self._clip_groups) if h is head]
                    per_group[head] = (bound / (torch.stack(members, dim=1).norm(2, dim=1) + 1e-6)).clamp(max=1.0)
                factors = [per_group[h] for h in self._clip_groups]
            for p, factor in zip(self.params, factors):
                _check_processed_flag(p.grad_sample)
                grad_sample = self._get_flat_grad_sample(p).to(p.dtype)
                grad = torch.einsum("i,i...", factor.to(grad_sample.device).to(p.dtype), grad_sample)
                p.summed_grad = grad if p.summed_grad is None else p.summed_grad + grad
                _mark_as_processed(p.grad_sample)

    dp = GroupClippingDPOptimizer(optimizer, noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm,
                                  expected_batch_size=expected_batch_size, loss_reduction="mean")
    ids = {id(p): is_head_parameter(names.get(id(p), "")) for p in trained}
    dp._clip_groups = [ids.get(id(p), False) for p in dp.params]
    return dp


# ------------------------------------------------------------------------------------------ sampling
def poisson_batch_sampler(n_examples: int, sample_rate: float, steps: int, seed: int):
    """Opacus's Poisson sampler, reseeded per epoch from ``seed`` (so a resumed run draws the same batches)."""
    import torch
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    class PoissonBatchSampler(UniformWithReplacementSampler):
        def __init__(self):
            super().__init__(num_samples=n_examples, sample_rate=sample_rate, steps=steps,
                             generator=torch.Generator())
            self.epoch = 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = int(epoch)

        def __iter__(self) -> Iterator[list[int]]:
            self.generator.manual_seed(seed * 1_000_003 + self.epoch)
            return super().__iter__()

    return PoissonBatchSampler()


def collate_allowing_empty(collate, dataset):
    """``collate`` for Poisson batches: an empty draw becomes a marked one-example batch the step ignores."""
    import torch

    def collate_fn(features):
        if features:
            return collate(features)
        batch = collate([dataset[0]])
        batch[EMPTY_BATCH_KEY] = torch.ones(1)
        return batch

    return collate_fn


# ------------------------------------------------------------------------------------------ accounting
def make_accountant(plan: PrivacyPlan):
    from opacus.accountants import create_accountant

    return create_accountant(mechanism=plan.accountant)


def epsilon_spent(accountant, plan: PrivacyPlan) -> float:
    if not accountant.history:
        return 0.0
    return float(accountant.get_epsilon(delta=plan.delta))


def save_accountant(accountant, folder: Path) -> None:
    from workbench.core.runs import atomic_write_text

    state = accountant.state_dict()
    atomic_write_text(folder / ACCOUNTANT_FILE, json.dumps({"mechanism": accountant.mechanism(),
                                                            "history": [list(h) for h in state["history"]]}))


def restore_accountant(accountant, checkpoint: Path, plan: PrivacyPlan, step: int) -> str:
    """The accountant as it was at ``checkpoint``; how it was restored, for the log.

    Its saved history is the record; a checkpoint without one (written before the file, or by a worker
    killed between the two writes) is rebuilt from the step, which is exact because every step of a run
    has the same noise multiplier and sampling rate.
    """
    path = checkpoint / ACCOUNTANT_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        history = [(float(s), float(q), int(n)) for s, q, n in saved["history"]]
        accountant.load_state_dict({"history": history, "mechanism": saved["mechanism"]})
        return f"privacy accountant restored from {checkpoint.name} ({sum(n for _, _, n in history):,} steps)"
    except (OSError, ValueError, KeyError, TypeError):
        accountant.history = [(plan.noise_multiplier, plan.sample_rate, step)] if step else []
        return f"privacy accountant rebuilt from {checkpoint.name}'s step count ({step:,} steps)"


# ------------------------------------------------------------------------------------------ the Trainer
def private_trainer_class(base, plan: PrivacyPlan, loss_kind: str):
    """A subclass of the Trainer class ``base`` that trains with DP-SGD under ``plan``."""
    import torch

    class PrivateTrainer(base):
        def __init__(self, *args, accountant=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.privacy_plan = plan
            self.accountant = accountant if accountant is not None else make_accountant(plan)  # an empty one is falsy
            self._hooks = add_grad_sample_hooks(self.model)
            self._dp_optimizer = None

        # Poisson-sampled logical batches, whatever sampler the base class would use.
        def get_train_dataloader(self):
            from torch.utils.data import DataLoader

            dataset = self._remove_unused_columns(self.train_dataset, description="Training")
            sampler = poisson_batch_sampler(len(dataset), plan.sample_rate, math.ceil(1 / plan.sample_rate),
                                            self.args.seed)
            loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_allowing_empty(self.data_collator, dataset),
                                num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(loader)

        def create_optimizer(self, *args, **kwargs):
            from opacus.optimizers import DPOptimizer

            optimizer = super().create_optimizer(*args, **kwargs)
            if not isinstance(optimizer, DPOptimizer):
                if plan.head_lr is not None:
                    optimizer = with_head_lr(optimizer, self.model, plan.head_lr)
                settings = dict(noise_multiplier=plan.noise_multiplier, max_grad_norm=plan.max_grad_norm,
                                expected_batch_size=max(1, round(plan.expected_batch_size)))
                grouped = (group_clipping_optimizer(optimizer, self.model, **settings)
                           if plan.clipping == "head" else None)
                if plan.clipping == "head" and grouped is None:
                    print("dp_clipping head: the model has no task head trained apart from the rest; clipping each "
                          "example's gradient as a whole (the same bound, the same noise).", flush=True)
                self._dp_optimizer = grouped or DPOptimizer(optimizer, loss_reduction="mean", **settings)
                self._dp_optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=plan.sample_rate))
                self.optimizer = self._dp_optimizer
            return self.optimizer

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if not model.training or "labels" not in inputs:  # evaluation keeps the model's own loss
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            inputs = dict(inputs)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = per_example_loss(outputs.logits, labels, loss_kind).mean()
            return (loss, outputs) if return_outputs else loss

        def training_step(self, model, inputs, num_items_in_batch=None):
            dp = self._dp_optimizer
            # The Trainer zeroes only .grad after a step; the per-example gradients go here.
            dp.zero_grad(set_to_none=True)
            if inputs.pop(EMPTY_BATCH_KEY, None) is not None:
                for p in dp.params:  # nothing drawn: no gradient, but the step still adds its noise
                    p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)
                return torch.zeros((), device=self.args.device)
            n = len(inputs["input_ids"])
            size = plan.physical_batch_size
            total = torch.zeros((), device=self.args.device)
            starts = list(range(0, n, size))
            for k, start in enumerate(starts):
                chunk = {key: value[start:start + size] if torch.is_tensor(value) and value.dim() and len(value) == n
                         else value for key, value in inputs.items()}
                loss = super().training_step(model, chunk, None)
                upcast_grad_samples(dp.params)
                total = total + loss.detach() * len(chunk["input_ids"])
                if k < len(starts) - 1:
                    # Clip and accumulate this pass's examples, free their per-example gradients, no step yet.
                    dp.signal_skip_step(do_skip=True)
                    dp.step()
                    dp.zero_grad(set_to_none=True)
            return total / n

        def log(self, logs, *args, **kwargs):
            if "loss" in logs:
                # The Trainer's grad_norm is of the last pass's raw, unclipped, noiseless gradient: not private.
                logs = {k: v for k, v in logs.items() if k != "grad_norm"}
                logs["epsilon"] = round(epsilon_spent(self.accountant, plan), 4)
            return super().log(logs, *args, **kwargs)

        def _save_checkpoint(self, model, trial):
            super()._save_checkpoint(model, trial)
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            folder = Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            if folder.is_dir():
                save_accountant(self.accountant, folder)

    return PrivateTrainer
