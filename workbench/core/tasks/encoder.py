"""The part of the Task protocol that encoder fine-tunes (classifier, tagger) share."""

from __future__ import annotations

from typing import Any

from workbench.core.tasks.base import Progress, Task


class EncoderTask(Task):
    """A task fine-tuning an encoder with a head (classifier, tagger): its run's model loads as the
    ``transformers`` class ``train.AUTO_CLASS`` names, and ``bench`` measures batch-1 latency and batch-32
    throughput of PyTorch against the ONNX graphs."""

    def bench(self, export_dir, manifest: dict[str, Any], settings, *, progress: Progress | None = None) -> dict[str, Any]:
        from workbench.core.bench import bench_encoder

        return bench_encoder(export_dir, manifest, settings, auto_class=self.part("train").AUTO_CLASS,
                             progress=progress)

    def bench_report(self, result: dict[str, Any]) -> list[Any]:
        from workbench.core.report import encoder_bench_report

        return encoder_bench_report(result)
