"""Tokenised splits are cached by data fingerprint, tokenizer, input settings and code: a second run on the same data
does not tokenise again, and any change that could alter the inputs is a miss."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import SAMPLE_DATA
from workbench.core.config import RunConfig
from workbench.core.training import token_cache

TOPICS = str(SAMPLE_DATA / "topics")


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from workbench.core.models import embedded_model_dir

    return AutoTokenizer.from_pretrained(str(embedded_model_dir()))


class CountingTask:
    """A task whose tokenize is the real tokenizer's, counting its calls."""

    name = "text-classification"

    def __init__(self):
        self.calls = 0

    def tokenize(self, rows, tokenizer, data, cfg):
        self.calls += 1
        return rows.map(lambda b: tokenizer(b["text"], truncation=True, max_length=cfg.max_length), batched=True,
                        remove_columns=rows.column_names)


def split(texts):
    from datasets import Dataset

    return Dataset.from_dict({"text": texts, "label": ["a"] * len(texts)})


DATA = SimpleNamespace(schema=SimpleNamespace(labels=["a", "b"]))


def key(tokenizer, **changes):
    values = {"fingerprint": "f1", "labels": ["a", "b"], "split": "train", **changes}
    cfg = RunConfig(data="x", **{k: v for k, v in values.items() if k not in ("fingerprint", "labels", "split")})
    return token_cache.cache_key("text-classification", values["split"], values["fingerprint"], values["labels"],
                                 tokenizer, cfg)


def test_the_key_follows_what_shapes_the_inputs_and_nothing_else(tokenizer):
    base = key(tokenizer)
    assert key(tokenizer) == base
    # Training-only settings share the tokenised data.
    assert key(tokenizer, lr=1e-3) == base
    assert key(tokenizer, epochs=7, batch_size=8, precision="fp32") == base
    # Anything that can change the inputs is a different entry.
    assert key(tokenizer, fingerprint="f2") != base
    assert key(tokenizer, split="dev") != base
    assert key(tokenizer, labels=["b", "a"]) != base
    assert key(tokenizer, max_length=64) != base
    assert key(tokenizer, model="other-model") != base
    assert key(tokenizer, seed=1) != base


def test_the_key_follows_the_tokenizer(tokenizer):
    import copy

    base = key(tokenizer)
    changed = copy.deepcopy(tokenizer)
    changed.add_tokens(["zzqqxx"])
    assert key(changed) != base
    templated = copy.deepcopy(tokenizer)
    templated.chat_template = "{{ messages }}"
    assert key(templated) != base


def test_a_second_call_loads_instead_of_tokenising(tokenizer, tmp_path):
    task, cfg = CountingTask(), RunConfig(data="x", max_length=16)
    splits = {"train": split(["one two three", "four five"]), "dev": split(["six"])}
    fps = {"train": "t1", "dev": "d1"}
    first, hits = token_cache.tokenized(task, splits, tokenizer, DATA, cfg, root=tmp_path, fingerprints=fps)
    assert hits == [] and task.calls == 2
    second, hits = token_cache.tokenized(task, splits, tokenizer, DATA, cfg, root=tmp_path, fingerprints=fps)
    assert hits == ["train", "dev"] and task.calls == 2
    for name in splits:
        assert second[name]["input_ids"] == first[name]["input_ids"]
    # Another max_length: tokenised again, and stored beside the first.
    token_cache.tokenized(task, splits, tokenizer, DATA, RunConfig(data="x", max_length=4), root=tmp_path,
                          fingerprints=fps)
    assert task.calls == 4
    assert len([p for p in tmp_path.iterdir() if (p / token_cache.DONE).is_file()]) == 4


def test_an_unreadable_or_unfinished_entry_is_tokenised_again(tokenizer, tmp_path):
    task, cfg = CountingTask(), RunConfig(data="x", max_length=16)
    splits, fps = {"train": split(["one two"])}, {"train": "t1"}
    token_cache.tokenized(task, splits, tokenizer, DATA, cfg, root=tmp_path, fingerprints=fps)
    entry = next(p for p in tmp_path.iterdir() if (p / token_cache.DONE).is_file())
    for f in entry.iterdir():
        if f.suffix == ".arrow":
            f.write_bytes(b"not arrow")
    out, hits = token_cache.tokenized(task, splits, tokenizer, DATA, cfg, root=tmp_path, fingerprints=fps)
    assert hits == [] and task.calls == 2 and out["train"]["input_ids"][0][0] == tokenizer.cls_token_id
    # A directory without its completion marker (a process that died while writing) is not read either.
    (entry / token_cache.DONE).unlink()
    _, hits = token_cache.tokenized(task, splits, tokenizer, DATA, cfg, root=tmp_path, fingerprints=fps)
    assert hits == [] and task.calls == 3
    _, hits = token_cache.tokenized(task, splits, tokenizer, DATA, cfg, root=tmp_path, fingerprints=fps)
    assert hits == ["train"]


def test_old_entries_are_pruned(tokenizer, tmp_path):
    task = CountingTask()
    splits = {"train": split(["one two"])}
    for n in range(4):
        token_cache.tokenized(task, splits, tokenizer, DATA, RunConfig(data="x", max_length=8 + n), root=tmp_path,
                              fingerprints={"train": "t"})
    token_cache.prune(tmp_path, keep=2)
    assert len(list(tmp_path.iterdir())) == 2


def test_only_runs_of_a_workspace_use_the_cache(tmp_path):
    assert token_cache.cache_dir(tmp_path / "runs" / "20261202-x") == tmp_path / "cache" / "tokenized"
    assert token_cache.cache_dir(tmp_path / "elsewhere" / "run") is None


def test_a_second_training_run_on_the_same_data_does_not_tokenise_again(tiny_model_dir, cli, workspace):
    args = ["train", "--data", TOPICS, "--model", str(tiny_model_dir), "--max-steps", "3", "--batch-size", "8",
            "--max-length", "32", "--json"]
    runs = []
    for name, extra in (("first", []), ("second", ["--lr", "1e-3"])):
        code, out, err = cli(*args, "--name", name, *extra)
        assert code == 0, err
        run_dir = Path(json.loads(out[out.index("{"):])["run_dir"])
        runs.append((json.loads((run_dir / "run.json").read_text()), (run_dir / "stdout.log").read_text()))
    (first, first_log), (second, second_log) = runs
    assert not first["data"]["train"]["tokens_cached"] and not first["data"]["eval"]["tokens_cached"]
    assert second["data"]["train"]["tokens_cached"] and second["data"]["eval"]["tokens_cached"]
    assert "taken from the cache" in second_log and "taken from the cache" not in first_log
    assert second["data"]["train"]["fingerprint"] == first["data"]["train"]["fingerprint"]
