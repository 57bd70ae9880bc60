"""A real sweep: the default model on 8,000 SST-2 rows, a 6-trial grid over the learning rate and the epochs.

Everything goes through the real CLI: `sft-workbench sweep` creates the sweep and returns, the detached queue
runner runs the trials one at a time (each an ordinary run), the median pruner stops trials whose validation
accuracy at an evaluation is below the median of the earlier trials there. Trials are ranked on ``--selection``
further rows of GLUE SST-2 train (the sweep's validation split, never trained on); the best and the runner-up
are then scored on GLUE dev (872 sentences), which the sweep never saw, with `sft-workbench eval`.

    python benchmarks/sweep.py                                     # lr 2e-5,5e-5,1e-4 × epochs 1,2
    python benchmarks/sweep.py --param lr=log:1e-5..2e-4 --param epochs=1,2,3 --search tpe --trials 6

The results file holds the sweep as `sweep show --json` has it, its Markdown table, both dev scores, the wall
time of the whole sweep and the host.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED, eval_via_cli, write_results, write_subsets  # noqa: E402

DEFAULT_PARAMS = ("lr=2e-5,5e-5,1e-4", "epochs=1,2")


def cli(workspace: Path, *argv: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "workbench", "--workspace", str(workspace), *argv],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sft-workbench {' '.join(argv[:2])} failed: {(proc.stderr or proc.stdout)[-600:]}")
    return proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED / "sst2")
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--selection", type=int, default=1000, help="GLUE train rows held out to rank the trials on")
    parser.add_argument("--seed", type=int, default=0, help="subset seed")
    parser.add_argument("--param", action="append", default=None, help=f"as for `sweep` (default: {' '.join(DEFAULT_PARAMS)})")
    parser.add_argument("--search", default="grid")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--pruner", default="median")
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sweep_sst2_cpu.json")
    args = parser.parse_args()
    if not (args.data_dir / "train.tsv").is_file():
        raise SystemExit(f"no SST-2 in {args.data_dir} (see ../shared/datasets/README.md)")

    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="sweep-sst2-"))
    workspace.mkdir(parents=True, exist_ok=True)
    train, selection = write_subsets(args.data_dir / "train.tsv", workspace, args.rows, args.selection, args.seed)
    params = args.param or list(DEFAULT_PARAMS)
    argv = ["sweep", "--data", str(train), "--eval-data", str(selection), "--name", "sst2-sweep",
            "--search", args.search, "--pruner", args.pruner, "--json"]
    for text in params:
        argv += ["--param", text]
    if args.trials:
        argv += ["--trials", str(args.trials)]
    start = time.time()
    record = json.loads(cli(workspace, *argv))
    print(f"sweep {record['id']} in {workspace}: {record['trials_planned']} trials", flush=True)
    seen = None
    while True:
        shown = json.loads(cli(workspace, "sweep", "show", record["id"], "--json"))
        line = " ".join(f"t{t['trial']}:{t['status']}" for t in sorted(shown["trials"], key=lambda t: t["trial"]))
        if line != seen:
            print(f"{time.time() - start:7.0f} s  {line}", flush=True)
            seen = line
        if shown["status"] != "running":
            break
        time.sleep(20)
    wall = time.time() - start
    markdown = cli(workspace, "sweep", "show", record["id"], "--markdown")
    print(markdown)
    dev = args.data_dir / "dev.tsv"
    scored = []
    for label, row in (("best", shown["trials"][0]), ("runner-up", shown["trials"][1])):
        report = eval_via_cli(workspace / "runs" / row["run_id"], dev)
        scored.append({"role": label, "trial": row["trial"], "run_id": row["run_id"], "params": row["params"],
                       "selection_accuracy": row["value"], "dev_accuracy": report.get("accuracy"),
                       "dev_macro_f1": report.get("macro_f1")})
        print(f"{label}: trial {row['trial']} {row['params']}: selection {row['value']:.4f}, "
              f"GLUE dev {report.get('accuracy'):.4f}", flush=True)
    write_results(args.out, None, scored, sweep=shown, markdown=markdown, wall_s=round(wall, 1),
                  setup={"rows": args.rows, "selection": args.selection, "seed": args.seed, "params": params,
                         "search": args.search, "pruner": args.pruner, "dev": str(dev.relative_to(SHARED.parent))
                         if dev.is_relative_to(SHARED.parent) else str(dev)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
