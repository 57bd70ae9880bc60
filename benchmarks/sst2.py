"""SST-2 with the workbench's defaults: dev accuracy, samples/s and wall time.

Runs the real CLI (`sft-workbench train`) on ../shared/datasets/sst2 with the default model (embedded
all-MiniLM-L6-v2) and default settings. The best epoch is chosen on the workbench's stratified 10% held out
of GLUE train (seeded), never on the reported set; the final model is then scored on GLUE dev with
`sft-workbench eval` (SST-2's test labels are not public). ``--variant`` adds runs with overrides, side by
side in one table (they run concurrently with ``--parallel N``, useful on a big GPU).

    python benchmarks/sst2.py                                  # the defaults
    python benchmarks/sst2.py --variant lr=1e-4 --variant epochs=4 --parallel 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_common_arguments, eval_via_cli, result_row, run_variants, write_results  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "sst2"
TARGET = 0.895


def summariser(dev: Path):
    def summarise(run_dir: Path, name: str, overrides: dict[str, str], wall: float | None) -> dict:
        """The result row of one finished run: GLUE dev scores of its final model, and the selection split's."""
        run_json = json.loads((run_dir / "run.json").read_text())
        selection = run_json.get("metrics") or {}
        per_epoch = list({e["epoch"]: {"epoch": e["epoch"], "selection_accuracy": e.get("accuracy")}
                          for e in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
                          if e.get("kind") == "eval"}.values())
        scores = {"selection_accuracy": selection.get("accuracy"), "per_epoch": per_epoch}
        if run_json.get("status") == "completed":
            report = eval_via_cli(run_dir, dev)
            scores = {"dev_accuracy": report["accuracy"], "dev_macro_f1": report["macro_f1"], "dev_rows": report["rows"],
                      **scores, "eval_wall_s": report["eval_wall_s"]}
        return result_row(run_dir, name, overrides, wall, scores)

    return summarise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, data_dir=DEFAULT_DATA, out=REPO / "benchmarks" / "results" / "sst2.json")
    args = parser.parse_args()
    if not (args.data_dir / "train.tsv").is_file():
        print(f"skipped: {args.data_dir} not found (the shared data sets are not on this machine)")
        return 0
    results = run_variants(args, prefix="sst2-bench-", data=args.data_dir / "train.tsv", eval_data=None,
                           summarise=summariser(args.data_dir / "dev.tsv"))

    print(f"\nSST-2 dev, train {args.data_dir / 'train.tsv'} (best epoch chosen on 10% of it); "
          f"target dev accuracy ≥ {TARGET}")
    print(f"{'run':<34} {'dev acc':>8} {'macro-F1':>8} {'samples/s':>10} {'train s':>8} {'wall s':>8}  device")
    for r in results:
        if r.get("dev_accuracy") is None:
            print(f"{r['name']:<34} failed: {r.get('error')}")
            continue
        print(f"{r['name']:<34} {r['dev_accuracy']:>8.4f} {r['dev_macro_f1']:>8.4f} {r['train_samples_per_s'] or 0:>10.1f} "
              f"{r['train_runtime_s'] or 0:>8.0f} {r['wall_s']:>8.0f}  {r['device']}")
    write_results(args.out, TARGET, results, selection="stratified 10% of GLUE train held out (seeded)",
                  reported_on=str(args.data_dir / "dev.tsv"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
