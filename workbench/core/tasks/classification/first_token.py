"""The last encoder layer of a BERT classifier computes only what the classifier reads: the first token.

``BertForSequenceClassification`` classifies from the pooler, which reads the last layer's output at position 0
alone. Every other position of that layer (its query projection, attention output, feed-forward block, layer
norms) is computed and thrown away: for the default model (6 layers of 384, feed-forward 1,536) that is 14% of
the matrix products of a training step. Here the last layer keeps the keys and values of all tokens, as it must,
and computes the rest for the first token only. The logits are the same (to float rounding); the weights, the
saved model and its export are unchanged: only the module's ``forward`` is replaced, on this model object.
"""

from __future__ import annotations

import types


def applies_to(model) -> bool:
    """A BERT sequence classifier (or a peft model of one) whose last layer is a plain encoder layer: no
    cross-attention, no chunked feed-forward, not a decoder. Anything else is left as it is."""
    from transformers import BertForSequenceClassification

    inner = _unwrapped(model)
    if not isinstance(inner, BertForSequenceClassification) or inner.bert.pooler is None:
        return False
    config = inner.config
    return (not config.is_decoder and not getattr(config, "add_cross_attention", False)
            and not config.chunk_size_feed_forward and len(inner.bert.encoder.layer) > 0)


def _unwrapped(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def first_token_only(model) -> bool:
    """Make ``model``'s last encoder layer compute the first token only; returns whether it applied."""
    if not applies_to(model):
        return False
    layer = _unwrapped(model).bert.encoder.layer[-1]
    layer.forward = types.MethodType(_first_token_forward, layer)
    return True


def _first_token_forward(layer, hidden_states, attention_mask=None, *args, **kwargs):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.bert.modeling_bert import eager_attention_forward

    kwargs.pop("cache", None)
    kwargs.pop("encoder_attention_mask", None)
    attention = layer.attention.self
    batch, length, _ = hidden_states.shape
    head = attention.attention_head_size
    first = hidden_states[:, :1]
    query = attention.query(first).view(batch, 1, -1, head).transpose(1, 2)
    key = attention.key(hidden_states).view(batch, length, -1, head).transpose(1, 2)
    value = attention.value(hidden_states).view(batch, length, -1, head).transpose(1, 2)
    if attention_mask is not None and attention_mask.dim() == 4:
        attention_mask = attention_mask[:, :, :1, :]  # the first query's row of the (batch, 1, q, k) mask
    interface = ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, eager_attention_forward)
    output, _ = interface(attention, query, key, value, attention_mask,
                          dropout=0.0 if not attention.training else attention.dropout.p, scaling=attention.scaling,
                          **kwargs)
    output = layer.attention.output(output.reshape(batch, 1, -1).contiguous(), first)
    return layer.feed_forward_chunk(output)
