"""Where ONNX fp32 spends batch 1 × seq 128: ORT's own profile by operator, against the matmul floor.

For an encoder export (``sft-workbench export``), on the benchmark's input (a real text tokenised to exactly
``--seq`` tokens, ``workbench.core.bench.bench_inputs``) and thread count:

1. the floor (``benchmarks/export.py``'s ``matmul_floor``): the encoder's dense matrix products alone, each a
   lone ONNX ``MatMul`` on the same threads;
2. the whole graph's p50 under the session options the workbench uses, and under variants of them tried to
   close the gap (thread spinning off, ORT's basic level instead of all optimisations, SkipLayerNorm fusion
   left on) and, with ``--workspace``/``--run`` (the run the export came from), under other fusions of the
   same model's graph (ORT's ``MultiHeadAttention`` instead of ``Attention``, attention left unfused),
   alternated round by round;
3. ORT's profiler (``enable_profiling``) on the workbench's session: time per operator type per inference,
   and its share of the run, so the kernels that hold the graph back are named.

    python benchmarks/ort_profile.py --export WS/exports/NAME --threads 2
    python benchmarks/ort_profile.py --export WS/exports/NAME --workspace WS --run NAME   # + the fusion variants
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_results  # noqa: E402
from export import matmul_floor  # noqa: E402


def variants(threads: int) -> dict:
    import onnxruntime as ort

    from workbench.core.inference import DEFAULT_DISABLED_OPTIMIZERS, session_options

    def opts(**changes):
        so = session_options(threads)
        for key, value in changes.items():
            if key == "config":
                for k, v in value.items():
                    so.add_session_config_entry(k, v)
            else:
                setattr(so, key, value)
        return so

    return {
        "workbench": (opts(), DEFAULT_DISABLED_OPTIMIZERS),
        "no spinning": (opts(config={"session.intra_op.allow_spinning": "0"}), DEFAULT_DISABLED_OPTIMIZERS),
        "basic optimisation": (opts(graph_optimization_level=ort.GraphOptimizationLevel.ORT_ENABLE_BASIC),
                               DEFAULT_DISABLED_OPTIMIZERS),
        "SkipLayerNorm fused": (opts(), ()),
    }


def fusion_variants(workspace: Path, run_name: str, out_dir: Path) -> dict[str, Path]:
    """The run's model traced and fused as ``export`` does it, but with other attention fusions than the
    export's ``Attention``: name → fp32 graph in ``out_dir``."""
    from workbench.core.export.pipeline import export_onnx, optimize_onnx
    from workbench.core.models import load_run_model
    from workbench.core.runs import RunStore

    runs = [r for r in RunStore(workspace).list() if r.name == run_name]
    if not runs:
        raise SystemExit(f"error: no run {run_name!r} in {workspace}")
    model, tokenizer = load_run_model(runs[0], "AutoModelForSequenceClassification", attn_implementation="eager")
    raw = out_dir / "raw.onnx"
    export_onnx(model, tokenizer, raw)
    paths = {}
    for name, fusion in (("MultiHeadAttention fusion", {"use_multi_head_attention": True}),
                         ("attention unfused", {"enable_attention": False})):
        paths[name] = out_dir / f"{len(paths)}.onnx"
        optimize_onnx(raw, paths[name], model.config, fusion=fusion)
    return paths


def time_session(session, feed, n: int) -> list[float]:
    out = [session.get_outputs()[0].name]
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        session.run(out, feed)
        samples.append(time.perf_counter() - t)
    return samples


def profile(model: Path, threads: int, feed: dict, runs: int) -> dict:
    """ORT's profiler over ``runs`` inferences: milliseconds per inference by operator type."""
    import onnxruntime as ort

    from workbench.core.inference import DEFAULT_DISABLED_OPTIMIZERS, session_options

    so = session_options(threads)
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="ort-profile-")) / "run")
    session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"],
                                   disabled_optimizers=list(DEFAULT_DISABLED_OPTIMIZERS))
    time_session(session, feed, 20)  # warm-up, in the profile too: dropped below by run index
    time_session(session, feed, runs)
    events = json.loads(Path(session.end_profiling()).read_text())
    model_runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    measured = model_runs[-runs:]
    start = measured[0]["ts"]
    by_op: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            op = e.get("args", {}).get("op_name", "?")
            by_op[op] += e["dur"]
            count[op] += 1
    run_us = statistics.median(e["dur"] for e in measured)
    total = sum(by_op.values())
    rows = sorted(({"op": op, "ms_per_run": round(us / runs / 1e3, 3), "share_of_kernels": round(us / total, 4),
                    "nodes": count[op] // runs} for op, us in by_op.items()), key=lambda r: -r["ms_per_run"])
    return {"model_run_p50_ms": round(run_us / 1e3, 3), "kernels_ms_per_run": round(total / runs / 1e3, 3), "ops": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True, help="an encoder export directory")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=6, help="alternated rounds of every variant")
    parser.add_argument("--per-round", type=int, default=50, help="inferences per variant per round")
    parser.add_argument("--workspace", type=Path, help="with --run: also time other fusions of the run's graph")
    parser.add_argument("--run", help="the text-classification run the export came from (in --workspace)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ort_profile_cpu.json")
    args = parser.parse_args()
    if bool(args.workspace) != bool(args.run):
        parser.error("--workspace and --run go together")

    import onnxruntime as ort

    from workbench.core.bench import bench_inputs

    manifest = json.loads((args.export / "manifest.json").read_text())
    model = args.export / manifest["files"]["fp32"]
    feed = bench_inputs(args.export, manifest, 1, args.seq)
    floor = matmul_floor(args.export, args.threads, seq_len=args.seq)
    sessions = {name: ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"],
                                           disabled_optimizers=list(disabled) or None)
                for name, (so, disabled) in variants(args.threads).items()}
    if args.run:
        from workbench.core.inference import DEFAULT_DISABLED_OPTIMIZERS, session_options

        for name, path in fusion_variants(args.workspace, args.run, Path(tempfile.mkdtemp(prefix="ort-fusions-"))).items():
            sessions[name] = ort.InferenceSession(str(path), session_options(args.threads),
                                                  providers=["CPUExecutionProvider"],
                                                  disabled_optimizers=list(DEFAULT_DISABLED_OPTIMIZERS))
    samples: dict[str, list[float]] = {name: [] for name in sessions}
    for s in sessions.values():
        time_session(s, feed, 20)
    for r in range(args.rounds):
        names = list(sessions) if r % 2 == 0 else list(reversed(sessions))
        for name in names:
            samples[name] += time_session(sessions[name], feed, args.per_round)
    p50 = {name: statistics.median(v) * 1e3 for name, v in samples.items()}
    prof = profile(model, args.threads, feed, runs=100)

    print(f"floor: dense matmuls alone {floor['fp32_ms']:.2f} ms ({floor['fp32_gflops']} GFLOP/s, {floor['gflop']} GFLOP)")
    for name, ms in p50.items():
        print(f"{name:<22} p50 {ms:6.2f} ms = {ms / floor['fp32_ms']:.2f}× the floor")
    print(f"\nprofile (workbench session, {prof['model_run_p50_ms']:.2f} ms a run, {prof['kernels_ms_per_run']:.2f} ms in kernels):")
    for row in prof["ops"]:
        print(f"  {row['op']:<28}{row['ms_per_run']:>8.3f} ms {row['share_of_kernels']:>7.1%}  ({row['nodes']} nodes)")
    rows = [{"variant": name, "p50_ms": round(ms, 3), "vs_floor": round(ms / floor["fp32_ms"], 3)} for name, ms in p50.items()]
    write_results(args.out, 1.25, rows, matmul_floor=floor, profile=prof,
                  setup={"export": str(args.export), "fused_ops": manifest.get("optimization", {}).get("fused_ops"),
                         "threads": args.threads, "batch": 1, "seq": args.seq, "rounds": args.rounds,
                         "per_round": args.per_round, "onnxruntime": ort.__version__,
                         "fusion_variants_from_run": args.run})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
