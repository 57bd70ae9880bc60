"""Security defaults: no remote code unless asked, no pickles loaded, nothing from data or config evaluated."""

import re
from pathlib import Path

from workbench.core.config import RunConfig

PACKAGE = Path(__file__).resolve().parents[2] / "workbench"
SOURCES = {p: p.read_text() for p in PACKAGE.rglob("*.py")}


def test_trust_remote_code_is_off_by_default():
    assert RunConfig().trust_remote_code is False
    from workbench.cli import build_parser

    args = build_parser().parse_args(["train", "--data", "x.csv"])
    assert args.trust_remote_code is None  # so the config's False stands


def test_no_trust_remote_code_true_anywhere():
    offenders = [p for p, src in SOURCES.items() if re.search(r"trust_remote_code\s*=\s*True", src)]
    assert offenders == []


def test_every_torch_load_is_weights_only():
    for path, src in SOURCES.items():
        for call in re.findall(r"torch\.load\([^)]*\)", src):
            assert "weights_only=True" in call, f"{path}: {call}"


def test_no_eval_exec_or_pickle_of_user_data():
    for path, src in SOURCES.items():
        assert not re.search(r"(?<![\w.])(?<!def )(eval|exec)\(", src), path
        assert "pickle.load" not in src and "yaml.load(" not in src and "yaml.unsafe_load" not in src, path


def test_run_names_cannot_escape_the_workspace(tmp_path):
    import pytest

    from workbench.core.errors import WorkbenchError
    from workbench.core.runs import RunStore

    store = RunStore(tmp_path)
    for name in ("../outside", "/abs", "a/../../b", "..", "x\x00y"):
        with pytest.raises(WorkbenchError):
            store.create({}, name=name, task="text-classification")
    assert not (tmp_path.parent / "outside").exists()
