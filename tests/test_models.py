import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.models import embedded_model_dir, resolve_model


def test_default_resolves_to_the_embedded_copy():
    resolved = resolve_model("default")
    assert resolved.source == "embedded"
    assert resolved.path == str(embedded_model_dir())
    assert resolved.max_positions == 512


def test_local_directory(tiny_model_dir):
    resolved = resolve_model(str(tiny_model_dir))
    assert resolved.source == "local" and resolved.max_positions == 128


def test_directory_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WorkbenchError, match="no weights"):
        resolve_model(str(tmp_path))


def test_directory_without_config(tmp_path):
    with pytest.raises(WorkbenchError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_unknown_model_names_what_was_tried():
    with pytest.raises(WorkbenchError) as err:
        resolve_model("no-such-org/no-such-model")
    msg = str(err.value)
    assert "not found" in msg and "local directory" in msg and "cache" in msg and "offline" in msg


def test_missing_local_path():
    with pytest.raises(WorkbenchError, match="no such directory"):
        resolve_model("./nowhere/model")
