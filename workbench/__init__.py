"""sft-workbench: a terminal workbench for supervised fine-tuning of transformer models."""

__version__ = "0.1.0"
