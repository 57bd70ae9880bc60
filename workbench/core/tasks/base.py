"""The Task protocol: every member the rest of the workbench calls on a task.

A task is one package under ``workbench/core/tasks/`` (or anywhere, registered through the
``sft_workbench.tasks`` entry point group) whose ``__init__`` defines a subclass of :class:`Task` and an
instance named ``TASK``. Training, evaluation, export, predict, compare, bench, the CLI and the UI reach
task-specific code only through these members; none of them branches on a task's name.

The ``__init__`` of a task package must stay import-light: the UI reads ``name``, ``metrics`` and
``capabilities`` at start, and ``sft-workbench predict`` must not import torch. Members that need heavy
libraries import the package's own modules when called (:meth:`Task.part`). Where a member is the function of
the same name in the package's conventional module (``data.load_data``, ``train.tokenize``,
``report.eval_report``, ``compare.COMPARE`` …), :class:`Task` calls it for the subclass; the members that
differ between tasks are abstract.

Optional behaviour is declared, not probed: :attr:`Task.capabilities` says what a task supports beyond the
required members (the Playground's input kind, generated samples), and members with a
sensible default (no callbacks, no model check, final metrics as computed) are implemented here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import import_module
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

if TYPE_CHECKING:  # annotations only: importing these would make every task package heavy
    from workbench.core.datasets import LoadedData
    from workbench.core.runs import Run

Progress = Callable[[str], None]


class Metrics(NamedTuple):
    main: str                  # the run.json "metrics" key the best checkpoint is chosen by
    greater_is_better: bool
    scalars: tuple[str, ...]   # the keys of the final report copied into run.json "metrics"


@dataclass(frozen=True)
class Headline:
    """The figures a run table, Compare or Export shows for a run of this task, best first."""

    keys: tuple[str, ...]          # run.json "metrics" keys
    labels: tuple[str, ...]        # their column titles ("accuracy", "entity F1", "perplexity")
    digits: tuple[int, ...]        # decimals each is shown with


@dataclass(frozen=True)
class Capabilities:
    """What a task supports beyond the required members (declared; callers never probe with getattr)."""

    # What the Playground does with a text: "classify" (predict → labels and scores), "tag" (predict → entity
    # spans), "answer" (predict on a question and a passage → an answer span) or "generate" (stream → a response).
    playground: str = "classify"
    samples: bool = False          # runs record sample generations (Monitor and Compare show them)
    # Metrics the Monitor's eval chart draws beside the main one (question answering: exact match with F1).
    eval_curves: tuple[str, ...] = ()
    # Differentially private training (``dp_epsilon``): how one example's own loss is formed from the model's
    # logits and the labels: "sequence" (a label per example), "token" (labels per token, -100 ignored) or
    # "next-token" (per token, shifted by one); None refuses DP for the task, ``private_refusal`` saying why.
    private_loss: str | None = "sequence"
    private_refusal: str = ""
    # The eval loss and metrics do not depend on how the eval set is cut into batches or in which order (a mean of
    # per-example losses, metrics from predictions and labels alone): evaluations may then go longest example first,
    # with little padding. Not so for per-batch token means (NER, causal LM) or metrics mapped back by position (QA).
    batch_invariant_eval: bool = False
    # The classifier may read the mean of the last layer instead of the first token (``RunConfig.pooling``,
    # workbench.core.pooling); other tasks refuse a pooling other than "auto".
    pooling: bool = False


@dataclass(frozen=True)
class Words:
    """What the screens call this task's examples and labels."""

    examples: str = "rows"           # "12,000 rows"
    label: str = "class"             # the per-label tables' first column
    counts: str = "Labels"           # the label-count chart's title: "Labels (train)"
    counted: str | None = None       # what label_counts count, when not examples ("entities")
    per_label_score: str = "score"   # the Monitor's per-label column ("F1" per entity type)


@dataclass(frozen=True)
class ExportGate:
    """How an export of this task is gated: the default allowed int8 loss, its unit, the supported opsets."""

    default: float = 1.0
    unit: str = "accuracy points"
    opsets: tuple[int, int] = (7, 21)   # what the TorchScript exporter supports for this graph


class Task(ABC):
    """One supervised fine-tuning task. Subclasses set the class attributes and implement the methods."""

    name: str
    title: str                     # how people call it ("text classification")
    metrics: Metrics
    headline: Headline
    capabilities: Capabilities = Capabilities()
    words: Words = Words()
    # How the screens name this task's metric keys where the shared names do not fit ("f1" is "entity F1"
    # unless a task says otherwise).
    metric_labels: dict[str, str] = {}
    # Values for the RunConfig fields a user leaves empty (tasks.TASK_DEPENDENT_DEFAULTS), chosen by measurement.
    defaults: dict[str, Any] = {}
    # The learning rate of a differentially private LoRA run (``lr`` left empty), where this task measured one;
    # None: the shared tasks.PRIVATE_LORA_LR.
    private_lora_lr: float | None = None
    # The model's loss divides by the token count the Trainer passes (``num_items_in_batch``); see
    # training.trainer.training_arguments.
    loss_uses_num_items: bool = False

    def part(self, module: str):
        """The task package's module ``module`` (``data``, ``train``, ``report`` …), imported on first use."""
        return import_module(f"{type(self).__module__}.{module}")

    # ------------------------------------------------------------------------------------ data
    @abstractmethod
    def recognises(self, columns: Sequence[str]) -> bool:
        """Whether a table with these columns is this task's data (``--task auto``)."""

    def load_data(self, raw: dict[str, Any], *, data: str, eval_data: str | None, text_column: str | None,
                  label_column: str | None, dev_fraction: float, seed: int, strict: bool = False,
                  instruction: str | None = None) -> "LoadedData":
        """The train and eval splits of ``raw`` (split name → DataFrame, as ``datasets.read_source`` gives). Rows
        that cannot be used go through ``datasets.BadRows`` (skipped when few, recorded in ``LoadedData.skipped``;
        ``strict``: refused). ``instruction`` (the prompt put before each source of summarisation/translation data) is
        for the tasks that turn such data into instructions; the others refuse one."""
        if instruction:
            from workbench.core.errors import WorkbenchError

            raise WorkbenchError(f"instruction applies to causal-LM SFT data (source/target pairs), not to {self.title}.")
        return self.part("data").load_data(raw, data=data, eval_data=eval_data, text_column=text_column,
                                           label_column=label_column, dev_fraction=dev_fraction, seed=seed,
                                           strict=strict)

    def inspect(self, raw: dict[str, Any], path: str, *, text_column: str | None, label_column: str | None,
                tokenizer, max_length: int, sample: int, strict: bool = False) -> dict[str, Any]:
        """Everything ``datasets inspect`` shows for this task's data (``tokenizer`` may be None), with each
        split's skipped rows (``skipped``, None when none) and their note among the warnings."""
        return self.part("data").inspect(raw, path, text_column=text_column, label_column=label_column,
                                         tokenizer=tokenizer, max_length=max_length, sample=sample, strict=strict)

    # ------------------------------------------------------------------------------------ training
    def eval_extras(self, data, tokenizer, cfg):
        """A callable ``(model) → {metric: value}`` run at every evaluation during training, whose values join the
        Trainer's eval metrics (causal-LM SFT: generation scores on the first eval examples), or None."""
        return None

    def check_model(self, resolved, cfg) -> None:
        """Refuse, with a WorkbenchError, a model this task cannot train (before a run directory exists)."""

    def build_model(self, path: str, data: "LoadedData", cfg):
        """The model to train, fp32 master weights."""
        return self.part("train").build_model(path, data, cfg)

    def check_lora(self, resolved, cfg) -> None:
        """Refuse LoRA settings this model cannot take (before a run directory exists); tasks that check LoRA in
        ``check_model`` leave this empty."""

    def model_to_save(self, model):
        """What the run's model/ holds once training ends: ``model`` itself (causal-LM SFT keeps a LoRA adapter
        as the adapter; its readers load base + adapter)."""
        return model

    def tokenize(self, dataset, tokenizer, data: "LoadedData", cfg):
        """A split as model inputs, unpadded (the collator pads each batch)."""
        return self.part("train").tokenize(dataset, tokenizer, data, cfg)

    def collator(self, tokenizer, *, pad_to_multiple_of: int | None = None):
        """Batches with dynamic padding."""
        return self.part("train").collator(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    @abstractmethod
    def compute_metrics(self, data: "LoadedData", tokenizer, cfg) -> Callable | None:
        """The Trainer's ``compute_metrics`` for predictions over ``tokenize(data.eval, tokenizer, data, cfg)``, in
        that order (None when eval loss is the metric)."""

    def callbacks(self, data: "LoadedData", cfg) -> list:
        """Extra Trainer callbacks for a run of this task."""
        return []

    def final_evaluation(self, model, tokenizer, data: "LoadedData", cfg,
                         logits=None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The full report of the best model and one prediction record per eval example, in input order.
        ``logits``: for tasks with ``capabilities.batch_invariant_eval``, the eval set's logits (input order) from the
        evaluation during training that chose this model, when known; such a task then need not compute them again."""
        if logits is None:
            return self.part("evaluate").final_evaluation(model, tokenizer, data, cfg)
        return self.part("evaluate").final_evaluation(model, tokenizer, data, cfg, logits=logits)

    def final_metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """run.json ``metrics`` from the scalar report values and ``eval_loss`` (a task may derive more)."""
        return metrics

    # ------------------------------------------------------------------------------------ after training
    @abstractmethod
    def evaluate(self, run: "Run", data: str, *, text_column: str | None = None, label_column: str | None = None,
                 batch_size: int = 64) -> dict[str, Any]:
        """``sft-workbench eval``: the run's model on another data set of this task."""

    @abstractmethod
    def export(self, run: "Run", *, target, int8: bool, opset: int, data: str | None, max_int8_drop: float | None,
               progress: Progress | None = None) -> dict[str, Any]:
        """Build the ONNX export of ``run`` at ``target`` (the shared pipeline checked run and target); the manifest."""

    export_gate: ExportGate = ExportGate()

    def has_model(self, run: "Run") -> bool:
        """Whether ``run`` holds a final model to evaluate, export or load in the Playground."""
        return (run.model_dir / "config.json").is_file()

    @abstractmethod
    def open_predictor(self, export_dir, *, int8: bool = False, threads: int | None = None):
        """The torch-free predictor of an export (onnxruntime, tokenizers, numpy)."""

    @abstractmethod
    def open_run_predictor(self, run: "Run"):
        """The run's PyTorch model behind the same ``predict`` (or, to generate, ``stream``) as ``open_predictor``'s
        (the Playground tries a run before it is exported)."""

    @abstractmethod
    def bench(self, export_dir, manifest: dict[str, Any], settings, *, progress: Progress | None = None) -> dict[str, Any]:
        """``sft-workbench bench``: PyTorch vs ONNX fp32 vs ONNX int8, measured the way this task is used."""

    def comparison(self):
        """How ``compare`` treats this task's runs (a ``workbench.core.compare.by_task.TaskCompare``): what its
        predictions.jsonl holds, its metric rows and curves, its per-class scores and its paired test."""
        return self.part("compare").COMPARE

    # ------------------------------------------------------------------------------------ reports
    def eval_report(self, report: dict[str, Any], *, title: str) -> list[Any]:
        """Rich renderables of an ``evaluate`` report (the CLI prints them; the UI may show them)."""
        return self.part("report").eval_report(report, title=title)

    def export_report(self, manifest: dict[str, Any]) -> list[Any]:
        """Rich renderables of an export's validation (the CLI and the Export screen show them)."""
        return self.part("report").export_report(manifest)

    # What ``predict --file`` prints before its first line (without --json), and the arguments of the example
    # ``predict`` command shown after an export.
    prediction_header: str = "row\tlabel\tscore\ttext"
    example_input: str = '"some text"'

    def prediction_line(self, row: int, text: str, prediction: dict[str, Any]) -> str:
        """``predict --file`` without --json: one tab-separated line for one text's prediction (tasks that
        predict; a ``generate`` task streams its responses instead)."""
        return self.part("report").prediction_line(row, text, prediction)

    def predictions_table(self, texts: Sequence[str], predictions: Sequence[dict[str, Any]], predictor) -> Any:
        """``predict TEXT…``: a rich table of the predictions (tasks that predict, as above)."""
        return self.part("report").predictions_table(texts, predictions, predictor.labels)

    def sample_generations(self, infos: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Runs' sample generations side by side, per prompt (``capabilities.samples`` tasks; else none)."""
        return []

    @abstractmethod
    def bench_report(self, result: dict[str, Any]) -> list[Any]:
        """Rich renderables of a ``bench`` result (the CLI and the Export screen show them)."""
