"""What a sequence classifier reads: BERT's pooler over the first token, or the mean of the last layer's outputs.

``BertForSequenceClassification`` classifies ``tanh(W · h_0)``, the pooler over the first token's last-layer
output. Sentence encoders such as the default all-MiniLM-L6-v2 were trained for a different reading: the mean
of the last layer over the text's tokens (sentence-transformers' mean pooling), and their first token and pooler
carry little of what they learnt. That matters most where few steps can be taken, in a private run: on the full
SST-2 training set at ε = 8 (one epoch, 65 steps; the private defaults otherwise; a 2-core Xeon,
``benchmarks/results/private_sst2_cpu_full_1epoch_mean_xeon.json`` against ``…_full_1epoch_xeon.json``), GLUE dev
accuracy was 0.8085 reading the mean against 0.6984 reading the pooler.

``mean_pooled(model)`` makes a model read the mean: its encoder's ``pooler_output`` becomes the masked mean of
its last hidden states, and the pooler's own weights are frozen (nothing reads them; a private optimizer would
find them without per-example gradients). The choice is recorded in the model's config (``workbench_pooling``),
so that a saved model is read the same way again: every place the workbench loads a run's model calls
:func:`restore_pooling`. A model loaded by plain ``transformers`` outside the workbench does not know the key and
would read the pooler; the ONNX export carries the mean in its graph and needs nothing.
"""

from __future__ import annotations

import types

from workbench.core.errors import WorkbenchError

POOLINGS = ("auto", "first", "mean")
CONFIG_KEY = "workbench_pooling"
# Model types whose sequence classifier reads the encoder's pooler_output (the only ones mean pooling is offered on).
SUPPORTED_MODEL_TYPES = ("bert",)


def supports_mean(model_type: str | None) -> bool:
    """Whether a pretrained model of this ``config.json`` model_type can classify from the mean."""
    return model_type in SUPPORTED_MODEL_TYPES


def wants_mean(cfg) -> bool:
    """Whether a run config asks for the mean: 'mean', or 'auto' in a private run (where a model that cannot read
    the mean keeps the pooler)."""
    return cfg.pooling == "mean" or (cfg.pooling == "auto" and cfg.dp_epsilon is not None)


def _unwrapped(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _encoder(model):
    """The BERT encoder under a sequence classifier (or a peft model of one), or None for another kind."""
    from transformers import BertForSequenceClassification

    inner = _unwrapped(model)
    if isinstance(inner, BertForSequenceClassification) and inner.bert.pooler is not None:
        return inner
    return None


def mean_pooled(model) -> bool:
    """Make ``model`` classify from the mean of its last layer over each text's tokens (records it in the config);
    returns False, changing nothing, for a model whose head does not read the pooler."""
    inner = _encoder(model)
    if inner is None:
        return False
    inner.config.update({CONFIG_KEY: "mean"})
    _patch(inner.bert)
    return True


def first_pooled(model) -> None:
    """Record that ``model`` reads the pooler (a model fine-tuned from a mean-pooled run's would say otherwise)."""
    config = _unwrapped(model).config
    if getattr(config, CONFIG_KEY, None) is not None:
        config.update({CONFIG_KEY: "first"})


def restore_pooling(model):
    """``model`` (just loaded) read as it was trained: mean-pooled when its config says so. Returns the model."""
    if getattr(model.config, CONFIG_KEY, None) == "mean":
        if _encoder(model) is None:
            raise WorkbenchError(f"the model's config asks for mean pooling, which {type(model).__name__} cannot read.")
        _patch(_encoder(model).bert)
    return model


def pooling_of(model) -> str:
    """"mean" or "first": what ``model`` classifies from."""
    return "mean" if getattr(_unwrapped(model).config, CONFIG_KEY, None) == "mean" else "first"


def _patch(bert) -> None:
    if getattr(bert, "_workbench_mean_pooled", False):
        return
    for weight in bert.pooler.parameters():
        weight.requires_grad_(False)
    bert.forward = types.MethodType(_mean_pooled_forward(type(bert).forward), bert)
    bert._workbench_mean_pooled = True


def _mean_pooled_forward(forward):
    def mean_forward(self, input_ids=None, attention_mask=None, *args, **kwargs):
        outputs = forward(self, input_ids, attention_mask, *args, **kwargs)
        hidden = outputs.last_hidden_state
        if attention_mask is None:
            outputs.pooler_output = hidden.mean(dim=1)
            return outputs
        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
        outputs.pooler_output = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return outputs

    return mean_forward
