"""Causal-LM SFT data: conversations (``messages`` lists) or Alpaca rows (instruction, input, output)."""

from __future__ import annotations

from typing import Any

from workbench.core.errors import WorkbenchError, shown, shown_list
from workbench.core.tasks.causal_lm_sft.prompts import has_chat_template, plain_prompt, render_prompt


ROLES = ("system", "user", "assistant")


# ------------------------------------------------------------------------------------------ data
def alpaca_user_text(instruction: str, input_text: str) -> str:
    """The user turn of an Alpaca row: the instruction, plus the input under "### Input:" when present."""
    return f"{instruction}\n\n### Input:\n{input_text}" if input_text else instruction


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value if isinstance(value, str) else str(value)


def _conversation(messages: Any) -> tuple[list[dict[str, str]] | None, str | None]:
    """A ``messages`` cell as a conversation, or why it cannot be used."""
    if hasattr(messages, "tolist"):  # numpy arrays from parquet
        messages = messages.tolist()
    if not isinstance(messages, list) or not messages:
        return None, "'messages' must be a non-empty list of {role, content} objects"
    conv = []
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            return None, "every message needs 'role' and 'content'"
        role = _text(m["role"]).strip().lower()
        if role not in ROLES:
            return None, f"unknown role {shown(m['role'], 40)!r}; use system, user or assistant"
        conv.append({"role": role, "content": _text(m["content"])})
    if conv[-1]["role"] != "assistant":
        return None, "the conversation must end with an assistant message (the response to learn)"
    if not conv[-1]["content"].strip():
        return None, "the final assistant message is empty"
    if not any(m["role"] == "user" for m in conv):
        return None, "the conversation has no user message"
    return conv, None


def normalise_rows(df, *, source: str, split: str, strict: bool = False):
    """``(conversations, skipped)``: the rows of a DataFrame as conversations (lists of role/content dicts), and
    the rows left out because they cannot be used (an empty output or instruction, an unknown role …), which
    the shared rule (``datasets.BadRows``) skips when few and refuses, naming them, when more (``skipped`` is
    None when every row could be used). Missing columns are one WorkbenchError."""
    from workbench.core.datasets import BadRows

    columns = {str(c).lower(): c for c in df.columns}
    where = f"{source} ({split})"
    out: list[list[dict[str, str]]] = []
    bad = BadRows(source, split)
    if "messages" in columns:
        for i, messages in enumerate(df[columns["messages"]].tolist(), 1):
            conv, problem = _conversation(messages)
            if problem is not None:
                bad.add(i, problem)
            else:
                out.append(conv)
        return out, bad.settle(len(df), strict=strict)
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
            bad.add(i, "the instruction is empty")
            continue
        if not outp.strip():
            bad.add(i, "the output is empty")
            continue
        conv = ([{"role": "system", "content": sys_}] if sys_ else []) + [
            {"role": "user", "content": alpaca_user_text(ins, inp)}, {"role": "assistant", "content": outp}]
        out.append(conv)
    return out, bad.settle(len(df), strict=strict)


def load_data(raw, *, data, eval_data=None, text_column=None, label_column=None, dev_fraction=0.1, seed=42,
              strict=False):
    """Alpaca or chat data as a LoadedData with one ``messages`` column; a held-out dev split when there is none."""
    import random

    from datasets import Dataset

    from workbench.core.datasets import LoadedData, Schema, read_source

    train, skipped_train = normalise_rows(raw["train"], source=str(data), split="train", strict=strict)
    sources = {"train": str(data)}
    origin = "file"
    skipped_dev = None
    if eval_data:
        eval_raw = read_source(eval_data)
        df = eval_raw.get("dev", eval_raw.get("test", eval_raw.get("train")))
        dev, skipped_dev = normalise_rows(df, source=str(eval_data), split="eval", strict=strict)
        sources["dev"] = str(eval_data)
    elif "dev" in raw:
        dev, skipped_dev = normalise_rows(raw["dev"], source=str(data), split="dev", strict=strict)
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
    return LoadedData(splits, schema, sources, origin, skipped={"train": skipped_train, "dev": skipped_dev})


def inspect(raw, path, *, text_column=None, label_column=None, tokenizer=None, max_length: int = 512,
            sample: int = 20000, strict: bool = False) -> dict[str, Any]:
    """``datasets inspect`` for instruction/chat data, in the shape of the classification report.

    ``label_counts`` counts conversations by number of user turns; token lengths are of the whole example
    (prompt + response + EOS) as training would build it with ``tokenizer``.
    """
    from collections import Counter

    from workbench.core.datasets import percentiles

    first = raw.get("train", next(iter(raw.values())))
    report: dict[str, Any] = {"path": str(path), "task": "causal-lm-sft", "text_column": "messages", "label_column": None,
                              "splits": {}, "columns": {c: str(t) for c, t in first.dtypes.items()}, "warnings": []}
    if tokenizer is not None:
        report["max_length"] = max_length
    warnings: list[str] = report["warnings"]
    prompts_by_split: dict[str, list[str]] = {}
    for split, df in raw.items():
        convs, skipped = normalise_rows(df, source=str(path), split=split, strict=strict)
        if skipped is not None:
            warnings.append(skipped.note + ".")
        turns = Counter(sum(1 for m in c if m["role"] == "user") for c in convs)
        prompts = ["\x1e".join(m["content"] for m in c[:-1]) for c in convs]
        prompts_by_split[split] = prompts
        info: dict[str, Any] = {
            "rows": len(convs),
            "skipped": skipped.to_dict() if skipped is not None else None,
            "label_counts": {f"{n} turn{'s' if n > 1 else ''}": turns[n] for n in sorted(turns)},
            "with_system": sum(1 for c in convs if c[0]["role"] == "system"),
            "empty_texts": 0,
            "duplicates": len(prompts) - len(set(prompts)),
            "char_length": percentiles([len(c[-1]["content"]) for c in convs]),
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
            info["token_length"] = percentiles(lengths)
            info["response_token_length"] = percentiles(response)
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
