"""Tiny randomly initialised causal LMs with a real (locally trained) BPE tokenizer, for SFT tests and benchmarks.

No pretrained causal LM can be downloaded here, so the tokenizer is trained with the ``tokenizers`` library on
the instruction sample data and the model weights are random.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# A small ChatML-like template (what many chat models ship), used to test the chat-template path.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def corpus_texts(extra: list[str] | None = None) -> list[str]:
    texts = []
    for f in sorted((REPO / "sample_data" / "instructions").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [row["instruction"], row.get("input") or "", row["output"]]
    texts += ["### Instruction:\n", "### Input:\n", "### Response:\n", "<|user|>", "<|assistant|>", "<|system|>"]
    return [t for t in texts + (extra or []) if t]


def train_tokenizer(texts: list[str], vocab_size: int = 512, chat_template: str | None = None):
    """A byte-level BPE with <s>, </s> and <pad> as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_tiny_causal_lm(path: Path, *, arch: str = "gpt2", chat_template: str | None = None, hidden: int = 32,
                         layers: int = 2, heads: int = 2, positions: int = 256, vocab_size: int = 512,
                         texts: list[str] | None = None, seed: int = 0) -> Path:
    """Save a random GPT-2 or Llama with a trained BPE tokenizer in ``path``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(texts or corpus_texts(), vocab_size=vocab_size, chat_template=chat_template)
    torch.manual_seed(seed)
    common = dict(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.pad_token_id)
    if arch == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=hidden, n_layer=layers, n_head=heads, n_positions=positions, **common))
    elif arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                                             num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                                             max_position_embeddings=positions, **common))
    else:
        raise ValueError(arch)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


# Fixtures (import them into a test module: `from sft_helpers import tiny_gpt2_dir, tiny_llama_dir`).
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A random 2-layer GPT-2 whose tokenizer has no chat template (the plain Alpaca template is used)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-gpt2"), arch="gpt2")


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A random 2-layer Llama (grouped-query attention) whose tokenizer has a chat template."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"), arch="llama", chat_template=CHAT_TEMPLATE)
