"""Causal-LM supervised fine-tuning (instruction / chat SFT), full or LoRA through peft.

Data: Alpaca-style rows (``instruction``, optional ``input``, ``output``) or chat rows (``messages``: a list of
``{"role", "content"}`` with roles system/user/assistant, ending with the assistant). Both are normalised to
one ``messages`` column.

Prompt: the tokenizer's chat template when it has one; otherwise the plain template :data:`PLAIN_TEMPLATE_DOC`
(Alpaca style). The prompt (everything up to the last assistant turn) and the response are tokenised
separately and concatenated, so the boundary is exact and training sees the prompt tokenised exactly as
generation will. EOS follows the response. Labels are -100 on every prompt token (and on padding): the loss
is on the responses only. In a conversation with several assistant turns every one of them is a response
(its content and EOS are learned), while system and user turns and the template's markers are masked; see
:func:`encode_history`.

Evaluation: eval loss and perplexity = exp(eval loss); greedy sample generations on the first
:data:`N_SAMPLES` held-out prompts are stored in run.json ``evaluation.samples``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from workbench.core.errors import WorkbenchError, shown_list
from workbench.core.tasks import METRICS

# run.json "metrics" gets eval_loss from the trainer and perplexity from final_metrics().
MAIN_METRIC, GREATER_IS_BETTER, SCALAR_METRICS = METRICS["causal-lm-sft"]
# The causal-LM loss divides by the response-token count the Trainer passes, so under torchrun the Trainer
# may average that count across processes (see training_arguments).
LOSS_USES_NUM_ITEMS = True
ROLES = ("system", "user", "assistant")
N_SAMPLES = 5
SAMPLE_MAX_NEW_TOKENS = 64
IGNORE_INDEX = -100

PLAIN_TEMPLATE_DOC = """\
[system text]\\n\\n                      (only when there is a system message)
### Instruction:\\n{user}\\n\\n           (Alpaca: {instruction}\\n\\n### Input:\\n{input} when input is not empty)
### Response:\\n{assistant}<eos>\\n\\n    (earlier turns of a conversation repeat these two blocks)
### Instruction:\\n{user}\\n\\n
### Response:\\n                          ← the prompt ends here; the model writes the response and EOS"""

# Module names LoRA adapts when lora_target_modules is "auto": peft's own mapping per architecture, with a
# fallback for families it does not list (any Linear named like an attention projection).
FALLBACK_TARGETS = ("q_proj", "v_proj", "c_attn", "query_key_value", "Wqkv", "qkv_proj")


# ------------------------------------------------------------------------------------------ data
def alpaca_user_text(instruction: str, input_text: str) -> str:
    """The user turn of an Alpaca row: the instruction, plus the input under "### Input:" when present."""
    return f"{instruction}\n\n### Input:\n{input_text}" if input_text else instruction


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value if isinstance(value, str) else str(value)


def normalise_rows(df, *, source: str, split: str) -> list[list[dict[str, str]]]:
    """Rows of a DataFrame as conversations (lists of role/content dicts); every problem is a WorkbenchError."""
    columns = {str(c).lower(): c for c in df.columns}
    where = f"{source} ({split})"
    out: list[list[dict[str, str]]] = []
    if "messages" in columns:
        col = columns["messages"]
        for i, messages in enumerate(df[col].tolist(), 1):
            if hasattr(messages, "tolist"):  # numpy arrays from parquet
                messages = messages.tolist()
            if not isinstance(messages, list) or not messages:
                raise WorkbenchError(f"{where} row {i}: 'messages' must be a non-empty list of {{role, content}} objects.")
            conv = []
            for m in messages:
                if not isinstance(m, dict) or "role" not in m or "content" not in m:
                    raise WorkbenchError(f"{where} row {i}: every message needs 'role' and 'content'.")
                role = _text(m["role"]).strip().lower()
                if role not in ROLES:
                    raise WorkbenchError(f"{where} row {i}: unknown role {m['role']!r}; use system, user or assistant.")
                conv.append({"role": role, "content": _text(m["content"])})
            if conv[-1]["role"] != "assistant":
                raise WorkbenchError(f"{where} row {i}: the conversation must end with an assistant message (the response to learn).")
            if not conv[-1]["content"].strip():
                raise WorkbenchError(f"{where} row {i}: the final assistant message is empty.")
            if not any(m["role"] == "user" for m in conv):
                raise WorkbenchError(f"{where} row {i}: the conversation has no user message.")
            out.append(conv)
        return out
    missing = [c for c in ("instruction", "output") if c not in columns]
    if missing:
        raise WorkbenchError(f"{where}: instruction data needs 'instruction' and 'output' columns (or a 'messages' column); "
                             f"missing {', '.join(missing)}; columns are: {shown_list(map(str, df.columns))}.")
    inputs = df[columns["input"]].tolist() if "input" in columns else [""] * len(df)
    system = df[columns["system"]].tolist() if "system" in columns else [""] * len(df)
    for i, (ins, inp, outp, sys_) in enumerate(zip(df[columns["instruction"]].tolist(), inputs,
                                                   df[columns["output"]].tolist(), system), 1):
        ins, inp, outp, sys_ = _text(ins).strip(), _text(inp).strip(), _text(outp), _text(sys_).strip()
        if not ins:
            raise WorkbenchError(f"{where} row {i}: the instruction is empty.")
        if not outp.strip():
            raise WorkbenchError(f"{where} row {i}: the output is empty (nothing to learn).")
        conv = ([{"role": "system", "content": sys_}] if sys_ else []) + [
            {"role": "user", "content": alpaca_user_text(ins, inp)}, {"role": "assistant", "content": outp}]
        out.append(conv)
    return out


def load_data(raw, *, data, eval_data=None, text_column=None, label_column=None, dev_fraction=0.1, seed=42):
    """Alpaca or chat data as a LoadedData with one ``messages`` column; a held-out dev split when there is none."""
    import random

    from datasets import Dataset

    from workbench.core.datasets import LoadedData, Schema, read_source

    train = normalise_rows(raw["train"], source=str(data), split="train")
    sources = {"train": str(data)}
    origin = "file"
    if eval_data:
        eval_raw = read_source(eval_data)
        df = eval_raw.get("dev", eval_raw.get("test", eval_raw.get("train")))
        dev = normalise_rows(df, source=str(eval_data), split="eval")
        sources["dev"] = str(eval_data)
    elif "dev" in raw:
        dev = normalise_rows(raw["dev"], source=str(data), split="dev")
        sources["dev"] = str(data)
    else:
        if len(train) < 2:
            raise WorkbenchError(f"{data}: {len(train)} example(s) are too few to hold out a dev split; at least 2 are "
                                 "needed (one to train on, one to evaluate), or give evaluation data (--eval-data).")
        order = list(range(len(train)))
        random.Random(seed).shuffle(order)
        n_dev = max(1, int(round(len(train) * dev_fraction)))
        dev_idx = set(order[:n_dev])
        dev = [train[i] for i in sorted(dev_idx)]
        train = [c for i, c in enumerate(train) if i not in dev_idx]
        origin = "held-out from train"
        sources["dev"] = f"{data} (random {dev_fraction:.0%} of train, seed {seed})"
    if not train:
        raise WorkbenchError(f"{data}: no training rows left.")
    if not dev:
        raise WorkbenchError(f"{sources['dev']}: the evaluation data has no rows.")
    schema = Schema("causal-lm-sft", "messages", "", [])
    splits = {"train": Dataset.from_dict({"messages": train}), "dev": Dataset.from_dict({"messages": dev})}
    return LoadedData(splits, schema, sources, origin)


# ------------------------------------------------------------------------------------------ prompts
def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def plain_prompt(messages: Sequence[dict[str, str]], eos_token: str) -> str:
    """The documented plain template (Alpaca style) for a conversation whose response comes next."""
    parts = []
    for m in messages:
        if m["role"] == "system":
            parts.append(f"{m['content']}\n\n")
        elif m["role"] == "user":
            parts.append(f"### Instruction:\n{m['content']}\n\n")
        else:
            parts.append(f"### Response:\n{m['content']}{eos_token}\n\n")
    parts.append("### Response:\n")
    return "".join(parts)


def render_prompt(tokenizer, messages: Sequence[dict[str, str]]) -> str:
    """The text the model sees before it writes the next assistant turn."""
    messages = [dict(m) for m in messages]
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return plain_prompt(messages, tokenizer.eos_token or "")


def prompt_adds_special_tokens(tokenizer) -> bool:
    """Chat templates write BOS themselves; the plain template relies on the tokenizer adding it (if it does)."""
    return not has_chat_template(tokenizer)


def encode_prompt(tokenizer, messages: Sequence[dict[str, str]]) -> list[int]:
    return tokenizer(render_prompt(tokenizer, messages), add_special_tokens=prompt_adds_special_tokens(tokenizer))["input_ids"]


def response_ids(tokenizer, messages: Sequence[dict[str, str]]) -> list[int]:
    """The response's tokens, ending with EOS: what the loss is computed on."""
    ids = tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"]
    return list(ids) + [tokenizer.eos_token_id]


def ensure_special_tokens(tokenizer) -> None:
    if tokenizer.eos_token_id is None:
        raise WorkbenchError("the model's tokenizer has no EOS token; causal-LM SFT needs one to end responses.")
    if tokenizer.pad_token_id is None:
        # Padding is masked out of attention and loss, so EOS can stand in for it.
        tokenizer.pad_token = tokenizer.eos_token


def encode_history(tokenizer, messages: Sequence[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of everything before the final response, and their labels: -100 except on the earlier
    assistant turns (their content and EOS), so that a conversation teaches every assistant reply.

    The text is rendered once per assistant turn (``render_prompt`` of the conversation up to it) and cut into
    template pieces (masked) and assistant contents (learned), each tokenised on its own as the final prompt
    and response are. A template that does not reproduce earlier turns verbatim (one that rewrites or drops
    them) cannot be cut that way: those conversations fall back to learning the last turn only.
    """
    last = len(messages) - 1
    turns = [i for i, m in enumerate(messages[:last]) if m["role"] == "assistant"]
    if not turns:
        prompt = encode_prompt(tokenizer, messages[:last])
        return prompt, [IGNORE_INDEX] * len(prompt)
    eos = tokenizer.eos_token or ""
    ids: list[int] = []
    labels: list[int] = []
    covered = ""  # the rendered text already turned into ids
    for k, turn in enumerate(turns + [last]):
        text = render_prompt(tokenizer, messages[:turn])
        if not text.startswith(covered):
            prompt = encode_prompt(tokenizer, messages[:last])
            return prompt, [IGNORE_INDEX] * len(prompt)
        piece = text[len(covered):]
        if k and eos and piece.startswith(eos):
            piece = piece[len(eos):]  # the previous reply already ends with the EOS id
        markers = tokenizer(piece, add_special_tokens=prompt_adds_special_tokens(tokenizer) and k == 0)["input_ids"]
        ids += markers
        labels += [IGNORE_INDEX] * len(markers)
        if turn == last:
            break
        reply = list(tokenizer(messages[turn]["content"], add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
        ids += reply
        labels += reply
        covered = text + messages[turn]["content"]
    return ids, labels


def encode_example(tokenizer, messages: Sequence[dict[str, str]], max_length: int) -> dict[str, list[int]]:
    """input_ids, attention_mask and labels (-100 except on assistant replies) for one conversation, within max_length.

    Over-long examples keep at least a quarter of max_length for the final response and drop the start of the
    conversation (the end of the prompt holds the "respond now" marker the response must follow).
    """
    prompt, prompt_labels = encode_history(tokenizer, messages)
    resp = response_ids(tokenizer, messages)
    if len(prompt) + len(resp) > max_length:
        budget = max(max_length - len(prompt), min(len(resp), max(1, max_length // 4)))
        resp = resp[:budget]
        keep = max_length - len(resp)
        prompt, prompt_labels = (prompt[len(prompt) - keep:], prompt_labels[len(prompt) - keep:]) if keep > 0 else ([], [])
    ids = list(prompt) + list(resp)
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(prompt_labels) + list(resp)}


def tokenize(dataset, tokenizer, data, cfg):
    ensure_special_tokens(tokenizer)
    max_length = cfg.max_length

    def encode(batch):
        rows = [encode_example(tokenizer, m, max_length) for m in batch["messages"]]
        return {k: [r[k] for r in rows] for k in ("input_ids", "attention_mask", "labels")}

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc=None)


def collator(tokenizer, *, pad_to_multiple_of: int | None = None):
    """Dynamic padding of input_ids/attention_mask, labels padded with -100."""
    from transformers import DataCollatorForSeq2Seq

    ensure_special_tokens(tokenizer)
    return DataCollatorForSeq2Seq(tokenizer, padding=True, pad_to_multiple_of=pad_to_multiple_of,
                                  label_pad_token_id=IGNORE_INDEX)


def metrics_hook(data):
    """None: the eval loss is the metric, and the Trainer then keeps no logits (vocab × tokens) in memory."""
    return None


def final_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """run.json metrics: eval_loss and perplexity = exp(eval_loss)."""
    loss = metrics.get("eval_loss")
    return {**metrics, "perplexity": perplexity(loss)}


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return float(math.exp(min(float(loss), 700.0)))


def callbacks(data, cfg) -> list:
    """Extra Trainer callbacks: eval_perplexity beside eval_loss in the logs, so eval events carry it."""
    from transformers import TrainerCallback

    class PerplexityCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs is not None and "eval_loss" in logs:
                logs["eval_perplexity"] = perplexity(logs["eval_loss"])

    return [PerplexityCallback()]


# ------------------------------------------------------------------------------------------ model
def is_causal_lm_config(config: dict[str, Any]) -> bool:
    archs = config.get("architectures") or []
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not config.get("model_type", "").startswith(("bert", "roberta"))


def check_model(resolved, cfg) -> None:
    """Refuse encoder-only models and unknown LoRA target modules before a run directory exists."""
    config = resolved.config()
    if config and not is_causal_lm_config(config):
        archs = ", ".join(config.get("architectures") or [config.get("model_type", "?")])
        raise WorkbenchError(f"model {resolved.display_name} ({archs}) is not a causal language model; "
                             "causal-lm-sft needs a decoder such as GPT-2 or Llama (--model DIR).")
    if cfg.finetune == "lora" and config:
        lora_targets(config, cfg.lora_target_modules, resolved.path)


def _module_names(path: str) -> set[str]:
    """Leaf module names of the architecture, built on the meta device (no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)) or type(module).__name__ == "Conv1D"}


def lora_targets(config: dict[str, Any], spec: str, path: str) -> list[str]:
    """The module names LoRA adapts: peft's default for the architecture when ``spec`` is "auto"."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    available = _module_names(path)
    if (spec or "auto").strip().lower() == "auto":
        targets = list(PEFT_DEFAULTS.get(config.get("model_type", ""), []))
        targets = [t for t in targets if t in available] or [t for t in FALLBACK_TARGETS if t in available]
        if not targets:
            raise WorkbenchError(f"no default LoRA target modules for model type {config.get('model_type')!r}; "
                                 f"set lora_target_modules (linear layers: {', '.join(sorted(available)[:12])}).")
        return targets
    targets = [t.strip() for t in spec.split(",") if t.strip()]
    unknown = [t for t in targets if t not in available]
    if unknown:
        raise WorkbenchError(f"lora_target_modules {', '.join(map(repr, unknown))} not in this model; "
                             f"its linear layers are: {', '.join(sorted(available))}.")
    return targets


def build_model(path: str, data, cfg):
    """AutoModelForCausalLM with fp32 master weights; wrapped with LoRA adapters when finetune is "lora"."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from workbench.core.training.devices import model_load_kwargs

    # fp32 master weights (bf16/fp16 come from autocast) and the run's attention kernel.
    model = AutoModelForCausalLM.from_pretrained(path, **model_load_kwargs(cfg))
    if getattr(cfg, "finetune", "full") != "lora":
        return model
    from peft import LoraConfig, get_peft_model

    config = AutoConfig.from_pretrained(path, trust_remote_code=cfg.trust_remote_code).to_dict()
    targets = lora_targets(config, cfg.lora_target_modules, path)
    lora = LoraConfig(r=int(cfg.lora_r), lora_alpha=int(cfg.lora_alpha), lora_dropout=float(cfg.lora_dropout),
                      target_modules=targets, task_type="CAUSAL_LM",
                      # GPT-2's Conv1D stores weights transposed; peft needs to know.
                      fan_in_fan_out=config.get("model_type") == "gpt2")
    return get_peft_model(model, lora)


def load_model(model_dir, *, merge: bool = False, attn_implementation: str | None = None):
    """A run's final model: a full model directory, or a LoRA adapter on its base (merged when asked)."""
    from pathlib import Path

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if (model_dir / "adapter_config.json").is_file():
        import json

        from peft import PeftModel

        base_path = json.loads((model_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32, use_safetensors=True, **kwargs)
        model = PeftModel.from_pretrained(base, str(model_dir))
        if merge:
            model = model.merge_and_unload()
    elif (model_dir / "config.json").is_file():
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, use_safetensors=True, **kwargs)
    else:
        raise WorkbenchError(f"{model_dir} holds no model (no config.json or adapter_config.json).")
    ensure_special_tokens(tokenizer)
    model.eval()
    return model, tokenizer


def has_model(model_dir) -> bool:
    from pathlib import Path

    return (Path(model_dir) / "config.json").is_file() or (Path(model_dir) / "adapter_config.json").is_file()


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


def final_evaluation(model, tokenizer, data, cfg) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Sample generations on the first N_SAMPLES held-out prompts (in run.json evaluation.samples), and one
    record per eval example with its loss and response-token count: what ``compare`` pairs SFT runs on."""
    model.eval()
    conversations = [list(m) for m in data.eval["messages"]]
    samples = sample_generations(model, tokenizer, conversations[:N_SAMPLES])
    losses = example_losses(model, tokenizer, conversations, max_length=cfg.max_length,
                            batch_size=max(1, min(cfg.eval_batch_size, 8)))
    records = [{"id": i, "input": conv[-2]["content"] if len(conv) > 1 else "", "reference": conv[-1]["content"],
                "loss": loss, "tokens": tokens}
               for i, (conv, (loss, tokens)) in enumerate(zip(conversations, losses)) if tokens]
    total = sum(r["tokens"] for r in records)
    report = {"samples": samples, "sample_settings": {"decoding": "greedy", "max_new_tokens": SAMPLE_MAX_NEW_TOKENS},
              # token-weighted mean of the per-example losses (the Trainer's eval_loss averages per batch)
              "example_loss": sum(r["loss"] * r["tokens"] for r in records) / total if total else None,
              "response_tokens": total}
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


def evaluate(run, data_path, *, batch_size: int = 16) -> dict[str, Any]:
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
    raw = read_source(data_path)
    df = raw.get("dev", raw.get("test", raw.get("train")))
    convs = normalise_rows(df, source=str(data_path), split="eval")
    if not has_model(run.model_dir):
        raise WorkbenchError(f"run {run.name} has no final model (status: {run.status}).")
    model, tokenizer = load_model(run.model_dir)
    from datasets import Dataset

    cfg = RunConfig.from_dict(run.config)
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
    return {"eval_loss": metrics["eval_loss"], "perplexity": perplexity(metrics["eval_loss"]), "rows": len(convs),
            "response_tokens": int(sum(sum(1 for x in r if x != IGNORE_INDEX) for r in encoded["labels"])),
            "samples": samples, "data": str(data_path), "run": run.id}


def inspect(raw, *, path, model=None, max_length: int = 512, sample: int = 20000) -> dict[str, Any]:
    """``datasets inspect`` for instruction/chat data, in the shape of the classification report.

    ``label_counts`` counts conversations by number of user turns; token lengths are of the whole example
    (prompt + response + EOS) as training would build it with ``model``'s tokenizer.
    """
    from collections import Counter

    from workbench.core.datasets import _percentiles, inspect_tokenizer

    first = raw.get("train", next(iter(raw.values())))
    report: dict[str, Any] = {"path": str(path), "task": "causal-lm-sft", "text_column": "messages", "label_column": None,
                              "splits": {}, "columns": {c: str(t) for c, t in first.dtypes.items()}, "warnings": []}
    tokenizer = None
    if model:
        tokenizer, report["tokenizer"] = inspect_tokenizer(model)
        report["max_length"] = max_length
    warnings: list[str] = report["warnings"]
    prompts_by_split: dict[str, list[str]] = {}
    for split, df in raw.items():
        convs = normalise_rows(df, source=str(path), split=split)
        turns = Counter(sum(1 for m in c if m["role"] == "user") for c in convs)
        prompts = ["\x1e".join(m["content"] for m in c[:-1]) for c in convs]
        prompts_by_split[split] = prompts
        info: dict[str, Any] = {
            "rows": len(convs),
            "label_counts": {f"{n} turn{'s' if n > 1 else ''}": turns[n] for n in sorted(turns)},
            "with_system": sum(1 for c in convs if c[0]["role"] == "system"),
            "empty_texts": 0,
            "duplicates": len(prompts) - len(set(prompts)),
            "char_length": _percentiles([len(c[-1]["content"]) for c in convs]),
        }
        if tokenizer is not None:
            picked = convs if len(convs) <= sample else convs[:: max(1, len(convs) // sample)][:sample]
            eos = tokenizer.eos_token or ""
            lengths, response = [], []
            for c in picked:
                p = len(tokenizer(render_prompt(tokenizer, c[:-1]) if has_chat_template(tokenizer)
                                  else plain_prompt(c[:-1], eos))["input_ids"])
                r = len(tokenizer(c[-1]["content"], add_special_tokens=False)["input_ids"]) + 1
                lengths.append(p + r)
                response.append(r)
            over = sum(1 for n in lengths if n > max_length)
            info["token_length"] = _percentiles(lengths)
            info["response_token_length"] = _percentiles(response)
            info["token_length_sampled"] = len(picked) < len(convs)
            info["over_max_length"] = round(over * len(convs) / max(1, len(picked)))
            info["token_lengths"] = lengths[:5000]
            if over:
                warnings.append(f"{split}: {info['over_max_length']} example(s) are longer than max_length {max_length} "
                                "tokens; the start of their prompt (or the end of the response) will be cut.")
        if info["duplicates"]:
            warnings.append(f"{split}: {info['duplicates']} duplicate prompt(s).")
        report["splits"][split] = info
    if "train" in prompts_by_split:
        train = set(prompts_by_split["train"])
        for split in ("dev", "test"):
            if split in prompts_by_split:
                overlap = sum(1 for p in prompts_by_split[split] if p in train)
                report["splits"][split]["overlap_with_train"] = overlap
                if overlap:
                    warnings.append(f"{split}: {overlap} prompt(s) also appear in train (leakage lowers {split} loss).")
    report["labels"] = []
    return report
