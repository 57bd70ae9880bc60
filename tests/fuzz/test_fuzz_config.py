"""Fuzzing the run configuration: generated YAML files and CLI flag values through RunConfig validation.

``validate()`` never raises and returns one one-line message per wrong field, keyed by the field; loading a
YAML file, ``check()`` and ``train`` give one clean error (exit code 2) and never a traceback.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from fuzzing import budget, check_cli_error, check_error, one_line, run_cli
from workbench.core.config import RunConfig
from workbench.core.errors import WorkbenchError

FIELDS = RunConfig.field_names()
NUMBERS = st.one_of(st.integers(-10**6, 10**6), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 0.0, -0.0, 1e-9, 0.5, 0.99, 1.0, 2**31, 2**63, 65535, 65536]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12),
                    st.sampled_from(["", " ", "auto", "none", "null", "~", "yes", "no", "on", "1e-5", "3", "-1",
                                     "inf", "nan", "default", "a/b", "..", "x" * 300, "é", "\x00", "a\nb", "~0/x"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                      max_leaves=6)
KEYS = st.one_of(st.sampled_from(FIELDS), st.sampled_from(FIELDS), st.text(max_size=10),
                 st.sampled_from(["learning_rate", "Epochs", "batch-size", "lr ", "", "a\nb"]))
# YAML that no dictionary dumps to: tags, anchors, several documents, dates, odd scalars, broken syntax.
RAW_YAML = st.sampled_from([
    "epochs: !!float nan\n", "lr: .inf\n", "data: 2024-01-01\n", "seed: 0x1F\n", "seed: 1_000\n", "max_length: 1e3\n",
    "batch_size: &b 8\neval_batch_size: *b\n", "a: 1\n---\nb: 2\n", "- 1\n- 2\n", "just text\n", "42\n", "~\n",
    "data: !!binary aGVsbG8=\n", "name: !!set {a, b}\n", "? [a, b]\n: 1\n", "epochs: [1, 2\n", "lr: 1e-5\nlr: 2e-5\n",
    "\t- tab\n", "data: |\n  multi\n  line\n", "task: !!str 3\n", "{epochs: 1, lr: }\n", "\ufeffepochs: 2\n",
    "model: !!python/name:os.system\n", "&a [*a]\n", "<<: {epochs: 2}\n",
])


def yaml_texts():
    mapping = st.dictionaries(KEYS, VALUES, max_size=6).map(lambda d: yaml.safe_dump(d, allow_unicode=True))
    return st.one_of(mapping, mapping, RAW_YAML, st.builds(lambda a, b: a + b, RAW_YAML, mapping), st.text(max_size=40))


def check_validation(cfg: RunConfig) -> None:
    errors = cfg.validate()
    assert isinstance(errors, dict)
    for name, message in errors.items():
        assert name in FIELDS, name
        assert isinstance(message, str) and one_line(message), (name, message)
        assert name.split("_")[0] in message or "run name" in message, (name, message)  # per-field: names its field
    try:
        cfg.check()
    except WorkbenchError as exc:
        assert errors, "check() raised although validate() found nothing"
        check_error(exc)
        event("check: error")
    else:
        assert not errors
        event("check: ok")


@budget(200)
@given(text=yaml_texts())
def test_any_yaml_config_loads_or_gives_one_clean_error(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            cfg = RunConfig.load(path)
        except WorkbenchError as exc:
            check_error(exc, [str(path)])
            event("load: error")
            return
    event("load: ok")
    check_validation(cfg)
    RunConfig.from_dict(cfg.to_dict())  # what a saved or resumed run reads back
    assert isinstance(cfg.to_yaml(), str)


@budget(100)
@given(values=st.dictionaries(st.sampled_from(FIELDS), VALUES, min_size=1, max_size=6))
def test_validation_of_any_values_is_per_field(values):
    """Values as a form or a YAML file could hold them (through coerce_value), never an exception."""
    from workbench.core.config import coerce_value

    cfg = RunConfig()
    for name, value in values.items():
        setattr(cfg, name, coerce_value(name, value))
    check_validation(cfg)


@budget(100)
@given(values=st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=15) | st.sampled_from(["", "-1", "0", "1e400", "nan", "true", "x" * 300]),
                              min_size=1, max_size=8))
def test_form_text_in_any_field_is_per_field(values):
    """What the Configure form does with the text of its fields."""
    from workbench.ui.run_form import form_errors

    cfg, errors = form_errors(values)
    for name, message in errors.items():
        assert name in FIELDS and one_line(message), (name, message)


def _flag_names() -> list[str]:
    from workbench.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    # Not the ones naming files to read or write (a random --save-config would write anywhere).
    skip = {"--help", "--config", "--save-config", "--workspace"}
    return sorted(o for a in train._actions for o in a.option_strings if o.startswith("--") and o not in skip)


FLAG_VALUES = st.one_of(st.text(max_size=12), NUMBERS.map(str), st.sampled_from(["", "-1", "0", "nan", "inf", "1e400", "a\nb", "x" * 300, "--lr", "/", "."]))


@pytest.fixture
def no_launch(monkeypatch):
    """Flags that pass every check would start a worker: stop just before that."""
    import workbench.core.training.launcher as launcher

    def refuse(run, **kwargs):
        raise WorkbenchError("launch skipped by the fuzz test.")

    monkeypatch.setattr(launcher, "launch_worker", refuse)


@budget(120)
@given(flags=st.lists(st.tuples(st.sampled_from(_flag_names()), FLAG_VALUES, st.booleans()), max_size=5),
       data=st.sampled_from(["/nonexistent/d.csv", "", "d\x00.csv", "x" * 300, "~nobody/d.csv", "~0/d.csv"]))
def test_any_train_flags_give_one_clean_error(no_launch, flags, data):
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["--workspace", tmp, "train", "--json", "--data", data]
        for flag, value, joined in flags:
            argv += [f"{flag}={value}"] if joined else [flag, value]
        code, out, err = run_cli(*argv)
        check_cli_error(code, out, err)
        event("train: " + ("argument error" if "see `" in err else "checked"))
        assert not (Path(tmp) / "runs").exists() or not any((Path(tmp) / "runs").iterdir()) or "launch skipped" in err


@budget(60)
@given(text=yaml_texts(), flags=st.lists(st.tuples(st.sampled_from(["--lr", "--epochs", "--batch-size", "--seed", "--name", "--model", "--task"]),
                                                   FLAG_VALUES), max_size=3))
def test_any_config_file_with_flags_gives_one_clean_error(no_launch, text, flags):
    """`train --config FILE` with flags on top: flags beat the file, and every problem is one line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        argv = ["--workspace", tmp, "train", "--json", "--config", str(path), "--data", "/nonexistent/d.csv"]
        for flag, value in flags:
            argv.append(f"{flag}={value}")
        code, out, err = run_cli(*argv)
        check_cli_error(code, out, err)


def test_the_budget_covers_every_flag():
    assert {"--lr", "--epochs", "--batch-size", "--name", "--lora-dropout", "--master-port"} <= set(_flag_names())
