"""Prompts and token ids of conversations: chat templates (or a plain template), response masks."""

from __future__ import annotations

from typing import Sequence

from workbench.core.errors import WorkbenchError


IGNORE_INDEX = -100


PLAIN_TEMPLATE_DOC = """\
[system text]\\n\\n                      (only when there is a system message)
### Instruction:\\n{user}\\n\\n           (Alpaca: {instruction}\\n\\n### Input:\\n{input} when input is not empty)
### Response:\\n{assistant}<eos>\\n\\n    (earlier turns of a conversation repeat these two blocks)
### Instruction:\\n{user}\\n\\n
### Response:\\n                          ← the prompt ends here; the model writes the response and EOS"""


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
