"""Run configuration: one dataclass whose field metadata drives the CLI, the YAML files and the TUI form.

Every field carries ``help`` and ``group`` metadata (and ``choices`` where the value is one of a few).
``field_info()`` hands them out: ``workbench.cli.flags`` generates the ``train`` flags from it and the
Configure form its rows. ``validate()`` returns per-field messages so the TUI can show them inline;
``check()`` raises one ``WorkbenchError`` for the CLI.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError, first_line, shown
from workbench.core.pooling import POOLINGS
from workbench.core.tasks import TASK_DEPENDENT_DEFAULTS, TASKS as REGISTERED_TASKS

__all__ = ["RunConfig", "TASK_DEPENDENT_DEFAULTS", "TASKS"]

TASKS = ("auto", *REGISTERED_TASKS)  # the --task choices: the registry's tasks, or inferred from the data

FINETUNE_METHODS = ("auto", "full", "lora")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
EMBEDDINGS = ("auto", "train", "freeze")
ATTENTIONS = ("auto", "sdpa", "eager")
EVAL_STRATEGIES = ("epoch", "steps")
SCHEDULERS = ("linear", "cosine", "constant_with_warmup")
DP_ACCOUNTANTS = ("prv", "rdp")
DP_CLIPPINGS = ("flat", "head")  # workbench/core/training/privacy.py says what each does
# report_to: the Trainer integrations offered (transformers' own callbacks; training/trackers.py keeps them local).
TRACKERS = ("tensorboard", "trackio", "mlflow", "wandb")
# Causal-LM SFT: the generation metrics (tasks/causal_lm_sft/generation.py computes them).
GENERATION_METRICS = ("rouge", "bleu", "chrf", "exact_match")
MAX_DP_EPSILON = 100.0
DEFAULT_MODEL = "default"


def _f(default: Any, help: str, group: str, **extra: Any) -> Any:
    """A field with its metadata. ``help`` is the long form (the form's help line, YAML readers); ``extra`` may
    hold ``choices``, ``comma_separated=True`` (a text of comma-separated names, which YAML may also give as a
    list), and for the command line ``flag`` (the flag's name when it is not the field's: ``--strict`` for
    ``strict_data``), ``flag_help`` (a shorter help; default: ``help`` plus the default), ``metavar``,
    ``exclusive`` (the name of a group of flags that exclude each other) and ``negatable=False`` (a bool flag
    without its ``--no-`` form); for the form ``placeholder``."""
    kwargs = {"default": default} if not callable(default) else {"default_factory": default}
    return field(metadata={"help": help, "group": group, **extra}, **kwargs)


@dataclass
class RunConfig:
    # --- data ---
    data: str = _f("", "Training data: a file (CSV/TSV/JSON/JSONL/Parquet) or a folder with train/dev files.", "data",
                   flag_help="training data (file or folder)", placeholder="a file or folder (or pick one on Datasets, key 2)")
    eval_data: str | None = _f(None, "Evaluation data; default: the folder's dev/validation split, else a stratified split of train.", "data",
                               flag_help="evaluation data (default: the folder's dev split or a stratified 10% of train)",
                               placeholder="dev split of the data, else 10% of train")
    text_column: str | None = _f(None, "Column holding the input text (inferred when empty).", "data", placeholder="inferred")
    label_column: str | None = _f(None, "Column holding the label (inferred when empty).", "data", placeholder="inferred")
    task: str = _f("auto", "Task; 'auto' infers it from the data.", "data", choices=TASKS,
                   flag_help="task (default: inferred from the data)")
    dev_fraction: float = _f(0.1, "Fraction of train held out as dev when no eval data is given.", "data")
    max_length: int | None = _f(None, "Maximum tokens per example (a window, for question answering); longer inputs are truncated; empty: the task's default (128; 384 for question answering).", "data",
                                placeholder="task default: 128, QA 384")
    doc_stride: int = _f(128, "Question answering: tokens two consecutive windows of a long passage share.", "data",
                         flag_help="question answering: overlap of consecutive passage windows (default: 128)")
    strict_data: bool = _f(False, "Refuse the data if any row cannot be used (an empty label or output, a ragged sentence, an answer not in its passage); off: such rows are skipped, counted and named, while they are at most 1% of a split.", "data",
                           flag="--strict", flag_help="refuse the data if any row cannot be used (default: off: such rows "
                           "are skipped and named while they are at most 1% of a split)")
    # --- model ---
    model: str = _f(DEFAULT_MODEL, "Model: a local HF directory, a hub id, or 'default' (the task's embedded model: all-MiniLM-L6-v2; SmolLM2-135M-Instruct for causal-LM SFT).", "model",
                    flag_help="model directory, hub id, or 'default' (embedded all-MiniLM-L6-v2; SmolLM2-135M-Instruct for causal-LM SFT)")
    trust_remote_code: bool = _f(False, "Allow model repositories to run their own Python code (off unless you trust it).", "model",
                                 flag_help="allow the model's own Python code (off by default)", negatable=False)
    pooling: str = _f("auto", "Text classification: what the classifier reads: 'first' BERT's pooler over the first token, 'mean' the mean of the last layer over the text's tokens (how sentence encoders such as the default all-MiniLM-L6-v2 were trained; BERT-architecture models); auto: mean in a private run (dp_epsilon), first otherwise.", "model",
                      choices=POOLINGS, flag_help="text classification: classify from the first token's pooler or the mean of the last layer (default: auto: mean with --dp-epsilon)")
    # --- training ---
    epochs: float = _f(3.0, "Passes over the training data.", "training", exclusive="length")
    max_steps: int | None = _f(None, "Stop after this many optimiser steps (overrides epochs).", "training", exclusive="length",
                             placeholder="none: use epochs")
    batch_size: int | None = _f(None, "Training examples per step (per device); with differential privacy the expected size of a Poisson-sampled batch; empty: 32, or with dp_epsilon 1,024 (at most an eighth of the data).", "training",
                                flag_help="training examples per step (default: 32; with --dp-epsilon 1,024, at most an eighth of the data)", placeholder="32; 1,024 with differential privacy")
    eval_batch_size: int | None = _f(None, "Examples per evaluation batch; empty: the task's default (128; 16 for causal-LM SFT, whose evaluation holds logits over the whole vocabulary).", "training",
                                     flag_help="examples per evaluation batch (default: 128; 16 for causal-LM SFT)", placeholder="128; 16 for causal-LM SFT")
    lr: float | None = _f(None, "Peak learning rate; empty: the task's default (5e-5; 2e-4 for token classification, 1e-4 for question answering; a private LoRA run, dp_epsilon set: 1e-2 for text classification, 5e-4 for the others).", "training",
                        placeholder="task default: 5e-5, NER 2e-4, QA 1e-4")
    weight_decay: float = _f(0.01, "AdamW weight decay (not applied to biases and LayerNorm).", "training")
    warmup_ratio: float = _f(0.06, "Fraction of steps spent warming the learning rate up.", "training")
    scheduler: str = _f("linear", "Learning-rate schedule after warm-up.", "training", choices=SCHEDULERS)
    grad_accum: int = _f(1, "Gradient accumulation steps.", "training")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm.", "training")
    group_by_length: bool = _f(True, "Batch examples of similar length together (less padding, faster).", "training",
                               flag_help="batch examples of similar length together (default: on)")
    precision: str = _f("auto", "Numeric precision: auto picks bf16 on GPUs and CPUs that support it natively (AVX512-BF16/AMX), fp16 on older GPUs, else fp32; weights stay fp32 (autocast).", "training", choices=PRECISIONS)
    seed: int = _f(42, "Random seed (data order, initialisation, dev split).", "training")
    # --- evaluation and checkpoints ---
    eval_strategy: str = _f("epoch", "When to evaluate and checkpoint: each epoch or every eval_steps.", "evaluation", choices=EVAL_STRATEGIES)
    eval_steps: int = _f(500, "Steps between evaluations when eval_strategy is 'steps'.", "evaluation")
    logging_steps: int = _f(10, "Steps between train-loss log lines.", "evaluation")
    report_to: str = _f("none", "Experiment trackers that also get the train and eval logs, comma-separated: tensorboard, trackio, mlflow, wandb; their files go in the run directory (wandb offline unless WANDB_MODE is set). The run store stays the record; 'none': no tracker.", "evaluation",
                        flag_help="also log to these trackers, comma-separated: tensorboard, trackio, mlflow, wandb (default: none)",
                        metavar="NAMES", comma_separated=True)
    save_total_limit: int = _f(2, "Checkpoints kept on disk (the best one is always kept).", "evaluation")
    # --- performance ---
    attention: str = _f("auto", "Attention kernel: auto uses SDPA on GPU and on CPUs that train in fp32, eager attention on CPUs that train in bf16 (faster there, measured).", "performance", choices=ATTENTIONS,
                     flag_help="attention kernel (auto: eager on a CPU under bf16, else SDPA)")
    embeddings: str = _f("auto", "Word embeddings in full fine-tuning: 'train' updates them, 'freeze' keeps the pretrained matrix fixed (no gradient, AdamW state or update for half of the default encoder's weights; a model with tied input and output embeddings freezes both); auto: freeze for text classification, train for the other tasks.", "performance",
                         choices=EMBEDDINGS, flag_help="train or freeze the word embeddings (auto: freeze for text classification)")
    torch_compile: bool = _f(False, "Compile the model with torch.compile (slow start; pays off on long GPU runs).", "performance",
                             flag_help="compile the model with torch.compile")
    auto_find_batch_size: bool = _f(False, "On a GPU out-of-memory error, halve the batch size and retry instead of failing.", "performance",
                                    flag_help="halve the batch size on GPU out-of-memory instead of failing")
    # --- distributed ---
    nproc: int = _f(1, "Training processes on this machine (one per GPU), launched with torchrun; 1 = no launcher.", "distributed",
                 flag_help="processes on this machine (one per GPU), launched with torchrun")
    nnodes: int = _f(1, "Machines taking part; each runs the same command with its own node_rank.", "distributed",
                  flag_help="machines taking part (run the same command on each)")
    node_rank: int = _f(0, "This machine's rank among the nodes (0 writes the run store).", "distributed",
                     flag_help="this machine's rank (0 writes the run store)")
    master_addr: str = _f("127.0.0.1", "Address of the node with node_rank 0 (several nodes only).", "distributed",
                       flag_help="address of the node with rank 0")
    master_port: int = _f(29500, "Rendezvous port on the node with node_rank 0 (several nodes only; one machine picks a free port).", "distributed",
                       flag_help="rendezvous port on the node with rank 0")
    # --- lora ---
    finetune: str = _f("auto", "Train all weights ('full') or LoRA adapters through peft ('lora'; encoder tasks save them merged into the model); 'auto': full, or LoRA with dp_epsilon.", "lora", choices=FINETUNE_METHODS,
                      flag_help="full fine-tuning or LoRA adapters (default: auto: full, LoRA with --dp-epsilon)")
    lora_r: int = _f(16, "LoRA rank.", "lora", flag_help="LoRA rank (default: 16)")
    lora_alpha: int = _f(32, "LoRA scaling alpha (the update is scaled by alpha/r).", "lora", flag_help="LoRA alpha (default: 32)")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA path.", "lora", flag_help="LoRA dropout (default: 0.05)")
    lora_target_modules: str = _f("auto", "Comma-separated module names to adapt; 'auto' uses peft's default for the architecture.", "lora",
                                 flag_help="comma-separated modules to adapt (default: auto, per architecture)", metavar="NAMES")
    # --- causal-LM SFT: instructions from source/target data, generation-based evaluation ---
    instruction: str | None = _f(None, "Causal-LM SFT on summarisation or translation data (document/summary or source/target columns, parallel text): the instruction put before each source; empty: the preset ('Summarise:', 'Translate English to German:').", "generation",
                                 placeholder="preset")
    generation_metrics: str = _f("auto", "Causal-LM SFT: score greedy generations on the eval set with these metrics, comma-separated: rouge, bleu, chrf, exact_match; 'auto': BLEU and chrF for translation data, ROUGE for summaries, none for other instructions; 'none': loss only.", "generation",
                                 metavar="NAMES", comma_separated=True)
    max_new_tokens: int = _f(128, "Causal-LM SFT: tokens generated at most per eval example.", "generation")
    generation_eval_limit: int = _f(100, "Causal-LM SFT: eval examples generated and scored at each evaluation during training (0: none); the final evaluation generates for all of them.", "generation")
    # --- privacy (differentially private training, DP-SGD through Opacus) ---
    dp_epsilon: float | None = _f(None, "Differential privacy: the target epsilon for the whole run (DP-SGD with Opacus: per-example clipping, noise, Poisson-sampled batches); empty: no privacy.", "privacy",
                                  flag_help="train with differential privacy (DP-SGD) to this target epsilon", metavar="EPSILON",
                                  placeholder="none: no differential privacy")
    dp_delta: float | None = _f(None, "Differential privacy: delta; empty: the power of ten below 1/N (N = training examples).", "privacy",
                                flag_help="DP delta (default: the power of ten below 1/N, N = training examples)", metavar="DELTA",
                                placeholder="power of ten below 1/N")
    dp_max_grad_norm: float = _f(1.0, "Differential privacy: each example's gradient is clipped to this L2 norm before noise is added.", "privacy",
                                 flag_help="DP per-example gradient clipping bound (default: 1.0)")
    dp_accountant: str = _f("prv", "Differential privacy: the privacy accountant (Opacus's PRV, or RDP: a looser bound).", "privacy",
                            choices=DP_ACCOUNTANTS, flag_help="DP accountant: prv (default) or rdp")
    dp_head_lr: float | None = _f(None, "Differential privacy: the learning rate of the task head (the classifier on the encoder); empty: 5e-2 in a private run, whose few steps would leave a head at the learning rate of the rest predicting one label.", "privacy",
                                  flag_help="DP learning rate of the task head (default: 5e-2)", metavar="LR",
                                  placeholder="5e-2")
    dp_clipping: str = _f("flat", "Differential privacy: 'flat' clips each example's whole gradient to dp_max_grad_norm; 'head' clips the task head's part and the rest's part apart, each to dp_max_grad_norm/sqrt(2) (the same bound in all, so the same noise), so a head with large gradients does not take the bound from the rest.", "privacy",
                          choices=DP_CLIPPINGS, flag_help="DP per-example clipping: flat (default) or head (the task head and the rest apart)")
    dp_physical_batch_size: int = _f(32, "Differential privacy: examples per forward/backward pass; a Poisson-sampled batch of about batch_size examples is split into passes of this size (memory).", "privacy",
                                     flag_help="DP examples per forward/backward pass (memory; default: 32)")
    # --- run ---
    name: str | None = _f(None, "Run name (letters, digits, '-', '_', '.'); default: derived from data and model.", "run",
                          flag_help="run name", placeholder="derived from data and model")

    # ------------------------------------------------------------------ helpers
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def field_info(cls) -> list[dict[str, Any]]:
        """Per field: name, type (its annotation as text), kind (the value type without None: str, int, float
        or bool), default, help, group and choices, and what a command-line flag or a form row needs (flag,
        flag_help, metavar, exclusive, negatable, placeholder; see ``_f``)."""
        info = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else None
            meta = f.metadata
            info.append({
                "name": f.name,
                "type": f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)),
                "kind": field_kind(f.name),
                "default": default,
                "help": meta["help"],
                "group": meta["group"],
                "choices": meta.get("choices"),
                "flag": meta.get("flag", flag_name(f.name)),
                "flag_help": meta.get("flag_help"),
                "metavar": meta.get("metavar"),
                "exclusive": meta.get("exclusive"),
                "negatable": meta.get("negatable", True),
                "placeholder": meta.get("placeholder", ""),
            })
        return info

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "RunConfig":
        if not isinstance(data, dict):
            raise WorkbenchError(f"{source} must be a mapping of settings, not {type(data).__name__}.")
        known = set(cls.field_names())
        unknown = [k for k in data if k not in known]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), known, n=1)
                hints.append(f"'{shown(key)}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            raise WorkbenchError(f"{source} has unknown setting(s): {', '.join(hints)}.")
        cfg = cls()
        for key, value in data.items():
            setattr(cfg, key, coerce_value(key, value))
        return cfg

    def updated(self, **overrides: Any) -> "RunConfig":
        """A copy with the non-None overrides applied (how CLI flags beat YAML values)."""
        data = self.to_dict()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return RunConfig.from_dict(data)

    def with_absolute_paths(self, base: str | Path | None = None) -> "RunConfig":
        """Data and local-model paths made absolute, so the worker (which runs in the run directory) finds them."""
        from workbench.paths import expand_user, path_exists

        base = Path(base or Path.cwd())
        out = RunConfig.from_dict(self.to_dict())
        for name in ("data", "eval_data", "model"):
            value = getattr(out, name)
            if value and isinstance(value, str) and path_exists(candidate := base / expand_user(value)):
                setattr(out, name, str(candidate.resolve()))
        return out

    def validate(self) -> dict[str, str]:
        """Per-field error messages (empty when valid). Checks only what needs no data or model."""
        errors: dict[str, str] = {}

        def positive(name: str, value: Any, integer: bool = False) -> None:
            if value is None:
                return
            try:
                number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            except OverflowError:  # an integer beyond any float (YAML reads 400 digits as one)
                errors[name] = f"{name} is far too large, got {_got(value)}."
                return
            if number is None or (integer and not (math.isfinite(number) and number.is_integer())):
                errors[name] = f"{name} must be a {'whole ' if integer else ''}number, got {_got(value)}."
            elif not math.isfinite(number) or number <= 0:
                errors[name] = f"{name} must be greater than 0, got {_got(value)}."

        for name in ("data", "eval_data", "text_column", "label_column", "model", "master_addr"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                errors[name] = f"{name} must be text, got {shown(repr(value))}."
        if not self.data and "data" not in errors:
            errors["data"] = "data is required: a file or folder with training examples."
        for name in ("epochs", "lr"):
            positive(name, getattr(self, name))
        for name in ("batch_size", "eval_batch_size", "grad_accum", "logging_steps", "eval_steps", "save_total_limit",
                     "nproc", "nnodes", "master_port"):
            positive(name, getattr(self, name), integer=True)
        positive("max_steps", self.max_steps, integer=True)
        positive("max_length", self.max_length, integer=True)
        if isinstance(self.doc_stride, bool) or not isinstance(self.doc_stride, int) or self.doc_stride < 0:
            # Whether it fits max_length is the QA task's check (it needs the task's default max_length).
            errors["doc_stride"] = f"doc_stride must be a non-negative whole number, got {_got(self.doc_stride)}."
        positive("max_grad_norm", self.max_grad_norm)
        positive("dp_epsilon", self.dp_epsilon)
        if "dp_epsilon" not in errors and self.dp_epsilon is not None and self.dp_epsilon > MAX_DP_EPSILON:
            # Beyond this the guarantee means nothing, and the PRV accountant's search for a near-zero noise
            # multiplier takes minutes (measured: ε = 1e6 did not return in 2 minutes).
            errors["dp_epsilon"] = (f"dp_epsilon must be at most {MAX_DP_EPSILON:g} (a larger ε protects nothing), "
                                    f"got {_got(self.dp_epsilon)}.")
        positive("dp_max_grad_norm", self.dp_max_grad_norm)
        positive("dp_physical_batch_size", self.dp_physical_batch_size, integer=True)
        positive("dp_head_lr", self.dp_head_lr)
        if self.dp_delta is not None and "dp_delta" not in errors:
            if isinstance(self.dp_delta, bool) or not isinstance(self.dp_delta, (int, float)) or not 0 < self.dp_delta < 1:
                errors["dp_delta"] = f"dp_delta must be between 0 and 1 (exclusive), got {_got(self.dp_delta)}."
        errors.update(self._privacy_conflicts(errors))
        positive("lora_r", self.lora_r, integer=True)
        positive("lora_alpha", self.lora_alpha)
        if isinstance(self.lora_dropout, bool) or not isinstance(self.lora_dropout, (int, float)) or not 0 <= self.lora_dropout < 1:
            errors["lora_dropout"] = f"lora_dropout must be between 0 and 1 (exclusive), got {_got(self.lora_dropout)}."
        problem = _report_to_problem(self.report_to)
        if problem:
            errors["report_to"] = problem
        problem = _generation_metrics_problem(self.generation_metrics)
        if problem:
            errors["generation_metrics"] = problem
        positive("max_new_tokens", self.max_new_tokens, integer=True)
        if isinstance(self.generation_eval_limit, bool) or not isinstance(self.generation_eval_limit, int) or self.generation_eval_limit < 0:
            errors["generation_eval_limit"] = f"generation_eval_limit must be a whole number ≥ 0, got {_got(self.generation_eval_limit)}."
        if not isinstance(self.lora_target_modules, str) or not self.lora_target_modules.strip():
            errors["lora_target_modules"] = "lora_target_modules must be 'auto' or comma-separated module names."
        if "lr" not in errors and self.lr is not None and self.lr >= 1.0:
            errors["lr"] = f"lr {self.lr} is far too large for fine-tuning (typical: 1e-5 to 1e-3)."
        for name, lo, hi in (("weight_decay", 0.0, 1.0), ("warmup_ratio", 0.0, 0.99), ("dev_fraction", 0.01, 0.5)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (lo <= value <= hi):
                errors[name] = f"{name} must be between {lo} and {hi}, got {_got(value)}."
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            errors["seed"] = f"seed must be a non-negative whole number, got {_got(self.seed)}."
        elif self.seed >= 2**32:  # numpy and scikit-learn take 32-bit seeds
            errors["seed"] = f"seed must be below 2**32 (4294967296), got {_got(self.seed)}."
        if isinstance(self.node_rank, bool) or not isinstance(self.node_rank, int) or self.node_rank < 0:
            errors["node_rank"] = f"node_rank must be a non-negative whole number, got {_got(self.node_rank)}."
        elif isinstance(self.nnodes, int) and "nnodes" not in errors and self.node_rank >= self.nnodes:
            errors["node_rank"] = f"node_rank {self.node_rank} must be below nnodes ({self.nnodes})."
        if isinstance(self.master_port, int) and "master_port" not in errors and not 1 <= self.master_port <= 65535:
            errors["master_port"] = f"master_port must be a port number (1-65535), got {_got(self.master_port)}."
        for name in ("torch_compile", "auto_find_batch_size", "group_by_length", "trust_remote_code"):
            if not isinstance(getattr(self, name), bool):
                errors[name] = f"{name} must be true or false, got {_got(getattr(self, name))}."
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                errors[f.name] = f"{f.name} must be one of {', '.join(choices)}; got {_got(getattr(self, f.name))}."
        if not self.model and "model" not in errors:
            errors["model"] = "model is required ('default' for the task's embedded model)."
        if self.name is not None:
            from workbench.core.runs import name_problem

            problem = name_problem(self.name)
            if problem:
                errors["name"] = problem
        return errors

    def _privacy_conflicts(self, errors: dict[str, str]) -> dict[str, str]:
        """Settings that break the DP-SGD guarantee or Opacus, refused before launch (see ``training/privacy.py``)."""
        if self.dp_epsilon is None or "dp_epsilon" in errors:
            return {}
        found: dict[str, str] = {}
        if self.torch_compile is True:
            found["torch_compile"] = "torch_compile cannot be combined with dp_epsilon (Opacus's per-example gradient hooks do not run under torch.compile)."
        if (isinstance(self.nproc, int) and self.nproc > 1) or (isinstance(self.nnodes, int) and self.nnodes > 1):
            found["nproc"] = "dp_epsilon trains in one process: nproc and nnodes must be 1 (several processes are not supported with differential privacy)."
        if isinstance(self.grad_accum, int) and self.grad_accum > 1:
            found["grad_accum"] = ("grad_accum must be 1 with dp_epsilon: batch_size is the (expected) logical batch, and "
                                   "dp_physical_batch_size splits it into passes that fit in memory.")
        if self.auto_find_batch_size is True:
            found["auto_find_batch_size"] = ("auto_find_batch_size cannot be combined with dp_epsilon (a changed batch size "
                                             "changes the sampling rate the privacy budget was computed for); lower dp_physical_batch_size instead.")
        return found

    def trackers(self) -> list[str]:
        """The trackers ``report_to`` names, in order, without duplicates; [] for 'none' (a validated config)."""
        return [name for name in _names(self.report_to) if name != "none"]

    def check(self) -> "RunConfig":
        errors = self.validate()
        if errors:
            raise WorkbenchError(" ".join(errors.values()))
        return self

    # ------------------------------------------------------------------ YAML
    def to_yaml(self) -> str:
        header = (
            "# sft-workbench run configuration.\n"
            "# Load with: sft-workbench train --config THIS_FILE (command-line flags override values here).\n"
        )
        import yaml  # here, not at the top: `predict` and the other commands that never touch a config skip its ~14 ms

        return header + yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.to_yaml(), encoding="utf-8")
        except OSError as exc:
            raise WorkbenchError(f"cannot write config {path}: {exc.strerror or exc}.") from None
        return path

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        import yaml

        path = Path(path)
        if not path.is_file():
            raise WorkbenchError(f"config file not found: {path}")
        try:
            # safe_load: nothing in a config is ever evaluated as code.
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise WorkbenchError(f"{path} is not valid YAML: {first_line(exc)}") from None
        return cls.from_dict(data or {}, source=str(path))


_TYPES = {f.name: f.type for f in fields(RunConfig)}
_COMMA_SEPARATED = {f.name for f in fields(RunConfig) if f.metadata.get("comma_separated")}
_KINDS = {"str": str, "int": int, "float": float, "bool": bool}


def field_kind(name: str) -> type:
    """A field's value type without None: ``int | None`` is int."""
    return _KINDS[_TYPES[name].split("|")[0].strip()]


def flag_name(name: str) -> str:
    """A field's command-line flag: ``eval_data`` is ``--eval-data``."""
    return "--" + name.replace("_", "-")


def _names(text: str) -> list[str]:
    """Comma-separated names, stripped, empty ones and repeats left out."""
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def _report_to_problem(value: Any) -> str | None:
    """What is wrong with a ``report_to`` value, in one sentence naming the valid trackers; None when fine."""
    valid = f"valid: none, {', '.join(TRACKERS)} (comma-separated for several)"
    if not isinstance(value, str):
        return f"report_to must be tracker names, got {_got(value)}; {valid}."
    names = _names(value)
    unknown = [name for name in names if name not in (*TRACKERS, "none")]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, TRACKERS, n=1)
            hints.append(f"'{shown(name, 40)}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return f"report_to has unknown tracker(s) {', '.join(hints)}; {valid}."
    if "none" in names and len(names) > 1:
        return f"report_to 'none' cannot be combined with trackers, got {_got(value)}."
    return None


def _generation_metrics_problem(value: Any) -> str | None:
    valid = f"valid: auto, none, {', '.join(GENERATION_METRICS)} (comma-separated for several)"
    if not isinstance(value, str):
        return f"generation_metrics must be metric names, got {_got(value)}; {valid}."
    names = [n.lower() for n in _names(value)]
    unknown = [n for n in names if n not in (*GENERATION_METRICS, "auto", "none")]
    if unknown:
        return f"generation_metrics has unknown metric(s) {', '.join(repr(shown(n, 40)) for n in unknown)}; {valid}."
    if len(names) > 1 and {"auto", "none"} & set(names):
        return f"generation_metrics 'auto' and 'none' stand alone, got {_got(value)}."
    return None


def _got(value: Any) -> str:
    """A setting's value as a validation message shows it: its repr on one line, cut short."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more than 4,300 digits has no repr
        text = f"a number of about {int(value.bit_length() * 0.30103):,} digits" if isinstance(value, int) else type(value).__name__
    return shown(text, 80)


def coerce_value(name: str, value: Any) -> Any:
    """Turn a text value (from YAML or a form field) into the field's type; leave bad values for validate()."""
    kind = _TYPES[name]
    if name in _COMMA_SEPARATED and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)  # YAML `report_to: [tensorboard, mlflow]`
    if value is None or (isinstance(value, str) and value.strip() == "" and "None" in kind):
        return None
    if not isinstance(value, str):
        if "float" in kind and isinstance(value, int) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer beyond any float: validate() says what is wrong with it
                return value
        if kind.startswith("str") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # YAML reads `name: 2024` or `master_addr: 10` as numbers
        return value
    text = value.strip()
    try:
        if kind.startswith("bool"):
            lowered = text.lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            return text
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        return text
    return text
