"""Fuzzing the TUI with Pilot: random text typed into the Configure fields and the Datasets path box, and damaged
runs opened in the Monitor and Compare. Errors are shown in place and the app keeps running.

Each generated case starts the app once (the costly part), so the budgets here are small; one case types
several values.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))  # ui_helpers, canned (tests/ui)

from fuzzing import budget, one_line  # noqa: E402
from test_fuzz_data import data_files  # noqa: E402
from test_fuzz_runstore import make_workspace, run_files  # noqa: E402
from workbench.core.config import RunConfig  # noqa: E402
from workbench.core.errors import WorkbenchError  # noqa: E402

SIZE = (80, 24)
INPUT_FIELDS = [f["name"] for f in RunConfig.field_info() if not f["choices"] and f["type"] not in ("bool",)]
# Typed one key at a time: printable characters a keyboard sends (Pilot presses each as a key).
TYPED = st.text(st.characters(blacklist_categories=("C", "Zl", "Zp")), max_size=6)
PASTED = st.one_of(st.text(max_size=40), st.sampled_from(["-1", "0", "1e400", "nan", "inf", "x" * 300, "~", "~nobody/x", "~0/x", "[/",
                                                          "/no/such/file.csv", "a\nb", "[bold]", "[/]", "3" * 40]))


@pytest.fixture
def no_launch(monkeypatch):
    """A form that passes every check would start a worker: stop just before that."""
    import workbench.core.training.launcher as launcher

    def refuse(run, **kwargs):
        raise WorkbenchError("launch skipped by the fuzz test.")

    monkeypatch.setattr(launcher, "launch_worker", refuse)


def event(what: str) -> None:
    """hypothesis.event, also callable from the plain regression tests below."""
    if currently_in_test_context():
        from hypothesis import event as record

        record(what)


def _new_app(ws: Path):
    from ui_helpers import new_app

    return new_app(ws)


async def _settle(pilot, seconds: float = 0.3) -> None:
    await pilot.pause()
    await asyncio.sleep(seconds)
    await pilot.pause()


def _notice_text(screen) -> str:
    from workbench.ui.screens.base import Notice

    return " ".join(str(n.render()) for n in screen.query(Notice) if n.display)


async def _configure(ws: Path, entries, launch: bool) -> None:
    from textual.widgets import Input

    app = _new_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await _settle(pilot)
        screen = app.screen
        for name, text, typed in entries:
            field = screen.query_one(f"#f-{name}", Input)
            field.focus()
            field.value = ""
            if typed:
                await pilot.press(*text) if text else None
            else:
                field.value = text
            await pilot.pause()
        await _settle(pilot, 0.2)
        assert app.is_running and app.current_mode == "configure"
        for name in {n for n, _, _ in entries}:
            err = screen.query_one(f"#row-{name} .field-error")
            message = str(err.render()) if err.display else ""
            assert message == "" or one_line(message), (name, message)
            if message:
                event("configure: an error shown in place")
        if launch:
            await pilot.press("escape", "ctrl+l")
            await _settle(pilot, 0.5)
            assert app.is_running
            assert _notice_text(screen), "launch said nothing"


@budget(3)
@given(entries=st.lists(st.tuples(st.sampled_from(INPUT_FIELDS), TYPED | PASTED, st.booleans()), min_size=1, max_size=5),
       launch=st.booleans())
def test_random_text_in_configure_fields_is_shown_in_place(no_launch, entries, launch):
    entries = [(n, t if not typed else t[:6], typed) for n, t, typed in entries]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        asyncio.run(_configure(ws, entries, launch))
        assert not (ws / "runs").exists() or not any((ws / "runs").iterdir()), "a run was created from fuzzed input"


async def _datasets(ws: Path, paths: list[str]) -> None:
    from textual.widgets import Input

    app = _new_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await _settle(pilot)
        for text in paths:
            await pilot.press("a")
            box = app.screen.query_one("#ds-add", Input)
            box.value = text
            box.focus()
            await pilot.press("enter")
            await _settle(pilot, 0.2)
            await pilot.press("i")  # the statistics tab: inspect the chosen file
            await _settle(pilot, 0.5)
            assert app.is_running and app.current_mode == "datasets"
            shown = _notice_text(app.screen)
            if shown:
                event("datasets: a notice shown")


@budget(3)
@given(file=data_files(), typed=st.lists(TYPED | PASTED, max_size=2))
def test_random_paths_and_files_in_the_datasets_box_are_shown_in_place(file, typed):
    """The path box gets random text (no such file) and the path of a generated, usually broken, data file."""
    name, content = file
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        data = Path(tmp) / name
        data.write_bytes(content)
        # Only text that names nothing on disk: "/" or "~" would have the tree scan the whole machine.
        from workbench.paths import path_exists

        texts = [t for t in typed if t.strip() and not path_exists(Path(t.strip()).expanduser())] + [str(data)]
        asyncio.run(_datasets(ws, texts))


async def _monitor_and_compare(ws: Path, good: str, fuzzed: str) -> None:
    app = _new_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        app.open_monitor(fuzzed)
        await _settle(pilot, 0.5)
        assert app.is_running and app.current_mode == "monitor"
        if _notice_text(app.screen):
            event("monitor: a notice shown")
        app.open_compare([good, fuzzed])
        screen = app.screen
        for _ in range(100):  # the comparison runs in a thread
            await _settle(pilot, 0.1)
            if not getattr(screen, "computing", False):
                break
        assert app.is_running and app.current_mode == "compare"
        assert not screen.computing, "Compare never finished"
        event("compare: " + ("a notice" if screen.comparison is None else "a comparison"))
        if screen.comparison is None:
            assert _notice_text(screen), "Compare shows neither a comparison nor a reason"


@budget(3)
@given(run=run_files())
def test_a_damaged_run_in_the_monitor_and_compare_is_shown_not_fatal(run):
    with tempfile.TemporaryDirectory() as tmp:
        ws, good, fuzzed = make_workspace(tmp, run)
        asyncio.run(_monitor_and_compare(ws, good, fuzzed))


# ------------------------------------------------------------------------------------------ regressions
# Plain tests for what the properties above found in workbench/ui (tests/ui/ belongs to the UI work in progress).
def test_a_json_file_of_empty_objects_previews_without_crashing(tmp_path):
    """Found by the Datasets property: `{}` in a .json file (no columns) crashed the preview table ("More values
    provided than there are columns": the row-number column was never added)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    data = tmp_path / "d.json"
    data.write_text("{}")
    asyncio.run(_datasets(ws, [str(data)]))


def test_the_monitor_formatters_take_damaged_readings():
    """Found by the Monitor property: a reading that was a list or text (lr, samples/s) crashed the panel."""
    from workbench.ui import format as fmt

    assert fmt.sci([1e-5]) == fmt.sci("fast") == fmt.rate([1]) == fmt.rate("x") == fmt.count(float("inf")) == "—"
    assert fmt.sci(1e-5) == "1.0e-05" and fmt.rate(87.34) == "87.3"


def test_brackets_typed_into_a_field_or_the_path_box_are_text_not_markup(no_launch, tmp_path):
    """Found by the Configure property: typing "[/" into data crashed the app (the field's error message,
    "no such file or folder: [/", was parsed as markup: MarkupError); the Datasets notice did the same."""
    ws = tmp_path / "ws"
    ws.mkdir()
    asyncio.run(_configure(ws, [("data", "[/", True), ("batch_size", "[/]", False)], launch=True))
    asyncio.run(_datasets(ws, ["[/"]))
