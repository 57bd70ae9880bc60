"""Which int8 encoding of an encoder export is fastest and most faithful on *this* CPU.

The export's int8 settings (``workbench.core.export.pipeline.INT8_SETTINGS``) were chosen on a Xeon with
AVX512-VNNI; a CPU without VNNI runs int8 products through other kernels (AVX2 ``vpmaddubsw``, which can
saturate u8×s8 sums), so the choice is re-measured here. From the export's fused fp32 ``model.onnx``:

  fp32         the fp32 graph itself (the reference);
  workbench    ``quantize_int8`` as exported (dynamic, per-channel s8 weights, QAttention);
  reduce_range the same with 7-bit weights (what ORT advises for CPUs without VNNI);
  u8_weights   per-channel **u8** weights (MLAS's u8×u8 kernel: no saturation, 16-bit products);
  matmul_only  dynamic int8 on the MatMuls only (Attention left fp32);
  nbits8       weight-only 8-bit ``MatMulNBits`` (block 32, accuracy level 4: activations quantised per block);
  static_qdq   static (calibrated) int8 on the MatMuls, QDQ format: per-channel s8 weights, u8 activations with
               ranges fixed by MinMax calibration on ``--calibration`` texts, so no per-batch
               ``DynamicQuantizeLinear`` (what dynamic int8 pays on every call);

each scores the same real texts as ``predict --file`` does (length-sorted batches of ``--batch-size``), in
alternated order for ``--rounds`` rounds: texts/s (median) and, against fp32, label agreement and accuracy.

    python benchmarks/int8_variants.py --export WS/exports/NAME --data sel.tsv --rounds 3
    python benchmarks/int8_variants.py --export WS/exports/NAME --data sel.tsv --variants fp32,workbench,static_qdq \
        --calibration train.tsv        # calibration texts: the first 256 rows of a training file, not the timed ones
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_results  # noqa: E402

VARIANTS = ("fp32", "workbench", "reduce_range", "u8_weights", "matmul_only", "nbits8", "static_qdq")
CALIBRATION_TEXTS = 256


class _Calibration:
    """ORT's CalibrationDataReader protocol: feeds of batches of 32 texts, encoded as ``predict`` encodes them."""

    def __init__(self, clf, texts: list[str]):
        self.feeds = iter([clf.encode(texts[i:i + 32]) for i in range(0, len(texts), 32)])

    def get_next(self):
        return next(self.feeds, None)


def build(name: str, fp32: Path, out: Path, calibration: "_Calibration | None" = None) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    import onnx

    from workbench.core.export.pipeline import quantize_int8, quantize_weight_only_int8

    if name == "fp32":
        return fp32
    path = out / f"{name}.onnx"
    if name == "workbench":
        quantize_int8(fp32, path)
    elif name == "reduce_range":
        quantize_int8(fp32, path, reduce_range=True)
    elif name == "matmul_only":
        quantize_int8(fp32, path, op_types=["MatMul"])
    elif name == "u8_weights":
        quantize_dynamic(str(fp32), str(path), per_channel=True, weight_type=QuantType.QUInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    elif name == "nbits8":
        quantize_weight_only_int8(fp32, path)
    elif name == "static_qdq":
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        # Symbolic shape inference first: without it the quantiser cannot type 12 of the 18 MatMul outputs of
        # the fused graph (its contrib ops) and leaves them fp32.
        typed = out / "static_qdq_typed.onnx"
        quant_pre_process(str(fp32), str(typed), skip_optimization=True)
        quantize_static(str(typed), str(path), calibration, quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"],
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    else:
        raise ValueError(name)
    return path


def read_rows(path: Path, limit: int) -> tuple[list[str], list[int]]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
    return [r["sentence"] for r in rows], [int(r["label"]) for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, required=True, help="an encoder (text-classification) export")
    parser.add_argument("--data", type=Path, required=True, help="held-out TSV with sentence and label columns")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", help="comma-separated; default: all of them (static_qdq only with --calibration)")
    parser.add_argument("--calibration", type=Path, help="TSV whose first 256 sentences calibrate static_qdq")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "int8_variants_cpu.json")
    args = parser.parse_args()
    names = args.variants.split(",") if args.variants else [n for n in VARIANTS if n != "static_qdq" or args.calibration]
    if "static_qdq" in names and not args.calibration:
        parser.error("static_qdq needs --calibration (a TSV with a sentence column)")

    from workbench.core.inference import create_session
    from workbench.core.tasks.classification.predict import OnnxClassifier

    texts, gold = read_rows(args.data, args.texts)
    clf = OnnxClassifier(args.export, threads=args.threads)  # tokeniser, labels and runtime settings of the export
    disabled = (clf.manifest.get("runtime") or {}).get("disabled_optimizers")
    timings: dict[str, list[float]] = {n: [] for n in names}
    labels: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="int8-variants-") as tmp:
        sessions = {}
        for name in names:
            print(f"building {name} …", file=sys.stderr, flush=True)
            calibration = None
            if name == "static_qdq":
                calibration = _Calibration(clf, read_rows(args.calibration, CALIBRATION_TEXTS)[0])
            path = build(name, args.export / "model.onnx", Path(tmp), calibration)
            sizes[name] = path.stat().st_size
            sessions[name] = create_session(path, args.threads, disabled)
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                clf.session = sessions[name]
                start = time.perf_counter()
                logits = clf.logits(texts, batch_size=args.batch_size)
                timings[name].append(time.perf_counter() - start)
                labels[name] = logits.argmax(-1)
                print(f"round {r + 1} {name}: {len(texts) / timings[name][-1]:.0f} texts/s", file=sys.stderr, flush=True)
    gold_arr = np.asarray(gold)
    fp32_tps = len(texts) / statistics.median(timings["fp32"]) if "fp32" in timings else None
    results = []
    for name in names:
        tps = len(texts) / statistics.median(timings[name])
        row = {"variant": name, "texts_per_s_median": round(tps, 1), "seconds": [round(s, 3) for s in timings[name]],
               "accuracy": round(float((labels[name] == gold_arr).mean()), 4), "size_mb": round(sizes[name] / 1e6, 1)}
        if "fp32" in labels:
            row["agreement_with_fp32"] = round(float((labels[name] == labels["fp32"]).mean()), 4)
            row["speed_vs_fp32"] = round(tps / fp32_tps, 3)
        results.append(row)
        print(f"{name:13s} {tps:6.0f} texts/s  ×fp32 {row.get('speed_vs_fp32', 1):.2f}  acc {row['accuracy']:.4f}  "
              f"agree {row.get('agreement_with_fp32', 1):.4f}  {row['size_mb']} MB")
    write_results(args.out, 0.0, results, benchmark="int8_variants", export=str(args.export), data=str(args.data),
                  texts=len(texts), batch_size=args.batch_size,
                  calibration=str(args.calibration) if args.calibration else None, threads=args.threads, rounds=args.rounds,
                  note="target 0.0: no target of its own; it chooses predict's int8 encoding per CPU kind")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
