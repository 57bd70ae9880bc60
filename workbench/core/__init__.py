"""Headless core of sft-workbench. Never imports textual or workbench.ui."""

from workbench.core.errors import WorkbenchError

__all__ = ["WorkbenchError"]
