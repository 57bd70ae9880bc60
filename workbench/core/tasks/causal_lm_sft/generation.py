"""Generation-based evaluation of a causal-LM run: batched greedy generation over eval prompts, scored against
the references with ROUGE (``rouge-score``), BLEU and chrF (``sacrebleu``) and exact match.

Generation: prompts sorted by length and batched with left padding (so every row's new tokens start at the same
position), greedy, KV cache on, at most ``max_new_tokens`` each; results come back in input order.

Scores, per example and for the corpus, on a 0–100 scale:

- ``rouge1``, ``rouge2``, ``rougeL``: F-measure with stemming (``RougeScorer.score_multi``: the best over an
  example's references); the corpus figure is the mean over examples, as the ROUGE papers report.
- ``bleu``, ``chrf``: sacrebleu's ``corpus_bleu``/``corpus_chrf`` over all examples (every reference of each; an
  example with fewer references than others fills the rest with None, which sacrebleu skips); per example
  ``sentence_bleu``/``sentence_chrf`` (the paired tests use these).
- ``exact_match``: 100 when the generation equals a reference after trimming, lower-casing and collapsing
  whitespace, else 0.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from workbench.core.errors import WorkbenchError

# What --generation-metrics accepts, and the scores each adds.
METRIC_GROUPS = {"rouge": ("rouge1", "rouge2", "rougeL"), "bleu": ("bleu",), "chrf": ("chrf",),
                 "exact_match": ("exact_match",)}
# `auto`: translation data is scored with BLEU and chrF, summaries with ROUGE, other instructions by loss alone.
AUTO_METRICS = {"translation": ("bleu", "chrf"), "summarisation": ("rouge",)}
# The headline generation score of each group (compare pairs runs on it; the Monitor charts it).
PRIMARY = {"rouge": "rougeL", "bleu": "bleu", "chrf": "chrf", "exact_match": "exact_match"}


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """``"rouge,bleu"`` → ``("rouge", "bleu")``; ``auto`` and ``none`` are kept as given (``resolve_metrics``)."""
    names = tuple(dict.fromkeys(p.strip().lower().replace("-", "_") for p in (text or "").split(",") if p.strip()))
    if names in ((), ("none",)):
        return ()
    if names == ("auto",):
        return ("auto",)
    unknown = [n for n in names if n not in METRIC_GROUPS]
    if unknown:
        raise WorkbenchError(f"generation metric {unknown[0]!r} is not one of auto, none, {', '.join(METRIC_GROUPS)}.")
    return names


def resolve_metrics(text: str | None, kind: str | None) -> tuple[str, ...]:
    """The metric groups a run scores: the ones asked for, or for ``auto`` the data kind's (``AUTO_METRICS``)."""
    names = parse_metrics(text)
    if names == ("auto",):
        return AUTO_METRICS.get(kind or "", ())
    return names


def score_names(groups: Sequence[str]) -> list[str]:
    return [name for group in groups for name in METRIC_GROUPS[group]]


def primary_score(groups: Sequence[str]) -> str | None:
    return PRIMARY[groups[0]] if groups else None


# ------------------------------------------------------------------------------------------ generation
def generate_batch(model, tokenizer, prompts: Sequence[Sequence[dict[str, str]]], *, max_new_tokens: int,
                   batch_size: int = 16) -> list[str]:
    """The greedy continuation of each conversation's prompt (its turns up to the next assistant turn), in order."""
    import torch

    from workbench.core.tasks.causal_lm_sft.prompts import encode_prompt

    encoded = [encode_prompt(tokenizer, list(p)) for p in prompts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out: list[str] = [""] * len(encoded)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = [encoded[i] for i in order[start:start + batch_size]]
            width = max(len(r) for r in rows)
            input_ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
            generated = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=int(max_new_tokens),
                                       do_sample=False, temperature=None, top_p=None, top_k=None, use_cache=True,
                                       pad_token_id=pad_id, eos_token_id=tokenizer.eos_token_id)
            for i, row in zip(order[start:start + batch_size], generated[:, width:].tolist()):
                if tokenizer.eos_token_id in row:
                    row = row[:row.index(tokenizer.eos_token_id)]
                out[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    return out


# ------------------------------------------------------------------------------------------ scoring
def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def score(predictions: Sequence[str], references: Sequence[Sequence[str]], groups: Sequence[str]
          ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Corpus scores and one dict of scores per example (0–100) for the metric ``groups``."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} reference sets")
    refs = [[r for r in rs if isinstance(r, str)] or [""] for rs in references]
    corpus: dict[str, float] = {}
    per: list[dict[str, float]] = [{} for _ in predictions]
    if "rouge" in groups:
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(list(METRIC_GROUPS["rouge"]), use_stemmer=True)
        for row, pred, rs in zip(per, predictions, refs):
            result = scorer.score_multi(rs, pred)
            row.update({k: 100.0 * result[k].fmeasure for k in METRIC_GROUPS["rouge"]})
        for key in METRIC_GROUPS["rouge"]:
            corpus[key] = sum(r[key] for r in per) / len(per) if per else 0.0
    if "bleu" in groups or "chrf" in groups:
        import sacrebleu

        width = max((len(rs) for rs in refs), default=1)
        streams = [[rs[k] if k < len(rs) else None for rs in refs] for k in range(width)]
        if "bleu" in groups:
            corpus["bleu"] = sacrebleu.corpus_bleu(list(predictions), streams).score
            for row, pred, rs in zip(per, predictions, refs):
                row["bleu"] = sacrebleu.sentence_bleu(pred, rs).score
        if "chrf" in groups:
            corpus["chrf"] = sacrebleu.corpus_chrf(list(predictions), streams).score
            for row, pred, rs in zip(per, predictions, refs):
                row["chrf"] = sacrebleu.sentence_chrf(pred, rs).score
    if "exact_match" in groups:
        for row, pred, rs in zip(per, predictions, refs):
            row["exact_match"] = 100.0 if _normalise(pred) in {_normalise(r) for r in rs} else 0.0
        corpus["exact_match"] = sum(r["exact_match"] for r in per) / len(per) if per else 0.0
    return {k: round(v, 4) for k, v in corpus.items()}, [{k: round(v, 4) for k, v in r.items()} for r in per]


def references_of(conversations: Sequence[Sequence[dict[str, str]]], extra: Sequence[Any] | None = None) -> list[list[str]]:
    """Each example's references: its last assistant turn, plus any others the data holds (``extra``, per example a
    list of strings, e.g. SciTLDR's several summaries)."""
    out = []
    for i, conv in enumerate(conversations):
        refs = [conv[-1]["content"]]
        if extra is not None and i < len(extra) and isinstance(extra[i], (list, tuple)):
            refs += [r for r in extra[i] if isinstance(r, str) and r not in refs]
        out.append(refs)
    return out


def evaluate_generation(model, tokenizer, conversations, groups: Sequence[str], *, max_new_tokens: int,
                        batch_size: int = 16, extra_references=None) -> tuple[dict[str, float], list[str], list[dict[str, float]]]:
    """Generate for every conversation's prompt and score against its references: (corpus, generations, per example)."""
    prompts = [list(conv[:-1]) for conv in conversations]
    generations = generate_batch(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    corpus, per = score(generations, references_of(conversations, extra_references), groups)
    return corpus, generations, per
