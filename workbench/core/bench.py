"""CPU latency / throughput benchmark of an export: PyTorch eager vs ONNX fp32 vs ONNX int8.

Every engine gets the same token ids and the same thread count. Engines are measured in interleaved
rounds (round 1: torch, fp32, int8; round 2: torch, fp32, int8; …) rather than one after another, so a
burst of load from another process on a shared machine lands on all of them instead of skewing one
row. The load average before and after is recorded for the same reason: figures taken on a busy
machine should say so.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.inference import FP32_FILE, INT8_FILE, read_manifest
from workbench.core.telemetry import available_cores, cpu_name
from workbench.paths import expand_user

PYTORCH, ONNX_FP32, ONNX_INT8 = "pytorch", "onnx-fp32", "onnx-int8"


@dataclass
class BenchSettings:
    """What is measured. Defaults give stable p50s in about a minute for a MiniLM-sized model."""

    threads: int | None = None          # None: every core this process may use
    seq_len: int = 128
    latency_batch: int = 1
    throughput_batch: int = 32
    rounds: int = 5                     # interleaved rounds over the engines
    latency_iters: int = 20             # timed batch-1 calls per engine per round
    throughput_iters: int = 2           # timed batch-32 calls per engine per round
    warmup: int = 3                     # untimed calls per engine before the first round


SAMPLE_TEXT = ("The film opens slowly, but the second half is a charming and often affecting journey, with a cast "
               "that clearly enjoys the material and a score that never gets in the way of the story. ")


def bench_inputs(export_dir: Path, manifest: dict[str, Any], batch: int, seq_len: int) -> dict[str, np.ndarray]:
    """``batch`` copies of a real text tokenised by the export's own tokenizer to exactly ``seq_len`` tokens.

    Real text rather than random ids keeps the special tokens and id distribution of genuine input, and no
    padding means every engine does the full ``seq_len`` of work.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(export_dir / (manifest.get("tokenizer") or {}).get("file", "tokenizer.json")))
    tok.no_padding()
    tok.enable_truncation(seq_len)
    enc = tok.encode(SAMPLE_TEXT * (seq_len // 8 + 1))
    if len(enc.ids) != seq_len:
        raise WorkbenchError(f"could not build a {seq_len}-token input with this tokenizer (got {len(enc.ids)}).")
    columns = {"input_ids": enc.ids, "attention_mask": enc.attention_mask, "token_type_ids": enc.type_ids}
    return {i["name"]: np.tile(np.asarray(columns[i["name"]], dtype=np.int64), (batch, 1)) for i in manifest["inputs"]}


def _onnx_runner(path: Path, threads: int, manifest: dict[str, Any]) -> Callable[[dict[str, np.ndarray]], Any]:
    from workbench.core.inference import DEFAULT_DISABLED_OPTIMIZERS, create_session

    runtime = manifest.get("runtime") or {}
    session = create_session(path, threads, runtime.get("disabled_optimizers", DEFAULT_DISABLED_OPTIMIZERS))
    out = [session.get_outputs()[0].name]
    return lambda feed: session.run(out, feed)


def _torch_runner(model_dir: Path, threads: int, auto_class: str) -> Callable[[dict[str, np.ndarray]], Any]:
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    from workbench.core.pooling import restore_pooling

    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()
    # Default attention (SDPA): the fastest eager-mode PyTorch, i.e. the fair baseline.
    model = getattr(transformers, auto_class).from_pretrained(str(model_dir), use_safetensors=True).eval()
    restore_pooling(model)  # a mean-pooled classifier reads the mean, as its export does

    def run(feed: dict[str, np.ndarray]):
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in feed.items()})  # logits, or a span head's two

    return run


def percentile_ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples) * 1000.0, q)), 3)


def bench_export(export_dir: str | os.PathLike, settings: BenchSettings | None = None, *,
                 save: bool = True, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Benchmark the engines of ``export_dir`` the way its task measures them; returns the results and
    (``save``) stores them in the manifest."""
    from workbench.core.tasks import get_task

    export_dir = expand_user(export_dir)
    manifest = read_manifest(export_dir)
    result = get_task(manifest["task"]).bench(export_dir, manifest, settings or BenchSettings(), progress=progress)
    if save:
        from workbench.core.export import update_manifest

        update_manifest(export_dir, benchmark=result)
    return result


def machine_record(load_before, load_after) -> dict[str, Any]:
    """Where a benchmark ran and how busy the machine was around it."""
    return {"cpu": cpu_name(), "cores_available": available_cores(), "platform": platform.platform(),
            "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in load_after]}


def bench_encoder(export_dir: Path, manifest: dict[str, Any], s: BenchSettings, *, auto_class: str,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """An encoder export (classifier, tagger): latency at batch 1 and throughput at batch 32, fixed length.

    The PyTorch row loads the source run's model as ``transformers.<auto_class>`` (its path is in the
    manifest); when that is gone the row is skipped with a note instead of failing the whole benchmark.
    """
    say = progress or (lambda _msg: None)
    threads = int(s.threads or available_cores())
    if threads < 1:
        raise WorkbenchError("--threads must be at least 1.")

    engines: dict[str, Callable] = {}
    rows: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    model_dir = Path((manifest.get("source_run") or {}).get("model_dir") or "")
    if model_dir.name and (model_dir / "config.json").is_file():
        say("loading the PyTorch model…")
        try:
            engines[PYTORCH] = _torch_runner(model_dir, threads, auto_class)
            rows[PYTORCH] = {"size_bytes": sum(f.stat().st_size for f in model_dir.glob("*.safetensors")),
                             "file": str(model_dir), "note": "eager mode, default (SDPA) attention"}
        except Exception as exc:  # torch missing in a deployment, an unreadable model
            notes.append(f"pytorch skipped: cannot load {model_dir} ({str(exc).splitlines()[0][:200]}).")
    else:
        notes.append(f"pytorch skipped: the source run's model ({model_dir or 'unknown'}) is gone.")
    for name, fname in ((ONNX_FP32, FP32_FILE), (ONNX_INT8, INT8_FILE)):
        path = export_dir / fname
        if path.is_file():
            say(f"loading {name}…")
            engines[name] = _onnx_runner(path, threads, manifest)
            rows[name] = {"size_bytes": path.stat().st_size, "file": fname}
    if not any(n != PYTORCH for n in engines):
        raise WorkbenchError(f"export {export_dir.name} has no ONNX model to benchmark.")

    max_positions = int(manifest.get("max_position_embeddings") or s.seq_len)
    if s.seq_len > max_positions:
        raise WorkbenchError(f"sequence length {s.seq_len} exceeds the model's {max_positions} positions.")
    small = bench_inputs(export_dir, manifest, s.latency_batch, s.seq_len)
    large = bench_inputs(export_dir, manifest, s.throughput_batch, s.seq_len)
    load_before = os.getloadavg()
    for name, run in engines.items():
        say(f"warming up {name}…")
        for _ in range(s.warmup):
            run(small)
        run(large)

    latencies: dict[str, list[float]] = {n: [] for n in engines}
    throughputs: dict[str, list[float]] = {n: [] for n in engines}
    for r in range(s.rounds):
        say(f"round {r + 1}/{s.rounds}…")
        for name, run in engines.items():
            for _ in range(s.latency_iters):
                t0 = time.perf_counter()
                run(small)
                latencies[name].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for _ in range(s.throughput_iters):
                run(large)
            throughputs[name].append(s.throughput_batch * s.throughput_iters / (time.perf_counter() - t0))
    load_after = os.getloadavg()

    for name in engines:
        rows[name].update(
            p50_ms=percentile_ms(latencies[name], 50),
            p95_ms=percentile_ms(latencies[name], 95),
            # The fastest call is what the engine does when no neighbour interferes: on a shared machine
            # it is the steadier figure to compare engines by.
            min_ms=percentile_ms(latencies[name], 0),
            # The median round, not the mean: one round slowed by a neighbour should not move it.
            throughput_per_s=round(float(np.median(throughputs[name])), 2),
        )
    if PYTORCH in rows and "p50_ms" in rows[PYTORCH]:
        base = rows[PYTORCH]
        for name, row in rows.items():
            if name != PYTORCH:
                row["speedup_p50"] = round(base["p50_ms"] / row["p50_ms"], 3)
                row["speedup_min"] = round(base["min_ms"] / row["min_ms"], 3)
                row["speedup_throughput"] = round(row["throughput_per_s"] / base["throughput_per_s"], 3)
                row["size_ratio"] = round(row["size_bytes"] / base["size_bytes"], 3) if base["size_bytes"] else None

    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "engines": {n: rows[n] for n in (PYTORCH, ONNX_FP32, ONNX_INT8) if n in rows},
        "notes": notes,
        "settings": {"threads": threads, "seq_len": s.seq_len, "latency_batch": s.latency_batch,
                     "throughput_batch": s.throughput_batch, "rounds": s.rounds, "latency_iters": s.latency_iters,
                     "throughput_iters": s.throughput_iters, "warmup": s.warmup, "interleaved": True},
        "machine": machine_record(load_before, load_after),
    }
    if max(load_before[0], load_after[0]) > available_cores():
        result["notes"].append(f"the machine was busy (load average {max(load_before[0], load_after[0]):.1f} on "
                               f"{available_cores()} cores): absolute figures are pessimistic; ratios are fairer.")
    return result
