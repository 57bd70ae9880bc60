"""The export pipeline every task uses: torch.onnx.export → ORT transformer fusions → optional int8, built in a
partial directory and moved into place; manifest and version helpers. Knows no task (validation is the task's).

An export directory reads like a Hugging Face model directory::

    exports/<run-name>/
      model.onnx          fp32, ORT-fused (EmbedLayerNormalization, Attention, BiasGelu)
      model.int8.onnx     with --int8: dynamic quantisation of the fused graph
      config.json         the run's model config (id2label, label2id)
      tokenizer.json      and the other tokenizer files of the run's model
      manifest.json       source run, task, labels, inputs/outputs, opset, versions, fusions, quantisation,
                          validation and (after `sft-workbench bench`) benchmark results
      README.md           a short model card: how to run it with onnxruntime alone

Choices made by measurement (see benchmarks/export.py and the manifest's ``exporter`` entry):

* The TorchScript exporter (``dynamo=False``), not the dynamo exporter that torch 2.13 defaults to. ORT's
  BERT optimizer pattern-matches the TorchScript graph into fused ``Attention`` nodes; on the dynamo graph
  it fuses SkipLayerNormalization and BiasGelu but no attention and no embedding layer norm.
* ``attn_implementation="eager"`` for the exported copy of the model. With SDPA the attention subgraph has
  a different shape and ORT fuses no ``Attention`` either way; eager and SDPA compute the same function
  (the parity check against the run's default SDPA model holds to ~1e-6).
* No SkipLayerNormalization. ORT fuses each residual Add + LayerNormalization into it, but its CPU kernel
  (onnxruntime 1.32) measured ~7x slower than the pair: 219 µs vs 30 µs for a 128x384 fp32 input on one
  thread, ~25% of the int8 model's latency. The optimizer is told not to fuse it, and sessions are created
  with ORT's runtime ``SkipLayerNormFusion`` disabled (recorded in the manifest's ``runtime`` entry).

The directory is built under a hidden temporary name next to its destination and renamed into place only
after validation passes, so a killed or failed export is never mistaken for a finished one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from workbench.core.errors import WorkbenchError, first_line
from workbench.core.inference import DEFAULT_DISABLED_OPTIMIZERS, FP32_FILE, INT8_FILE, MANIFEST_FILE, read_manifest
from workbench.core.models import load_run_model
from workbench.core.runs import Run, atomic_write_json, atomic_write_text, pid_alive
from workbench.core.telemetry import package_versions
from workbench.core.tasks import load_for_training, run_setting
from workbench.paths import Workspace


FORMAT = "sft-workbench-onnx"


FORMAT_VERSION = 1


DEFAULT_OPSET = 17


# Max |logit difference| allowed between PyTorch and ONNX fp32. Fused kernels reorder float sums, which
# moves logits by ~1e-6; anything near 1e-4 means a real graph difference (a wrong mask, a dropped op).
FP32_TOLERANCE = 1e-4


DEFAULT_MAX_INT8_DROP = 1.0  # accuracy points


# Tokenizer files copied from the run's model directory when present.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model")


# Encoder families whose TorchScript graphs ORT's "bert" optimizer knows how to fuse.
BERT_LIKE = {"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra", "mpnet", "ernie"}


ONNX_INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")


# Dynamic int8 settings, chosen by measurement (MiniLM-L6 fine-tuned on 16k SST-2 rows, 2 threads, onnxruntime
# 1.32 on an AVX512-VNNI/AMX Xeon); agreement = labels equal to ONNX fp32 on 5,000 held-out SST-2 train rows:
#   per_channel  reduce_range  ops quantised        agreement  max |Δlogit|  p50 (min) ms  size
#   True         False         all                  98.74%     0.69          4.0           23 MB   ← chosen
#   True         True          all                  98.56%     0.71          4.0           23 MB
#   False        False         all                  96.76%     1.32          3.9           23 MB
#   True         False         MatMul + Attention   98.56%     0.73          4.0           59 MB
#   True         False         MatMul only          98.70%     0.57          5.5           67 MB
# Per-channel weight scales are what keeps int8 faithful, at no cost in speed. reduce_range (7-bit weights)
# exists for CPUs without VNNI, whose u8*s8 kernels can saturate; here it only loses a little fidelity.
# Quantising the fused Attention (QAttention) is what makes int8 fast; leaving the embedding table in fp32
# gains nothing measurable and keeps the file 2.5x larger. Accuracy deltas of all rows were within
# ±0.25 points on those 5,000 rows: per example, SST-2 dev (872 rows) moves in steps of 0.115 points.
# On a Zen 1 EPYC (AVX2, no VNNI; benchmarks/int8_variants.py, 2026-12-03) no int8 encoding was faster than
# fp32 (0.98-0.99x for these rows and for u8 weights; weight-only MatMulNBits 0.47x), so int8 there buys size
# (23 vs 91 MB), not speed; on a Zen 3 EPYC `predict --int8` was 1.5x fp32 (benchmarks/predict_speed.py).
INT8_SETTINGS: dict[str, Any] = {
    "method": "onnxruntime.quantization.quantize_dynamic",
    "weight_type": "QInt8",
    "activation_type": "QUInt8 (dynamic, per batch)",
    "per_channel": True,
    "reduce_range": False,
    "op_types": "all quantisable (MatMul, Attention, EmbedLayerNormalization)",
    # Measured once, not on the exporting host: where and when say so (the manifest's `exporting_host` says
    # whether the host that built this export has the VNNI instructions the choice assumed).
    "measured": {"where": "a 2-core Intel Xeon (AVX512-VNNI, AVX512-BF16, AMX), this project's development machine",
                 "when": "2026-11-28", "onnxruntime": "1.32",
                 "data": "5,000 held-out SST-2 train rows, the fine-tuned all-MiniLM-L6-v2"},
    "why": ("per-channel weight scales kept labels closest to fp32 (98.7% vs 96.8% agreement for per-tensor) at "
            "the same speed; reduce_range (7-bit weights) only helps CPUs without VNNI and was slightly less "
            "faithful there; quantising Attention as well as MatMul was ~1.4x faster at the same accuracy."),
    "portability": ("built without reduce_range: on a CPU without AVX512-VNNI or AVX-VNNI the int8 graph may lose "
                    "accuracy through saturation; re-check accuracy there with `sft-workbench export --int8`."),
}


# Decoders (causal LMs) are quantised differently. Dynamic int8 quantises activations per batch with one
# scale, and a real pretrained LM's activations have outlier channels: on SmolLM2-135M-Instruct (Multi30k val,
# 40 pairs, this project's Xeon, ONNX Runtime 1.32) it raised perplexity from 37.9 to 98.8 (+161%), and 97.1
# with the lm_head left in fp32, so the layers themselves are the problem. Weight-only int8 (MatMulNBits:
# 8-bit weights in blocks along K, each with its own scale; activations stay float until the kernel) kept it
# at 38.2 (+0.8%, block 32) / 38.4 (+1.2%, block 128), and decodes 1.8x faster than fp32 (44.8 vs 24.8
# tokens/s at batch 1, 2 threads: decode reads every weight once per token, and int8 halves those bytes).
# accuracy_level 4 lets the kernel quantise each activation block to int8 for the products (VNNI/AMX, AVX2
# elsewhere); level 0 (fp32 products) gave 38.03 but was 2.4x slower than fp32 on the prompt pass.
DECODER_INT8_SETTINGS: dict[str, Any] = {
    "method": "onnxruntime.quantization.matmul_nbits_quantizer.MatMulNBitsQuantizer (weight-only)",
    "bits": 8,
    "block_size": 32,
    "symmetric": True,
    "accuracy_level": 4,
    "op_types": "MatMul with constant weights (every projection and the lm_head); the embedding table stays fp32",
    "measured": {"where": "a 2-core Intel Xeon (AVX512-VNNI, AVX512-BF16, AMX), this project's development machine",
                 "when": "2026-12-01", "onnxruntime": "1.32",
                 "data": "40 Multi30k val pairs, SmolLM2-135M-Instruct (perplexity 37.9 fp32)"},
    "why": ("dynamic int8 (activations quantised per batch) raised the pretrained LM's perplexity by 161%; 8-bit "
            "weights in blocks of 32 raised it 0.8% and decode ran 1.8x faster than fp32."),
}


Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------- helpers
def default_export_dir(workspace: Workspace | str | os.PathLike | None, run: Run) -> Path:
    """``<workspace>/exports/<run name>``."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    return ws.exports_dir / run.name


@contextlib.contextmanager
def quiet():
    """Silence the exporter's TracerWarnings and ORT's optimiser/quantiser log chatter for the block."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _cleanup_stale_partials(target: Path) -> None:
    """Remove half-built exports of ``target`` left by killed processes (their pid no longer runs)."""
    if not target.parent.is_dir():
        return
    for path in target.parent.glob(f".{target.name}.partial-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------- export steps
def _logits_module(model, input_names: Sequence[str], output_names: Sequence[str] = ("logits",)):
    """``model`` wrapped so the traced graph takes positional tensors and returns only the named outputs
    (``logits``; ``start_logits`` and ``end_logits`` for a span head)."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            out = self.model(**dict(zip(input_names, tensors)))
            values = tuple(getattr(out, name) for name in output_names)
            return values[0] if len(values) == 1 else values

    return LogitsOnly().eval()


def export_onnx(model, tokenizer, path: Path, *, opset: int = DEFAULT_OPSET,
                logits_axes: dict[int, str] | None = None,
                outputs: dict[str, dict[int, str]] | None = None) -> list[str]:
    """Trace ``model`` to ONNX at ``path`` with dynamic batch and sequence axes; returns the input names.
    ``outputs`` maps the model's output names to their dynamic axes (default: ``logits`` with
    ``logits_axes``, {0: "batch"} unless given)."""
    import torch

    produced = set(getattr(tokenizer, "model_input_names", ONNX_INPUT_ORDER))
    input_names = [n for n in ONNX_INPUT_ORDER if n in produced]
    # Two texts of different lengths: the traced batch must contain padding, or a "no padding, skip the
    # mask" branch in the modelling code could be the one baked into the graph.
    sample = tokenizer(["a short example", "a somewhat longer example sentence so that the batch is padded"],
                       padding=True, return_tensors="pt")
    args = tuple(sample[n] for n in input_names)
    axes = {n: {0: "batch", 1: "sequence"} for n in input_names}
    outputs = outputs or {"logits": logits_axes or {0: "batch"}}  # token classification: {0: "batch", 1: "sequence"}
    axes.update(outputs)
    try:
        with quiet(), torch.no_grad():
            torch.onnx.export(_logits_module(model, input_names, list(outputs)), args, str(path), input_names=input_names,
                              output_names=list(outputs), dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True, dynamo=False)
    except Exception as exc:
        raise WorkbenchError(f"torch.onnx.export failed at opset {opset}: {first_line(exc)}") from None
    return input_names


def optimize_onnx(raw: Path, out: Path, config, *, skip_layer_norm: bool = False,
                  fusion: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ORT's transformer optimizer on ``raw`` and save to ``out``; returns what it fused.

    ``skip_layer_norm`` is off by default: see the module docstring (its CPU kernel is the slow path).
    ``fusion`` sets further ``FusionOptions`` attributes (``benchmarks/ort_profile.py`` times other fusions
    with it; the export uses ORT's defaults).
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    model_type = getattr(config, "model_type", "")
    num_heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0) or 0)
    try:
        with quiet():
            # "bert" is ORT's optimizer for every BERT-like encoder; for others it fuses what it recognises.
            options = FusionOptions("bert")
            options.enable_skip_layer_norm = skip_layer_norm
            for key, value in (fusion or {}).items():
                setattr(options, key, value)
            opt = optimize_model(str(raw), model_type="bert", num_heads=num_heads, hidden_size=hidden,
                                 optimization_options=options)
            counts = {k: int(v) for k, v in opt.get_fused_operator_statistics().items() if v}
            opt.save_model_to_file(str(out), use_external_data_format=False)
    except Exception as exc:
        raise WorkbenchError(f"ONNX Runtime's graph optimizer failed: {first_line(exc)}") from None
    layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layers", 0) or 0)
    return {
        "tool": "onnxruntime.transformers.optimizer.optimize_model",
        "model_type": "bert",
        "source_model_type": model_type,
        "num_heads": num_heads,
        "hidden_size": hidden,
        "opt_level": 1,  # ORT's default for "bert": portable basic rewrites, then the Python fusions
        "skip_layer_norm_fusion": skip_layer_norm,
        "fused_ops": counts,
        "attention_fused": counts.get("Attention", 0) + counts.get("MultiHeadAttention", 0) >= max(1, layers),
        "num_layers": layers,
    }


def int8_settings() -> dict[str, Any]:
    """What a manifest records of the int8 settings: the settings, where they were chosen, and whether the host
    exporting now has the VNNI instructions they assume (its accuracy figures are measured here, on real data)."""
    from workbench.core.training.devices import cpu_flags

    flags = cpu_flags()
    return {**INT8_SETTINGS, "exporting_host_vnni": bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})}


def quantize_int8(fp32: Path, out: Path, *, per_channel: bool = INT8_SETTINGS["per_channel"],
                  reduce_range: bool = INT8_SETTINGS["reduce_range"], op_types: Sequence[str] | None = None) -> None:
    """Dynamic int8 quantisation of the fused fp32 graph (weights int8 ahead of time, activations per batch)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        with quiet():
            quantize_dynamic(str(fp32), str(out), per_channel=per_channel, reduce_range=reduce_range,
                             weight_type=QuantType.QInt8, op_types_to_quantize=list(op_types) if op_types else None,
                             # ONNX shape inference cannot type the outputs of ORT's fused com.microsoft ops;
                             # they are all float, which is what this tells the quantiser.
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    except Exception as exc:
        raise WorkbenchError(f"int8 quantisation failed: {first_line(exc)}") from None



def quantize_weight_only_int8(fp32: Path, out: Path, *, block_size: int = DECODER_INT8_SETTINGS["block_size"],
                              accuracy_level: int = DECODER_INT8_SETTINGS["accuracy_level"]) -> dict[str, Any]:
    """8-bit weight-only quantisation of every MatMul with a constant weight (``MatMulNBits``), for decoders
    (see ``DECODER_INT8_SETTINGS``); returns how many weight products were quantised and which were left fp32."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = onnx.load(str(fp32))
    rewritten = gemm_to_matmul(model)
    quantizer_log = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = quantizer_log.level
    quantizer_log.setLevel(logging.WARNING)  # it logs every node it visits at INFO
    try:
        with quiet():
            quantizer = MatMulNBitsQuantizer(model, bits=DECODER_INT8_SETTINGS["bits"],
                                             block_size=int(block_size), is_symmetric=DECODER_INT8_SETTINGS["symmetric"],
                                             accuracy_level=int(accuracy_level))
            quantizer.process()
            quantizer.model.save_model_to_file(str(out), use_external_data_format=False)
    except Exception as exc:
        raise WorkbenchError(f"int8 quantisation failed: {first_line(exc)}") from None
    finally:
        quantizer_log.setLevel(level)
    graph = quantizer.model.model.graph
    weights = {init.name for init in graph.initializer}
    left = [n.op_type for n in graph.node if n.op_type in ("MatMul", "Gemm") and len(n.input) > 1 and n.input[1] in weights]
    return {"quantized": sum(n.op_type == "MatMulNBits" for n in graph.node), "gemm_rewritten": rewritten,
            "left_in_fp32": {op: left.count(op) for op in sorted(set(left))}}


def gemm_to_matmul(model) -> int:
    """Rewrite each plain ``Gemm`` with a constant weight (``alpha = beta = 1``, ``transA = 0``) as ``MatMul`` +
    ``Add``, in place, so ``MatMulNBits`` can take it: GPT-2's Conv1D layers export as Gemm, which the weight-only
    quantiser skips. ``transB`` weights are transposed once here. Returns how many were rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    count = 0
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or len(node.input) < 2 or node.input[1] not in weights or attrs.get("transA", 0)
                or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0):
            nodes.append(node)
            continue
        weight = node.input[1]
        if attrs.get("transB", 0):
            transposed = numpy_helper.from_array(numpy_helper.to_array(weights[weight]).T.copy(), f"{weight}_T_for_matmul")
            graph.initializer.append(transposed)
            weight = transposed.name
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], weight], [product], name=f"{node.name}_MatMul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_Add"))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count


# --------------------------------------------------------------------------------------- manifest, card
def tokenizer_settings(run: Run, tokenizer) -> dict[str, Any]:
    pad_token = getattr(tokenizer, "pad_token", None) or "[PAD]"
    return {
        "file": "tokenizer.json",
        "max_length": int(run_setting(run, "max_length")),
        "pad_token": pad_token,
        "pad_id": int(tokenizer.pad_token_id) if getattr(tokenizer, "pad_token_id", None) is not None else 0,
        "pad_type_id": int(getattr(tokenizer, "pad_token_type_id", 0) or 0),
        "padding_side": getattr(tokenizer, "padding_side", "right"),
        "truncation_side": getattr(tokenizer, "truncation_side", "right"),
    }


def privacy_card(manifest: dict[str, Any]) -> str:
    """The model card's privacy section: what the (ε, δ) of a differentially private run covers; empty otherwise."""
    p = manifest.get("privacy")
    if not p:
        return ""
    spent = p.get("epsilon")
    return (f"\n## Differential privacy\n\nTrained with DP-SGD (Opacus): ({spent if spent is None else round(spent, 3)}, "
            f"{p['delta']:.0e})-differentially private with respect to each of the {p['examples']:,} training examples "
            f"(target ε {p['target_epsilon']:g}; {str(p['accountant']).upper()} accountant; noise multiplier "
            f"{p['noise_multiplier']:.4f}; per-example gradients clipped to {p['max_grad_norm']:g}"
            f"{' (the task head and the rest apart, each to 1/√2 of it)' if p.get('clipping') == 'head' else ''}; Poisson sampling "
            f"rate {p['sample_rate']:.4g}; {p.get('steps_taken', p['steps']):,} steps). Frozen, so taken as public: "
            f"{', '.join(p.get('frozen') or []) or 'nothing'}. The evaluation data that chose the best checkpoint is "
            "not covered by the guarantee.\n")


def update_manifest(export_dir: str | os.PathLike, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into an export's manifest.json (atomically) and return the new manifest."""
    path = Path(export_dir)
    manifest = read_manifest(path)
    manifest.update(fields)
    atomic_write_json(path / MANIFEST_FILE, manifest)
    return manifest


def base_manifest(run: Run, target: Path, *, labels: list[str], tokenizer=None,
                  max_position_embeddings: int | None = None) -> dict[str, Any]:
    """The manifest fields every export has; the task adds inputs, outputs, exporter, optimisation and files."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": target.name,
        "created": now(),
        "source_run": {"id": run.id, "name": run.name, "path": str(run.path), "model_dir": str(run.model_dir),
                       "model": run.config.get("model"), "metrics": run.metrics},
        "task": run.task,
        "labels": list(labels),
        "max_length": int(run_setting(run, "max_length")),
        "max_position_embeddings": max_position_embeddings,
        # A differentially private run's guarantee travels with its model (the card states it).
        "privacy": run.info.get("privacy"),
    }
    if tokenizer is not None:
        manifest["tokenizer"] = tokenizer_settings(run, tokenizer)
    manifest.update(versions=package_versions(), validation=None, benchmark=None, warnings=[])
    return manifest


def run_eval_split(run: Run, task: str):
    """``(loaded, source, warning)``: the eval split of ``run`` re-derived as training did (its data, columns,
    dev fraction and seed, so a held-out split comes out identical), where it came from, and a warning when its
    rows changed since the run was trained. One WorkbenchError that says to pass ``--data`` when it cannot."""
    cfg = run.config
    try:
        loaded = load_for_training(cfg["data"], cfg.get("eval_data"), text_column=cfg.get("text_column"),
                                   label_column=cfg.get("label_column"), task=task,
                                   dev_fraction=cfg.get("dev_fraction", 0.1), seed=cfg.get("seed", 42),
                                   strict=bool(cfg.get("strict_data")))
    except (WorkbenchError, KeyError) as exc:
        raise WorkbenchError(f"cannot re-read the eval split of run {run.name} ({exc}); pass --data PATH.") from None
    recorded = (run.info.get("data") or {}).get("eval") or {}
    source = str(recorded.get("source") or cfg.get("eval_data") or cfg["data"])
    warning = None
    if recorded.get("fingerprint") and recorded["fingerprint"] != loaded.fingerprint("dev"):
        warning = f"the eval data ({source}) changed since run {run.name} was trained; validation used the current rows."
    return loaded, source, warning


def sizes(export_dir: Path) -> dict[str, int]:
    """Bytes of the export's graphs."""
    return {f.name: f.stat().st_size for f in (export_dir / FP32_FILE, export_dir / INT8_FILE) if f.is_file()}


def export_encoder(run: Run, target: Path, *, auto_class: str, int8: bool, opset: int, max_int8_drop: float,
                   validate: Callable[[Path, Any, Any], dict[str, Any]], check: Callable[[dict[str, Any], float], None],
                   card: Callable[[dict[str, Any]], str], logits_axes: dict[int, str] | None = None,
                   outputs: dict[str, dict[int, str]] | None = None, labels: list[str] | None = None,
                   manifest_extra: dict[str, Any] | None = None, warning: str | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """The export of an encoder fine-tune (classifier, tagger) at ``target``, built in a partial directory:
    the run's model as ``transformers.<auto_class>`` traced with eager attention, fused, optionally int8, with
    its config and tokenizer files; then the task's ``validate(export_dir, model, tokenizer)`` against the run's
    own model (default attention), ``check(report, max_int8_drop)`` (raises to refuse the export) and ``card``
    (the README). ``logits_axes`` are the logits' dynamic axes ({0: "batch"} unless given); the manifest's
    output shape follows them. A head with other outputs (a span head's ``start_logits``/``end_logits``) names
    them in ``outputs`` (name → dynamic axes) and its ``labels`` (none for a span head)."""
    say = progress or (lambda _msg: None)
    with build_in_place(target) as partial:
        say("loading the run's model…")
        model, tokenizer = load_run_model(run, auto_class, attn_implementation="eager")
        config = model.config
        with tempfile.TemporaryDirectory(prefix="wb-export-") as scratch:
            raw = Path(scratch) / "raw.onnx"
            say(f"exporting to ONNX (opset {opset})…")
            input_names = export_onnx(model, tokenizer, raw, opset=opset, logits_axes=logits_axes, outputs=outputs)
            say("fusing the graph with ONNX Runtime's transformer optimizer…")
            optimization = optimize_onnx(raw, partial / FP32_FILE, config)
        del model
        if int8:
            say("quantising to int8…")
            quantize_int8(partial / FP32_FILE, partial / INT8_FILE)

        for name in ("config.json", *TOKENIZER_FILES):
            if (run.model_dir / name).is_file():
                shutil.copy2(run.model_dir / name, partial / name)
        if not (partial / "tokenizer.json").is_file():
            # A slow (Python) tokenizer only: let transformers write the fast tokenizer.json the
            # torch-free predictor needs.
            tokenizer.save_pretrained(str(partial))
        if not (partial / "tokenizer.json").is_file():
            raise WorkbenchError(f"run {run.name}'s tokenizer has no fast (tokenizer.json) form; it cannot run without transformers.")

        if labels is None:
            labels = [config.id2label[i] for i in range(config.num_labels)]
        manifest = base_manifest(run, target, labels=labels, tokenizer=tokenizer,
                                 max_position_embeddings=getattr(config, "max_position_embeddings", None))
        if outputs is None:
            axes = logits_axes or {0: "batch"}
            shapes = {"logits": [*(axes[i] for i in sorted(axes)), len(labels)]}
        else:
            shapes = {name: [axes[i] for i in sorted(axes)] for name, axes in outputs.items()}
        manifest.update({
            "inputs": [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in input_names],
            "outputs": [{"name": name, "dtype": "float32", "shape": shape} for name, shape in shapes.items()],
            "opset": int(opset),
            "exporter": {"function": "torch.onnx.export", "dynamo": False, "attn_implementation": "eager",
                         "why": "the TorchScript graph of eager attention is what ORT's BERT optimizer fuses into "
                                "Attention nodes; the dynamo graph and SDPA attention fuse no Attention"},
            "optimization": optimization,
            "runtime": {"provider": "CPUExecutionProvider", "graph_optimization_level": "ORT_ENABLE_ALL",
                        "disabled_optimizers": list(DEFAULT_DISABLED_OPTIMIZERS),
                        "why": "ORT's SkipLayerNormalization CPU kernel is ~7x slower than Add + LayerNormalization"},
            "quantization": int8_settings() if int8 else None,
            "files": {"fp32": FP32_FILE, "int8": INT8_FILE if int8 else None},
            "sizes_bytes": sizes(partial),
            "warnings": [warning] if warning else [],
            **(manifest_extra or {}),
        })
        if not optimization["attention_fused"]:
            # Seen with torch 2.11 + transformers 5.17, whose traced attention ORT's matcher does not
            # recognise: still a correct export, but int8 runs ~1.6x slower than with fused attention.
            manifest["warnings"].append(
                f"ONNX Runtime fused attention in {optimization['fused_ops'].get('Attention', 0)} of "
                f"{optimization['num_layers']} layers: the export is correct but slower than it should be "
                f"(torch {manifest['versions'].get('torch')}, transformers {manifest['versions'].get('transformers')}).")
        atomic_write_json(partial / MANIFEST_FILE, manifest)

        # Parity against the model as the run produced it (default attention), not the eager export copy.
        say("loading the run's model for validation…")
        ref_model, ref_tokenizer = load_run_model(run, auto_class)
        manifest["validation"] = validate(partial, ref_model, ref_tokenizer)
        atomic_write_json(partial / MANIFEST_FILE, manifest)
        check(manifest["validation"], max_int8_drop)
        if int8:
            manifest["quantization"]["max_int8_drop"] = max_int8_drop
        atomic_write_json(partial / MANIFEST_FILE, manifest)
        atomic_write_text(partial / "README.md", card(manifest) + privacy_card(manifest))
        say("moving the export into place…")
    manifest["path"] = str(target)
    return manifest


# --------------------------------------------------------------------------------------------- export
@contextlib.contextmanager
def build_in_place(target: Path) -> Iterator[Path]:
    """A hidden ``.<name>.partial-<pid>`` directory beside ``target`` to build an export in: moved into place
    (:func:`move_into_place`) when the block ends, deleted if it raises, so a killed or failed export is never
    mistaken for a finished one. Half-built directories of dead processes are swept first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _cleanup_stale_partials(target)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    move_into_place(partial, target)


def move_into_place(partial: Path, target: Path) -> None:
    """Swap a finished export directory in; an existing one is renamed aside first (os.replace cannot
    replace a non-empty directory), so readers see the old export or the new one, never a mix."""
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
        os.replace(partial, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, target)
