"""ONNX export of a causal-LM SFT run, with past keys/values, validated by greedy parity with PyTorch.

    exports/<run-name>/
      model.onnx       decoder: (input_ids, attention_mask, position_ids, past_key_values.{i}.key/value)
                       → (logits, present.{i}.key/value); all axes dynamic (batch, sequence, past length)
      model.int8.onnx  with --int8: the same graph with 8-bit weights (MatMulNBits, weight-only; see
                       ``DECODER_INT8_SETTINGS`` for why not dynamic int8)
      tokenizer.json   the run's tokenizer (plus its config files)
      config.json      the (merged) model config
      manifest.json    task, prompt format, cache layout, EOS ids, LoRA merge, parity, versions
      README.md        how to generate with onnxruntime alone

Choices:

* A small wrapper module turns the flat past tensors into a transformers ``DynamicCache`` and the returned
  cache back into flat tensors: transformers 5 passes the cache as an object, which the exporter cannot
  take as an input. The TorchScript exporter (``dynamo=False``) traces it with a non-empty past, so no
  "empty cache" branch is baked in; an empty past (length 0) at the first step works in ONNX Runtime.
* One graph serves both the prompt and each new token (no separate "without past" graph): half the file
  size, and the prompt pass with an empty past costs the same.
* LoRA runs are merged into their base weights before export (``merge_and_unload``): the graph has plain
  Linear layers and no adapter overhead. Parity compares the export against the unmerged PeftModel, so it
  also checks the merge.
* ``attn_implementation="eager"`` for the traced copy (SDPA's traced graph carries data-dependent masking
  branches); parity runs against the run's model with its default attention.
* Parity: greedy token sequences from PyTorch (``model.generate``) and from ONNX (``OnnxGenerator``) on a few
  held-out prompts must be identical, and the prompt token ids must match (the torch-free prompt formatting
  reproduces the chat template). The export is refused otherwise.
* Quality: PyTorch, ONNX fp32 and (with ``--int8``) ONNX int8 score the responses of up to
  :data:`QUALITY_ROWS` eval conversations, teacher-forced and encoded exactly as in training, giving each
  engine's eval loss and perplexity. Greedy decoding amplifies int8's small logit changes into different
  (not worse) texts, so int8 is judged on perplexity: it fails when its perplexity exceeds PyTorch's by more
  than ``max_int8_drop`` percent. Its greedy agreement with PyTorch is recorded too.
* Generation: a run scored by generation (BLEU, ROUGE …) has each engine generate greedily for the same
  :data:`QUALITY_ROWS` eval prompts, scored as the run was; the manifest records each engine's scores and their
  difference from PyTorch's (recorded, not gated: on a few dozen prompts a corpus score moves by whole points).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from workbench.core.errors import WorkbenchError
from workbench.core.inference import FP32_FILE, INT8_FILE, MANIFEST_FILE
from workbench.core.runs import Run, atomic_write_json, atomic_write_text
from workbench.core.tasks import run_setting

PARITY_PROMPTS = 4
PARITY_MAX_NEW_TOKENS = 24
QUALITY_ROWS = 32  # eval conversations scored by every engine (teacher-forced response loss)
SENTINEL = "\u2063WORKBENCH_USER_TEXT\u2063"
Progress = Callable[[str], None]


def prompt_format(tokenizer) -> dict[str, Any]:
    """The prompt around one user message as prefix + text + suffix (rendered once, here, with the template)."""
    from workbench.core.tasks.causal_lm_sft.data import has_chat_template, render_prompt
    from workbench.core.tasks.causal_lm_sft.prompts import prompt_adds_special_tokens

    rendered = render_prompt(tokenizer, [{"role": "user", "content": SENTINEL}])
    if rendered.count(SENTINEL) != 1:
        raise WorkbenchError("the tokenizer's chat template does not place the user message verbatim; it cannot be exported.")
    prefix, suffix = rendered.split(SENTINEL)
    return {"template": "chat_template" if has_chat_template(tokenizer) else "plain", "prefix": prefix,
            "suffix": suffix, "add_special_tokens": prompt_adds_special_tokens(tokenizer)}


def cache_layout(config) -> dict[str, int]:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = int(text.num_attention_heads)
    kv = int(getattr(text, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
    return {"num_layers": int(text.num_hidden_layers), "num_key_value_heads": kv, "head_dim": head_dim}


def _decoder_module(model, num_layers: int):
    import torch
    from transformers import DynamicCache

    class DecoderWithPast(torch.nn.Module):
        """Flat past tensors in, logits and flat present tensors out."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(config=self.model.config)
            for i in range(num_layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             cache=cache, use_cache=True)  # transformers 5.2x: `cache` (was past_key_values)
            flat = []
            for layer in out.cache.layers[:num_layers]:
                flat += [layer.keys, layer.values]
            return (out.logits, *flat)

    return DecoderWithPast().eval()


def export_decoder(model, path: Path, *, opset: int) -> dict[str, Any]:
    """Trace the decoder with past keys/values to ``path``; returns the input/output description."""
    import torch

    from workbench.core.errors import first_line
    from workbench.core.export.pipeline import quiet

    layout = cache_layout(model.config)
    n, kv, hd = layout["num_layers"], layout["num_key_value_heads"], layout["head_dim"]
    past_names = [f"past_key_values.{i}.{x}" for i in range(n) for x in ("key", "value")]
    present_names = [f"present.{i}.{x}" for i in range(n) for x in ("key", "value")]
    # Traced with a padded batch of 2, a past of 3 and 4 new tokens: no size is 0 or 1, so none is specialised.
    batch, past_len, new = 2, 3, 4
    ids = torch.randint(0, model.config.vocab_size, (batch, new))
    mask = torch.ones(batch, past_len + new, dtype=torch.long)
    mask[0, :2] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, past_len:]
    past = [torch.zeros(batch, kv, past_len, hd) for _ in past_names]
    axes: dict[str, dict[int, str]] = {"input_ids": {0: "batch", 1: "sequence"},
                                       "attention_mask": {0: "batch", 1: "total_sequence"},
                                       "position_ids": {0: "batch", 1: "sequence"},
                                       "logits": {0: "batch", 1: "sequence"}}
    axes.update({name: {0: "batch", 2: "past_sequence"} for name in past_names})
    axes.update({name: {0: "batch", 2: "total_sequence"} for name in present_names})
    try:
        with quiet(), torch.no_grad():
            torch.onnx.export(_decoder_module(model, n), (ids, mask, positions, *past), str(path),
                              input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                              output_names=["logits", *present_names], dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True, dynamo=False)
    except Exception as exc:
        raise WorkbenchError(f"torch.onnx.export of the decoder failed at opset {opset}: {first_line(exc)}") from None
    return {
        "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]},
                   {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "past_sequence + sequence"]},
                   {"name": "position_ids", "dtype": "int64", "shape": ["batch", "sequence"]},
                   *({"name": name, "dtype": "float32", "shape": ["batch", kv, "past_sequence", hd]} for name in past_names)],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", "sequence", int(model.config.vocab_size)]},
                    *({"name": name, "dtype": "float32", "shape": ["batch", kv, "past_sequence + sequence", hd]}
                      for name in present_names)],
        "cache": layout,
    }


def eval_conversations(run: Run, data: str | os.PathLike | None) -> tuple[list[list[dict[str, str]]], str]:
    """The run's eval conversations re-derived as training did (or those of ``data``), and their source."""
    from workbench.core.datasets import read_source
    from workbench.core.tasks import load_for_training
    from workbench.core.tasks.causal_lm_sft.data import normalise_rows

    if data is not None:
        raw = read_source(data)
        convs, _ = normalise_rows(raw.get("dev", raw.get("test", raw.get("train"))), source=str(data), split="eval")
        source = str(data)
    else:
        cfg = run.config
        try:
            loaded = load_for_training(cfg["data"], cfg.get("eval_data"), task="causal-lm-sft",
                                       dev_fraction=cfg.get("dev_fraction", 0.1), seed=cfg.get("seed", 42),
                                       strict=bool(cfg.get("strict_data")))
        except (WorkbenchError, KeyError) as exc:
            raise WorkbenchError(f"cannot re-read the eval split of run {run.name} ({exc}); pass --data PATH.") from None
        convs = [list(m) for m in loaded.eval["messages"]]
        source = (run.info.get("data") or {}).get("eval", {}).get("source") or cfg["data"]
    return [list(c) for c in convs], str(source)


def parity_prompts(convs: Sequence[Sequence[dict[str, str]]], source: str, n: int = PARITY_PROMPTS) -> list[str]:
    """The last user message of each of the first ``n`` conversations."""
    prompts = [next(m["content"] for m in reversed(c[:-1]) if m["role"] == "user") for c in convs[:n]]
    if not prompts:
        raise WorkbenchError(f"{source} has no prompts to check the export on.")
    return prompts


def check_parity(torch_model, tokenizer, export_dir: Path, prompts: Sequence[str], *,
                 max_new_tokens: int = PARITY_MAX_NEW_TOKENS, int8: bool = False) -> dict[str, Any]:
    """Greedy generations from PyTorch and from the ONNX export on each prompt; identical token ids or not."""
    import numpy as np
    import torch

    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator
    from workbench.core.tasks.causal_lm_sft.prompts import encode_prompt
    from workbench.core.tasks.causal_lm_sft.evaluate import generate

    gen = OnnxGenerator(export_dir, int8=int8)
    rows = []
    max_diff = 0.0
    for text in prompts:
        messages = [{"role": "user", "content": text}]
        torch_prompt = encode_prompt(tokenizer, messages)
        onnx_prompt = gen.encode(text)
        torch_ids = generate(torch_model, tokenizer, messages, max_new_tokens=max_new_tokens)
        onnx_ids = list(gen.generate_ids(onnx_prompt, max_new_tokens=max_new_tokens))
        # Logits of the prompt pass, for the record.
        with torch.inference_mode():
            ref = torch_model(input_ids=torch.tensor([torch_prompt])).logits[0].float().numpy()
        feed = {"input_ids": np.asarray([onnx_prompt], dtype=np.int64),
                "attention_mask": np.ones((1, len(onnx_prompt)), dtype=np.int64),
                "position_ids": np.arange(len(onnx_prompt), dtype=np.int64)[None, :]}
        feed.update({name: np.zeros((1, gen.kv_shape[0], 0, gen.kv_shape[1]), dtype=np.float32) for name in gen.past_names})
        if torch_prompt == onnx_prompt:
            max_diff = max(max_diff, float(np.abs(gen.session.run(["logits"], feed)[0][0] - ref).max()))
        rows.append({"prompt": text, "prompt_ids_equal": torch_prompt == onnx_prompt, "pytorch_ids": torch_ids,
                     "onnx_ids": onnx_ids, "identical": torch_prompt == onnx_prompt and torch_ids == onnx_ids,
                     "text": tokenizer.decode(onnx_ids, skip_special_tokens=True)})
    return {"method": "greedy decoding, PyTorch model.generate vs ONNX Runtime with past keys/values",
            "max_new_tokens": max_new_tokens, "prompts": len(rows), "identical": sum(r["identical"] for r in rows),
            "all_identical": all(r["identical"] for r in rows), "max_abs_logit_diff_prompt": max_diff, "rows": rows}


def quality_report(torch_model, tokenizer, export_dir: Path, convs: Sequence[Sequence[dict[str, str]]], *,
                   max_length: int, int8: bool, progress: Progress | None = None) -> dict[str, Any]:
    """Teacher-forced response loss and perplexity of PyTorch, ONNX fp32 and ONNX int8 on the same conversations."""
    import math

    import numpy as np

    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator
    from workbench.core.tasks.causal_lm_sft.prompts import IGNORE_INDEX, encode_example, ensure_special_tokens
    from workbench.core.tasks.causal_lm_sft.evaluate import example_losses

    say = progress or (lambda _msg: None)
    ensure_special_tokens(tokenizer)
    convs = [list(c) for c in convs]
    say(f"scoring {len(convs)} eval conversations: pytorch…")
    reference = example_losses(torch_model, tokenizer, convs, max_length=max_length)
    engines = [("pytorch", [loss for loss, _ in reference])]
    tokens = [count for _, count in reference]
    examples = [encode_example(tokenizer, c, max_length) for c in convs]
    for name, use_int8 in [("onnx-fp32", False)] + ([("onnx-int8", True)] if int8 else []):
        say(f"scoring {len(convs)} eval conversations: {name}…")
        gen = OnnxGenerator(export_dir, int8=use_int8)
        losses = []
        for ex in examples:
            logits, _ = gen.forward(ex["input_ids"])
            labels = np.asarray(ex["labels"][1:])
            keep = labels != IGNORE_INDEX
            z = logits[:-1][keep].astype(np.float64)
            logz = z.max(-1) + np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1))
            nll = logz - z[np.arange(len(z)), labels[keep]]
            losses.append(float(nll.mean()) if keep.any() else float("nan"))
        engines.append((name, losses))
    weights = np.asarray(tokens, dtype=np.float64)
    rows = []
    for name, losses in engines:
        loss = float(np.nansum(np.asarray(losses) * weights) / weights.sum())
        row = {"engine": name, "eval_loss": loss, "perplexity": math.exp(loss) if loss < 700 else float("inf")}
        if name != "pytorch":
            row["max_abs_loss_diff"] = float(np.nanmax(np.abs(np.asarray(losses) - np.asarray(engines[0][1]))))
            row["perplexity_increase_pct"] = round((row["perplexity"] / rows[0]["perplexity"] - 1.0) * 100, 4)
        rows.append(row)
    return {"method": "teacher-forced response loss (prompt masked, as in training), token-weighted over conversations",
            "rows": len(convs), "response_tokens": int(weights.sum()), "engines": rows}


def onnx_generations(export_dir: Path, prompts: Sequence[str], *, max_new_tokens: int, int8: bool = False,
                     threads: int | None = None, progress: Progress | None = None) -> list[str]:
    """Greedy ONNX Runtime generations (torch-free) for each user message, in order."""
    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator

    gen = OnnxGenerator(export_dir, int8=int8, threads=threads)
    out = []
    for i, text in enumerate(prompts):
        if progress and i % 50 == 0:
            progress(f"{'int8' if int8 else 'fp32'}: generating {i + 1}–{min(i + 50, len(prompts))} of {len(prompts)}…")
        out.append(gen.generate(text, max_new_tokens=int(max_new_tokens)).strip())
    return out


def generation_report(torch_model, tokenizer, export_dir: Path, convs: Sequence[Sequence[dict[str, str]]],
                      groups: Sequence[str], *, max_new_tokens: int, int8: bool,
                      progress: Progress | None = None) -> dict[str, Any] | None:
    """Greedy generations of PyTorch, ONNX fp32 and (``int8``) ONNX int8 for the same single-turn eval prompts,
    each scored against the references with the run's generation metrics; None when no prompt is single-turn."""
    from workbench.core.tasks.causal_lm_sft.generation import generate_batch, primary_score, references_of, score

    convs = [list(c) for c in convs if len(c) == 2 and c[0]["role"] == "user"]
    if not convs or not groups:
        return None
    say = progress or (lambda _msg: None)
    refs = references_of(convs)
    say(f"generating for {len(convs)} eval prompts: pytorch…")
    texts = {"pytorch": generate_batch(torch_model, tokenizer, [c[:1] for c in convs], max_new_tokens=max_new_tokens)}
    for name, use_int8 in [("onnx-fp32", False)] + ([("onnx-int8", True)] if int8 else []):
        say(f"generating for {len(convs)} eval prompts: {name}…")
        texts[name] = onnx_generations(export_dir, [c[0]["content"] for c in convs], max_new_tokens=max_new_tokens,
                                       int8=use_int8)
    primary = primary_score(groups)
    engines = []
    for name, generated in texts.items():
        corpus, _ = score(generated, refs, groups)
        row = {"engine": name, **corpus}
        if name != "pytorch":
            row["same_text_as_pytorch"] = sum(a == b for a, b in zip(generated, texts["pytorch"]))
            row[f"{primary}_diff"] = round(corpus[primary] - engines[0][primary], 4)
        engines.append(row)
    return {"method": "greedy generation per engine, scored against the references as the run was", "rows": len(convs),
            "groups": list(groups), "primary": primary, "max_new_tokens": int(max_new_tokens), "engines": engines}


def _quality_card(manifest: dict[str, Any]) -> str:
    quality = (manifest.get("validation") or {}).get("quality")
    if not quality:
        return ""
    rows = "\n".join(f"| {e['engine']} | {e['eval_loss']:.4f} | {e['perplexity']:.4g} | "
                     f"{'—' if e.get('perplexity_increase_pct') is None else format(e['perplexity_increase_pct'], '+.2f') + '%'} |"
                     for e in quality["engines"])
    int8 = ("\n\n`model.int8.onnx` (dynamic int8): `OnnxGenerator(path, int8=True)` or `predict --int8`."
            if (manifest.get("files") or {}).get("int8") else "")
    card = (f"\n\nEval loss of the responses of {quality['rows']} eval conversations (teacher-forced, prompt masked):\n\n"
            f"| engine | eval loss | perplexity | Δ perplexity |\n|---|---|---|---|\n{rows}{int8}")
    generation = (manifest.get("validation") or {}).get("generation")
    if generation:
        from workbench.core.tasks.causal_lm_sft.generation import score_names

        names = score_names(generation["groups"])
        lines = "\n".join(f"| {e['engine']} | " + " | ".join(f"{e[n]:.2f}" for n in names) + " |" for e in generation["engines"])
        card += (f"\n\nGreedy generations for {generation['rows']} eval prompts, scored against the references:\n\n"
                 f"| engine | {' | '.join(names)} |\n|---|{'---|' * len(names)}\n{lines}")
    return card


def model_card(manifest: dict[str, Any]) -> str:
    name = Path(manifest["name"]).name
    p = manifest["prompt"]
    v = manifest["validation"]
    return f"""# {name} (ONNX, causal LM)

Exported by sft-workbench from run `{manifest['source_run']['id']}` (task `causal-lm-sft`, base model
`{manifest['source_run'].get('model')}`{', LoRA merged into the base weights' if manifest.get('lora') else ''}).

`model.onnx` is the decoder with a key/value cache: inputs `input_ids`, `attention_mask`, `position_ids` and
`past_key_values.{{i}}.key/value` for {manifest['cache']['num_layers']} layers (shape `[batch, {manifest['cache']['num_key_value_heads']}, past, {manifest['cache']['head_dim']}]`,
empty at the first step); outputs `logits` and `present.{{i}}.key/value` (feed them back as the next past).

Prompt ({p['template']}): `{p['prefix']!r}` + your text + `{p['suffix']!r}`, tokenised with
`add_special_tokens={p['add_special_tokens']}`; generation stops at token ids {manifest['eos_token_ids']}.

## Generate without torch

```python
from workbench.core.inference import open_predictor  # onnxruntime, tokenizers, numpy

gen = open_predictor("{name}")
print(gen.generate("Give the opposite of the word.", max_new_tokens=64))            # greedy
print(gen.generate("Write a short poem.", temperature=0.8, top_p=0.9, seed=0))      # sampled
```

or `sft-workbench predict {name} "your prompt" --max-new-tokens 64`.

## Validation

Greedy generations of PyTorch and ONNX on {v['prompts']} prompts of `{v.get('data')}` ({v['max_new_tokens']} new tokens
at most): {v['identical']} of {v['prompts']} identical token for token; max |logit difference| on the prompt pass
{v['max_abs_logit_diff_prompt']:.2e}.{_quality_card(manifest)}
"""


def export_lm_run(run: Run, *, target: Path, opset: int, data: str | os.PathLike | None, int8: bool,
                  max_int8_drop: float, progress: Progress | None = None) -> dict[str, Any]:
    """Export a causal-LM SFT run (LoRA merged) to ONNX with past keys/values; refuse it unless greedy parity
    holds and (``int8``) the int8 graph's perplexity stays within ``max_int8_drop`` percent of PyTorch's.
    Called by ``export.export_run``, which has checked the run, the opset and the target."""
    from transformers.utils import logging as hf_logging

    from workbench.core.export.pipeline import (DECODER_INT8_SETTINGS, base_manifest, build_in_place, privacy_card,
                                                quantize_weight_only_int8, sizes)
    from workbench.core.tasks.causal_lm_sft.train import load_model

    say = progress or (lambda _msg: None)
    hf_logging.disable_progress_bar()  # the "Loading weights" bar would break the CLI's status line
    say("reading the eval conversations…")
    convs, source = eval_conversations(run, data)
    prompts = parity_prompts(convs, source)

    with build_in_place(target) as partial:
        say("loading the run's model (LoRA merged)…")
        lora = (run.model_dir / "adapter_config.json").is_file()
        export_model, tokenizer = load_model(run.model_dir, merge=True, attn_implementation="eager")
        say(f"exporting the decoder with past keys/values to ONNX (opset {opset})…")
        io = export_decoder(export_model, partial / FP32_FILE, opset=opset)
        export_model.config.save_pretrained(str(partial))
        tokenizer.save_pretrained(str(partial))
        if not (partial / "tokenizer.json").is_file():
            raise WorkbenchError(f"run {run.name}'s tokenizer has no fast (tokenizer.json) form; it cannot run without transformers.")
        del export_model
        if int8:
            say("quantising the weights to int8…")
            quantized = quantize_weight_only_int8(partial / FP32_FILE, partial / INT8_FILE)
        eos = tokenizer.eos_token_id
        manifest = base_manifest(run, target, labels=[], max_position_embeddings=_max_positions(partial / "config.json"))
        manifest.update({
            "prompt": prompt_format(tokenizer), "eos_token_ids": [int(eos)],
            "pad_token_id": int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else int(eos),
            **io, "opset": int(opset),
            "exporter": {"function": "torch.onnx.export", "dynamo": False, "attn_implementation": "eager",
                         "cache": "DynamicCache built from flat past tensors in a wrapper module"},
            "lora": ({"merged": True, "adapter": "adapter_model.safetensors of the run, merged with merge_and_unload"}
                     if lora else None),
            "quantization": ({**DECODER_INT8_SETTINGS, **quantized, "max_perplexity_increase_pct": max_int8_drop}
                             if int8 else None),
            "files": {"fp32": FP32_FILE, "int8": INT8_FILE if int8 else None},
            "sizes_bytes": sizes(partial),
        })
        atomic_write_json(partial / MANIFEST_FILE, manifest)

        say("checking greedy parity PyTorch vs ONNX…")
        ref_model, ref_tokenizer = load_model(run.model_dir, merge=False)
        report = check_parity(ref_model, ref_tokenizer, partial, prompts)
        report["data"] = source
        manifest["validation"] = report
        atomic_write_json(partial / MANIFEST_FILE, manifest)
        if not report["all_identical"]:
            bad = next(r for r in report["rows"] if not r["identical"])
            what = "prompt token ids" if not bad["prompt_ids_equal"] else "greedy token sequences"
            raise WorkbenchError(f"ONNX does not match PyTorch: {what} differ on {report['prompts'] - report['identical']} "
                                 f"of {report['prompts']} prompts (first: {bad['prompt'][:40]!r}); the export was not written.")
        quality = quality_report(ref_model, ref_tokenizer, partial, convs[:QUALITY_ROWS],
                                 max_length=int(run_setting(run, "max_length")), int8=int8, progress=say)
        quality["data"] = source
        manifest["validation"]["quality"] = quality
        groups = ((run.info.get("evaluation") or {}).get("generation") or {}).get("groups")
        if groups:
            manifest["validation"]["generation"] = generation_report(
                ref_model, ref_tokenizer, partial, convs[:QUALITY_ROWS], groups, int8=int8, progress=say,
                max_new_tokens=int((run.config or {}).get("max_new_tokens") or 128))
        if int8:
            say("checking int8 greedy agreement…")
            agreement = check_parity(ref_model, ref_tokenizer, partial, prompts, int8=True)
            manifest["validation"]["int8_greedy_identical"] = agreement["identical"]
        atomic_write_json(partial / MANIFEST_FILE, manifest)
        rise = next((e["perplexity_increase_pct"] for e in quality["engines"] if e["engine"] == "onnx-int8"), None)
        if rise is not None and not rise <= max_int8_drop:
            raise WorkbenchError(f"int8 perplexity is {rise:.2f}% above PyTorch's on {quality['rows']} eval conversations, "
                                 f"more than the allowed {max_int8_drop:g}%; export without --int8 or raise --max-int8-drop.")
        atomic_write_text(partial / "README.md", model_card(manifest) + privacy_card(manifest))
        say("moving the export into place…")
    manifest["path"] = str(target)
    return manifest


def _max_positions(config_path: Path) -> int | None:
    import json

    cfg = json.loads(config_path.read_text(encoding="utf-8"))
    return cfg.get("max_position_embeddings") or cfg.get("n_positions")
