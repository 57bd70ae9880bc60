"""Shared pieces of the fuzz tests: per-property budgets, the in-process CLI and the one-line error check."""

from __future__ import annotations

import contextlib
import functools
import io
import os
from pathlib import Path
from typing import Iterable

from hypothesis import HealthCheck, settings

from workbench.core.errors import WorkbenchError

# The profiles (loaded here, so that every fuzz module gets them before its decorators run):
# ``ci`` (the default) keeps each property to a small fixed budget and derandomises generation, so the suite is
# deterministic (the same cases on every run, whatever the time of day) with no example database written;
# ``long`` (SFT_WORKBENCH_FUZZ_LONG=1 or pytest --fuzz-long) multiplies every budget, draws new random cases
# each run and keeps failing examples in .hypothesis/ (ignored by git) to replay them first next time.
# How much larger each property's budget is in the long profile (see budget()).
LONG_FACTOR = int(os.environ.get("SFT_WORKBENCH_FUZZ_FACTOR", "40"))

_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
          HealthCheck.filter_too_much, HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True, database=None,
                          print_blob=True, suppress_health_check=_QUIET)
settings.register_profile("long", max_examples=50 * LONG_FACTOR, deadline=None, print_blob=True,
                          suppress_health_check=_QUIET)


def long_mode() -> bool:
    """Whether the long profile was asked for (read when called: --fuzz-long sets the variable at configure)."""
    return os.environ.get("SFT_WORKBENCH_FUZZ_LONG", "").strip().lower() not in ("", "0", "false", "no")


def load_profile() -> None:
    settings.load_profile("long" if long_mode() else "ci")


load_profile()


def budget(examples: int) -> settings:
    """``examples`` generated cases in CI; LONG_FACTOR times as many with the long profile."""
    return settings(max_examples=examples * LONG_FACTOR if long_mode() else examples)


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``workbench.cli.main`` in-process: (exit code, stdout, stderr). Any exception but WorkbenchError's
    handling inside main escapes to the test, which is what the fuzz tests are looking for. Tables are drawn
    250 columns wide, so ids are not cut short."""
    from workbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "250"
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        if columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns
    return code, out.getvalue(), err.getvalue()


def one_line(message: str) -> bool:
    """True for a non-empty message that any terminal shows on one line."""
    return bool(message.strip()) and len(message.splitlines()) == 1 and "\n" not in message and "\r" not in message


def check_message(message: str, names: Iterable[str] = ()) -> None:
    """A user error: one line that names one of ``names`` (the file or folder) when any are given."""
    assert one_line(message), f"not one line: {message!r}"
    assert "Traceback" not in message, message
    names = [n for n in names if n]
    if names:
        assert any(n in message for n in names), f"the message names none of {names}: {message!r}"


def check_cli_error(code: int, out: str, err: str, names: Iterable[str] = ()) -> None:
    """Exit code 2 and exactly one ``error: …`` line on stderr."""
    assert code == 2, (code, out[-500:], err[-500:])
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, repr(err[:2000])
    check_message(err[len("error: "):-1], names)


def check_error(exc: WorkbenchError, names: Iterable[str] = ()) -> None:
    check_message(str(exc), names)


@functools.lru_cache(maxsize=1)
def embedded_tokenizer():
    """The embedded model's tokenizer, loaded once per session (a from_pretrained per example would dominate)."""
    from transformers import AutoTokenizer

    from workbench.core.models import embedded_model_dir

    return AutoTokenizer.from_pretrained(str(embedded_model_dir()))


def source_names(path: Path) -> list[str]:
    """What an error about ``path`` may name: the path itself, its name, or (for a folder) a file in it."""
    names = [str(path), path.name]
    if path.is_dir():
        names += [child.name for child in path.iterdir()]
    return names
