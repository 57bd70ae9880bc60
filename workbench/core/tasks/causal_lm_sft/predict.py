"""Torch-free text generation from a causal-LM export: onnxruntime + tokenizers + numpy, nothing else.

The exported decoder (see ``workbench.core.tasks.causal_lm_sft.export``) takes ``input_ids``, ``attention_mask``,
``position_ids`` and the past keys/values of every layer, and returns the logits and the present
keys/values. The first call feeds the whole prompt with empty pasts; each later call feeds only the new
token, so the prompt is never recomputed.

    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator

    gen = OnnxGenerator("exports/my-sft-run", threads=2)
    gen.generate("Give the opposite of the word.\\n\\n### Input:\\nancient")       # greedy
    for piece in gen.stream("Write a haiku", temperature=0.8, top_p=0.9):       # token by token
        print(piece, end="", flush=True)
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.inference import FP32_FILE, INT8_FILE, TOKENIZER_FILE, create_session, read_manifest
from workbench.paths import expand_user

TASK = "causal-lm-sft"


def format_prompt(manifest: dict[str, Any], text: str) -> str:
    """A user message rendered the way training rendered prompts (chat template or plain template)."""
    prompt = manifest.get("prompt") or {}
    return f"{prompt.get('prefix', '')}{text}{prompt.get('suffix', '')}"


def sample_next(logits: np.ndarray, *, temperature: float = 0.0, top_p: float = 1.0,
                rng: np.random.Generator | None = None) -> int:
    """Greedy (temperature 0) or nucleus sampling from one row of logits."""
    if not temperature or temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / float(temperature)
    z -= z.max()
    probs = np.exp(z)
    probs /= probs.sum()
    if top_p < 1.0:
        order = np.argsort(-probs)
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, top_p) + 1)]
        mask = np.zeros_like(probs)
        mask[keep] = probs[keep]
        probs = mask / mask.sum()
    rng = rng or np.random.default_rng()
    return int(rng.choice(len(probs), p=probs))


class OnnxGenerator:
    """Generates text from a causal-LM export directory, one token at a time with a key/value cache."""

    labels: list[str] = []  # a generator has none (the Playground shows labels for the other tasks)

    def __init__(self, export_dir: str | os.PathLike, threads: int | None = None, int8: bool | str = False):
        """``int8``: ``True`` for ``model.int8.onnx`` (an error if the export has none), ``False`` for fp32,
        ``"auto"`` for int8 when present."""
        from tokenizers import Tokenizer

        self.export_dir = expand_user(export_dir)
        self.manifest = read_manifest(self.export_dir)
        if self.manifest.get("task") != TASK:
            raise WorkbenchError(f"export {self.export_dir.name} is a {self.manifest.get('task')} model, not a causal LM.")
        files = self.manifest.get("files") or {}
        int8_path = self.export_dir / (files.get("int8") or INT8_FILE)
        if int8 == "auto":
            int8 = bool(files.get("int8")) and int8_path.is_file()
        if int8 and not (files.get("int8") and int8_path.is_file()):
            raise WorkbenchError(f"export {self.export_dir.name} has no int8 model; re-export with --int8.")
        self.int8 = bool(int8)
        self.model_path = int8_path if self.int8 else self.export_dir / files.get("fp32", FP32_FILE)
        tok_path = self.export_dir / TOKENIZER_FILE
        for path in (self.model_path, tok_path):
            if not path.is_file():
                raise WorkbenchError(f"export {self.export_dir.name} is incomplete: {path.name} is missing.")
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        try:
            self.session = create_session(self.model_path, threads, [])
        except Exception as exc:  # ORT raises its own exception types for a broken or foreign file
            raise WorkbenchError(f"cannot load {self.model_path}: {str(exc).splitlines()[0]}") from None
        cache = self.manifest["cache"]
        self.num_layers = int(cache["num_layers"])
        self.kv_shape = (int(cache["num_key_value_heads"]), int(cache["head_dim"]))
        self.past_names = [f"past_key_values.{i}.{kv}" for i in range(self.num_layers) for kv in ("key", "value")]
        self.eos_ids = set(self.manifest.get("eos_token_ids") or [])
        self.max_positions = int(self.manifest.get("max_position_embeddings") or 1 << 30)

    def encode(self, text: str) -> list[int]:
        """Prompt token ids for a user message (the template applied, as in training)."""
        prompt = self.manifest.get("prompt") or {}
        return self.tokenizer.encode(format_prompt(self.manifest, text),
                                     add_special_tokens=bool(prompt.get("add_special_tokens", True))).ids

    def empty_past(self, batch: int = 1) -> dict[str, np.ndarray]:
        return {name: np.zeros((batch, self.kv_shape[0], 0, self.kv_shape[1]), dtype=np.float32) for name in self.past_names}

    def forward(self, ids: Sequence[int], past: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One pass over ``ids`` (after ``past``, empty by default): logits ``[len(ids), vocab]`` and the new past."""
        past = past if past is not None else self.empty_past()
        done = next(iter(past.values())).shape[2] if past else 0
        feed = {"input_ids": np.asarray([list(ids)], dtype=np.int64),
                "attention_mask": np.ones((1, done + len(ids)), dtype=np.int64),
                "position_ids": np.arange(done, done + len(ids), dtype=np.int64)[None, :], **past}
        outputs = self.session.run(None, feed)
        return outputs[0][0], dict(zip(self.past_names, outputs[1:]))

    def generate_ids(self, prompt_ids: Sequence[int], *, max_new_tokens: int = 128, temperature: float = 0.0,
                     top_p: float = 1.0, seed: int | None = None) -> Iterator[int]:
        """New token ids, one at a time; stops at EOS (not yielded), max_new_tokens or the position limit."""
        if not prompt_ids:
            raise WorkbenchError("the prompt is empty.")
        rng = np.random.default_rng(seed)
        ids = np.asarray([list(prompt_ids)], dtype=np.int64)
        n = ids.shape[1]
        past = {name: np.zeros((1, *self.kv_shape[:1], 0, self.kv_shape[1]), dtype=np.float32) for name in self.past_names}
        positions = np.arange(n, dtype=np.int64)[None, :]
        total = n
        for _ in range(int(max_new_tokens)):
            if total > self.max_positions:
                break
            feed = {"input_ids": ids, "attention_mask": np.ones((1, total), dtype=np.int64), "position_ids": positions, **past}
            outputs = self.session.run(None, feed)
            token = sample_next(outputs[0][0, -1], temperature=temperature, top_p=top_p, rng=rng)
            if token in self.eos_ids:
                return
            yield token
            past = dict(zip(self.past_names, outputs[1:]))
            ids = np.asarray([[token]], dtype=np.int64)
            positions = np.asarray([[total]], dtype=np.int64)
            total += 1

    def stream(self, text: str, **kwargs: Any) -> Iterator[str]:
        """The response to a user message as text pieces, as they are generated."""
        new: list[int] = []
        shown = ""
        for token in self.generate_ids(self.encode(text), **kwargs):
            new.append(token)
            decoded = self.tokenizer.decode(new, skip_special_tokens=True)
            # A byte-level token may end inside a UTF-8 character: wait for the rest.
            if decoded.endswith("\ufffd"):
                continue
            yield decoded[len(shown):]
            shown = decoded
        final = self.tokenizer.decode(new, skip_special_tokens=True)
        if final != shown:
            yield final[len(shown):]

    def generate(self, text: str, **kwargs: Any) -> str:
        return "".join(self.stream(text, **kwargs))
