from pathlib import Path

import pytest

from workbench.core.config import RunConfig, coerce_value
from workbench.core.errors import WorkbenchError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_valid_except_missing_data():
    assert set(RunConfig().validate()) == {"data"}
    assert RunConfig(data="x.csv").validate() == {}


@pytest.mark.parametrize("field,value", [
    ("lr", 0.0), ("lr", -1e-5), ("lr", 5.0), ("batch_size", 0), ("batch_size", -8), ("epochs", 0),
    ("epochs", -1.0), ("max_length", 0), ("grad_accum", 0), ("max_steps", 0), ("warmup_ratio", 1.5),
    ("weight_decay", -0.1), ("seed", -1), ("precision", "fp8"), ("eval_strategy", "sometimes"),
    ("batch_size", "lots"), ("lr", float("nan")), ("name", "a/b"), ("name", ".."), ("name", "x" * 300),
    ("name", "bad\x00name"),
])
def test_invalid_values_are_reported_per_field(field, value):
    cfg = RunConfig(data="x.csv")
    setattr(cfg, field, value)
    errors = cfg.validate()
    assert field in errors, errors
    with pytest.raises(WorkbenchError):
        cfg.check()


def test_yaml_round_trip(tmp_path):
    cfg = RunConfig(data="d.csv", lr=1e-4, epochs=2, name="x1", group_by_length=False)
    path = cfg.save(tmp_path / "c.yaml")
    text = path.read_text()
    assert text.startswith("# sft-workbench run configuration")
    assert RunConfig.load(path) == cfg


def test_unknown_key_suggests_the_close_one(tmp_path):
    (tmp_path / "c.yaml").write_text("data: d.csv\nlearning_rat: 0.1\nlrr: 1e-4\n")
    with pytest.raises(WorkbenchError, match=r"'lrr' \(did you mean 'lr'\?\)"):
        RunConfig.load(tmp_path / "c.yaml")


def test_yaml_is_never_evaluated(tmp_path):
    (tmp_path / "c.yaml").write_text("data: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(WorkbenchError, match="not valid YAML"):
        RunConfig.load(tmp_path / "c.yaml")


def test_text_values_are_coerced_to_field_types():
    assert coerce_value("lr", "3e-5") == 3e-5
    assert coerce_value("batch_size", "16") == 16
    assert coerce_value("group_by_length", "no") is False
    assert coerce_value("max_steps", "") is None
    assert coerce_value("batch_size", "abc") == "abc"  # left for validate() to report


def test_flags_override_yaml(tmp_path):
    from workbench.cli import build_config, build_parser

    (tmp_path / "c.yaml").write_text("data: d.csv\nlr: 1.0e-4\nepochs: 2\n")
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "c.yaml"), "--lr", "3e-5"])
    cfg = build_config(args)
    assert cfg.lr == 3e-5 and cfg.epochs == 2.0 and cfg.data == "d.csv"


@pytest.mark.parametrize("path", sorted((REPO / "sample_data" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_validate(path):
    cfg = RunConfig.load(path)
    assert cfg.validate() == {}


# ------------------------------------------------------------------------------------------ found by tests/fuzz
def test_an_unknown_key_with_a_line_break_stays_on_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('"lr\\nx": 1\n')
    with pytest.raises(WorkbenchError, match=r"unknown setting\(s\): 'lr\\nx'") as exc:
        RunConfig.load(path)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("field,value", [("data", [1, 2]), ("model", {"a": 1}), ("eval_data", True), ("text_column", ["x"])])
def test_text_settings_of_another_type_are_per_field_errors(field, value):
    """Found by tests/fuzz: `data: [1, 2]` passed validation and start_run's Path() raised TypeError."""
    cfg = RunConfig.from_dict({"data": "d.csv", field: value})
    assert cfg.validate()[field].startswith(f"{field} must be text")


def test_a_yaml_date_or_number_for_a_text_setting_is_handled(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: 2024-01-01\nname: 2024\nlr: 1e400\nepochs: 100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\n")
    cfg = RunConfig.load(path)  # a huge integer for a float setting raised OverflowError
    errors = cfg.validate()
    assert cfg.name == "2024" and "name" not in errors  # YAML reads it as a number; it is a fine run name
    assert errors["data"].startswith("data must be text") and "epochs" in errors and "lr" in errors


def test_a_path_too_long_for_the_os_is_checked_not_raised():
    """Found by tests/fuzz: a 300-character data path raised OSError in with_absolute_paths and in the
    Configure form's existence check."""
    from workbench.ui.run_form import form_errors

    long = "x" * 300
    assert RunConfig(data=long).with_absolute_paths().data == long
    cfg, errors = form_errors({"data": long, "eval_data": "a\x00b", "model": "./" + long})
    assert errors["data"].startswith("data: no such file or folder") and "eval_data" in errors and "model" in errors


def test_a_seed_beyond_32_bits_is_a_per_field_error():
    """Found while fixing the above: scikit-learn's dev split raised ValueError for --seed 2**40."""
    assert "below 2**32" in RunConfig(data="d.csv", seed=2**40).validate()["seed"]
    assert "seed" not in RunConfig(data="d.csv", seed=2**32 - 1).validate()


def test_a_tilde_of_no_known_user_is_not_found_not_a_traceback():
    """Found by tests/fuzz (--fuzz-long): pathlib's expanduser() raises RuntimeError ("Could not determine home
    directory") for "~0"; the Configure form, with_absolute_paths and model resolution all called it."""
    from workbench.core.models import resolve_model
    from workbench.ui.run_form import form_errors

    cfg, errors = form_errors({"data": "~0/d.csv", "model": "~0/m"})
    assert errors["data"] == "data: no such file or folder: ~0/d.csv" and "no such directory" in errors["model"]
    assert RunConfig(data="~0/d.csv").with_absolute_paths().data == "~0/d.csv"
    with pytest.raises(WorkbenchError, match="not found"):
        resolve_model("~0/m")
