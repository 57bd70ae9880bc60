"""The layering rules of DESIGN.md, checked in fresh interpreters through ``sys.modules``:
the UI imports no heavy ML library at import time, and the core never imports Textual."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "onnxruntime", "datasets", "sklearn")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_ui_imports_no_heavy_libraries():
    code = "\n".join([
        "import workbench.ui.app, workbench.cli",
        "import importlib, pkgutil, workbench.ui.screens as s, workbench.ui.widgets as w",
        # Every screen and widget module, not only those the Runs screen needs at start.
        "for pkg in (s, w):",
        "    for m in pkgutil.iter_modules(pkg.__path__):",
        "        importlib.import_module(f'{pkg.__name__}.{m.name}')",
    ])
    loaded = _modules_after(code)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_ui_imports_no_cli_module():
    """The Configure form takes its flags from RunConfig's metadata, as the CLI does, not from workbench.cli."""
    code = "\n".join([
        "import workbench.ui.app, workbench.ui.run_form",
        "import importlib, pkgutil, workbench.ui.screens as s, workbench.ui.widgets as w",
        "for pkg in (s, w):",
        "    for m in pkgutil.iter_modules(pkg.__path__):",
        "        importlib.import_module(f'{pkg.__name__}.{m.name}')",
    ])
    loaded = _modules_after(code)
    assert "workbench.ui.screens.configure" in loaded
    assert not {m for m in loaded if m == "workbench.cli" or m.startswith("workbench.cli.")}


def test_core_never_imports_textual():
    code = "\n".join([
        "import importlib, pkgutil, workbench.core as core",
        "for m in pkgutil.walk_packages(core.__path__, 'workbench.core.'):",
        "    importlib.import_module(m.name)",
    ])
    loaded = _modules_after(code)
    assert "workbench.core.preview" in loaded
    assert not {m for m in loaded if m.split(".")[0] == "textual" or m.startswith("workbench.ui")}
