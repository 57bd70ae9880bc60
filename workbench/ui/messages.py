"""Messages the workers post to the UI thread. Past tense: each reports something that has happened.

Thread workers never touch widgets; they post one of these (``post_message`` is thread-safe) and the
screen's handler updates the widgets.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class HandoffChanged(Message):
    """An app-level hand-off (the monitored run, a data set for Configure) changed while its screen is visible."""


class RunsListed(Message):
    """The run store was read: one ``Run.summary()`` per run, newest first."""

    def __init__(self, summaries: list[dict[str, Any]]) -> None:
        super().__init__()
        self.summaries = summaries


class RunPolled(Message):
    """New data from the followed run directory (a ``feed.FeedUpdate``)."""

    def __init__(self, run_id: str, update: Any) -> None:
        super().__init__()
        self.run_id = run_id
        self.update = update


class RunLaunched(Message):
    """A run was started (or resumed), or put in the queue at ``queue_position``."""

    def __init__(self, run_id: str, *, resumed: bool = False, queue_position: int | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.resumed = resumed
        self.queue_position = queue_position


class ActionFailed(Message):
    """A blocking action (launch, resume, load, save …) failed; ``message`` is one sentence for the user."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__()
        self.action = action
        self.message = message


class SourcesFound(Message):
    def __init__(self, roots: list[Any]) -> None:
        super().__init__()
        self.roots = roots


class PreviewPageLoaded(Message):
    """Rows ``start``… of a data file, with how much of the file is indexed so far."""

    def __init__(self, path: str, start: int, columns: list[str], rows: list[list[str]], total: int,
                 progress: float, done: bool) -> None:
        super().__init__()
        self.path = path
        self.start = start
        self.columns = columns
        self.rows = rows
        self.total = total
        self.progress = progress
        self.done = done


class DatasetInspected(Message):
    """``inspect_source`` finished; ``with_tokens`` tells the quick pass (no tokenizer) from the full one."""

    def __init__(self, path: str, report: dict[str, Any], *, with_tokens: bool) -> None:
        super().__init__()
        self.path = path
        self.report = report
        self.with_tokens = with_tokens


class DatasetChosen(Message):
    """"Train on this": carry a data set and its columns to Configure."""

    def __init__(self, path: str, text_column: str | None, label_column: str | None) -> None:
        super().__init__()
        self.path = path
        self.text_column = text_column
        self.label_column = label_column


class ModelLoaded(Message):
    def __init__(self, run_id: str, labels: list[str]) -> None:
        super().__init__()
        self.run_id = run_id
        self.labels = labels


class PredictionMade(Message):
    def __init__(self, run_id: str, text: str, scores: dict[str, float]) -> None:
        super().__init__()
        self.run_id = run_id
        self.text = text
        self.scores = scores


class EntitiesFound(Message):
    """A token-classification model tagged ``text``: ``result`` has ``tokens``, ``tags`` and ``entities``."""

    def __init__(self, run_id: str, text: str, result: dict) -> None:
        super().__init__()
        self.run_id = run_id
        self.text = text
        self.result = result


class AnswerFound(Message):
    """An extractive QA model answered ``question`` about ``context``: ``result`` has ``answer``, character
    ``start``/``end`` in the passage, ``score`` and ``n_best``."""

    def __init__(self, run_id: str, question: str, context: str, result: dict) -> None:
        super().__init__()
        self.run_id = run_id
        self.question = question
        self.context = context
        self.result = result


class TextGenerated(Message):
    """Playground generation progress for a causal LM: the response so far (``done`` when it has ended)."""

    def __init__(self, run_id: str, prompt: str, text: str, *, done: bool = False) -> None:
        super().__init__()
        self.run_id = run_id
        self.prompt = prompt
        self.text = text
        self.done = done


class SweepsListed(Message):
    """The workspace's sweep records were read (newest first), with how many trials of each have ended
    (``done``: completed, pruned or failed)."""

    def __init__(self, records: list[dict[str, Any]], done: dict[str, int]) -> None:
        super().__init__()
        self.records = records
        self.done = done


class SweepResultsLoaded(Message):
    """``SweepStore.results`` of one sweep (the ``sweep show --json`` shape), or why it could not be read;
    ``signature`` says which state of its files it describes."""

    def __init__(self, sweep_id: str, signature: tuple, results: dict[str, Any] | None,
                 error: str | None = None) -> None:
        super().__init__()
        self.sweep_id = sweep_id
        self.signature = signature
        self.results = results
        self.error = error
