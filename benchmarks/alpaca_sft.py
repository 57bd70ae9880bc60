"""Causal-LM SFT on the Alpaca 1k sample: the loss falls and the eval perplexity is reported.

No pretrained causal LM can be downloaded here, so the model is a small randomly initialised GPT-2 (or Llama)
with a byte-level BPE tokenizer trained on the data's own text (tests/sft_helpers.py). The run goes through
the real CLI (`sft-workbench train`) and the run store; ``--lora`` trains LoRA adapters instead of all
weights, ``--export`` also exports to ONNX and records the greedy parity and the ONNX generation speed.

    python benchmarks/alpaca_sft.py                       # full fine-tuning, 2 epochs
    python benchmarks/alpaca_sft.py --epochs 3 --export   # longer, plus the ONNX export
    python benchmarks/alpaca_sft.py --lora --lr 2e-3      # LoRA on the same random base

Writes benchmarks/results/alpaca_sft[_lora].json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets" / "alpaca" / "alpaca_data_1k.json"
sys.path.insert(0, str(REPO / "tests"))


def build_model(path: Path, arch: str, hidden: int, layers: int) -> Path:
    from sft_helpers import build_tiny_causal_lm

    rows = json.loads(DATA.read_text(encoding="utf-8"))
    texts = [t for r in rows for t in (r["instruction"], r.get("input") or "", r["output"]) if t]
    texts += ["### Instruction:\n", "### Input:\n", "### Response:\n"]
    return build_tiny_causal_lm(path, arch=arch, hidden=hidden, layers=layers, heads=max(2, hidden // 32),
                                positions=512, vocab_size=2048, texts=texts, seed=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--arch", choices=("gpt2", "llama"), default="gpt2")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters (peft) instead of all weights")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (for large models)")
    parser.add_argument("--export", action="store_true", help="also export to ONNX and time generation")
    parser.add_argument("--int8", action="store_true", help="with --export: also int8, then `bench` PyTorch vs fp32 vs int8")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: {args.data} not found (the shared data sets are not on this machine)")
        return 0

    work = Path(tempfile.mkdtemp(prefix="alpaca-sft-"))
    model_dir = build_model(work / "model", args.arch, args.hidden, args.layers)
    ws = work / "ws"
    cmd = [sys.executable, "-m", "workbench", "--workspace", str(ws), "train", "--data", str(args.data),
           "--model", str(model_dir), *(["--max-steps", str(args.max_steps)] if args.max_steps else ["--epochs", str(args.epochs)]),
           "--batch-size", str(args.batch_size),
           "--lr", str(args.lr), "--max-length", str(args.max_length), "--logging-steps", "5",
           "--name", "alpaca-sft" + ("-lora" if args.lora else ""), "--json"]
    if args.lora:
        cmd += ["--finetune", "lora"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.time() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:] or proc.stdout[-2000:])
        return 1
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    from workbench.core.telemetry import host_record

    run_dir = Path(summary["run_dir"])
    info = json.loads((run_dir / "run.json").read_text())
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [e for e in events if e["kind"] == "train"]
    evals = []
    for e in (e for e in events if e["kind"] == "eval"):
        if not evals or evals[-1]["step"] != e["step"]:  # the final re-evaluation of the best model repeats the last
            evals.append(e)
    first, last = train[: min(3, len(train))], train[-min(3, len(train)):]
    result = {
        "data": str(args.data),
        "rows": info["data"]["train"]["rows"], "eval_rows": info["data"]["eval"]["rows"],
        "eval_origin": info["data"]["eval"]["origin"],
        "model": {"arch": args.arch, "hidden": args.hidden, "layers": args.layers, "vocab": 2048,
                  "parameters": info.get("parameters"), "init": "random (no pretrained causal LM available)"},
        "settings": {"epochs": args.epochs, "max_steps": args.max_steps, "batch_size": args.batch_size, "lr": args.lr,
                     "max_length": args.max_length, "finetune": "lora" if args.lora else "full"},
        "steps": info["progress"]["step"],
        "first_losses": [round(e["loss"], 4) for e in first],
        "last_losses": [round(e["loss"], 4) for e in last],
        "loss_first_mean": round(statistics.mean(e["loss"] for e in first), 4),
        "loss_last_mean": round(statistics.mean(e["loss"] for e in last), 4),
        "eval": [{"epoch": e["epoch"], "loss": round(e["loss"], 4), "perplexity": round(e["perplexity"], 2)} for e in evals],
        "final": info["metrics"],
        "uniform_perplexity": 2048,  # what an untrained model over this vocabulary would score
        "train_runtime_s": (info.get("train_summary") or {}).get("train_runtime"),
        "wall_s": round(wall, 1),
        "samples": [{k: s[k] for k in ("prompt", "reference", "generated")} for s in info["evaluation"]["samples"]],
        "host": host_record(),
    }
    if args.export:
        export_dir = work / "export"
        ex = subprocess.run([sys.executable, "-m", "workbench", "--workspace", str(ws), "export", summary["id"],
                             "--out", str(export_dir), "--json", *(["--int8"] if args.int8 else [])],
                            capture_output=True, text=True, env=env)
        if ex.returncode != 0:
            result["export_error"] = ex.stderr.strip()[-500:]
        else:
            manifest = json.loads(ex.stdout)
            v = manifest["validation"]
            from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator

            gen = OnnxGenerator(export_dir, threads=2)
            prompt = result["samples"][0]["prompt"]
            n_tok = 64
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                ids = list(gen.generate_ids(gen.encode(prompt), max_new_tokens=n_tok))
                times.append((time.perf_counter() - t0, len(ids)))
            best = min(times)
            result["export"] = {"greedy_identical": f"{v['identical']}/{v['prompts']}",
                                "max_abs_logit_diff_prompt": v["max_abs_logit_diff_prompt"],
                                "onnx_mb": round(manifest["sizes_bytes"]["model.onnx"] / 1e6, 1),
                                "onnx_tokens_per_s": round(best[1] / best[0], 1) if best[1] else None,
                                "quality": v.get("quality"), "int8_greedy_identical": v.get("int8_greedy_identical")}
            if args.int8:
                from workbench.core.bench import BenchSettings, bench_export

                result["bench"] = bench_export(export_dir, BenchSettings(threads=2))
    out = args.out or REPO / "benchmarks" / "results" / f"alpaca_sft{'_lora' if args.lora else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")

    print(f"{result['rows']} train / {result['eval_rows']} eval rows, {result['steps']} steps, "
          f"{result['model']['parameters']:,} parameters ({args.arch}, {result['settings']['finetune']})")
    print(f"train loss: first {result['first_losses']} → last {result['last_losses']}")
    for e in result["eval"]:
        print(f"eval epoch {e['epoch']}: loss {e['loss']:.4f}  perplexity {e['perplexity']:.1f}")
    print(f"final eval perplexity {result['final']['perplexity']:.1f} (uniform over the vocabulary: 2048); "
          f"train {result['train_runtime_s']} s, wall {result['wall_s']} s")
    if "export" in result:
        print(f"ONNX: greedy identical {result['export']['greedy_identical']}, {result['export']['onnx_tokens_per_s']} tokens/s")
    print(f"results: {out}")
    return 0 if result["loss_last_mean"] < result["loss_first_mean"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
