"""CoNLL-2003 NER with the workbench's defaults: test entity F1, per-type F1, samples/s and wall time.

Runs the real CLI (`sft-workbench train`) on ../shared/datasets/conll2003 with the default model (embedded
all-MiniLM-L6-v2) and default settings: trained on train.txt, the best epoch chosen on valid.txt, and the
final model scored on test.txt with `sft-workbench eval` (test is never used for selection). ``--variant`` adds runs with overrides,
side by side in one table (they run concurrently with ``--parallel N``).

    python benchmarks/conll.py                                  # the defaults
    python benchmarks/conll.py --variant lr=1e-4 --out benchmarks/results/conll_lr.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_common_arguments, eval_via_cli, result_row, run_variants, write_results  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "conll2003"
TARGET = 0.88


def summariser(test: Path):
    def summarise(run_dir: Path, name: str, overrides: dict[str, str], wall: float | None) -> dict:
        """The result row of one finished run directory (also for a run that was stopped and resumed: --collect):
        test scores of its final model, and the validation (selection) F1 per epoch."""
        run_json = json.loads((run_dir / "run.json").read_text())
        selection = run_json.get("metrics") or {}
        # The last eval event of each epoch (the final evaluation repeats the best epoch's).
        per_epoch = list({e["epoch"]: {"epoch": e["epoch"], "valid_f1": e.get("f1")}
                          for e in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
                          if e.get("kind") == "eval"}.values())
        scores: dict = {"valid_f1": selection.get("f1"), "per_epoch": per_epoch}
        if run_json.get("status") == "completed":
            report = eval_via_cli(run_dir, test)
            scores = {"test_f1": report["f1"], "test_precision": report["precision"], "test_recall": report["recall"],
                      "token_accuracy": report.get("token_accuracy"),
                      "per_type_f1": {t: round(v["f1"], 4) for t, v in (report.get("per_class") or {}).items()},
                      **scores, "eval_wall_s": report["eval_wall_s"]}
        return result_row(run_dir, name, overrides, wall, scores)

    return summarise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, data_dir=DEFAULT_DATA, out=REPO / "benchmarks" / "results" / "conll_cpu.json")
    parser.add_argument("--lowercased", action="store_true",
                        help="also evaluate each run on a lower-cased copy of the test set (robustness to text without capitals)")
    parser.add_argument("--collect", action="append", default=[], metavar="NAME=RUN_DIR",
                        help="summarise an existing run directory instead of training (e.g. one stopped and resumed)")
    args = parser.parse_args()
    if args.collect:
        summarise = summariser(args.data_dir / "test.txt")
        results = [summarise(Path(d), n, {}, None) for n, _, d in (c.partition("=") for c in args.collect)]
        return report(results, args)
    if not (args.data_dir / "train.txt").is_file():
        print(f"skipped: {args.data_dir} not found (the shared data sets are not on this machine)")
        return 0
    results = run_variants(args, prefix="conll-bench-", data=args.data_dir / "train.txt",
                           eval_data=args.data_dir / "valid.txt", summarise=summariser(args.data_dir / "test.txt"))
    return report(results, args)


def lowercased_f1(results: list[dict], test: Path) -> None:
    """Add ``test_f1_lowercased``: each run's entity F1 on ``test`` with every word lower-cased (``sft-workbench eval``)."""
    import subprocess
    import tempfile

    lines = []
    for line in test.read_text(encoding="utf-8").splitlines():
        fields = line.split(" ")
        if line.strip() and not line.startswith("-DOCSTART-"):
            fields[0] = fields[0].lower()
        lines.append(" ".join(fields))
    with tempfile.TemporaryDirectory(prefix="conll-lower-") as tmp:
        lower = Path(tmp) / "test.txt"
        lower.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for r in results:
            if r.get("run_dir") and r.get("test_f1") is not None:
                run_dir = Path(r["run_dir"])
                proc = subprocess.run([sys.executable, "-m", "workbench", "--workspace", str(run_dir.parents[1]), "eval",
                                       run_dir.name, "--data", str(lower), "--json"], capture_output=True, text=True)
                r["test_f1_lowercased"] = json.loads(proc.stdout)["f1"] if proc.returncode == 0 else None


def report(results: list[dict], args) -> int:
    if args.lowercased:
        lowercased_f1(results, args.data_dir / "test.txt")

    print(f"\nCoNLL-2003 test, train {args.data_dir / 'train.txt'}, best epoch chosen on valid.txt; "
          f"target entity F1 ≥ {TARGET}")
    print(f"{'run':<28} {'F1':>7} {'P':>7} {'R':>7}  {'per type F1':<44} {'samples/s':>9} {'train s':>8} {'wall s':>7}"
          + ("  F1 lower-cased" if args.lowercased else ""))
    for r in results:
        if r.get("test_f1") is None:
            print(f"{r['name']:<28} {r.get('status', 'failed')}: {r.get('error') or 'no final evaluation'}")
            continue
        per = " ".join(f"{t} {v:.3f}" for t, v in r["per_type_f1"].items())
        print(f"{r['name']:<28} {r['test_f1']:>7.4f} {r['test_precision']:>7.4f} {r['test_recall']:>7.4f}  {per:<44} "
              f"{r['train_samples_per_s'] or 0:>9.1f} {r['train_runtime_s'] or 0:>8.0f} {r['wall_s'] or 0:>7.0f}"
              + (f"  {r['test_f1_lowercased']:.4f}" if r.get("test_f1_lowercased") is not None else ""))
    write_results(args.out, TARGET, results, selection=str(args.data_dir / "valid.txt"),
                  reported_on=str(args.data_dir / "test.txt"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
