"""Causal-LM SFT data: conversations (``messages`` lists) or Alpaca rows (instruction, input, output)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError, shown, shown_list
from workbench.core.tasks.causal_lm_sft.prompts import has_chat_template, plain_prompt, render_prompt


ROLES = ("system", "user", "assistant")
LANGUAGE_NAMES = {"ar": "Arabic", "bg": "Bulgarian", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
                  "en": "English", "es": "Spanish", "et": "Estonian", "fi": "Finnish", "fr": "French", "he": "Hebrew",
                  "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean",
                  "lt": "Lithuanian", "lv": "Latvian", "nl": "Dutch", "no": "Norwegian", "pl": "Polish",
                  "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian",
                  "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese"}


# ------------------------------------------------------------------------------------------ pairs
@dataclass(frozen=True)
class PairSpec:
    """Source/target data (summarisation or translation) and how it becomes an instruction."""

    source: str                 # the source column (as in the file)
    target: str                 # the target column: one reference, or a list of them
    kind: str                   # "summarisation" | "translation"
    languages: tuple[str, str] | None = None

    def preset(self) -> str:
        """The instruction put before each source when ``instruction`` is left empty."""
        if self.kind == "summarisation":
            return "Summarise:"
        if self.languages:
            src, tgt = (LANGUAGE_NAMES.get(code, code) for code in self.languages)
            return f"Translate {src} to {tgt}:"
        return "Translate:"


def pair_spec(df, *, text_column: str | None = None, label_column: str | None = None) -> PairSpec | None:
    """Whether a table is source/target data: ``document``/``summary`` columns, ``source``/``target`` (a list of
    sentences as the source makes it a summary, as in SciTLDR; strings, a translation), or two language-code columns
    (parallel text: ``en``/``de``; English is the source unless ``text_column`` names another). ``text_column`` and
    ``label_column`` choose the source and target columns explicitly. None for instruction or chat data."""
    from workbench.core.datasets import LANGUAGE_CODES

    columns = {str(c).lower(): str(c) for c in df.columns}
    if "messages" in columns or "instruction" in columns:
        return None
    langs = [c for c in columns if c in LANGUAGE_CODES]
    if text_column and label_column and text_column in df.columns and label_column in df.columns:
        src, tgt = text_column, label_column
    elif "document" in columns and "summary" in columns:
        return PairSpec(columns["document"], columns["summary"], "summarisation")
    elif "source" in columns and "target" in columns:
        src, tgt = columns["source"], columns["target"]
    elif len(langs) == 2:
        first = text_column.lower() if text_column and text_column.lower() in langs else ("en" if "en" in langs else langs[0])
        src, tgt = columns[first], columns[next(c for c in langs if c != first)]
        return PairSpec(src, tgt, "translation", (first, tgt.lower()))
    else:
        return None
    values = [v for v in df[src].tolist()[:50] if v is not None]
    listed = any(isinstance(v, list) or hasattr(v, "tolist") for v in values)
    codes = (src.lower(), tgt.lower())
    return PairSpec(src, tgt, "summarisation" if listed else "translation",
                    codes if all(c in LANGUAGE_CODES for c in codes) else None)


def _pieces(value: Any) -> list[str]:
    """A cell as a list of strings: a list (numpy array from parquet) or one string."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_text(v).strip() for v in value if _text(v).strip()]
    text = _text(value).strip()
    return [text] if text else []


def pair_rows(df, spec: PairSpec, *, source: str, split: str, instruction: str | None = None, strict: bool = False):
    """``(conversations, references, skipped)``: source/target rows as conversations (the instruction, a blank line
    and the source as the user turn; the first target as the response), each row's references (every target), and
    the rows left out (an empty source or target: ``datasets.BadRows``, the rule every task shares)."""
    from workbench.core.datasets import BadRows

    prompt = (instruction or spec.preset()).strip()
    convs, refs = [], []
    bad = BadRows(source, split)
    for i, (src, tgt) in enumerate(zip(df[spec.source].tolist(), df[spec.target].tolist()), 1):
        text = " ".join(_pieces(src))  # a list of sentences (SciTLDR's abstracts) joined
        targets = _pieces(tgt)
        if not text:
            bad.add(i, f"the {spec.source} is empty")
            continue
        if not targets:
            bad.add(i, f"the {spec.target} is empty")
            continue
        convs.append([{"role": "user", "content": f"{prompt}\n\n{text}" if prompt else text},
                      {"role": "assistant", "content": targets[0]}])
        refs.append(targets)
    return convs, refs, bad.settle(len(df), strict=strict)


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


def normalise_rows(df, *, source: str, split: str, strict: bool = False, instruction: str | None = None):
    """``(conversations, skipped)``: the rows of a DataFrame as conversations (lists of role/content dicts), and
    the rows left out because they cannot be used (an empty output or instruction, an unknown role …), which
    the shared rule (``datasets.BadRows``) skips when few and refuses, naming them, when more (``skipped`` is
    None when every row could be used). Missing columns are one WorkbenchError. Source/target data
    (``pair_spec``) becomes instructions (``instruction``, else the preset)."""
    from workbench.core.datasets import BadRows

    spec = pair_spec(df)
    if spec is not None:
        convs, _, skipped = pair_rows(df, spec, source=source, split=split, instruction=instruction, strict=strict)
        return convs, skipped

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
              strict=False, instruction=None):
    """Alpaca, chat or source/target data as a LoadedData with a ``messages`` column (source/target data also a
    ``references`` column: every target of a row); a held-out dev split when there is none."""
    import random

    from datasets import Dataset

    from workbench.core.datasets import LoadedData, Schema, read_source

    spec = pair_spec(raw["train"], text_column=text_column, label_column=label_column)

    def rows(df, where: str, split: str):
        if spec is None:
            convs, skipped = normalise_rows(df, source=where, split=split, strict=strict)
            return convs, None, skipped
        here = pair_spec(df, text_column=spec.source, label_column=spec.target)
        if here is None or here.source != spec.source or here.target != spec.target:
            raise WorkbenchError(f"{where} ({split}): needs the columns {spec.source} and {spec.target}, as the training "
                                 f"data has; columns are: {shown_list(map(str, df.columns))}.")
        return pair_rows(df, spec, source=where, split=split, instruction=instruction, strict=strict)

    train, train_refs, skipped_train = rows(raw["train"], str(data), "train")
    sources = {"train": str(data)}
    origin = "file"
    skipped_dev = None
    if eval_data:
        eval_raw = read_source(eval_data)
        df = eval_raw.get("dev", eval_raw.get("test", eval_raw.get("train")))
        dev, dev_refs, skipped_dev = rows(df, str(eval_data), "eval")
        sources["dev"] = str(eval_data)
    elif "dev" in raw:
        dev, dev_refs, skipped_dev = rows(raw["dev"], str(data), "dev")
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
        dev_refs = [train_refs[i] for i in sorted(dev_idx)] if train_refs is not None else None
        train = [c for i, c in enumerate(train) if i not in dev_idx]
        train_refs = [r for i, r in enumerate(train_refs) if i not in dev_idx] if train_refs is not None else None
        origin = "held-out from train"
        sources["dev"] = f"{data} (random {dev_fraction:.0%} of train, seed {seed})"
    if not train:
        raise WorkbenchError(f"{data}: no training rows left.")
    if not dev:
        raise WorkbenchError(f"{sources['dev']}: the evaluation data has no rows.")
    schema = Schema("causal-lm-sft", "messages", "", [])
    skipped = {"train": skipped_train, "dev": skipped_dev}
    if spec is None:
        splits = {"train": Dataset.from_dict({"messages": train}), "dev": Dataset.from_dict({"messages": dev})}
        return LoadedData(splits, schema, sources, origin, skipped=skipped)
    splits = {"train": Dataset.from_dict({"messages": train, "references": train_refs}),
              "dev": Dataset.from_dict({"messages": dev, "references": dev_refs})}
    return LoadedData(splits, schema, sources, origin, skipped=skipped, kind=spec.kind, languages=spec.languages,
                      instruction=(instruction or spec.preset()).strip())


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
        spec = pair_spec(df)
        if spec is not None:  # summarisation / translation: the pairs themselves
            sources = [" ".join(_pieces(v)) for v in df[spec.source].tolist()]
            targets = [_pieces(v) for v in df[spec.target].tolist()]
            identical = sum(1 for src, tgts in zip(sources, targets) if src in tgts)
            pair_info: dict[str, Any] = {"kind": spec.kind, "languages": list(spec.languages) if spec.languages else None,
                                         "source_column": spec.source, "target_column": spec.target,
                                         "identical": identical,
                                         "references": percentiles([len(t) for t in targets])}
            if tokenizer is not None:
                pair_info["source_token_length"] = percentiles([len(tokenizer(t, add_special_tokens=False)["input_ids"])
                                                                for t in sources[:sample]])
                pair_info["target_token_length"] = percentiles([len(tokenizer(t[0], add_special_tokens=False)["input_ids"])
                                                                for t in targets[:sample]])
            info["pairs"] = pair_info
            if identical:
                warnings.append(f"{split}: {identical} pair(s) whose target equals the source.")
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
