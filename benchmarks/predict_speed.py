"""Inference speed on real files: ``sft-workbench predict --file`` (ONNX fp32, ONNX int8) against what most users
run instead, the transformers ``pipeline("text-classification")`` on PyTorch, on the same texts, threads and batch.

An SST-2 model (``--run``: a finished run in ``--workspace``, exported here with ``--int8`` unless ``--export``
names an export) classifies two files: SST-2 dev (872 texts) and 10,000 texts drawn from SST-2 train (seed 0).
Per file and round, alternating the order of the three rows:

  (p) ``pipeline("text-classification", model=<the run's model>)`` on CPU, ``batch_size`` 32, truncation at 128
      tokens, in one process: the time of the call over all texts (model loading not counted);
  (f) ``sft-workbench predict EXPORT --file F --json`` (fp32), the **whole process** (start-up, session, reading,
      scoring, writing JSON lines): texts / wall time;
  (i) the same with ``--int8``.

Per round, the fixed cost of a ``predict`` process is measured too: the same command on a one-text file (fp32 and
int8), so that what a file's texts/s owes to start-up can be told from what it owes to scoring.

Threads: torch and onnxruntime both use all cores (``--threads`` sets the pipeline's, default the core count;
``predict`` takes onnxruntime's default, one per core). Labels are compared
text by text: fp32 must equal the pipeline's; int8 agreement is reported.

    python benchmarks/predict_speed.py --workspace WS --run NAME --rounds 3
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
TARGETS = {"int8_vs_pipeline": 4.0, "fp32_vs_pipeline": 1.5}


def write_files(data_dir: Path, out: Path, train_texts: int) -> dict[str, Path]:
    import pandas as pd

    dev = pd.read_csv(data_dir / "dev.tsv", sep="\t", quoting=3)
    train = pd.read_csv(data_dir / "train.tsv", sep="\t", quoting=3).sample(n=train_texts, random_state=0)
    files = {}
    for name, frame in (("dev", dev), (f"train{train_texts}", train)):
        path = out / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in frame["sentence"]))
        files[name] = path
    return files


def pipeline_child(model_dir: str, path: str, batch_size: int, threads: int) -> None:
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    texts = [json.loads(line)["text"] for line in Path(path).read_text().splitlines()]
    pipe = pipeline("text-classification", model=model_dir, device="cpu")
    pipe(texts[:8], batch_size=batch_size, truncation=True, max_length=128)  # warm-up, as a server would
    start = time.perf_counter()
    out = pipe(texts, batch_size=batch_size, truncation=True, max_length=128)
    seconds = time.perf_counter() - start
    print("RESULT " + json.dumps({"seconds": seconds, "labels": [o["label"] for o in out]}))


def run_pipeline(model_dir: Path, path: Path, batch_size: int, threads: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child-pipeline", str(model_dir), "--file", str(path),
                           "--batch-size", str(batch_size), "--threads", str(threads)],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(proc.stderr[-1500:])
    return json.loads(lines[-1][7:])


def run_predict(workspace: Path, export: Path, path: Path, batch_size: int, int8: bool) -> dict:
    """``predict`` runs onnxruntime with its default of one intra-op thread per core."""
    cmd = [sys.executable, "-m", "workbench", "--workspace", str(workspace), "predict", str(export), "--file", str(path),
           "--batch-size", str(batch_size), "--json", *(["--int8"] if int8 else [])]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-1500:])
    labels = [json.loads(line)["label"] for line in proc.stdout.splitlines() if line.startswith("{")]
    return {"seconds": seconds, "labels": labels}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--run", help="a finished SST-2 run in --workspace (exported with --int8 first)")
    parser.add_argument("--export", type=Path, help="an existing export directory instead")
    parser.add_argument("--train-texts", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "predict_speed_cpu.json")
    parser.add_argument("--child-pipeline", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_pipeline:
        pipeline_child(args.child_pipeline, args.file, args.batch_size, args.threads)
        return 0
    if not (args.data_dir / "dev.tsv").is_file():
        print(f"SST-2 not found in {args.data_dir}; nothing to measure.", file=sys.stderr)
        return 2

    from workbench.core.inference import read_manifest
    from workbench.core.telemetry import host_record

    export = args.export
    if export is None:
        export = args.workspace / "exports" / f"{args.run}-speed"
        if not export.is_dir():
            subprocess.run([sys.executable, "-m", "workbench", "--workspace", str(args.workspace), "export", args.run,
                            "--int8", "--out", str(export)], check=True)
    manifest = read_manifest(export)
    model_dir = Path(manifest["source_run"]["model_dir"])
    host = host_record()
    results = []
    with tempfile.TemporaryDirectory(prefix="predict-speed-") as tmp:
        files = write_files(args.data_dir, Path(tmp), args.train_texts)
        one_text = Path(tmp) / "one.jsonl"
        one_text.write_text(json.dumps({"text": "a gorgeous , witty , seductive movie ."}) + "\n")
        rows = ["p", "f", "i"]
        startup: dict[str, list[float]] = {"f": [], "i": []}
        for r in range(args.rounds):
            for row in (("f", "i") if r % 2 == 0 else ("i", "f")):
                startup[row].append(run_predict(args.workspace or Path(tmp), export, one_text, args.batch_size,
                                                int8=row == "i")["seconds"])
            for name, path in files.items():
                n = len(path.read_text().splitlines())
                labels = {}
                for row in (rows if r % 2 == 0 else rows[::-1]):
                    print(f"round {r + 1}, {name}, row {row} …", file=sys.stderr, flush=True)
                    out = (run_pipeline(model_dir, path, args.batch_size, args.threads) if row == "p" else
                           run_predict(args.workspace or Path(tmp), export, path, args.batch_size, int8=row == "i"))
                    labels[row] = out["labels"]
                    assert len(out["labels"]) == n, (row, len(out["labels"]), n)
                    results.append({"round": r + 1, "file": name, "texts": n, "row": row, "seconds": out["seconds"],
                                    "texts_per_s": n / out["seconds"]})
                for row in ("f", "i"):
                    same = sum(a == b for a, b in zip(labels[row], labels["p"]))
                    next(x for x in results if x["round"] == r + 1 and x["file"] == name and x["row"] == row).update(
                        agreement_with_pipeline=same / n, identical_labels=same == n)
    startup_s = {row: sorted(v)[len(v) // 2] for row, v in startup.items()}
    summary = {}
    for name in files:
        def median(row):
            values = sorted(x["texts_per_s"] for x in results if x["file"] == name and x["row"] == row)
            return values[len(values) // 2]
        ratios = {}
        for rd in sorted({x["round"] for x in results}):
            per = {x["row"]: x for x in results if x["file"] == name and x["round"] == rd}
            for row, key in (("f", "fp32_vs_pipeline"), ("i", "int8_vs_pipeline")):
                ratios.setdefault(key, []).append(per[row]["texts_per_s"] / per["p"]["texts_per_s"])
        summary[name] = {"texts_per_s_median": {row: median(row) for row in ("p", "f", "i")},
                         "ratios_median": {k: sorted(v)[len(v) // 2] for k, v in ratios.items()},
                         "ratios_min": {k: min(v) for k, v in ratios.items()},
                         "fp32_identical_every_round": all(x.get("identical_labels") for x in results
                                                           if x["file"] == name and x["row"] == "f"),
                         "int8_agreement_min": min(x["agreement_with_pipeline"] for x in results
                                                   if x["file"] == name and x["row"] == "i")}
        # Scoring alone: per round, the file's texts over its process time less the one-text process's median
        # (start-up, session, one batch), median over rounds; what the rate approaches on a file long enough to
        # make start-up negligible.
        summary[name]["predict_texts_per_s_less_startup"] = {
            row: sorted(x["texts"] / (x["seconds"] - startup_s[row]) for x in results
                        if x["file"] == name and x["row"] == row)[args.rounds // 2] for row in ("f", "i")}
    report = {"benchmark": "predict_speed", "export": str(export), "model_dir": str(model_dir),
              "batch_size": args.batch_size, "threads": args.threads, "rounds": args.rounds, "rows": results,
              "startup_s_median": startup_s, "startup_s": startup, "summary": summary, "targets": TARGETS,
              "date": time.strftime("%Y-%m-%d %H:%M"), "host": host,
              "load_avg_after": host_record()["load_avg"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"a one-text predict process: fp32 {startup_s['f']:.2f} s, int8 {startup_s['i']:.2f} s")
    for name, s in summary.items():
        t = s["texts_per_s_median"]
        print(f"{name}: pipeline {t['p']:.0f} texts/s, predict fp32 {t['f']:.0f} ({s['ratios_median']['fp32_vs_pipeline']:.2f}×), "
              f"int8 {t['i']:.0f} ({s['ratios_median']['int8_vs_pipeline']:.2f}×); fp32 labels identical: "
              f"{s['fp32_identical_every_round']}, int8 agreement ≥ {s['int8_agreement_min']:.4f}")
    print(f"(written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
