"""CoNLL-2003 NER with the workbench's defaults: test entity F1, per-type F1, samples/s and wall time.

Runs the real CLI (`sft-workbench train`) on ../shared/datasets/conll2003 (train.txt → test.txt) with the
default model (embedded all-MiniLM-L6-v2) and default settings. ``--variant`` adds runs with overrides,
side by side in one table (they run concurrently with ``--parallel N``).

    python benchmarks/conll.py                                  # the defaults
    python benchmarks/conll.py --variant lr=1e-4 --out benchmarks/results/conll_lr.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "conll2003"
TARGET = 0.88


def parse_variant(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key.strip().replace("_", "-")] = value.strip()
    return out


def run_one(name: str, overrides: dict[str, str], args, workspace: Path) -> dict:
    cmd = [sys.executable, "-m", "workbench", "--workspace", str(workspace), "train",
           "--data", str(args.data_dir / "train.txt"), "--eval-data", str(args.data_dir / "test.txt"),
           "--name", name, "--json"]
    if args.model:
        cmd += ["--model", args.model]
    for key, value in overrides.items():
        cmd += [f"--{key}"] + ([value] if value else [])
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    try:
        summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        return {"name": name, "overrides": overrides, "error": (proc.stderr or proc.stdout)[-800:], "wall_s": wall}
    return summarise(Path(summary["run_dir"]), name, overrides, wall)


def summarise(run_dir: Path, name: str, overrides: dict[str, str], wall: float | None) -> dict:
    """The result row of one finished run directory (also for a run that was stopped and resumed: --collect)."""
    run_json = json.loads((run_dir / "run.json").read_text())
    summary = {"status": run_json.get("status"), "metrics": run_json.get("metrics"), "error": run_json.get("error")}
    train = run_json.get("train_summary") or {}
    metrics = summary.get("metrics") or {}
    evaluation = run_json.get("evaluation") or {}
    # The last eval event of each epoch (the final evaluation repeats the last epoch's).
    per_epoch = list({e["epoch"]: {"epoch": e["epoch"], "f1": e.get("f1")}
                      for e in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
                      if e.get("kind") == "eval"}.values())
    return {
        "name": name,
        "overrides": overrides,
        "status": summary["status"],
        "test_f1": metrics.get("f1"),
        "test_precision": metrics.get("precision"),
        "test_recall": metrics.get("recall"),
        "token_accuracy": metrics.get("token_accuracy"),
        "per_type_f1": {t: round(v["f1"], 4) for t, v in (evaluation.get("per_class") or {}).items()},
        "per_epoch": per_epoch,
        "train_samples_per_s": train.get("train_samples_per_second"),
        "train_runtime_s": train.get("train_runtime"),
        "wall_s": None if wall is None else round(wall, 1),
        "device": run_json.get("device"),
        "config": {k: run_json["config"][k] for k in ("epochs", "lr", "batch_size", "max_length", "warmup_ratio", "weight_decay", "group_by_length", "precision")},
        "error": summary.get("error"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default=None, help="default: the embedded all-MiniLM-L6-v2")
    parser.add_argument("--variant", action="append", default=[], help="overrides, e.g. lr=1e-4,epochs=4")
    parser.add_argument("--no-default", action="store_true", help="run only the variants")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "conll_cpu.json")
    parser.add_argument("--collect", action="append", default=[], metavar="NAME=RUN_DIR",
                        help="summarise an existing run directory instead of training (e.g. one stopped and resumed)")
    args = parser.parse_args()
    if args.collect:
        results = [summarise(Path(d), n, {}, None) for n, _, d in (c.partition("=") for c in args.collect)]
        return report(results, args)
    if not (args.data_dir / "train.txt").is_file():
        print(f"skipped: {args.data_dir} not found (the shared data sets are not on this machine)")
        return 0
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="conll-bench-"))
    jobs = [] if args.no_default else [("defaults", {})]
    jobs += [(f"v{i}-" + "-".join(f"{k}{v}" for k, v in parse_variant(v).items()), parse_variant(v)) for i, v in enumerate(args.variant)]
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        results = list(pool.map(lambda job: run_one(job[0], job[1], args, workspace), jobs))
    return report(results, args)


def report(results: list[dict], args) -> int:

    print(f"\nCoNLL-2003 test, train {args.data_dir / 'train.txt'}; target entity F1 ≥ {TARGET}")
    print(f"{'run':<28} {'F1':>7} {'P':>7} {'R':>7}  {'per type F1':<44} {'samples/s':>9} {'train s':>8} {'wall s':>7}")
    for r in results:
        if r.get("test_f1") is None:
            print(f"{r['name']:<28} {r.get('status', 'failed')}: {r.get('error') or 'no final evaluation'}")
            continue
        per = " ".join(f"{t} {v:.3f}" for t, v in r["per_type_f1"].items())
        print(f"{r['name']:<28} {r['test_f1']:>7.4f} {r['test_precision']:>7.4f} {r['test_recall']:>7.4f}  {per:<44} "
              f"{r['train_samples_per_s'] or 0:>9.1f} {r['train_runtime_s'] or 0:>8.0f} {r['wall_s'] or 0:>7.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"target": TARGET, "results": results, "host_cpus": os.cpu_count()}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
