"""Generative fine-tuning of the embedded SmolLM2-135M-Instruct, scored against the untuned model; its ONNX export.

Rows (``--row``), each written to its own results file:

``translation``  Multi30k en→de (``../shared/datasets/multi30k``). The first ``--pairs`` training pairs train; the
                 first ``--selection`` lines of ``val`` are the runs' eval split (the checkpoint is chosen on its
                 loss; generation scored at the end); the first ``--test`` lines of ``test_2016_flickr`` are
                 scored afterwards with `sft-workbench eval`, a set neither run saw. Verdicts: `compare` on the
                 selection split (paired per-example sentence BLEU) and, on the test lines, a paired bootstrap of
                 corpus BLEU (Koehn 2004: 1,000 resamples of sentences) computed here.
``summarisation``  SciTLDR-A (``../shared/datasets/scitldr``): abstract → one-sentence TLDR. The first ``--pairs``
                 train papers train, the first ``--selection`` dev papers are the eval split, the first
                 ``--test`` test papers are scored with `eval` against all their references (ROUGE-1/2/L, the
                 best over references per paper); bootstrap of mean ROUGE-L over papers.
``instructions``  Alpaca (``../shared/datasets/alpaca``, 1,000 rows): the first 800 train, the last 200 are the
                 held-out eval split; one epoch with one evaluation at its end, so nothing is chosen on it.
                 Verdict: `compare` (paired per-example response loss: bootstrap CI, permutation p).
``export``       The tuned translation run of ``--workspace`` exported with ``--int8`` (weight-only, see
                 ``workbench.core.export.pipeline.DECODER_INT8_SETTINGS``), the held-out perplexity of each
                 engine, then torch-free greedy generation by ONNX fp32 and int8 on the first ``--test`` test
                 lines (BLEU against PyTorch's on the same lines) and ``bench`` (prefill/decode tokens/s).
``lora-export``  A LoRA run on Multi30k (the run's model is the adapter), scored on the test lines with `eval`,
                 then exported merged into the base weights and checked as ``export`` (parity is against the
                 unmerged PeftModel, so it checks the merge too).

The base model is a run too: one optimiser step at lr 1e-30 (AdamW's update is then below fp32 resolution, so
its saved weights are the untuned model's; checked below), so both go through the same final evaluation,
``compare`` and ``eval``.

    python benchmarks/generative.py --row translation --pairs 5000 --selection 150 --test 1000 --workspace WS \
        --tuned "--epochs 1 --lr 2e-4 --batch-size 16"
    python benchmarks/generative.py --row export --workspace WS --test 500
    python benchmarks/generative.py --row lora-export --pairs 1500 --selection 100 --test 200 --workspace WS2 \
        --tuned "--epochs 1 --lr 1e-3 --batch-size 16 --lora-target-modules q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    python benchmarks/generative.py --row instructions --tuned "--epochs 1 --lr 2e-4 --batch-size 16"
    python benchmarks/generative.py --row summarisation --pairs 800 --selection 80 --test 150 --max-new-tokens 60 \
        --tuned "--epochs 1 --lr 2e-4 --batch-size 8 --grad-accum 2"
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED, write_results  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
MODEL = "SmolLM2-135M-Instruct (embedded GGUF, fp32 weights, bf16 autocast where the CPU has it)"


def cli(workspace: Path, *argv: str) -> dict:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "workbench", "--workspace", str(workspace), *argv, "--json"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sft-workbench {' '.join(argv[:3])} failed: {(proc.stderr or proc.stdout)[-800:]}")
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    out["_wall_s"] = round(time.time() - start, 1)
    return out


def say(text: str) -> None:
    print(text, flush=True)


def write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(s + "\n" for s in lines), encoding="utf-8")


def head(path: Path, n: int) -> list[str]:
    """The first ``n`` lines of a text file."""
    return path.read_text(encoding="utf-8").splitlines()[:n]


def paired_bootstrap(base: list[dict], tuned: list[dict], corpus: Callable[[list[str], list[list[str]]], float], *,
                     resamples: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap over examples of a corpus score (tuned − base): the difference, its 95% interval, and
    p = the share of resamples in which the tuned model is not better."""
    refs = [r["references"] for r in base]
    hyp_a, hyp_b = [r["generated"] for r in base], [r["generated"] for r in tuned]
    full = corpus(hyp_b, refs) - corpus(hyp_a, refs)
    rng = random.Random(seed)
    n, diffs = len(refs), []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        r = [refs[i] for i in idx]
        diffs.append(corpus([hyp_b[i] for i in idx], r) - corpus([hyp_a[i] for i in idx], r))
    diffs.sort()
    return {"diff": round(full, 2), "ci95": [round(diffs[int(0.025 * resamples)], 2), round(diffs[int(0.975 * resamples) - 1], 2)],
            "p_value": max(sum(d <= 0 for d in diffs), 1) / resamples if full > 0 else 1.0, "resamples": resamples}


def corpus_bleu(hyps: list[str], refs: list[list[str]]) -> float:
    import sacrebleu

    width = max(len(r) for r in refs)
    return sacrebleu.corpus_bleu(hyps, [[r[k] if k < len(r) else None for r in refs] for k in range(width)]).score


_ROUGE_L: dict[tuple[str, tuple[str, ...]], float] = {}


def mean_rouge_l(hyps: list[str], refs: list[list[str]]) -> float:
    """Mean ROUGE-L F over papers (each paper's best over its references, as `eval` scores it). A mean of
    per-paper scores, so each (generation, references) pair is scored once and the bootstrap's resamples only
    average them (rescoring every resample took minutes on 150 papers)."""
    from workbench.core.tasks.causal_lm_sft.generation import score

    keys = [(h, tuple(r)) for h, r in zip(hyps, refs)]
    new = list(dict.fromkeys(k for k in keys if k not in _ROUGE_L))
    if new:
        _, per = score([h for h, _ in new], [list(r) for _, r in new], ("rouge",))
        _ROUGE_L.update({k: p["rougeL"] for k, p in zip(new, per)})
    return sum(_ROUGE_L[k] for k in keys) / len(keys)


def same_weights(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return wa.keys() == wb.keys() and all(bool((wa[k] == wb[k]).all()) for k in wa)


def base_and_tuned(ws: Path, common: list[str], tuned: list[str]) -> tuple[dict, dict, bool]:
    base = cli(ws, "train", *common, "--max-steps", "1", "--lr", "1e-30", "--name", "base")
    say(f"base: {base['_wall_s']} s, metrics {({k: round(v, 3) for k, v in base['metrics'].items() if isinstance(v, float)})}")
    run = cli(ws, "train", *common, *tuned, "--name", "tuned")
    say(f"tuned: {run['_wall_s']} s, metrics {({k: round(v, 3) for k, v in run['metrics'].items() if isinstance(v, float)})}")
    from workbench.core.models import embedded_lm_dir

    return base, run, same_weights(embedded_lm_dir(), Path(base["run_dir"]) / "model")


def train_runtime(run: dict) -> float | None:
    info = json.loads((Path(run["run_dir"]) / "run.json").read_text())
    return (info.get("train_summary") or {}).get("train_runtime")


def base_vs_tuned(args, ws: Path, common: list[str], test: Path, keys: Sequence[str],
                  corpus: Callable[[list[str], list[list[str]]], float], label: str) -> dict:
    """Train the base and tuned runs, `compare` them on the selection split, score both on ``test`` with `eval`
    and bootstrap ``corpus`` (tuned − base) over its examples; the pieces of the row both generation rows share."""
    base, tuned, unchanged = base_and_tuned(ws, common, args.tuned_flags)
    pair = cli(ws, "compare", "base", "tuned")["pairs"][0]
    say(f"selection split: {pair['verdict']}")
    scored = {}
    for name in ("base", "tuned"):
        scored[name] = cli(ws, "eval", name, "--data", str(test))
        say(f"{name} on test: " + " ".join(f"{k} {scored[name][k]:.2f}" for k in keys) + f" ({scored[name]['_wall_s']} s)")
    boot = paired_bootstrap(scored["base"]["examples"], scored["tuned"]["examples"], corpus)
    say(f"test, {label} tuned − base: {boot['diff']:+.2f}, 95% CI {boot['ci95']}, p {boot['p_value']}")
    keys = (*keys, "eval_loss")
    return {"base_unchanged_weights": unchanged, "scored": scored, "boot": boot,
            "selection": {"base": {k: base["metrics"].get(k) for k in keys}, "tuned": {k: tuned["metrics"].get(k) for k in keys},
                          "compare_verdict": pair["verdict"], "compare_pair": pair},
            "test": {"base": {k: scored["base"][k] for k in keys}, "tuned": {k: scored["tuned"][k] for k in keys}},
            "wall_s": {"base_run": base["_wall_s"], "tuned_run": tuned["_wall_s"], "tuned_train_runtime": train_runtime(tuned),
                       "eval_base": scored["base"]["_wall_s"], "eval_tuned": scored["tuned"]["_wall_s"]}}


def samples(scored: dict, n: int = 8) -> list[dict]:
    return [{"source": b["input"][:600], "references": b["references"], "base": b["generated"], "tuned": t["generated"]}
            for b, t in zip(scored["base"]["examples"][:n], scored["tuned"]["examples"][:n])]


# ------------------------------------------------------------------------------------------- rows
def translation(args, ws: Path) -> None:
    d = args.data_dir or SHARED / "multi30k"
    if not (d / "train.en").is_file():
        raise SystemExit(f"no Multi30k in {d} (see ../shared/datasets/README.md)")
    pairs = args.pairs or 6000
    data, test = ws / "mt", ws / "mt-test"
    for lang in ("en", "de"):
        write_lines(data / f"train.{lang}", head(d / f"train.{lang}", pairs))
        write_lines(data / f"dev.{lang}", head(d / f"val.{lang}", args.selection))
        write_lines(test / f"test.{lang}", head(d / f"test_2016_flickr.{lang}", args.test))
    common = ["--data", str(data), "--model", "default", "--generation-metrics", "bleu,chrf",
              "--generation-eval-limit", "0", "--max-new-tokens", str(args.max_new_tokens or 64)]
    say(f"workspace {ws}: {pairs} training pairs, {args.selection} selection, {args.test} test")
    r = base_vs_tuned(args, ws, common, test, ("bleu", "chrf"), corpus_bleu, "corpus BLEU")
    scored, boot = r["scored"], r["boot"]
    row = {"row": "translation en→de", "pairs": pairs, "tuned_flags": args.tuned_flags,
           "base_unchanged_weights": r["base_unchanged_weights"], "selection": {"lines": args.selection, **r["selection"]},
           "test": {"data": "test_2016_flickr", "lines": args.test, **r["test"], "bootstrap_corpus_bleu": boot,
                    "samples": samples(scored)},
           "wall_s": r["wall_s"],
           "met": {"bleu_gain_10": boot["diff"] >= 10.0 and boot["p_value"] < 0.01, "bleu_abs_20": scored["tuned"]["bleu"] >= 20.0}}
    # Kept for the export row: the test lines and PyTorch's generations on them.
    (ws / "translation_row.json").write_text(json.dumps({**row, "tuned_examples": scored["tuned"]["examples"]}))
    write_results(args.out or RESULTS / "generative_multi30k_cpu.json", None, [row],
                  targets={"bleu_gain": 10.0, "p": 0.01, "bleu_abs": 20.0},
                  setup={"data": "multi30k en→de", "model": MODEL, "max_new_tokens": args.max_new_tokens or 64,
                         "decoding": "greedy", "workspace": str(ws)})


def summarisation(args, ws: Path) -> None:
    d = args.data_dir or SHARED / "scitldr"
    if not (d / "train.jsonl").is_file():
        raise SystemExit(f"no SciTLDR in {d} (see ../shared/datasets/README.md)")
    pairs = args.pairs or 1000
    data, test = ws / "tldr", ws / "tldr-test"
    write_lines(data / "train.jsonl", head(d / "train.jsonl", pairs))
    write_lines(data / "dev.jsonl", head(d / "dev.jsonl", args.selection))
    write_lines(test / "test.jsonl", head(d / "test.jsonl", args.test))
    common = ["--data", str(data), "--model", "default", "--generation-metrics", "rouge",
              "--generation-eval-limit", "0", "--max-new-tokens", str(args.max_new_tokens or 64),
              "--max-length", "512", "--batch-size", "8", "--eval-batch-size", "8"]
    # Passes of 8 (the tuned run accumulates 2): at the defaults (32 to train, 128 to evaluate) 512-token examples
    # with SmolLM2's 49,152-token vocabulary need more than this machine's 24 GB (the first attempt was killed by
    # the kernel's OOM killer; `train` now estimates that and warns).
    say(f"workspace {ws}: {pairs} training papers, {args.selection} selection, {args.test} test")
    r = base_vs_tuned(args, ws, common, test, ("rouge1", "rouge2", "rougeL"), mean_rouge_l, "ROUGE-L")
    scored, boot = r["scored"], r["boot"]
    refs = [len(e["references"]) for e in scored["base"]["examples"]]
    row = {"row": "summarisation (SciTLDR-A)", "pairs": pairs, "tuned_flags": args.tuned_flags,
           "base_unchanged_weights": r["base_unchanged_weights"], "selection": {"papers": args.selection, **r["selection"]},
           "test": {"papers": args.test, "references_per_paper": {"min": min(refs), "max": max(refs), "mean": round(sum(refs) / len(refs), 2)},
                    **r["test"], "bootstrap_rougeL": boot, "samples": samples(scored, 5)},
           "wall_s": r["wall_s"],
           "met": {"rougeL_gain_5": boot["diff"] >= 5.0 and boot["p_value"] < 0.01}}
    write_results(args.out or RESULTS / "generative_scitldr_cpu.json", None, [row], targets={"rougeL_gain": 5.0, "p": 0.01},
                  setup={"data": "SciTLDR-A (abstract → TLDR)", "model": MODEL, "max_new_tokens": args.max_new_tokens or 64,
                         "max_length": 512, "decoding": "greedy", "workspace": str(ws)})


def instructions(args, ws: Path) -> None:
    d = args.data_dir or SHARED / "alpaca"
    source = d / "alpaca_data_1k.json"
    if not source.is_file():
        raise SystemExit(f"no Alpaca sample in {d} (see ../shared/datasets/README.md)")
    rows = json.loads(source.read_text(encoding="utf-8"))
    train_rows = args.pairs or 800
    held = rows[train_rows:]
    (ws / "alpaca").mkdir(parents=True, exist_ok=True)
    train, heldout = ws / "alpaca" / "train.json", ws / "alpaca-heldout.json"
    train.write_text(json.dumps(rows[:train_rows]))
    heldout.write_text(json.dumps(held))
    common = ["--data", str(train), "--eval-data", str(heldout), "--model", "default", "--generation-metrics", "none"]
    say(f"workspace {ws}: {train_rows} training rows, {len(held)} held out")
    base, tuned, unchanged = base_and_tuned(ws, common, args.tuned_flags)
    pair = cli(ws, "compare", "base", "tuned")["pairs"][0]
    say(f"held-out: {pair['verdict']}")
    info = json.loads((Path(tuned["run_dir"]) / "run.json").read_text())
    evals = [e for e in (json.loads(line) for line in (Path(tuned["run_dir"]) / "metrics.jsonl").read_text().splitlines())
             if e.get("kind") == "eval"]
    row = {"row": "instructions (Alpaca)", "train_rows": train_rows, "heldout_rows": len(held), "tuned_flags": args.tuned_flags,
           "base_unchanged_weights": unchanged, "evaluations_during_training": len(evals),
           "heldout": {"base": {k: base["metrics"].get(k) for k in ("eval_loss", "perplexity")},
                       "tuned": {k: tuned["metrics"].get(k) for k in ("eval_loss", "perplexity")},
                       "compare_verdict": pair["verdict"], "compare_pair": pair},
           "samples": (info.get("evaluation") or {}).get("samples", [])[:3],
           "wall_s": {"base_run": base["_wall_s"], "tuned_run": tuned["_wall_s"], "tuned_train_runtime": train_runtime(tuned)},
           "met": {"heldout_loss_lower": bool(pair.get("significant")) and pair.get("winner") == 1}}
    write_results(args.out or RESULTS / "generative_alpaca_cpu.json", None, [row], targets={"heldout_loss": "lower, p < 0.05"},
                  setup={"data": "alpaca_data_1k.json: first 800 train, last 200 held out", "model": MODEL,
                         "workspace": str(ws)})


def export_and_check(args, ws: Path, run: str, examples: list[dict], label: str) -> dict:
    """Export ``run`` of ``ws`` with int8, generate on ``examples``' prompts with each ONNX engine (torch-free),
    score them against PyTorch's generations (``examples``, from `eval`) and ``bench`` the export; one result row."""
    from workbench.core.tasks.causal_lm_sft.export import onnx_generations
    from workbench.core.tasks.causal_lm_sft.generation import score

    target = ws / "exports" / run
    manifest = cli(ws, "export", run, "--int8", "--force", "--out", str(target))
    say(f"export: {manifest['_wall_s']} s; quality " + ", ".join(
        f"{e['engine']} ppl {e['perplexity']:.3f}" for e in manifest["validation"]["quality"]["engines"]))
    refs = [e["references"] for e in examples]
    prompts = [e["input"] for e in examples]
    # `input` is the whole user turn (instruction + source); the export's prompt format wraps it as training did.
    engines = {"pytorch": {"generated": [e["generated"] for e in examples], "wall_s": None}}
    for name, int8 in (("onnx-fp32", False), ("onnx-int8", True)):
        start = time.time()
        texts = onnx_generations(target, prompts, max_new_tokens=int(args.max_new_tokens or 64), int8=int8,
                                 threads=2, progress=say)
        engines[name] = {"generated": texts, "wall_s": round(time.time() - start, 1)}
    table = []
    for name, e in engines.items():
        corpus, _ = score(e["generated"], refs, ("bleu", "chrf"))
        same = sum(a == b for a, b in zip(e["generated"], engines["pytorch"]["generated"]))
        table.append({"engine": name, **corpus, "same_text_as_pytorch": same, "generation_wall_s": e["wall_s"]})
        say(f"{name}: BLEU {corpus['bleu']:.2f} chrF {corpus['chrf']:.2f}, {same}/{len(refs)} texts as PyTorch's")
    boot = paired_bootstrap([{"references": r, "generated": g} for r, g in zip(refs, engines["pytorch"]["generated"])],
                            [{"references": r, "generated": g} for r, g in zip(refs, engines["onnx-int8"]["generated"])],
                            corpus_bleu)
    bench = cli(ws, "bench", str(target))
    say("bench: " + ", ".join(f"{n} prefill {r['prefill_tokens_per_s']:.0f} tok/s, decode {r['decode_tokens_per_s']:.0f} tok/s"
                              for n, r in bench["engines"].items()))
    quality = {e["engine"]: e for e in manifest["validation"]["quality"]["engines"]}
    pt = next(t for t in table if t["engine"] == "pytorch")
    int8 = next(t for t in table if t["engine"] == "onnx-int8")
    return {"row": label, "source_run": manifest["source_run"], "lora": manifest.get("lora"),
            "quality": manifest["validation"]["quality"], "generation_in_export": manifest["validation"].get("generation"),
            "parity": {k: manifest["validation"][k] for k in ("prompts", "identical", "max_abs_logit_diff_prompt")},
            "int8_greedy_identical": manifest["validation"].get("int8_greedy_identical"),
            "quantization": manifest["quantization"], "sizes_bytes": manifest["sizes_bytes"],
            "test_generation": {"lines": len(refs), "engines": table, "bootstrap_int8_minus_pytorch_bleu": boot},
            "bench": {k: bench[k] for k in ("engines", "settings", "notes")},
            "met": {"int8_perplexity_within_5pct": quality["onnx-int8"]["perplexity_increase_pct"] <= 5.0,
                    "int8_bleu_within_1": abs(int8["bleu"] - pt["bleu"]) <= 1.0},
            "wall_s": {"export": manifest["_wall_s"], "bench": bench["_wall_s"]}}


def export(args, ws: Path) -> None:
    """Export the translation row's tuned run with int8 and check it on the test lines (``export_and_check``)."""
    saved = ws / "translation_row.json"
    if not saved.is_file():
        raise SystemExit(f"{ws} has no translation row (run --row translation --workspace {ws} first)")
    row = json.loads(saved.read_text())
    result = export_and_check(args, ws, "tuned", row.pop("tuned_examples")[:args.test], "export of the tuned translation model")
    write_results(args.out or RESULTS / "export_smollm2_multi30k_cpu.json", None, [result],
                  targets={"int8_perplexity_increase_pct": 5.0, "int8_bleu_diff": 1.0},
                  setup={"model": "the translation row's tuned SmolLM2 run", "threads": 2, "workspace": str(ws)})


def lora_export(args, ws: Path) -> None:
    """A LoRA run on Multi30k (adapters only, ``--tuned`` adds to them), scored on the test lines with `eval`,
    then exported merged (``merge_and_unload``; parity is against the unmerged PeftModel) and checked as ``export``."""
    d = args.data_dir or SHARED / "multi30k"
    if not (d / "train.en").is_file():
        raise SystemExit(f"no Multi30k in {d} (see ../shared/datasets/README.md)")
    pairs = args.pairs or 1500
    data, test = ws / "mt", ws / "mt-test"
    for lang in ("en", "de"):
        write_lines(data / f"train.{lang}", head(d / f"train.{lang}", pairs))
        write_lines(data / f"dev.{lang}", head(d / f"val.{lang}", args.selection))
        write_lines(test / f"test.{lang}", head(d / f"test_2016_flickr.{lang}", args.test))
    flags = ["--finetune", "lora", *args.tuned_flags]
    say(f"workspace {ws}: LoRA on {pairs} training pairs, {args.selection} selection, {args.test} test; {' '.join(flags)}")
    run = cli(ws, "train", "--data", str(data), "--model", "default", "--generation-metrics", "bleu,chrf",
              "--generation-eval-limit", "0", "--max-new-tokens", str(args.max_new_tokens or 64), *flags, "--name", "lora")
    say(f"lora: {run['_wall_s']} s, metrics {({k: round(v, 3) for k, v in run['metrics'].items() if isinstance(v, float)})}")
    adapter = sorted(p.name for p in (Path(run["run_dir"]) / "model").iterdir())
    scored = cli(ws, "eval", "lora", "--data", str(test))
    say(f"lora on test: BLEU {scored['bleu']:.2f} chrF {scored['chrf']:.2f} ({scored['_wall_s']} s)")
    result = export_and_check(args, ws, "lora", scored["examples"], "export of a LoRA translation run, merged")
    result.update({"pairs": pairs, "tuned_flags": flags, "model_dir_files": adapter,
                   "selection": {"lines": args.selection, **{k: run["metrics"].get(k) for k in ("bleu", "chrf", "eval_loss")}},
                   "test_eval": {"lines": args.test, "bleu": scored["bleu"], "chrf": scored["chrf"]},
                   "train_wall_s": run["_wall_s"], "tuned_train_runtime": train_runtime(run)})
    write_results(args.out or RESULTS / "export_smollm2_lora_multi30k_cpu.json", None, [result],
                  targets={"int8_perplexity_increase_pct": 5.0, "int8_bleu_diff": 1.0},
                  setup={"model": "SmolLM2-135M-Instruct + LoRA adapters, merged for export", "threads": 2,
                         "workspace": str(ws)})


ROWS = {"translation": translation, "summarisation": summarisation, "instructions": instructions, "export": export,
        "lora-export": lora_export}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row", choices=ROWS, required=True)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: the row's folder in ../shared/datasets")
    parser.add_argument("--pairs", type=int, default=None, help="training pairs (translation 6000, summarisation 1000, instructions 800)")
    parser.add_argument("--selection", type=int, default=200, help="dev lines/papers: the runs' eval split")
    parser.add_argument("--test", type=int, default=500, help="test lines/papers scored with `eval`")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default 64")
    parser.add_argument("--tuned", dest="tuned_flags", default="--epochs 1",
                        help="training flags of the tuned run, e.g. '--epochs 1 --lr 2e-4 --batch-size 16'")
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.tuned_flags = args.tuned_flags.split()
    ws = args.workspace or Path(tempfile.mkdtemp(prefix=f"generative-{args.row}-"))
    ws.mkdir(parents=True, exist_ok=True)
    ROWS[args.row](args, ws)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
