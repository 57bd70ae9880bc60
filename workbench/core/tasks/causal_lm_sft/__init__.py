"""Causal-LM supervised fine-tuning (instruction / chat SFT), full or LoRA through peft.

Data: Alpaca-style rows (``instruction``, optional ``input``, ``output``) or chat rows (``messages``: a list of
``{"role", "content"}`` with roles system/user/assistant, ending with the assistant). Both are normalised to
one ``messages`` column.

Prompt: the tokenizer's chat template when it has one; otherwise the plain template
(``prompts.PLAIN_TEMPLATE_DOC``, Alpaca style). The prompt (everything up to the last assistant turn) and the
response are tokenised separately and concatenated, so the boundary is exact and training sees the prompt
tokenised exactly as generation will. EOS follows the response. Labels are -100 on every prompt token (and on
padding): the loss is on the responses only. In a conversation with several assistant turns every one of them
is a response, while system and user turns and the template's markers are masked (``prompts.encode_history``).

Evaluation: eval loss and perplexity = exp(eval loss); greedy sample generations on the first
``evaluate.N_SAMPLES`` held-out prompts are stored in run.json ``evaluation.samples``.

Modules: ``data``, ``prompts``, ``train``, ``evaluate``, ``samples`` (generations side by side), ``export``
(decoder with past keys/values), ``predict`` (the torch-free ``OnnxGenerator``), ``report``.
"""

from __future__ import annotations

from typing import Any, Sequence

from workbench.core.tasks.base import Capabilities, ExportGate, Headline, Metrics, Task


class CausalLMSFT(Task):
    name = "causal-lm-sft"
    title = "causal-LM SFT"
    # run.json "metrics" gets eval_loss from the trainer and perplexity from final_metrics().
    metrics = Metrics("eval_loss", False, ())
    headline = Headline(("perplexity", "eval_loss"), ("perplexity", "eval loss"), (2, 4))
    capabilities = Capabilities(playground="generate", samples=True, private_loss="next-token")
    # The causal-LM loss divides by the response-token count the Trainer passes, so under torchrun the Trainer
    # may average that count across processes (see training_arguments).
    loss_uses_num_items = True
    # Evaluation holds fp32 logits over the whole vocabulary for every token of the batch (SmolLM2: 49,152 per
    # token): at the shared 128 a SciTLDR run (512 tokens) needs ~26 GB for them alone; the kernel killed one on
    # a 24 GB machine. 16 keeps that at 3.2 GB (workbench.core.memory counts it).
    defaults = {"eval_batch_size": 16}
    # --max-int8-drop for a causal LM: the allowed rise of int8 perplexity over PyTorch's, in percent.
    export_gate = ExportGate(default=5.0, unit="percent of perplexity", opsets=(14, 21))
    example_input = '"your prompt"'

    def recognises(self, columns: Sequence[str]) -> bool:
        from workbench.core.datasets import LANGUAGE_CODES

        cols = {c.lower() for c in columns}
        return ("messages" in cols or {"instruction", "output"} <= cols or {"document", "summary"} <= cols
                or {"source", "target"} <= cols or len(cols & LANGUAGE_CODES) == 2)

    def load_data(self, raw, *, data, eval_data, text_column, label_column, dev_fraction, seed, strict=False,
                  instruction=None):
        from workbench.core.tasks.causal_lm_sft.data import load_data

        return load_data(raw, data=data, eval_data=eval_data, text_column=text_column, label_column=label_column,
                         dev_fraction=dev_fraction, seed=seed, strict=strict, instruction=instruction)

    def eval_extras(self, data, tokenizer, cfg):
        from workbench.core.tasks.causal_lm_sft.evaluate import generation_during_training

        return generation_during_training(data, tokenizer, cfg)

    def has_model(self, run) -> bool:
        from workbench.core.tasks.causal_lm_sft.train import has_model

        return has_model(run.model_dir)

    def check_model(self, resolved, cfg) -> None:
        from workbench.core.tasks.causal_lm_sft.train import check_model

        check_model(resolved, cfg)

    def callbacks(self, data, cfg) -> list:
        from workbench.core.tasks.causal_lm_sft.train import callbacks

        return callbacks(data, cfg)

    def final_metrics(self, metrics):
        from workbench.core.tasks.causal_lm_sft.train import final_metrics

        return final_metrics(metrics)

    def compute_metrics(self, data, tokenizer, cfg):
        return None  # the eval loss is the metric; the Trainer then keeps no logits (vocab × tokens) in memory

    def evaluate(self, run, data, *, text_column=None, label_column=None, batch_size=64) -> dict[str, Any]:
        from workbench.core.tasks.causal_lm_sft.evaluate import evaluate

        return evaluate(run, data, batch_size=batch_size)

    def export(self, run, *, target, int8, opset, data, max_int8_drop, progress=None):
        from workbench.core.tasks.causal_lm_sft.export import export_lm_run

        return export_lm_run(run, target=target, int8=int8, opset=opset, data=data, max_int8_drop=max_int8_drop,
                             progress=progress)

    def open_predictor(self, export_dir, *, int8=False, threads=None):
        from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator

        return OnnxGenerator(export_dir, int8=int8, threads=threads)

    def open_run_predictor(self, run):
        from workbench.core.tasks.causal_lm_sft.evaluate import TorchGenerator

        return TorchGenerator.from_run(run)

    def bench(self, export_dir, manifest, settings, *, progress=None):
        from workbench.core.tasks.causal_lm_sft.bench import bench_lm_export

        return bench_lm_export(export_dir, manifest, settings, progress=progress)

    def sample_generations(self, infos):
        from workbench.core.tasks.causal_lm_sft.samples import side_by_side

        return side_by_side(infos)

    def bench_report(self, result):
        from workbench.core.tasks.causal_lm_sft.report import bench_quality_table, bench_table

        return [t for t in (bench_table(result), bench_quality_table(result)) if t is not None]


TASK = CausalLMSFT()
