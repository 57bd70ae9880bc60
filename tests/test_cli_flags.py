"""The ``train`` flags generated from RunConfig's field metadata (workbench/cli/flags.py)."""

from __future__ import annotations

import argparse
import shlex

import pytest

from workbench.cli import build_config, build_parser, main
from workbench.core.config import RunConfig

DEFAULTS = RunConfig()
INFO = {info["name"]: info for info in RunConfig.field_info()}


def _train_parser() -> argparse.ArgumentParser:
    return build_parser()._subparsers._group_actions[0].choices["train"]


def _flag_and_value(name: str) -> tuple[list[str], object]:
    """Arguments that set ``name`` to a value other than its default, and that value."""
    info, default = INFO[name], getattr(DEFAULTS, name)
    if info["kind"] is bool:
        return ([info["flag"]], True) if not default else (["--no-" + info["flag"][2:]], False)
    if info["choices"]:
        value = next(c for c in info["choices"] if c != default)
        return [info["flag"], value], value
    if info["kind"] is int:
        value = (default or 0) + 1
        return [info["flag"], str(value)], value
    if info["kind"] is float:
        value = 0.2 if default != 0.2 else 0.3
        return [info["flag"], str(value)], value
    return [info["flag"], f"some-{name}"], f"some-{name}"


@pytest.mark.parametrize("name", RunConfig.field_names())
def test_every_setting_has_a_flag(name):
    args, value = _flag_and_value(name)
    cfg = build_config(build_parser().parse_args(["train", *args]))
    assert getattr(cfg, name) == value and getattr(cfg, name) != getattr(DEFAULTS, name)
    # ...and only that setting changed.
    assert {k for k, v in cfg.to_dict().items() if v != getattr(DEFAULTS, k)} == {name}


def test_flags_follow_the_field_metadata():
    actions = {a.dest: a for a in _train_parser()._actions}
    for name, info in INFO.items():
        action = actions[name]
        # The field's name with "-", unless the field names its flag (strict_data is --strict).
        assert action.option_strings[0] == info["flag"] and action.default is None
        assert info["flag"] == "--" + name.replace("_", "-") or name == "strict_data"
        assert action.choices == info["choices"]
        if info["kind"] in (int, float):
            assert action.type is info["kind"]
    # The CLI-only metadata: a metavar, and a short help different from the form's long one.
    assert actions["lora_target_modules"].metavar == "NAMES"
    assert actions["eval_data"].help.startswith("evaluation data (default: the folder's dev split")
    assert actions["dev_fraction"].help == "Fraction of train held out as dev when no eval data is given (default: 0.1)"


def test_the_five_settings_that_had_no_flag():
    args = build_parser().parse_args(["train", "--dev-fraction", "0.2", "--eval-batch-size", "64", "--scheduler", "cosine",
                                      "--max-grad-norm", "0.5", "--save-total-limit", "3"])
    cfg = build_config(args)
    assert (cfg.dev_fraction, cfg.eval_batch_size, cfg.scheduler, cfg.max_grad_norm, cfg.save_total_limit) == (0.2, 64, "cosine", 0.5, 3)


def test_bool_flags():
    def parse(*argv):
        return build_parser().parse_args(["train", *argv])

    assert parse().group_by_length is None and parse().torch_compile is None and parse().trust_remote_code is None
    assert parse("--group-by-length").group_by_length is True
    assert parse("--no-group-by-length").group_by_length is False
    assert parse("--no-torch-compile").torch_compile is False and parse("--auto-find-batch-size").auto_find_batch_size is True
    assert parse("--trust-remote-code").trust_remote_code is True
    assert build_config(parse("--no-group-by-length")).group_by_length is False
    assert parse().strict_data is None and build_config(parse("--strict")).strict_data is True
    assert build_config(parse("--no-strict")).strict_data is False


@pytest.mark.parametrize("argv,expected", [
    (["--scheduler", "nope"], "error: argument --scheduler: invalid choice: 'nope'"),
    (["--precision", "fp8"], "error: argument --precision: invalid choice: 'fp8'"),
    (["--eval-batch-size", "many"], "error: argument --eval-batch-size: invalid int value: 'many'"),
    (["--epochs", "2", "--max-steps", "10"], "error: argument --max-steps: not allowed with argument --epochs"),
    (["--no-trust-remote-code"], "error: unrecognized arguments: --no-trust-remote-code"),
])
def test_bad_flags_are_one_error_line_and_exit_2(argv, expected, capsys):
    assert main(["train", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(expected) and err.count("\n") == 1


def test_yaml_values_are_not_clobbered_by_flags_left_out(tmp_path):
    values = {}
    for name in RunConfig.field_names():
        if name != "max_steps":  # exclusive with epochs on the command line; set in YAML it is fine
            values[name] = _flag_and_value(name)[1]
    path = RunConfig.from_dict(values).save(tmp_path / "c.yaml")
    cfg = build_config(build_parser().parse_args(["train", "--config", str(path)]))
    assert cfg.to_dict() == RunConfig.from_dict(values).to_dict()
    cfg = build_config(build_parser().parse_args(["train", "--config", str(path), "--lr", "1e-4", "--group-by-length"]))
    assert cfg.to_dict() == RunConfig.from_dict({**values, "lr": 1e-4, "group_by_length": True}).to_dict()


def test_the_configure_forms_command_line_parses_back_to_its_config():
    from workbench.ui.run_form import cli_command

    cfg = RunConfig(data="my data", model="./m", max_steps=30, batch_size=8, scheduler="cosine", group_by_length=False,
                    eval_batch_size=16, dev_fraction=0.2, lora_target_modules="q_proj,v_proj", trust_remote_code=True,
                    name="a b")
    command, needs_config = cli_command(cfg)
    assert needs_config == []
    argv = shlex.split(command)
    assert argv[:2] == ["sft-workbench", "train"]
    assert build_config(build_parser().parse_args(argv[1:])).to_dict() == cfg.to_dict()
