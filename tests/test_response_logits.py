"""The response-only vocabulary projection gives the model's own loss and gradients, for full and LoRA models."""

from __future__ import annotations

import copy

import pytest

from sft_helpers import tiny_gpt2_dir, tiny_llama_dir  # noqa: F401  (fixtures)

torch = pytest.importorskip("torch")


def batch(vocab: int, seed: int = 0):
    """Two right-padded examples whose prompts (label -100) differ in length, as the SFT collator builds them."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (2, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    labels = ids.clone()
    labels[0, :5] = -100  # prompt
    labels[1, :3] = -100
    labels[1, 9:] = -100  # padding
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def loss_and_grads(model, inputs):
    model.zero_grad()
    out = model(**inputs)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


def load(path, lora: bool):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path))
    if lora:
        from peft import LoraConfig, get_peft_model

        targets = ["c_attn"] if model.config.model_type == "gpt2" else ["q_proj", "v_proj"]
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, task_type="CAUSAL_LM",
                                                 fan_in_fan_out=model.config.model_type == "gpt2"))
    model.train()
    return model


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("num_items", [None, 7], ids=["mean", "num_items"])
def test_same_loss_and_gradients_as_the_models_forward(arch, lora, num_items, tiny_gpt2_dir, tiny_llama_dir):  # noqa: F811
    from workbench.core.tasks.causal_lm_sft.response_logits import response_logits_only

    torch.manual_seed(0)
    reference = load(tiny_gpt2_dir if arch == "gpt2" else tiny_llama_dir, lora)
    reference.eval()  # no dropout: both models must see the same computation
    patched = copy.deepcopy(reference)
    assert response_logits_only(patched)
    inputs = batch(reference.config.vocab_size)
    if num_items is not None:
        inputs["num_items_in_batch"] = torch.tensor(num_items)
    ref_out, ref_grads = loss_and_grads(reference, inputs)
    out, grads = loss_and_grads(patched, inputs)
    assert out.logits is None  # nothing of batch × length × vocab was kept
    assert torch.allclose(out.loss, ref_out.loss, rtol=1e-6, atol=1e-7)
    assert grads.keys() == ref_grads.keys() and grads
    for name, g in grads.items():
        assert torch.allclose(g, ref_grads[name], rtol=1e-5, atol=1e-7), name


def test_calls_without_labels_keep_the_models_forward(tiny_llama_dir):  # noqa: F811
    from workbench.core.tasks.causal_lm_sft.response_logits import response_logits_only

    model = load(tiny_llama_dir, lora=False).eval()
    inputs = batch(model.config.vocab_size)
    inputs.pop("labels")
    before = model(**inputs).logits
    assert response_logits_only(model)
    after = model(**inputs).logits
    assert after.shape == (2, 12, model.config.vocab_size) and torch.equal(before, after)
    generated = model.generate(inputs["input_ids"][:1, :4], max_new_tokens=3, do_sample=False)
    assert generated.shape == (1, 7)


def test_the_forward_keeps_the_signature_the_trainer_reads(tiny_llama_dir):  # noqa: F811
    """The Trainer drops dataset columns the forward does not name, and passes num_items_in_batch only to a forward
    taking **kwargs: both are read from the signature (a bare (*args, **kwargs) lost every column)."""
    import inspect

    from workbench.core.tasks.causal_lm_sft.response_logits import response_logits_only

    model = load(tiny_llama_dir, lora=False)
    before = inspect.signature(model.forward)
    assert response_logits_only(model)
    after = inspect.signature(model.forward)
    assert after == before and {"input_ids", "attention_mask", "labels"} <= set(after.parameters)


def test_other_models_are_left_alone():
    from transformers import BertConfig, BertForMaskedLM

    from workbench.core.tasks.causal_lm_sft.response_logits import response_logits_only

    model = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32))
    assert not response_logits_only(model)
    assert "forward" not in vars(model)
