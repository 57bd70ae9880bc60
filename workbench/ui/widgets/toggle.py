"""Toggles whose state reads as text, not only as colour.

Textual's Checkbox draws "▐X▌" whether it is on or off and tells them apart by colour alone, which
NO_COLOR (honoured by the app) and monochrome terminals take away. Every toggle in the app is a
``TextCheckbox``: "[x] int8" when on, "[ ] int8" when off; space or enter flips it, as with a Checkbox.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox

ON, OFF = "[x]", "[ ]"


class TextCheckbox(Checkbox):
    DEFAULT_CSS = """
    TextCheckbox > .toggle--button { background: transparent; color: $text-muted; }
    TextCheckbox.-on > .toggle--button { background: transparent; color: $text-success; text-style: bold; }
    """

    @property
    def _button(self) -> Content:
        return Content.assemble((ON if self.value else OFF, self.get_visual_style("toggle--button")))

    @property
    def state_text(self) -> str:
        """What the toggle shows, as plain text: ``[x] int8``."""
        return f"{ON if self.value else OFF} {self.label.plain}"
