"""A form generated from ``RunConfig.field_info()``: one row per field, grouped, with inline errors
(the metadata that gives the CLI its flags gives each row its widget, choices, placeholder and help line).

The form knows nothing about launching; it reports changes (``ConfigForm.Changed``) and shows the
errors it is given, so the Configure screen owns the logic (see ``workbench.ui.run_form``).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from workbench.core.config import RunConfig
from workbench.ui.run_form import GROUP_TITLES


def field_widget(info: dict[str, Any]) -> Widget:
    name, default = info["name"], info["default"]
    wid = f"f-{name}"
    if info["choices"]:
        return Select([(c, c) for c in info["choices"]], value=default, allow_blank=False, compact=True, id=wid)
    if info["type"].startswith("bool"):
        # A yes/no picker rather than a Switch: a Switch shows its state only by colour (lost with NO_COLOR).
        return Select([("yes", True), ("no", False)], value=bool(default), allow_blank=False, compact=True, id=wid)
    return Input("" if default is None else str(default), placeholder=info["placeholder"], compact=True,
                 id=wid, select_on_focus=False)


class FieldRow(Vertical):
    """Name, input, and (when wrong) the error under it."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(classes="field-row", id=f"row-{info['name']}")
        self.info = info

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-line"):
            yield Label(self.info["name"], classes="field-name")
            yield field_widget(self.info)
        yield Static(classes="field-error")

    def show_error(self, message: str | None) -> None:
        error = self.query_one(".field-error", Static)
        error.update(Text(message or ""))  # not markup: the message quotes the typed value
        shown_now = bool(message) and not error.display
        error.display = bool(message)
        self.set_class(bool(message), "-invalid")
        if shown_now and self.has_focus_within:  # the field being typed in: keep its new message on screen
            self.call_after_refresh(self.scroll_visible, animate=False)  # once the message has its line


class ConfigForm(Vertical):
    """All of RunConfig's fields. ``values()`` gives each field's current value (text for text inputs)."""

    class Changed(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fields = RunConfig.field_info()

    def compose(self) -> ComposeResult:
        group = None
        for info in self.fields:
            if info["group"] != group:
                group = info["group"]
                yield Static(GROUP_TITLES.get(group, group.title()), classes="section-title")
            yield FieldRow(info)

    def widget(self, name: str) -> Widget:
        return self.query_one(f"#f-{name}")

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for info in self.fields:
            w = self.widget(info["name"])
            out[info["name"]] = w.value
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill fields (None clears a text field); each one reports a change like a keystroke would."""
        for name, value in values.items():
            w = self.widget(name)
            if isinstance(w, Input):
                w.value = "" if value is None else str(value)
            elif isinstance(w, Select):
                w.value = value

    def show_errors(self, errors: dict[str, str], touched: set[str]) -> None:
        for row in self.query(FieldRow):
            name = row.info["name"]
            row.show_error(errors.get(name) if name in touched else None)

    def _changed(self, widget: Widget) -> None:
        if widget.id and widget.id.startswith("f-"):
            self.post_message(self.Changed(widget.id[2:]))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed(event.input)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._changed(event.select)
