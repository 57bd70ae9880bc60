"""Training speed, side by side in one run: a seed-style Trainer, a good plain Trainer, and the workbench.

On ../shared/datasets/sst2 (a fixed random 8,000-row train subset, the full 872-row dev set, 1 epoch) with
the default model (embedded all-MiniLM-L6-v2), batch 32, lr 5e-5:

  (a) plain HF Trainer, every example padded to 128 tokens, fp32, ``adamw_torch`` (the seed's style);
  (b) plain HF Trainer with ``DataCollatorWithPadding`` (dynamic padding), fp32, ``adamw_torch``;
  (c) ``sft-workbench train`` with its defaults, which depend on the host (recorded per row: precision,
      attention, embeddings; bf16 autocast and eager attention on a CPU with AVX512-BF16/AMX, fp32 and SDPA on
      an AVX2-only one), fused AdamW, length-bucketed batches in random order, frozen word embeddings, the
      classifier's last layer on the first token only, warm-up 6 %, weight decay 0.01;
  (d) (c) with ``--torch-compile``, the compile time inside its wall time, as a user pays it.

Each row runs in its own fresh process. ``--rounds N`` repeats the rows N times, alternating their order
(round 1 a,b,c; round 2 c,b,a; …), so slow drift of the machine does not favour one row. The headline
ratios are of **wall time of the whole process** (loading, tokenising, training, evaluating), per round
(each round's rows ran next to each other), reported as median and min over the rounds; samples/s and
real (unpadded) tokens/s over the training loop (``train_runtime``, which for (c) also includes its
end-of-epoch evaluation and checkpoint) are kept beside them. With one epoch there is nothing to select:
dev accuracy is the final model's, and dev is used for nothing else. Round r trains every row with seed
41 + r (initialisation of the head, batch order): repeating one seed would repeat (c)'s accuracy exactly and
measure nothing of its spread, so each round is a paired comparison at its own seed. (c) runs in a fresh
workspace each round: its tokenisation cache is empty, as on a first run.

    python benchmarks/train_speed.py                 # rows a,b,c, 3 rounds, ~35 min on 2 cores
    python benchmarks/train_speed.py --rows b,c --train-rows 2000 --rounds 3
    python benchmarks/train_speed.py --rows c,d --rounds 2     # torch.compile, compile time included
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
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "sst2"
TARGETS = {"vs_a": 8.0, "vs_b": 2.0, "max_acc_drop_vs_b": 0.005}
DESCRIPTIONS = {
    "a": "plain Trainer, pad to 128, fp32, adamw_torch",
    "b": "plain Trainer, DataCollatorWithPadding, fp32, adamw_torch",
    "c": "sft-workbench defaults",
    "d": "sft-workbench defaults + --torch-compile",
}


def write_subset(data_dir: Path, rows: int, out: Path) -> tuple[Path, Path]:
    import pandas as pd

    train = pd.read_csv(data_dir / "train.tsv", sep="\t", quoting=3)
    subset = train.sample(n=min(rows, len(train)), random_state=0).reset_index(drop=True)
    path = out / "train_subset.tsv"
    subset.to_csv(path, sep="\t", index=False)
    return path, data_dir / "dev.tsv"


# ------------------------------------------------------------------------------- rows a and b (child process)
def plain_trainer_row(row: str, train_path: Path, dev_path: Path, out_dir: Path, seed: int) -> dict:
    import numpy as np
    import pandas as pd
    import torch
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, default_data_collator, logging)

    from workbench.core.models import resolve_model

    logging.set_verbosity_error()
    path = resolve_model("default").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    train_df = pd.read_csv(train_path, sep="\t", quoting=3)
    dev_df = pd.read_csv(dev_path, sep="\t", quoting=3)

    def encode(batch):
        if row == "a":
            enc = tokenizer(batch["sentence"], truncation=True, max_length=128, padding="max_length")
        else:
            enc = tokenizer(batch["sentence"], truncation=True, max_length=128)
        enc["labels"] = batch["label"]
        return enc

    train = Dataset.from_pandas(train_df).map(encode, batched=True, remove_columns=["sentence", "label"])
    dev = Dataset.from_pandas(dev_df).map(encode, batched=True, remove_columns=["sentence", "label"])
    real_tokens = int(sum(int(np.sum(m)) for m in train["attention_mask"]))
    args = TrainingArguments(
        output_dir=str(out_dir / f"row-{row}"), per_device_train_batch_size=32, per_device_eval_batch_size=128,
        num_train_epochs=1, learning_rate=5e-5, optim="adamw_torch", seed=seed, use_cpu=not torch.cuda.is_available(),
        eval_strategy="no", save_strategy="no", logging_steps=50, report_to="none", disable_tqdm=True,
    )
    collator = default_data_collator if row == "a" else DataCollatorWithPadding(tokenizer)
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collator, processing_class=tokenizer)
    result = trainer.train()
    preds = trainer.predict(dev)
    accuracy = float((preds.predictions.argmax(-1) == preds.label_ids).mean())
    runtime = result.metrics["train_runtime"]
    return {"samples_per_s": len(train) / runtime, "tokens_per_s": real_tokens / runtime, "train_runtime_s": runtime,
            "dev_accuracy": accuracy, "train_rows": len(train), "threads": torch.get_num_threads()}


# ------------------------------------------------------------------------------- row c
def workbench_row(train_path: Path, dev_path: Path, out_dir: Path, seed: int, row: str = "c") -> dict:
    workspace = out_dir / f"workspace-{row}"
    cmd = [sys.executable, "-m", "workbench", "--workspace", str(workspace), "train", "--data", str(train_path),
           "--eval-data", str(dev_path), "--epochs", "1", "--seed", str(seed), "--name", f"speed-{row}", "--json",
           *(["--torch-compile"] if row == "d" else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr or proc.stdout)[-1500:])
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    info = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    train = info["train_summary"]
    runtime = train["train_runtime"]
    return {"samples_per_s": info["data"]["train"]["rows"] / runtime,
            "tokens_per_s": train["num_input_tokens_seen"] / runtime, "train_runtime_s": runtime,
            "dev_accuracy": info["metrics"]["accuracy"], "train_rows": info["data"]["train"]["rows"],
            "precision": info.get("precision"), "attention": info.get("attention"),
            "embeddings": info.get("embeddings"), "timings": info.get("timings")}


def child(args) -> int:
    out_dir = Path(args.out_dir)
    paths = (Path(args.train_path), Path(args.dev_path), out_dir, args.seed)
    result = workbench_row(*paths, row=args.child) if args.child in ("c", "d") else plain_trainer_row(args.child, *paths)
    print("RESULT " + json.dumps(result))
    return 0


def run_row(row: str, train_path: Path, dev_path: Path, out_dir: Path, seed: int) -> dict:
    cmd = [sys.executable, __file__, "--child", row, "--train-path", str(train_path), "--dev-path", str(dev_path),
           "--out-dir", str(out_dir), "--seed", str(seed)]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.time() - start
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"row": row, "error": (proc.stderr or proc.stdout)[-1500:], "wall_s": wall}
    return {"row": row, "setup": DESCRIPTIONS[row], "seed": seed, **json.loads(lines[-1][7:]), "wall_s": wall}


def _stats(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    mid = len(values) // 2
    median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return {"median": median, "min": values[0], "max": values[-1], "n": len(values)}


def summary_by_row(results: list[dict]) -> dict[str, dict]:
    """Per row over the rounds: wall time, samples/s and dev accuracy (median, min, max)."""
    out = {}
    for row in sorted({r["row"] for r in results}):
        ok = [r for r in results if r["row"] == row and "error" not in r]
        if ok:
            out[row] = {k: _stats([r[k] for r in ok]) for k in ("wall_s", "samples_per_s", "dev_accuracy")}
    return out


def wall_ratios(results: list[dict]) -> dict[str, dict[str, float]]:
    """``c_vs_a``/``c_vs_b``: the other row's wall time over (c)'s, per round (neighbours in time), median and min
    over the rounds; ``c_minus_b_accuracy``: (c)'s dev accuracy minus (b)'s, per round."""
    by_round: dict[int, dict[str, dict]] = {}
    for r in results:
        if "error" not in r:
            by_round.setdefault(r["round"], {})[r["row"]] = r
    ratios: dict[str, dict[str, float]] = {}
    for base in ("a", "b"):
        per = [rd[base]["wall_s"] / rd["c"]["wall_s"] for rd in by_round.values() if base in rd and "c" in rd]
        if per:
            ratios[f"c_vs_{base}"] = _stats(per)
    acc = [rd["c"]["dev_accuracy"] - rd["b"]["dev_accuracy"] for rd in by_round.values() if "b" in rd and "c" in rd]
    if acc:
        ratios["c_minus_b_accuracy"] = _stats(acc)
    # (d) is (c) compiled: (c)'s wall time over (d)'s, above 1 when compiling pays for itself in the whole process.
    per = [rd["c"]["wall_s"] / rd["d"]["wall_s"] for rd in by_round.values() if "c" in rd and "d" in rd]
    if per:
        ratios["d_vs_c"] = _stats(per)
    return ratios


def matmul_peak(threads: int, m: int = 512, rounds: int = 60) -> dict:
    """The host's measured fp32 matmul rate on ``threads`` threads at the default model's feed-forward shape
    (``m`` tokens × 384 → 1,536, forward and the two backward products), in a fresh process as the rows are."""
    code = f"""
import json, time, torch
torch.set_num_threads({threads})
x, w, g = torch.randn({m}, 384), torch.randn(384, 1536), torch.randn({m}, 1536)
def step():
    x @ w; g @ w.t(); x.t() @ g
for _ in range(5): step()
times = []
for _ in range({rounds}):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({{"gflop": 3 * 2 * {m} * 384 * 1536 / 1e9, "median_s": times[len(times) // 2], "min_s": times[0]}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"shape": f"{m}x384x1536 (forward + 2 backward products)", "threads": threads,
            "gflops_median": out["gflop"] / out["median_s"], "gflops_best": out["gflop"] / out["min_s"]}


def matmul_parameters() -> int:
    """Weights of the default model that enter matrix products per token (encoder layers and pooler; not the
    embeddings, which are looked up): the N of the usual 6·N training FLOPs per token."""
    from transformers import AutoConfig

    from workbench.core.models import resolve_model

    c = AutoConfig.from_pretrained(resolve_model("default").path)
    h, f = c.hidden_size, c.intermediate_size
    return c.num_hidden_layers * (4 * h * h + 2 * h * f) + h * h


def breakdown(results: list[dict], peak: dict | None) -> dict | None:
    """(c)'s wall time by phase (median over rounds; ``outside_worker`` = the process's wall time less the worker's:
    the command's start-up and checks, and its wait for the worker to exit), and its training tokens/s as a
    fraction of the measured matmul peak (6·N FLOPs per real token, N from :func:`matmul_parameters`)."""
    rows = [r for r in results if r["row"] == "c" and r.get("timings")]
    if not rows:
        return None
    phases = {k: _stats([r["timings"]["phases"].get(k, 0.0) for r in rows])["median"]
              for k in rows[0]["timings"]["phases"]}
    phases["outside_worker"] = _stats([r["wall_s"] - r["timings"]["worker_wall_s"] for r in rows])["median"]
    steps_s = phases["training_steps"]
    tokens = _stats([r["tokens_per_s"] * r["train_runtime_s"] for r in rows])["median"]
    out = {"phases_s": phases, "wall_s": _stats([r["wall_s"] for r in rows])["median"],
           "training_tokens_per_s": tokens / steps_s if steps_s else None}
    if peak and out["training_tokens_per_s"]:
        n = matmul_parameters()
        achieved = 6 * n * out["training_tokens_per_s"] / 1e9
        out.update(matmul_parameters=n, achieved_gflops=achieved, peak_gflops=peak["gflops_median"],
                   fraction_of_peak=achieved / peak["gflops_median"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--train-rows", type=int, default=8000)
    parser.add_argument("--rows", default="a,b,c")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of the rows, in alternating order")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "train_speed_cpu.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--train-path", help=argparse.SUPPRESS)
    parser.add_argument("--dev-path", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    if not (args.data_dir / "train.tsv").is_file():
        print(f"SST-2 not found in {args.data_dir}; nothing to measure.", file=sys.stderr)
        return 2

    from workbench.core.telemetry import host_record

    rows = args.rows.split(",")
    results = []
    host_before = host_record()
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        train_path, dev_path = write_subset(args.data_dir, args.train_rows, Path(tmp))
        for r in range(args.rounds):
            for row in (rows if r % 2 == 0 else rows[::-1]):
                print(f"round {r + 1}/{args.rounds}, row {row}: {DESCRIPTIONS[row]} …", file=sys.stderr, flush=True)
                out_dir = Path(tmp) / f"round{r + 1}"  # run names repeat across rounds: one workspace each
                out_dir.mkdir(exist_ok=True)
                results.append({"round": r + 1, **run_row(row, train_path, dev_path, out_dir, seed=42 + r)})
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)

    ratios = wall_ratios(results)
    import torch

    peak = matmul_peak(torch.get_num_threads())
    split = breakdown(results, peak)
    report = {"benchmark": "train_speed", "data": str(args.data_dir), "train_rows": args.train_rows,
              "rounds": args.rounds, "order": "alternating", "rows": results, "summary": summary_by_row(results),
              "ratios": ratios, "targets": TARGETS, "matmul_peak": peak, "breakdown_c": split,
              "date": time.strftime("%Y-%m-%d %H:%M"), "host": host_before, "load_avg_after": host_record()["load_avg"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"\n{'row':<4}{'setup':<58}{'samples/s':>10}{'tokens/s':>10}{'wall s':>8}{'dev acc':>9}")
    for r in results:
        if "error" in r:
            print(f"{r['row']:<4}error: {r['error'].splitlines()[-1] if r['error'] else '?'}")
            continue
        print(f"{r['row']:<4}{r['setup']:<58}{r['samples_per_s']:>10.1f}{r['tokens_per_s']:>10.0f}"
              f"{r['wall_s']:>8.0f}{r['dev_accuracy']:>9.4f}")
    for key, value in ratios.items():
        print(f"{key} over {value['n']} rounds: " + ", ".join(f"{k} {v:+.4f}" if "accuracy" in key else f"{k} {v:.2f}×"
                                                     for k, v in value.items() if k != "n"))
    if split:
        print("\n(c) wall time by phase (median over rounds, seconds): " + ", ".join(
            f"{k} {v:.1f}" for k, v in split["phases_s"].items()) + f"; whole process {split['wall_s']:.1f}")
        if "fraction_of_peak" in split:
            print(f"(c) trains {split['training_tokens_per_s']:.0f} real tokens/s = {split['achieved_gflops']:.1f} GFLOP/s "
                  f"(6·N, N = {split['matmul_parameters'] / 1e6:.1f} M) = {split['fraction_of_peak']:.0%} of the measured "
                  f"fp32 matmul peak ({split['peak_gflops']:.1f} GFLOP/s on {peak['threads']} threads)")
    print(f"(written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
