"""Training-speed settings: the length-bucketed sampler, precision/attention choices, the memory estimate."""

from __future__ import annotations

import random

import pytest
import torch

from sft_helpers import tiny_gpt2_dir  # noqa: F401  (fixture)
from workbench.core.config import RunConfig
from workbench.core.memory import estimate
from workbench.core.training import devices
from workbench.core.training.sampler import BucketedLengthSampler, bucketed_indices, padding_efficiency


def lengths_like_sst2(n: int = 4000, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [max(3, min(66, int(rng.lognormvariate(2.7, 0.6)))) for _ in range(n)]


def test_bucketed_order_is_a_permutation_with_little_padding_and_no_length_curriculum():
    lengths = lengths_like_sst2()
    g = torch.Generator().manual_seed(0)
    order = bucketed_indices(lengths, 32, generator=g)
    assert sorted(order) == list(range(len(lengths)))
    shuffled = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    bucketed, random_eff = padding_efficiency(lengths, order, 32), padding_efficiency(lengths, shuffled, 32)
    assert bucketed > 1.7 * random_eff, (bucketed, random_eff)  # default buckets of 4 batches
    big = bucketed_indices(lengths, 32, bucket_batches=16, generator=torch.Generator().manual_seed(0))
    assert padding_efficiency(lengths, big, 32) > 0.85 > bucketed
    # Batch lengths in random order: not a descending walk as in the Trainer's group_by_length mega-batches.
    maxima = [max(lengths[i] for i in order[s:s + 32]) for s in range(0, len(order) - 31, 32)]
    descents = sum(a >= b for a, b in zip(maxima, maxima[1:]))
    assert 0.3 < descents / (len(maxima) - 1) < 0.75
    assert maxima[0] == max(maxima), "the longest batch comes first"


def test_sampler_order_depends_only_on_seed_and_epoch():
    lengths = lengths_like_sst2(500)
    a, b = BucketedLengthSampler(lengths, 16, seed=3), BucketedLengthSampler(lengths, 16, seed=3)
    torch.manual_seed(123)
    first = list(a)
    torch.manual_seed(999)  # the global RNG (restored differently on resume) must not matter
    assert list(b) == first
    a.set_epoch(1)
    assert list(a) != first and len(list(a)) == len(lengths)


def test_memory_estimate_for_bert_base_matches_the_hand_count():
    from transformers import BertConfig

    config = BertConfig()  # bert-base: 12 layers, hidden 768, 12 heads
    est = estimate(config, RunConfig(data="x", batch_size=32, max_length=128), precision="bf16")
    assert 108e6 < est.parameters < 111e6
    assert est.weights == 4 * est.parameters and est.optimizer == 8 * est.parameters
    per_layer = 128 * 32 * 768 * (34 + 5 * 12 * 128 / 768)
    assert est.activations == pytest.approx(12 * per_layer)
    fp32 = estimate(config, RunConfig(data="x", batch_size=32, max_length=128), precision="fp32",
                    parameters=est.parameters)
    assert fp32.activations == pytest.approx(2 * est.activations)
    assert 4.0 < est.total / 2**30 < 5.0
    assert "GiB" in est.describe()


@pytest.mark.parametrize("values, field", [
    ({"nproc": 0}, "nproc"), ({"nnodes": 2, "node_rank": 2}, "node_rank"), ({"master_port": 70000}, "master_port"),
    ({"attention": "flash"}, "attention"), ({"torch_compile": "sometimes"}, "torch_compile"),
])
def test_bad_speed_and_distributed_settings_are_named(values, field):
    assert field in RunConfig(data="x", **values).validate()


def test_train_cli_prints_a_memory_estimate_before_launch(tiny_model_dir, cli):
    from helpers import SAMPLE_DATA

    code, out, err = cli("train", "--data", str(SAMPLE_DATA / "topics"), "--model", str(tiny_model_dir),
                         "--max-steps", "2", "--batch-size", "8", "--max-length", "32")
    assert code == 0, err
    # The suite's pinned host has no GPU (the GPU wording is covered in test_hosts.py).
    assert "estimated peak RAM (CPU training) memory: ≈" in out and "GPU" not in out


def test_memory_estimate_for_lora_counts_only_adapter_gradients_and_optimizer_state(tiny_gpt2_dir):
    from workbench.core.memory import estimate_for_run

    base = RunConfig(data="x", model=str(tiny_gpt2_dir), task="causal-lm-sft")
    full, _ = estimate_for_run(base)
    lora, _ = estimate_for_run(base.updated(finetune="lora", lora_r=4))
    assert full.trainable == full.parameters and lora.parameters == full.parameters
    assert 0 < lora.trainable < full.parameters / 5
    assert lora.optimizer == 8 * lora.trainable and lora.weights == full.weights


def test_memory_estimate_leaves_frozen_word_embeddings_out_of_gradients_and_optimizer_state(tiny_model_dir):
    """Text classification freezes the word embeddings by default: no gradient, no AdamW moments for them."""
    from transformers import AutoConfig

    from workbench.core.memory import estimate_for_run

    base = RunConfig(data="x", model=str(tiny_model_dir), task="text-classification")
    frozen, _ = estimate_for_run(base)
    trained, _ = estimate_for_run(base.updated(embeddings="train"))
    config = AutoConfig.from_pretrained(str(tiny_model_dir))
    assert trained.trainable == trained.parameters == frozen.parameters
    assert frozen.trainable == trained.trainable - config.vocab_size * config.hidden_size
    assert frozen.optimizer == 8 * frozen.trainable and frozen.gradients == 4 * frozen.trainable
    assert frozen.weights == trained.weights and frozen.total < trained.total


def test_memory_estimate_of_a_causal_lm_counts_its_vocabulary_logits():
    """SmolLM2's shape at the settings an OOM-killed run had (batch 32 × 512 tokens, evaluation at 128): training
    adds the logits to the activations; evaluation's logits alone are larger, and the peak is the larger phase."""
    from transformers import LlamaConfig

    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
    cfg = RunConfig(data="x", batch_size=32, max_length=512, eval_batch_size=128)
    n = 134_515_008
    encoder_view = estimate(config, cfg, precision="bf16", parameters=n)
    lm = estimate(config, cfg, precision="bf16", parameters=n, causal_lm=True)
    assert encoder_view.logits == encoder_view.eval_logits == 0
    assert lm.logits == 4.0 * 512 * 49152 * 3 * 32 and lm.eval_logits == 4.0 * 512 * 49152 * 2 * 128
    fixed = lm.weights + lm.gradients + lm.optimizer + lm.overhead
    assert lm.total == pytest.approx(fixed + max(lm.activations + lm.logits, lm.eval_logits))
    assert lm.total > 24e9 and "logits 9.00 (evaluation 24.00)" in lm.describe()
    # Batches of 16 for both: evaluation is then the smaller phase.
    small = estimate(config, cfg.updated(batch_size=16, eval_batch_size=16), precision="bf16", parameters=n, causal_lm=True)
    assert small.total == pytest.approx(fixed + small.activations + small.logits) and small.total < 0.6 * lm.total


def test_causal_lm_runs_evaluate_in_batches_of_16_unless_told():
    """The shared evaluation batch (128) holds 24 GB of SmolLM2 logits at 512 tokens (above); a causal-LM run left
    at the default evaluates in 16s, the other tasks keep 128, and a value the user gives wins for every task."""
    from workbench.core.tasks import apply_task_defaults

    assert RunConfig(data="x").eval_batch_size is None
    assert apply_task_defaults(RunConfig(data="x"), "causal-lm-sft").eval_batch_size == 16
    for task in ("text-classification", "token-classification", "question-answering"):
        assert apply_task_defaults(RunConfig(data="x"), task).eval_batch_size == 128
    for task in ("causal-lm-sft", "text-classification"):
        assert apply_task_defaults(RunConfig(data="x", eval_batch_size=64), task).eval_batch_size == 64


def test_the_cli_estimate_warns_on_cpu_when_ram_will_not_do(tiny_gpt2_dir, monkeypatch):
    import io

    import psutil
    from rich.console import Console

    from workbench.cli.commands import _print_memory_estimate
    from workbench.core import telemetry

    monkeypatch.setattr(telemetry, "gpu_readings", lambda: [])

    def printed(total: int, task: str | None) -> str:
        monkeypatch.setattr(psutil, "virtual_memory", lambda: type("VM", (), {"total": total})())
        out = io.StringIO()
        _print_memory_estimate(Console(file=out, width=300, no_color=True),
                               RunConfig(data="x", model=str(tiny_gpt2_dir), max_length=64), task=task)
        return out.getvalue()

    roomy = printed(64 << 30, "causal-lm-sft")
    assert "estimated peak RAM (CPU training) memory" in roomy and "logits" in roomy and "warning" not in roomy
    assert "90% of this machine's 0 GiB of RAM" in printed(100 << 20, "causal-lm-sft")
