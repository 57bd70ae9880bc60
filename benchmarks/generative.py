"""Generative fine-tuning of the embedded SmolLM2-135M-Instruct, scored by generation against the untuned model.

Translation (the row run so far): Multi30k en→de from ``../shared/datasets/multi30k``. The first ``--pairs``
training pairs are the training data; the first ``--selection`` lines of ``val`` are the run's eval split (the
checkpoint is chosen on its loss; generation scored at the end); the first ``--test`` lines of
``test_2016_flickr`` are scored afterwards with `sft-workbench eval`, a set neither run saw.

The base model is a run too: one optimiser step at lr 1e-30 (AdamW's update is then below fp32 resolution, so
its saved weights are the untuned model's; checked below), so both go through the same final evaluation,
``compare`` and ``eval``. Verdicts: `compare` on the selection split (paired per-example sentence BLEU), and on
the test lines a paired bootstrap of corpus BLEU (Koehn 2004: 1,000 resamples of sentences) computed here.

    python benchmarks/generative.py --pairs 4000            # about how many a 30-minute budget trains on this CPU
    python benchmarks/generative.py --pairs 4000 --test 1000  # the whole test set once
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED, write_results  # noqa: E402


def cli(workspace: Path, *argv: str) -> dict:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "workbench", "--workspace", str(workspace), *argv, "--json"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sft-workbench {' '.join(argv[:3])} failed: {(proc.stderr or proc.stdout)[-800:]}")
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    out["_wall_s"] = round(time.time() - start, 1)
    return out


def write_pairs(folder: Path, split: str, src: list[str], tgt: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.en").write_text("".join(s + "\n" for s in src), encoding="utf-8")
    (folder / f"{split}.de").write_text("".join(t + "\n" for t in tgt), encoding="utf-8")


def corpus_bootstrap(base: list[dict], tuned: list[dict], *, resamples: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap of corpus BLEU (tuned − base) over sentences: the difference, its 95% interval, and p = the
    share of resamples in which the tuned model is not better."""
    import sacrebleu

    refs = [r["references"][0] for r in base]
    hyp_a, hyp_b = [r["generated"] for r in base], [r["generated"] for r in tuned]
    full = sacrebleu.corpus_bleu(hyp_b, [refs]).score - sacrebleu.corpus_bleu(hyp_a, [refs]).score
    rng = random.Random(seed)
    n, diffs = len(refs), []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        r = [refs[i] for i in idx]
        diffs.append(sacrebleu.corpus_bleu([hyp_b[i] for i in idx], [r]).score
                     - sacrebleu.corpus_bleu([hyp_a[i] for i in idx], [r]).score)
    diffs.sort()
    return {"bleu_diff": round(full, 2), "ci95": [round(diffs[int(0.025 * resamples)], 2), round(diffs[int(0.975 * resamples) - 1], 2)],
            "p_value": max(sum(d <= 0 for d in diffs), 1) / resamples if full > 0 else 1.0, "resamples": resamples}


def same_weights(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return wa.keys() == wb.keys() and all(bool((wa[k] == wb[k]).all()) for k in wa)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED / "multi30k")
    parser.add_argument("--pairs", type=int, default=4000, help="training pairs (the first N of train)")
    parser.add_argument("--selection", type=int, default=300, help="val lines: the runs' eval split")
    parser.add_argument("--test", type=int, default=500, help="test_2016_flickr lines scored with `eval`")
    parser.add_argument("--epochs", default="1")
    parser.add_argument("--lr", default=None, help="default: the task's")
    parser.add_argument("--max-new-tokens", default="64")
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "generative_multi30k_cpu.json")
    args = parser.parse_args()
    d = args.data_dir
    if not (d / "train.en").is_file():
        raise SystemExit(f"no Multi30k in {d} (see ../shared/datasets/README.md)")
    ws = args.workspace or Path(tempfile.mkdtemp(prefix="generative-"))
    ws.mkdir(parents=True, exist_ok=True)
    read = lambda name: (d / name).read_text(encoding="utf-8").splitlines()  # noqa: E731
    data, test = ws / "mt", ws / "mt-test"
    write_pairs(data, "train", read("train.en")[:args.pairs], read("train.de")[:args.pairs])
    write_pairs(data, "dev", read("val.en")[:args.selection], read("val.de")[:args.selection])
    write_pairs(test, "test", read("test_2016_flickr.en")[:args.test], read("test_2016_flickr.de")[:args.test])
    common = ["--data", str(data), "--model", "default", "--generation-metrics", "bleu,chrf",
              "--generation-eval-limit", "0", "--max-new-tokens", args.max_new_tokens]
    print(f"workspace {ws}: {args.pairs} training pairs, {args.selection} selection, {args.test} test", flush=True)
    base = cli(ws, "train", *common, "--max-steps", "1", "--lr", "1e-30", "--name", "base")
    print(f"base: {base['_wall_s']} s, selection BLEU {base['metrics'].get('bleu')}", flush=True)
    tuned = cli(ws, "train", *common, "--epochs", args.epochs, *(["--lr", args.lr] if args.lr else []), "--name", "tuned")
    print(f"tuned: {tuned['_wall_s']} s, selection BLEU {tuned['metrics'].get('bleu')}", flush=True)
    from workbench.core.models import embedded_lm_dir

    unchanged = same_weights(embedded_lm_dir(), Path(base["run_dir"]) / "model")
    compare = cli(ws, "compare", "base", "tuned")
    pair = compare["pairs"][0]
    print(f"selection split: {pair['verdict']}", flush=True)
    scored = {}
    for name in ("base", "tuned"):
        scored[name] = cli(ws, "eval", name, "--data", str(test))
        print(f"{name} on test: BLEU {scored[name]['bleu']:.2f} chrF {scored[name]['chrf']:.2f} "
              f"({scored[name]['_wall_s']} s)", flush=True)
    boot = corpus_bootstrap(scored["base"]["examples"], scored["tuned"]["examples"])
    print(f"test, corpus BLEU tuned − base: {boot['bleu_diff']:+.2f}, 95% CI {boot['ci95']}, p {boot['p_value']}", flush=True)
    info = json.loads((Path(tuned["run_dir"]) / "run.json").read_text())
    train_s = (info.get("train_summary") or {}).get("train_runtime")
    results = [{"row": "translation en→de", "pairs": args.pairs, "epochs": args.epochs,
                "base_unchanged_weights": unchanged,
                "selection": {"base": {k: base["metrics"].get(k) for k in ("bleu", "chrf", "eval_loss")},
                              "tuned": {k: tuned["metrics"].get(k) for k in ("bleu", "chrf", "eval_loss")},
                              "compare_verdict": pair["verdict"], "compare_pair": pair},
                "test": {"lines": args.test, "base": {k: scored["base"][k] for k in ("bleu", "chrf", "eval_loss")},
                         "tuned": {k: scored["tuned"][k] for k in ("bleu", "chrf", "eval_loss")}, "bootstrap": boot,
                         "samples": [{"source": b["input"], "reference": b["references"][0], "base": b["generated"],
                                      "tuned": t["generated"]} for b, t in zip(scored["base"]["examples"][:8],
                                                                                scored["tuned"]["examples"][:8])]},
                "wall_s": {"base_run": base["_wall_s"], "tuned_run": tuned["_wall_s"], "tuned_train_runtime": train_s,
                           "eval_base": scored["base"]["_wall_s"], "eval_tuned": scored["tuned"]["_wall_s"]}}]
    write_results(args.out, None, results, targets={"bleu_gain": 10.0, "p": 0.01, "bleu_abs": 20.0},
                  setup={"data": "multi30k en→de", "model": "SmolLM2-135M-Instruct (embedded GGUF, fp32)",
                         "max_new_tokens": args.max_new_tokens, "decoding": "greedy"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
