"""The Textual workbench. Never imports torch, transformers or onnxruntime at import time (see DESIGN.md)."""
