"""One prepared GPU check (< 10 minutes): throughput, MFU, peak memory and live GPU readings.

Run on a machine with a CUDA GPU, from the repository root:

    python benchmarks/gpu.py [--data-dir ../shared/datasets/sst2] [--out benchmarks/results/gpu.json]

What it measures, side by side in one run:

1. **MFU of a bert-base-sized model** (randomly initialised ``BertConfig()``: 12 layers, hidden 768; no
   download) training at sequence length 128 in bf16 with the workbench's GPU settings (SDPA attention,
   fused AdamW, TF32, bf16 autocast; ``--compile`` adds torch.compile). FLOPs per token are
   ``6·N + 12·L·h·s`` (N parameters without embeddings, L layers, h hidden size, s sequence length: the
   attention score and value products), against the GPU's dense bf16 peak (``--peak-tflops``, default
   from the device name). Also the peak memory (``torch.cuda.max_memory_allocated``).
2. **Baseline vs workbench throughput** on SST-2 (or synthetic sentences of SST-2-like lengths when the
   folder is absent), same model, 1 epoch over ``--train-rows``: (baseline) a plain HF Trainer, fp32,
   ``DataCollatorWithPadding``, ``adamw_torch``; (workbench) ``sft-workbench train`` with its defaults.
3. **GPU panel readings are live**: during a 2-step workbench run, the ``system`` events in
   metrics.jsonl carry per-GPU utilisation and memory from NVML.

Targets (issue #8): MFU ≥ 40 %, workbench ≥ 1.5× the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "sst2"
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0, "4090": 165.0}
TARGETS = {"mfu": 0.40, "workbench_vs_baseline": 1.5}


def peak_tflops(name: str, override: float | None) -> float | None:
    if override:
        return override
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


def mfu_check(args) -> dict:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    config = BertConfig(num_labels=2)
    model = BertForSequenceClassification(config).cuda()
    model.config._attn_implementation = "sdpa"
    n_total = sum(p.numel() for p in model.parameters())
    n_embed = sum(p.numel() for p in model.bert.embeddings.parameters())
    n = n_total - n_embed
    layers, hidden, seq, batch = config.num_hidden_layers, config.hidden_size, args.seq, args.batch
    flops_per_token = 6 * n + 12 * layers * hidden * seq
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    step_model = torch.compile(model) if args.compile else model
    x = torch.randint(1000, 20000, (batch, seq), device="cuda")
    y = torch.randint(0, 2, (batch,), device="cuda")
    mask = torch.ones_like(x)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step_model(input_ids=x, attention_mask=mask, labels=y).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    tokens_per_s = batch * seq * args.steps / elapsed
    name = torch.cuda.get_device_name(0)
    peak = peak_tflops(name, args.peak_tflops)
    achieved = tokens_per_s * flops_per_token / 1e12
    return {"device": name, "params": n_total, "params_no_embeddings": n, "batch": batch, "seq": seq,
            "compile": args.compile, "tokens_per_s": tokens_per_s, "samples_per_s": batch * args.steps / elapsed,
            "achieved_tflops": achieved, "peak_bf16_tflops": peak, "mfu": achieved / peak if peak else None,
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30}


def sentences(args, tmp: Path) -> tuple[Path, Path]:
    import pandas as pd

    if (args.data_dir / "train.tsv").is_file():
        train = pd.read_csv(args.data_dir / "train.tsv", sep="\t", quoting=3).sample(
            n=args.train_rows, random_state=0)
        dev = pd.read_csv(args.data_dir / "dev.tsv", sep="\t", quoting=3)
    else:  # synthetic: lengths like SST-2, two separable classes
        import random

        rng = random.Random(0)
        words = ["good", "great", "fine", "bad", "awful", "poor", "film", "plot", "cast", "story", "the", "a", "very"]

        def make(k):
            rows = []
            for _ in range(k):
                label = rng.randint(0, 1)
                n = max(3, min(60, int(rng.lognormvariate(2.5, 0.6))))
                body = [rng.choice(words[6:]) for _ in range(n)]
                body[rng.randrange(n)] = rng.choice(words[:3] if label else words[3:6])
                rows.append({"sentence": " ".join(body), "label": label})
            return pd.DataFrame(rows)

        train, dev = make(args.train_rows), make(872)
    paths = tmp / "train.tsv", tmp / "dev.tsv"
    train.to_csv(paths[0], sep="\t", index=False)
    dev.to_csv(paths[1], sep="\t", index=False)
    return paths


def bert_base_dir(tmp: Path) -> Path:
    """A randomly initialised bert-base with the embedded model's tokenizer (no download needed)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from workbench.core.models import embedded_model_dir

    path = tmp / "bert-base-random"
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def baseline_row(model_dir: Path, train_path: Path) -> dict:
    code = f"""
import json, pandas as pd
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments
tok = AutoTokenizer.from_pretrained({str(model_dir)!r})
model = AutoModelForSequenceClassification.from_pretrained({str(model_dir)!r}, num_labels=2)
df = pd.read_csv({str(train_path)!r}, sep="\\t")
ds = Dataset.from_pandas(df).map(lambda b: {{**tok(b["sentence"], truncation=True, max_length=128), "labels": b["label"]}},
                                 batched=True, remove_columns=list(df.columns))
args = TrainingArguments(output_dir={str(train_path.parent / 'baseline')!r}, per_device_train_batch_size=32,
                         num_train_epochs=1, optim="adamw_torch", report_to="none", save_strategy="no", disable_tqdm=True)
r = Trainer(model=model, args=args, train_dataset=ds, data_collator=DataCollatorWithPadding(tok)).train()
print("RESULT " + json.dumps({{"samples_per_s": len(ds) / r.metrics["train_runtime"], "train_runtime_s": r.metrics["train_runtime"]}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if not lines:
        return {"error": (proc.stderr or proc.stdout)[-1000:]}
    return json.loads(lines[-1][7:])


def workbench_row(model_dir: Path, train_path: Path, dev_path: Path, workspace: Path, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "workbench", "--workspace", str(workspace), "train", "--data", str(train_path),
           "--eval-data", str(dev_path), "--model", str(model_dir), "--json", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    try:
        summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        return {"error": (proc.stderr or proc.stdout)[-1000:]}
    info = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    events = [json.loads(l) for l in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    train = info.get("train_summary") or {}
    rows = info["data"]["train"]["rows"]
    gpus = [g for e in events if e["kind"] == "system" for g in e.get("gpus", [])]
    return {"samples_per_s": rows / train["train_runtime"] if train.get("train_runtime") else None,
            "train_runtime_s": train.get("train_runtime"), "precision": info.get("precision"),
            "attention": info.get("attention"), "status": info.get("status"), "gpu_readings": gpus[-4:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--train-rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--peak-tflops", type=float)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu.json")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU here; run this on a GPU machine.", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from workbench.core.telemetry import host_record

    report: dict = {"benchmark": "gpu", "targets": TARGETS, "date": time.strftime("%Y-%m-%d %H:%M"), "host": host_record()}
    report["mfu"] = mfu_check(args)
    print(json.dumps(report["mfu"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        tmp = Path(tmp)
        model_dir = bert_base_dir(tmp)
        train_path, dev_path = sentences(args, tmp)
        report["baseline"] = baseline_row(model_dir, train_path)
        print(json.dumps(report["baseline"]), flush=True)
        report["workbench"] = workbench_row(model_dir, train_path, dev_path, tmp / "ws", "--epochs", "1")
        print(json.dumps(report["workbench"]), flush=True)
        live = workbench_row(model_dir, train_path, dev_path, tmp / "ws2", "--max-steps", "2", "--name", "live")
        report["live_gpu_panel"] = {
            "readings": live.get("gpu_readings"),
            "live": bool(live.get("gpu_readings")) and any(g.get("mem_used", 0) > 0 for g in live["gpu_readings"]),
        }
    base, wb = report["baseline"].get("samples_per_s"), report["workbench"].get("samples_per_s")
    report["workbench_vs_baseline"] = wb / base if base and wb else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    m = report["mfu"]
    print(f"\nMFU {m['mfu']:.1%} ({m['achieved_tflops']:.0f} of {m['peak_bf16_tflops']} TFLOPS, {m['device']}), "
          f"peak memory {m['peak_memory_gib']:.1f} GiB" if m["mfu"] else f"\nachieved {m['achieved_tflops']:.0f} TFLOPS")
    print(f"baseline {base and round(base)} samples/s, workbench {wb and round(wb)} samples/s, "
          f"ratio {report['workbench_vs_baseline'] and round(report['workbench_vs_baseline'], 2)}")
    print(f"GPU panel live: {report['live_gpu_panel']['live']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
