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

        width = self.size.width
        # The widest form that fits: full titles, then 4-letter ones, then bare keys (the current
        # screen always keeps its full title); the brand and the workspace only where there is room.
        for shorten in (None, 4, 0):
            tabs = Text()
            for mode, title, key, _, _ in SCREENS:
                current = mode == self.current
                label = title if current or shorten is None else title[:shorten]
                tabs.append(" ")
                tabs.append(f" {key} {label} " if label else f" {key} ",
                            style="reverse bold" if current else "")
            if tabs.cell_len <= width:
                break
        text = Text()
        brand = Text(" sft-workbench ", style="bold")
        if brand.cell_len + tabs.cell_len <= width:
            text.append_text(brand)
        text.append_text(tabs)
        ws = self.app.workspace.root.name or str(self.app.workspace.root)
        right = f" {ws} "
        pad = width - text.cell_len - len(right)
        if pad > 1:
            text.append(" " * pad)
            text.append(right, style="italic")
        return text
