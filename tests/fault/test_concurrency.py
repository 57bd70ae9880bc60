"""Two runs at once in one workspace: separate workers, separate locks, both complete with clean files."""

from __future__ import annotations

import json

from helpers import SAMPLE_DATA, wait_for
from workbench.core.runs import RunStore


def test_two_runs_at_once(tiny_model_dir, cli, workspace):
    ids = []
    for name in ("left", "right"):
        code, out, err = cli("train", "--data", str(SAMPLE_DATA / "sentiment"), "--model", str(tiny_model_dir),
                             "--max-steps", "15", "--batch-size", "8", "--max-length", "32", "--name", name,
                             "--detach", "--json")
        assert code == 0, err
        ids.append(json.loads(out)["id"])
    store = RunStore(workspace)
    wait_for(lambda: all(store.get(i).status == "running" for i in ids) or
             all(store.get(i).status == "completed" for i in ids), timeout=120, interval=0.1)
    wait_for(lambda: all(store.get(i).status == "completed" for i in ids), timeout=240)
    runs = [store.get(i) for i in ids]
    assert runs[0].info["pid"] != runs[1].info["pid"]
    for run in runs:
        steps = [e["step"] for e in run.read_metrics() if e["kind"] == "train"]
        assert steps == sorted(set(steps)) and steps[-1] == 15
        assert (run.model_dir / "model.safetensors").is_file()
        assert len(run.read_predictions()) == 80
