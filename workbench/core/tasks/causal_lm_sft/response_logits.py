"""Training a causal LM computes the vocabulary projection only where the loss reads it: the response tokens.

SFT masks the prompt out of the loss (labels -100), yet ``LlamaForCausalLM.forward`` projects every position onto
the vocabulary and keeps a ``batch × length × vocab`` fp32 tensor, its float copy and its gradient. For the
embedded SmolLM2-135M (vocabulary 49,152 × 576, tied to the input embeddings) that projection is about a fifth of
a training step's matrix products, and for Multi30k-sized pairs under the chat template about two thirds of the
positions are prompt or padding. Here, when labels are given, the decoder runs as usual and the projection and
the model's own loss function (``self.loss_function``, so ``num_items_in_batch`` and the mean over tokens are the
Trainer's) see only the positions whose next-token label is not -100. The loss is the same (to float rounding);
the weights, checkpoints and exports are unchanged: only this model object's ``forward`` is replaced.

Calls without labels (generation, per-example scoring, export) take the model's own forward. With labels the
output carries no logits: the Trainer's loss-only evaluation (causal-LM runs have no ``compute_metrics``) never
reads them. Not used under differential privacy, whose per-example loss needs the batch dimension kept.
"""

from __future__ import annotations

import functools
import types

from workbench.core.tasks.causal_lm_sft.prompts import IGNORE_INDEX

# Architectures whose forward is exactly: decoder → lm_head(hidden) → self.loss_function (no logit soft-capping
# or scaling in between), checked against transformers' sources for each.
PLAIN_LM_HEAD = frozenset({"llama", "mistral", "qwen2", "qwen3", "gpt2"})


def _unwrapped(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def applies_to(model) -> bool:
    inner = _unwrapped(model)
    config = getattr(inner, "config", None)
    return (getattr(config, "model_type", None) in PLAIN_LM_HEAD and inner.base_model is not inner
            and inner.get_output_embeddings() is not None)


def response_logits_only(model) -> bool:
    """Make ``model``'s forward with labels project response positions only; returns whether it applied."""
    if not applies_to(model):
        return False
    inner = _unwrapped(model)
    # The class's signature is kept (functools.wraps sets __wrapped__): the Trainer reads it to decide which
    # dataset columns the model takes, and whether it accepts num_items_in_batch.
    forward = functools.wraps(type(inner).forward)(_forward)
    inner.forward = types.MethodType(forward, inner)
    return True


def _forward(self, *args, labels=None, **kwargs):
    if labels is None or args or kwargs.get("logits_to_keep"):
        return type(self).forward(self, *args, labels=labels, **kwargs)
    import torch.nn.functional as F
    from transformers.modeling_outputs import CausalLMOutputWithPast

    kwargs.pop("logits_to_keep", None)
    kwargs.pop("return_dict", None)
    kwargs["use_cache"] = False
    outputs = self.base_model(**kwargs)
    hidden = outputs.last_hidden_state
    # The label each position predicts: the next token's (the model's loss shifts the same way).
    targets = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]
    keep = targets != IGNORE_INDEX
    logits = self.get_output_embeddings()(hidden[keep])
    loss_kwargs = {k: v for k, v in kwargs.items() if k == "num_items_in_batch"}
    loss = self.loss_function(logits=logits, labels=None, vocab_size=self.config.vocab_size,
                              shift_labels=targets[keep], **loss_kwargs)
    return CausalLMOutputWithPast(loss=loss, logits=None, hidden_states=outputs.hidden_states,
                                  attentions=outputs.attentions)
