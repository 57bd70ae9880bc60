"""Causal-LM SFT evaluation: eval loss and perplexity, per-conversation losses, sample generations."""

from __future__ import annotations

from typing import Any, Sequence

from workbench.core.errors import WorkbenchError
from workbench.core.tasks.causal_lm_sft.data import normalise_rows
from workbench.core.tasks.causal_lm_sft.prompts import IGNORE_INDEX, encode_example, encode_prompt, ensure_special_tokens
from workbench.core.tasks.causal_lm_sft.train import collator, has_model, load_model, perplexity, tokenize


N_SAMPLES = 5


SAMPLE_MAX_NEW_TOKENS = 64


# ------------------------------------------------------------------------------------------ generation
def generate(model, tokenizer, messages: Sequence[dict[str, str]], *, max_new_tokens: int = SAMPLE_MAX_NEW_TOKENS,
             temperature: float = 0.0, top_p: float = 1.0, streamer=None, seed: int | None = None) -> list[int]:
    """New token ids for the conversation's next assistant turn (greedy when temperature is 0), EOS excluded."""
    import torch

    ids = encode_prompt(tokenizer, messages)
    input_ids = torch.tensor([ids], device=model.device)
    kwargs: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "pad_token_id": tokenizer.pad_token_id,
                              "eos_token_id": tokenizer.eos_token_id}
    if temperature and temperature > 0:
        if seed is not None:
            torch.manual_seed(seed)
        kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), top_k=0)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), streamer=streamer, **kwargs)
    new = out[0, len(ids):].tolist()
    if new and new[-1] == tokenizer.eos_token_id:
        new = new[:-1]
    return new


def sample_generations(model, tokenizer, conversations: Sequence[Sequence[dict[str, str]]], *,
                       max_new_tokens: int = SAMPLE_MAX_NEW_TOKENS) -> list[dict[str, Any]]:
    """Greedy generations for held-out prompts: prompt (last user turn), reference and generated response."""
    out = []
    for i, conv in enumerate(conversations):
        new = generate(model, tokenizer, conv[:-1], max_new_tokens=max_new_tokens)
        out.append({"id": i, "prompt": conv[-2]["content"] if len(conv) > 1 else "",
                    "messages": [dict(m) for m in conv[:-1]], "reference": conv[-1]["content"],
                    "generated": tokenizer.decode(new, skip_special_tokens=True)})
    return out


def example_losses(model, tokenizer, conversations: Sequence[Sequence[dict[str, str]]], *, max_length: int,
                   batch_size: int = 8) -> list[tuple[float, int]]:
    """Per conversation, in input order: ``(loss, tokens)``, the mean negative log-likelihood (nats) of its
    response tokens under ``model`` and their count, with the examples encoded exactly as for training."""
    import torch

    ensure_special_tokens(tokenizer)
    rows = [encode_example(tokenizer, list(m), max_length) for m in conversations]
    pad = collator(tokenizer)
    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = {k: v.to(device) for k, v in pad(rows[start:start + batch_size]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            for i in range(labels.shape[0]):  # one row at a time: fp32 logits of a whole batch can be GBs
                nll = torch.nn.functional.cross_entropy(logits[i, :-1].float(), labels[i], ignore_index=IGNORE_INDEX,
                                                        reduction="sum")
                count = int((labels[i] != IGNORE_INDEX).sum())
                out.append((float(nll) / count if count else float("nan"), count))
    return out


def generation_groups(kind: str | None, cfg) -> tuple[str, ...]:
    """The generation metric groups a run scores (``--generation-metrics``; ``auto`` follows the data's kind)."""
    from workbench.core.tasks.causal_lm_sft.generation import resolve_metrics

    return resolve_metrics(cfg.generation_metrics, kind)


def _references(ds):
    return ds["references"] if "references" in ds.column_names else None


def generation_during_training(data, tokenizer, cfg):
    """At every evaluation during training: generate for the first ``generation_eval_limit`` eval examples and score
    them (the values join the eval metrics: metrics.jsonl, the Monitor); None when the run scores no generations."""
    from workbench.core.tasks.causal_lm_sft.generation import evaluate_generation

    groups = generation_groups(data.kind, cfg)
    limit = int(cfg.generation_eval_limit or 0)
    if not groups or limit <= 0:
        return None
    conversations = [list(m) for m in data.eval["messages"][:limit]]
    refs = _references(data.eval)
    refs = refs[:limit] if refs is not None else None

    def run(model) -> dict[str, float]:
        corpus, _, _ = evaluate_generation(model, tokenizer, conversations, groups, max_new_tokens=cfg.max_new_tokens,
                                           batch_size=max(1, min(cfg.eval_batch_size, 16)), extra_references=refs)
        return {**corpus, "generated": len(conversations)}

    return run


def final_evaluation(model, tokenizer, data, cfg) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Sample generations on the first N_SAMPLES held-out prompts (in run.json evaluation.samples), and one
    record per eval example with its loss and response-token count: what ``compare`` pairs SFT runs on. A run that
    scores generations (``generation_groups``) generates for every eval example: the corpus scores go to the
    report (``generation``), each example's generation and scores to its record."""
    model.eval()
    conversations = [list(m) for m in data.eval["messages"]]
    samples = sample_generations(model, tokenizer, conversations[:N_SAMPLES])
    losses = example_losses(model, tokenizer, conversations, max_length=cfg.max_length,
                            batch_size=max(1, min(cfg.eval_batch_size, 8)))
    records = [{"id": i, "input": conv[-2]["content"] if len(conv) > 1 else "", "reference": conv[-1]["content"],
                "loss": loss, "tokens": tokens}
               for i, (conv, (loss, tokens)) in enumerate(zip(conversations, losses))]
    report: dict[str, Any] = {}
    groups = generation_groups(data.kind, cfg)
    if groups:
        from workbench.core.tasks.causal_lm_sft.generation import evaluate_generation, primary_score

        refs = _references(data.eval)
        corpus, generations, per = evaluate_generation(model, tokenizer, conversations, groups,
                                                       max_new_tokens=cfg.max_new_tokens,
                                                       batch_size=max(1, min(cfg.eval_batch_size, 16)),
                                                       extra_references=refs)
        for record, text, scores, i in zip(records, generations, per, range(len(records))):
            record.update(generated=text, scores=scores)
            if refs is not None:
                record["references"] = list(refs[i])
        report["extra_metrics"] = corpus  # run.json metrics (rougeL, bleu, chrf …) beside eval_loss and perplexity
        report["generation"] = {"metrics": corpus, "groups": list(groups), "primary": primary_score(groups),
                                "examples": len(conversations), "decoding": "greedy",
                                "max_new_tokens": int(cfg.max_new_tokens)}
    records = [r for r in records if r["tokens"] or "scores" in r]
    scored = [r for r in records if r["tokens"]]
    total = sum(r["tokens"] for r in scored)
    report.update({"samples": samples, "sample_settings": {"decoding": "greedy", "max_new_tokens": SAMPLE_MAX_NEW_TOKENS},
                   # token-weighted mean of the per-example losses (the Trainer's eval_loss averages per batch)
                   "example_loss": sum(r["loss"] * r["tokens"] for r in scored) / total if total else None,
                   "response_tokens": total})
    return report, records


def stream_generate(model, tokenizer, messages: Sequence[dict[str, str]], *, max_new_tokens: int = 128,
                    temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None):
    """The next assistant turn as text pieces while it is generated (transformers' TextIteratorStreamer).

    ``model.generate`` runs in a helper thread and pushes decoded text into the streamer; this generator
    yields it. An exception in generation is re-raised here once the stream ends.
    """
    import threading

    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120.0)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            generate(model, tokenizer, messages, max_new_tokens=max_new_tokens, temperature=temperature,
                     top_p=top_p, streamer=streamer, seed=seed)
        except BaseException as exc:  # reported to the consumer below
            failure.append(exc)
            streamer.end()

    thread = threading.Thread(target=run, daemon=True, name="sft-generate")
    thread.start()
    for piece in streamer:
        if piece:
            yield piece
    thread.join()
    if failure:
        raise failure[0]


def evaluate(run, data_path, *, batch_size: int = 16, text_column=None, label_column=None) -> dict[str, Any]:
    """``sft-workbench eval`` for an SFT run: eval loss and perplexity on any Alpaca/chat data, plus samples.

    The loss comes from ``Trainer.evaluate`` with the training collator and masking, so it is measured exactly
    as during training (prompt tokens masked).
    """
    import tempfile

    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    from workbench.core.config import RunConfig
    from workbench.core.datasets import LoadedData, Schema, read_source
    from workbench.core.training.devices import cuda_available

    hf_logging.set_verbosity_error()  # the CLI prints the result; library chatter would land in the middle
    hf_logging.disable_progress_bar()
    from workbench.core.tasks.causal_lm_sft.data import pair_rows, pair_spec

    raw = read_source(data_path)
    df = raw.get("dev", raw.get("test", raw.get("train")))
    cfg = RunConfig.from_dict(run.config)
    spec = pair_spec(df, text_column=cfg.text_column, label_column=cfg.label_column)
    refs = None
    if spec is not None:  # source/target data: the run's own instruction (recorded in run.json), else the preset
        convs, refs, skipped = pair_rows(df, spec, source=str(data_path), split="eval", instruction=run_instruction(run))
    else:
        convs, skipped = normalise_rows(df, source=str(data_path), split="eval")
    if not has_model(run.model_dir):
        raise WorkbenchError(f"run {run.name} has no final model (status: {run.status}).")
    model, tokenizer = load_model(run.model_dir)
    from datasets import Dataset

    ds = Dataset.from_dict({"messages": convs})
    loaded = LoadedData({"train": ds, "dev": ds}, Schema("causal-lm-sft", "messages", "", []), {"dev": str(data_path)})
    encoded = tokenize(ds, tokenizer, loaded, cfg)
    with tempfile.TemporaryDirectory(prefix="wb-eval-") as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_eval_batch_size=int(batch_size), report_to="none",
                                 disable_tqdm=True, use_cpu=not cuda_available())
        trainer = Trainer(model=model, args=args, eval_dataset=encoded, data_collator=collator(tokenizer))
        trainer.remove_callback(PrinterCallback)  # it would print the metrics dict into the CLI's output
        metrics = trainer.evaluate()
    samples = sample_generations(model, tokenizer, convs[:N_SAMPLES])
    result = {"eval_loss": metrics["eval_loss"], "perplexity": perplexity(metrics["eval_loss"]), "rows": len(convs),
              "skipped": skipped.to_dict() if skipped is not None else None,
              "response_tokens": int(sum(sum(1 for x in r if x != IGNORE_INDEX) for r in encoded["labels"])),
              "samples": samples, "data": str(data_path), "run": run.id}
    recorded = ((run.info.get("evaluation") or {}).get("generation") or {}).get("groups")
    groups = tuple(recorded) if recorded else generation_groups(spec.kind if spec else None, cfg)
    if groups:  # the run scores generations: so does its evaluation on other data (every example)
        from workbench.core.tasks.causal_lm_sft.generation import evaluate_generation, primary_score

        corpus, generations, per = evaluate_generation(model, tokenizer, convs, groups, max_new_tokens=cfg.max_new_tokens,
                                                       batch_size=max(1, min(int(batch_size), 16)), extra_references=refs)
        result.update(corpus)
        result["generation"] = {"groups": list(groups), "primary": primary_score(groups), "examples": len(convs),
                                "decoding": "greedy", "max_new_tokens": int(cfg.max_new_tokens)}
        result["examples"] = [{"id": i, "input": conv[-2]["content"] if len(conv) > 1 else "",
                               "references": (refs[i] if refs is not None else [conv[-1]["content"]]),
                               "generated": text, "scores": sc}
                              for i, (conv, text, sc) in enumerate(zip(convs, generations, per))]
    return result


def run_instruction(run) -> str | None:
    """The instruction a run's source/target data was given (run.json ``data.instruction``), else its config's."""
    return (run.info.get("data") or {}).get("instruction") or (run.config or {}).get("instruction")


class TorchGenerator:
    """A run's PyTorch model (a LoRA adapter merged into its base, for speed) behind the same ``stream`` and
    ``generate`` as the ONNX ``OnnxGenerator`` (the Playground)."""

    labels: list[str] = []

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer

    @classmethod
    def from_run(cls, run) -> "TorchGenerator":
        model, tokenizer = load_model(run.model_dir, merge=True)
        return cls(model, tokenizer)

    def stream(self, text: str, **settings: Any):
        """The response to one user turn, as text pieces while they are generated."""
        return stream_generate(self.model, self.tokenizer, [{"role": "user", "content": text}], **settings)

    def generate(self, text: str, **settings: Any) -> str:
        return "".join(self.stream(text, **settings))
