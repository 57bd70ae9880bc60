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
