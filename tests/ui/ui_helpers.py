"""Helpers for the Textual workbench tests: the app with a fixed clock, screen text, waiting.

A module of its own (not conftest.py): ``from conftest import …`` is ambiguous when tests/ and
tests/ui/ both have a conftest.py.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Callable

import canned
from workbench.ui.app import WorkbenchApp, make_app


def new_app(ws: Path, **options) -> WorkbenchApp:
    """The app as the CLI makes it, with a fixed clock and a fast poll so tests do not wait long."""
    options.setdefault("clock", canned.clock)
    options.setdefault("poll_interval", 0.1)
    return make_app(ws, **options)


def screen_text(app: WorkbenchApp) -> str:
    """What the terminal shows, as plain text."""
    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None,
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def svg_text(svg: str) -> str:
    """The text of a Textual screenshot (``app.export_screenshot()`` or a snapshot SVG), one line per row:
    each text run placed at its column (Textual draws a cell 12.2 px wide)."""
    import html
    import re

    rows: dict[float, dict[int, str]] = {}
    for x, y, text in re.findall(r'<text[^>]*? x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        rows.setdefault(float(y), {})[round(float(x) / 12.2)] = html.unescape(text).replace("\xa0", " ")
    lines = []
    for _, runs in sorted(rows.items()):
        line = ""
        for col, text in sorted(runs.items()):
            line = line.ljust(col) + text
        lines.append(line.rstrip())
    return "\n".join(lines)


async def wait_until(pilot, predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"):
    """Let the app run until ``predicate()`` is truthy (workers report back asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def flat(text: str) -> str:
    """Whitespace collapsed, so a sentence wrapped over two lines still matches."""
    return " ".join(text.split())


async def wait_for_text(pilot, text: str, timeout: float = 10.0) -> str:
    """Wait until ``text`` is on screen (possibly wrapped); returns the screen's flattened text."""
    def found() -> str:
        shown = flat(screen_text(pilot.app))
        return shown if flat(text) in shown else ""

    return await wait_until(pilot, found, timeout, what=repr(text))


async def type_into(pilot, name: str, text: str) -> None:
    """Replace the Configure form field ``name``'s value by typing ``text`` into it."""
    from textual.widgets import Input

    field = pilot.app.screen.query_one(f"#f-{name}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
