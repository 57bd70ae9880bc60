"""Benchmark of a causal-LM export: prefill and decode latency for PyTorch, ONNX fp32 and ONNX int8."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from workbench.core.bench import (ONNX_FP32, ONNX_INT8, PYTORCH, SAMPLE_TEXT, BenchSettings, machine_record,
                                  percentile_ms)
from workbench.core.errors import WorkbenchError
from workbench.core.inference import FP32_FILE, INT8_FILE
from workbench.core.telemetry import available_cores


def _lm_engines(export_dir: Path, manifest: dict[str, Any], threads: int, notes: list[str], say) -> dict[str, Any]:
    """name → (prefill(ids) -> past, decode(token, past)) for PyTorch and each ONNX file of a causal-LM export."""
    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator

    engines: dict[str, Any] = {}
    model_dir = Path((manifest.get("source_run") or {}).get("model_dir") or "")
    try:
        from workbench.core.tasks.causal_lm_sft.train import has_model, load_model

        if not (model_dir.name and has_model(model_dir)):
            notes.append(f"pytorch skipped: the source run's model ({model_dir or 'unknown'}) is gone.")
        else:
            import copy

            import torch

            from transformers.utils import logging as hf_logging

            torch.set_num_threads(threads)
            hf_logging.disable_progress_bar()  # its "Loading weights" bar would land in the CLI's output
            say("loading the PyTorch model…")
            model, _ = load_model(model_dir, merge=True)  # LoRA merged, as exported
            model.eval()

            def torch_prefill(ids):
                with torch.inference_mode():
                    return model(input_ids=torch.tensor([ids]), use_cache=True).cache

            def torch_decode(token, past):
                with torch.inference_mode():
                    model(input_ids=torch.tensor([[token]]), cache=past, use_cache=True)

            # The cache grows in place on each decode call: every timed call gets a fresh copy of it.
            engines[PYTORCH] = (torch_prefill, torch_decode, copy.deepcopy)
    except ImportError:  # a torch-free deployment
        notes.append("pytorch skipped: torch or transformers is not installed.")
    for name, int8 in ((ONNX_FP32, False), (ONNX_INT8, True)):
        if int8 and not (manifest.get("files") or {}).get("int8"):
            continue
        say(f"loading {name}…")
        gen = OnnxGenerator(export_dir, threads=threads, int8=int8)
        engines[name] = (lambda ids, g=gen: g.forward(ids)[1], lambda token, past, g=gen: g.forward([token], past),
                         lambda past: past)  # ONNX Runtime never changes its inputs
    return engines


def bench_lm_export(export_dir: Path, manifest: dict[str, Any], s: BenchSettings, *,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Causal-LM export: PyTorch vs ONNX fp32 vs ONNX int8 at batch 1 on the same token ids and threads.

    ``prefill``: one pass over a ``seq_len``-token prompt (empty cache). ``decode``: one new token after that
    prompt, with its key/value cache, the step generation repeats; tokens/s = 1 / decode time. Engines are
    measured in interleaved rounds, as for classifiers.
    """
    say = progress or (lambda _msg: None)
    threads = int(s.threads or available_cores())
    if threads < 1:
        raise WorkbenchError("--threads must be at least 1.")
    max_positions = int(manifest.get("max_position_embeddings") or 1 << 30)
    seq_len = min(int(s.seq_len), max_positions - 1)
    if seq_len < 1:
        raise WorkbenchError("the model has too few positions to benchmark.")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
    ids = tokenizer.encode(SAMPLE_TEXT * (seq_len // 8 + 1), add_special_tokens=False).ids[:seq_len]
    if len(ids) < seq_len:
        raise WorkbenchError(f"could not build a {seq_len}-token prompt with this tokenizer (got {len(ids)}).")
    token = ids[-1]

    notes: list[str] = []
    engines = _lm_engines(export_dir, manifest, threads, notes, say)
    sizes = manifest.get("sizes_bytes") or {}
    rows: dict[str, dict[str, Any]] = {n: {"size_bytes": sizes.get(FP32_FILE if n == ONNX_FP32 else INT8_FILE)} for n in engines}
    if PYTORCH in rows:
        model_dir = Path(manifest["source_run"]["model_dir"])
        rows[PYTORCH] = {"size_bytes": sum(f.stat().st_size for f in model_dir.glob("*.safetensors")) or None,
                         "file": str(model_dir), "note": "eager mode, default attention, LoRA merged"}
    load_before = os.getloadavg()
    pasts = {}
    for name, (prefill, decode, fresh) in engines.items():
        say(f"warming up {name}…")
        for _ in range(s.warmup):
            pasts[name] = prefill(ids)
            decode(token, fresh(pasts[name]))
    prefill_s: dict[str, list[float]] = {n: [] for n in engines}
    decode_s: dict[str, list[float]] = {n: [] for n in engines}
    for r in range(s.rounds):
        say(f"round {r + 1}/{s.rounds}…")
        for name, (prefill, decode, fresh) in engines.items():
            for _ in range(max(1, s.latency_iters // 4)):
                t0 = time.perf_counter()
                prefill(ids)
                prefill_s[name].append(time.perf_counter() - t0)
            for _ in range(s.latency_iters):
                past = fresh(pasts[name])
                t0 = time.perf_counter()
                decode(token, past)
                decode_s[name].append(time.perf_counter() - t0)
    load_after = os.getloadavg()
    for name in engines:
        rows[name].update(prefill_p50_ms=percentile_ms(prefill_s[name], 50), prefill_min_ms=percentile_ms(prefill_s[name], 0),
                          decode_p50_ms=percentile_ms(decode_s[name], 50), decode_min_ms=percentile_ms(decode_s[name], 0))
        rows[name]["decode_tokens_per_s"] = round(1000.0 / rows[name]["decode_p50_ms"], 1)
        rows[name]["prefill_tokens_per_s"] = round(seq_len * 1000.0 / rows[name]["prefill_p50_ms"], 1)
    # What the export measured of each engine's output (held-out perplexity, greedy agreement, generation
    # scores), beside its speed: a fast engine is only worth it when these hold.
    validation = manifest.get("validation") or {}
    for row in (validation.get("quality") or {}).get("engines") or []:
        if row["engine"] in rows:
            rows[row["engine"]]["perplexity"] = row["perplexity"]
    if ONNX_FP32 in rows and validation.get("prompts"):
        rows[ONNX_FP32]["greedy_identical"] = f"{validation['identical']}/{validation['prompts']}"
    if ONNX_INT8 in rows and validation.get("int8_greedy_identical") is not None:
        rows[ONNX_INT8]["greedy_identical"] = f"{validation['int8_greedy_identical']}/{validation['prompts']}"
    generation = validation.get("generation") or {}
    for row in generation.get("engines") or []:
        if row["engine"] in rows:
            rows[row["engine"]][generation["primary"]] = row[generation["primary"]]
    generation_metric = generation.get("primary") if generation.get("engines") else None
    if PYTORCH in rows:
        base = rows[PYTORCH]
        for name, row in rows.items():
            if name != PYTORCH:
                row["speedup_prefill_p50"] = round(base["prefill_p50_ms"] / row["prefill_p50_ms"], 3)
                row["speedup_decode_p50"] = round(base["decode_p50_ms"] / row["decode_p50_ms"], 3)
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kind": "causal-lm",
        "engines": {n: rows[n] for n in (PYTORCH, ONNX_FP32, ONNX_INT8) if n in rows},
        "generation_metric": generation_metric,  # the engines' generation score under this key (None: not scored)
        "notes": notes,
        "settings": {"threads": threads, "batch": 1, "prompt_tokens": seq_len, "rounds": s.rounds,
                     "prefill_iters": max(1, s.latency_iters // 4), "decode_iters": s.latency_iters, "warmup": s.warmup,
                     "interleaved": True},
        "machine": machine_record(load_before, load_after),
    }
    return result
