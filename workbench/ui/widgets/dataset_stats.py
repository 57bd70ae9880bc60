"""A data set's schema (changeable text/label columns), split sizes, label distribution, token-length
histogram and health warnings — drawn from an ``inspect_source`` report."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Label, Select, Static

from workbench.ui import format as fmt
from workbench.ui.task_metrics import task_words
from workbench.ui.widgets.charts import BarChart, Histogram


def summary_text(report: dict[str, Any]) -> Text:
    text = Text()
    text.append(f"task {report.get('task', '—')}", style="bold")
    if report.get("tokenizer"):
        stride = f", doc_stride {report['doc_stride']}" if report.get("doc_stride") is not None else ""
        text.append(f" · tokens by {report['tokenizer']} (max_length {report.get('max_length')}{stride})", style="dim")
    words = task_words(report.get("task"))
    if report.get("tag_scheme"):
        text.append(f" · tags {report['tag_scheme']}", style="dim")
    for split, info in (report.get("splits") or {}).items():
        text.append(f"\n{split:<6}", style="bold")
        text.append(f" {fmt.count(info['rows'])} {words.examples} · ")
        if words.counted:  # label_counts holds, e.g., entities per type
            text.append(f"{fmt.count(info.get(words.counted, 0))} {words.counted}: ")
        if "passages" in info:  # question answering: passages, gold answers per question, windows
            text.append(f"{fmt.count(info['passages'])} passages · answers "
                        + ", ".join(f"{k}×{fmt.count(n)}" for k, n in (info.get("answers_per_question") or {}).items()))
            if "windows" in info:
                text.append(f" · {fmt.count(info['windows'])} windows ({fmt.count(info['multi_window'])} questions "
                            "need more than one)")
        else:
            text.append(" · ".join(f"{label} {fmt.count(n)}" for label, n in info["label_counts"].items()))
        tl = info.get("token_length")
        if tl:
            text.append(f" · tokens p50 {tl['p50']:.0f} / p95 {tl['p95']:.0f} / max {tl['max']}", style="dim")
    return text


def warnings_text(report: dict[str, Any]) -> Text:
    warnings = report.get("warnings") or []
    if not warnings:
        return Text("✔ no health warnings", style="green")
    text = Text()
    for i, w in enumerate(warnings):
        text.append(("\n" if i else "") + "⚠ " + w, style="yellow")
    return text


class DatasetStats(VerticalScroll):
    class ColumnsChosen(Message):
        def __init__(self, text_column: str | None, label_column: str | None) -> None:
            super().__init__()
            self.text_column = text_column
            self.label_column = label_column

    def compose(self) -> ComposeResult:
        with Horizontal(id="st-schema"):
            yield Label("text column")
            yield Select([], prompt="(infer)", compact=True, id="st-text")
            yield Label("label column")
            yield Select([], prompt="(infer)", compact=True, id="st-label")
        yield Static(id="st-summary")
        with Horizontal(id="st-charts", classes="row"):
            yield BarChart("Labels (train)", id="st-labels", classes="panel")
            yield Histogram("Token lengths (train)", "tokens", id="st-lengths", classes="panel")
        yield Static(id="st-warnings")

    def clear(self, message: str = "") -> None:
        self.query_one("#st-summary", Static).update(Text(message, style="dim"))
        self.query_one("#st-warnings", Static).update("")
        self.query_one(BarChart).show([], [])
        self.query_one(Histogram).show([], message="")

    def set_columns(self, columns: list[str], text_column: str | None, label_column: str | None) -> None:
        """Offer ``columns`` in both pickers, showing the given (inferred or chosen) ones."""
        options = [(c, c) for c in columns]
        for wid, value in (("#st-text", text_column), ("#st-label", label_column)):
            select = self.query_one(wid, Select)
            select.set_options(options)
            select.value = value if value in columns else Select.NULL

    def chosen(self) -> tuple[str | None, str | None]:
        values = []
        for wid in ("#st-text", "#st-label"):
            v = self.query_one(wid, Select).value
            values.append(None if v is Select.NULL else str(v))
        return values[0], values[1]

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        # Only the user's picks count; set_columns() changes the values too, but never with focus there.
        if event.select.has_focus_within:
            self.post_message(self.ColumnsChosen(*self.chosen()))

    def show_report(self, report: dict[str, Any], *, tokens_pending: bool) -> None:
        self.query_one("#st-summary", Static).update(summary_text(report))
        self.query_one("#st-warnings", Static).update(warnings_text(report))
        splits = report.get("splits") or {}
        first = splits.get("train") or next(iter(splits.values()), {})
        counts = first.get("label_counts") or {}
        bars = self.query_one(BarChart)
        bars.border_title = f"{task_words(report.get('task')).counts} (train)"
        bars.show(list(counts), list(counts.values()))
        lengths = first.get("token_lengths")
        if lengths:
            self.query_one(Histogram).show(lengths, marker=report.get("max_length"))
        else:
            self.query_one(Histogram).show([], message="counting tokens…" if tokens_pending else "no token counts")
