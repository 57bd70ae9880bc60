"""The one-line bar at the top of every screen: the screens and their keys, the current one marked."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def __init__(self, current: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current = current

    def render(self) -> Text:
        from workbench.ui.app import SCREENS

        text = Text(" sft-workbench ", style="bold")
        narrow = self.size.width < 90
        for mode, title, key, _, _ in SCREENS:
            label = title[:4] if narrow and mode != self.current else title
            style = "reverse bold" if mode == self.current else ""
            text.append(" ")
            text.append(f" {key} {label} ", style=style)
        ws = self.app.workspace.root.name or str(self.app.workspace.root)
        right = f" {ws} "
        pad = self.size.width - text.cell_len - len(right)
        if pad > 1:
            text.append(" " * pad)
            text.append(right, style="italic")
        return text
