"""The task registry: built-in tasks, tasks from other distributions (entry points), recognition order."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import pytest

from workbench.core import tasks as registry
from workbench.core.errors import WorkbenchError
from workbench.core.tasks.base import Headline, Metrics, Task


def test_every_built_in_task_implements_the_protocol():
    for name in registry.TASKS:
        task = registry.get_task(name)
        assert isinstance(task, Task) and task.name == name
        assert task.metrics.main in (*task.metrics.scalars, "eval_loss")
        assert len(task.headline.keys) == len(task.headline.labels) == len(task.headline.digits)
        assert not getattr(type(task), "__abstractmethods__", None)


def test_recognition_tries_text_classification_last():
    assert registry.infer_task(["tokens", "ner_tags"]) == "token-classification"
    assert registry.infer_task(["instruction", "input", "output"]) == "causal-lm-sft"
    assert registry.infer_task(["messages"]) == "causal-lm-sft"
    assert registry.infer_task(["sentence", "label"]) == "text-classification"


def test_an_unknown_task_is_one_clear_error():
    with pytest.raises(WorkbenchError, match="not supported; supported: text-classification"):
        registry.get_task("summarisation")


def test_a_task_from_another_distribution_is_found_through_its_entry_point(monkeypatch):
    """A fourth task living outside this repository: one module with a Task, one entry point."""
    module = types.ModuleType("wb_test_extra_task")

    class Echo(registry.get_task("text-classification").__class__):
        name = "echo"
        title = "echo"
        metrics = Metrics("accuracy", True, ("accuracy",))
        headline = Headline(("accuracy",), ("accuracy",), (3,))

        def recognises(self, columns):
            return "echo" in columns

    module.TASK = Echo()
    monkeypatch.setitem(sys.modules, "wb_test_extra_task", module)
    found = [EntryPoint(name="echo", value="wb_test_extra_task:TASK", group=registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group=None: found if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_registry", registry._registry.__wrapped__)  # not the process-wide cache
    assert registry.task_names() == [*registry.TASKS, "echo"]
    assert registry.get_task("echo") is module.TASK
    assert registry.infer_task(["echo", "label"]) == "echo"  # tried before the text-classification catch-all
    assert registry.infer_task(["text", "label"]) == "text-classification"


def test_a_built_in_task_is_found_without_scanning_installed_packages(monkeypatch):
    """`predict` and every run look up their task by name; for a built-in one the entry-point scan (importing
    importlib.metadata and reading every installed distribution) is skipped, since built-ins win anyway."""
    def no_scan(group=None):
        raise AssertionError("scanned entry points for a built-in task")

    monkeypatch.setattr("importlib.metadata.entry_points", no_scan)
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_registry", registry._registry.__wrapped__)
    assert registry.get_task("token-classification").name == "token-classification"
    with pytest.raises(AssertionError, match="scanned"):  # an unknown name still looks at the entry points
        registry.get_task("no-such-task")
