"""The part of the Task protocol that encoder fine-tunes (classifier, tagger) share."""

from __future__ import annotations

from typing import Any

from workbench.core.tasks.base import Progress, Task


class EncoderTask(Task):
    """A task fine-tuning an encoder with a head (classifier, tagger): its run's model loads as the
    ``transformers`` class ``train.AUTO_CLASS`` names, and ``bench`` measures batch-1 latency and batch-32
    throughput of PyTorch against the ONNX graphs."""

    # peft's task type for LoRA on this head (SEQ_CLS, TOKEN_CLS, QUESTION_ANS): it keeps the head trainable.
    peft_task_type: str = "SEQ_CLS"

    def build_model(self, path: str, data, cfg):
        """The pretrained encoder with the task's head; with LoRA adapters on its attention when finetune is lora."""
        model = super().build_model(path, data, cfg)
        if getattr(cfg, "finetune", "full") != "lora":
            return model
        from workbench.core.lora import wrap_encoder

        return wrap_encoder(model, cfg, path, task_type=self.peft_task_type, auto_class=self.part("train").AUTO_CLASS)

    def check_lora(self, resolved, cfg) -> None:
        """Unknown LoRA target modules refused before launch."""
        if getattr(cfg, "finetune", "full") == "lora" and resolved.config():
            from workbench.core.lora import lora_targets

            lora_targets(resolved.config(), cfg.lora_target_modules, resolved.path, self.part("train").AUTO_CLASS)

    def model_to_save(self, model):
        """LoRA adapters merged into the base weights: the run's model/ loads as a plain transformers model."""
        from workbench.core.lora import merged

        return merged(model)

    def bench(self, export_dir, manifest: dict[str, Any], settings, *, progress: Progress | None = None) -> dict[str, Any]:
        from workbench.core.bench import bench_encoder

        return bench_encoder(export_dir, manifest, settings, auto_class=self.part("train").AUTO_CLASS,
                             progress=progress)

    def bench_report(self, result: dict[str, Any]) -> list[Any]:
        from workbench.core.report import encoder_bench_report

        return encoder_bench_report(result)
