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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_common_arguments, result_row, run_variants, write_results  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "sst2"
TARGET = 0.895


def summarise(run_dir: Path, name: str, overrides: dict[str, str], wall: float | None) -> dict:
    """The result row of one finished run directory."""
    metrics = json.loads((run_dir / "run.json").read_text()).get("metrics") or {}
    return result_row(run_dir, name, overrides, wall,
                      {"dev_accuracy": metrics.get("accuracy"), "dev_macro_f1": metrics.get("macro_f1")})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, data_dir=DEFAULT_DATA, out=REPO / "benchmarks" / "results" / "sst2.json")
    args = parser.parse_args()
    if not (args.data_dir / "train.tsv").is_file():
        print(f"skipped: {args.data_dir} not found (the shared data sets are not on this machine)")
        return 0
    results = run_variants(args, prefix="sst2-bench-", data=args.data_dir / "train.tsv",
                           eval_data=args.data_dir / "dev.tsv", summarise=summarise)

    print(f"\nSST-2 dev, train {args.data_dir / 'train.tsv'}; target dev accuracy ≥ {TARGET}")
    print(f"{'run':<34} {'dev acc':>8} {'macro-F1':>8} {'samples/s':>10} {'train s':>8} {'wall s':>8}  device")
    for r in results:
        if r.get("dev_accuracy") is None:
            print(f"{r['name']:<34} failed: {r.get('error')}")
            continue
        print(f"{r['name']:<34} {r['dev_accuracy']:>8.4f} {r['dev_macro_f1']:>8.4f} {r['train_samples_per_s'] or 0:>10.1f} "
              f"{r['train_runtime_s'] or 0:>8.0f} {r['wall_s']:>8.0f}  {r['device']}")
    write_results(args.out, TARGET, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
