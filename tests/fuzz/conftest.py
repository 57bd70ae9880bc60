"""Hypothesis profiles for the fuzz tests.

``ci`` (the default) keeps every property to a small, fixed budget and derandomises generation, so the suite
is deterministic (the same cases on every run, whatever the time of day) and the fuzz tests add well under a
minute. ``long`` (``SFT_WORKBENCH_FUZZ_LONG=1`` or ``pytest --fuzz-long``) multiplies each budget, draws new
random cases each run and keeps failing examples in the local ``.hypothesis/`` database (ignored by git) so a
failure found once is replayed first next time.
"""

from __future__ import annotations

import os

import fuzzing  # registers and loads the Hypothesis profile before any fuzz test is collected


def pytest_configure(config):
    # --fuzz-long is defined in tests/conftest.py; test modules are imported (and their budgets set) after this.
    if config.getoption("--fuzz-long", default=False):
        os.environ["SFT_WORKBENCH_FUZZ_LONG"] = "1"
    fuzzing.load_profile()
