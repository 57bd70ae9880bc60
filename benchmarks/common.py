"""What the dataset benchmarks (sst2.py, conll.py) share: the command line, variants, and training via the CLI.

Each benchmark trains through the real CLI (`python -m workbench train … --json`) in a subprocess, so the
figures are what a user gets, and turns the finished run directory into a result row of its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
CONFIG_KEYS = ("epochs", "lr", "batch_size", "max_length", "warmup_ratio", "weight_decay", "group_by_length", "precision")


def parse_variant(text: str) -> dict[str, str]:
    """``"lr=1e-4,epochs=4"`` → ``{"lr": "1e-4", "epochs": "4"}`` (CLI flag names; ``no-group-by-length=`` is a bare flag)."""
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key.strip().replace("_", "-")] = value.strip()
    return out


def add_common_arguments(parser: argparse.ArgumentParser, *, data_dir: Path, out: Path) -> None:
    parser.add_argument("--data-dir", type=Path, default=data_dir)
    parser.add_argument("--model", default=None, help="default: the embedded all-MiniLM-L6-v2")
    parser.add_argument("--variant", action="append", default=[], help="overrides, e.g. lr=1e-4,epochs=4")
    parser.add_argument("--no-default", action="store_true", help="run only the variants")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=out)


def train_via_cli(workspace: Path, name: str, overrides: dict[str, str], *, data: Path, eval_data: Path | None,
                  model: str | None) -> tuple[Path | None, float, str | None]:
    """Train one run with the CLI; ``(run_dir, wall seconds, error)``, run_dir None when the CLI failed.

    ``eval_data`` is the selection set (per-epoch evaluation, best checkpoint); None holds out the workbench's
    stratified 10% of ``data``. Reported figures come from ``eval_via_cli`` on a set never used for selection."""
    cmd = [sys.executable, "-m", "workbench", "--workspace", str(workspace), "train", "--data", str(data),
           *(["--eval-data", str(eval_data)] if eval_data else []), "--name", name, "--json"]
    if model:
        cmd += ["--model", model]
    for key, value in overrides.items():
        cmd += [f"--{key}"] + ([value] if value else [])
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    try:
        summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        return None, wall, (proc.stderr or proc.stdout)[-800:]
    return Path(summary["run_dir"]), wall, None


def eval_via_cli(run_dir: Path, data: Path) -> dict:
    """``sft-workbench eval RUN --data DATA --json`` on the run's final (best-on-selection) model, with its wall time."""
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "workbench", "--workspace", str(run_dir.parents[1]), "eval",
                           run_dir.name, "--data", str(data), "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"eval of {run_dir.name} on {data} failed: {(proc.stderr or proc.stdout)[-400:]}")
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    report["eval_wall_s"] = round(time.time() - start, 1)
    return report


def run_variants(args, *, prefix: str, data: Path, eval_data: Path | None,
                 summarise: Callable[[Path, str, dict[str, str], float | None], dict]) -> list[dict]:
    """The defaults (unless ``--no-default``) and each ``--variant``, ``--parallel`` at a time, as result rows."""
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix=prefix))
    jobs = [] if args.no_default else [("defaults", {})]
    jobs += [(f"v{i}-" + "-".join(f"{k}{v}" for k, v in parse_variant(v).items()), parse_variant(v))
             for i, v in enumerate(args.variant)]

    def one(job: tuple[str, dict[str, str]]) -> dict:
        name, overrides = job
        run_dir, wall, error = train_via_cli(workspace, name, overrides, data=data, eval_data=eval_data, model=args.model)
        if run_dir is None:
            return {"name": name, "overrides": overrides, "error": error, "wall_s": round(wall, 1)}
        return summarise(run_dir, name, overrides, wall)

    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        return list(pool.map(one, jobs))


def result_row(run_dir: Path, name: str, overrides: dict[str, str], wall: float | None, scores: dict) -> dict:
    """One benchmark result: the run's name, overrides and status, its ``scores``, then speed, device and settings."""
    run_json = json.loads((run_dir / "run.json").read_text())
    train = run_json.get("train_summary") or {}
    return {
        "name": name,
        "overrides": overrides,
        "status": run_json.get("status"),
        **scores,
        "train_samples_per_s": train.get("train_samples_per_second"),
        "train_runtime_s": train.get("train_runtime"),
        "wall_s": None if wall is None else round(wall, 1),
        "device": run_json.get("device"),
        "config": {k: run_json["config"].get(k) for k in CONFIG_KEYS},
        "error": run_json.get("error"),
        "run_dir": str(run_dir),
    }


def write_results(out: Path, target: float, results: list[dict], **extra) -> None:
    """The results file: the target, one row per run, how the figures were selected and reported (``extra``),
    and the host (CPU model and flags, cores, GPUs, load, versions)."""
    from workbench.core.telemetry import host_record

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"target": target, **extra, "results": results, "host": host_record()}, indent=2) + "\n")
    print(f"\nwrote {out}")


def write_subsets(train_tsv: Path, folder: Path, rows: int, selection: int, seed: int) -> tuple[Path, Path]:
    """A seeded ``rows``-row training subset of GLUE train and ``selection`` further rows to choose epochs on."""
    with train_tsv.open(encoding="utf-8", newline="") as f:
        data = [(r["sentence"], r["label"]) for r in csv.DictReader(f, delimiter="\t")]
    random.Random(seed).shuffle(data)
    if rows + selection > len(data):
        raise SystemExit(f"--rows {rows} + --selection {selection} exceed the {len(data):,} rows of {train_tsv}")
    out = []
    for name, part in (("train.csv", data[:rows]), ("selection.csv", data[rows:rows + selection])):
        path = folder / name
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["sentence", "label"])
            writer.writerows(part)
        out.append(path)
    return out[0], out[1]
