"""SST-2 with the workbench's defaults: dev accuracy, samples/s and wall time.

Runs the real CLI (`sft-workbench train`) on ../shared/datasets/sst2 (full GLUE train → dev) with the
default model (embedded all-MiniLM-L6-v2) and default settings. ``--variant`` adds runs with overrides,
side by side in one table (they run concurrently with ``--parallel N``, useful on a big GPU).

    python benchmarks/sst2.py                                  # the defaults
    python benchmarks/sst2.py --variant lr=1e-4 --variant epochs=4 --parallel 3
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
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "sst2"
TARGET = 0.895


def parse_variant(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key.strip().replace("_", "-")] = value.strip()
    return out


def run_one(name: str, overrides: dict[str, str], args, workspace: Path) -> dict:
    cmd = [sys.executable, "-m", "workbench", "--workspace", str(workspace), "train",
           "--data", str(args.data_dir / "train.tsv"), "--eval-data", str(args.data_dir / "dev.tsv"),
           "--name", name, "--json"]
    if args.model:
        cmd += ["--model", args.model]
    for key, value in overrides.items():
        cmd += [f"--{key}"] + ([value] if value else [])  # "no-group-by-length=" is a bare flag
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    try:
        summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        return {"name": name, "overrides": overrides, "error": (proc.stderr or proc.stdout)[-800:], "wall_s": wall}
    run_json = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    train = run_json.get("train_summary") or {}
    return {
        "name": name,
        "overrides": overrides,
        "status": summary["status"],
        "dev_accuracy": (summary.get("metrics") or {}).get("accuracy"),
        "dev_macro_f1": (summary.get("metrics") or {}).get("macro_f1"),
        "train_samples_per_s": train.get("train_samples_per_second"),
        "train_runtime_s": train.get("train_runtime"),
        "wall_s": round(wall, 1),
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
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sst2.json")
    args = parser.parse_args()
    if not (args.data_dir / "train.tsv").is_file():
        print(f"skipped: {args.data_dir} not found (the shared data sets are not on this machine)")
        return 0
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="sst2-bench-"))
    jobs = [] if args.no_default else [("defaults", {})]
    jobs += [(f"v{i}-" + "-".join(f"{k}{v}" for k, v in parse_variant(v).items()), parse_variant(v)) for i, v in enumerate(args.variant)]
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        results = list(pool.map(lambda job: run_one(job[0], job[1], args, workspace), jobs))

    print(f"\nSST-2 dev, train {args.data_dir / 'train.tsv'}; target dev accuracy ≥ {TARGET}")
    print(f"{'run':<34} {'dev acc':>8} {'macro-F1':>8} {'samples/s':>10} {'train s':>8} {'wall s':>8}  device")
    for r in results:
        if r.get("dev_accuracy") is None:
            print(f"{r['name']:<34} failed: {r.get('error')}")
            continue
        print(f"{r['name']:<34} {r['dev_accuracy']:>8.4f} {r['dev_macro_f1']:>8.4f} {r['train_samples_per_s'] or 0:>10.1f} "
              f"{r['train_runtime_s'] or 0:>8.0f} {r['wall_s']:>8.0f}  {r['device']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"target": TARGET, "results": results, "host_cpus": os.cpu_count()}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
