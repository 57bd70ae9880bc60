"""The real CLI trains a tiny random BERT through the detached worker; assertions read the run store."""

import json
import os
import signal

import pytest

from helpers import SAMPLE_DATA, wait_for
from workbench.core.runs import RunStore

TOPICS = str(SAMPLE_DATA / "topics")


def tiny_args(model_dir, *extra):
    # A random tiny BERT learns mostly through its word embeddings, which text classification freezes by default
    # (right for pretrained ones): train them here, so 80 steps are enough to learn the topics.
    return ["train", "--data", TOPICS, "--model", str(model_dir), "--batch-size", "16", "--lr", "3e-3",
            "--max-length", "32", "--logging-steps", "2", "--embeddings", "train", *extra]


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """One foreground training run shared by the read-only assertions below."""
    from helpers import kill_workers
    from workbench.cli import main

    ws = tmp_path_factory.mktemp("trained-ws")
    code = main(["--workspace", str(ws), *tiny_args(tiny_model_dir, "--max-steps", "80", "--name", "topics-tiny", "--json")])
    yield ws, code
    kill_workers(ws)


def test_foreground_train_completes_with_falling_loss(trained):
    ws, code = trained
    assert code == 0
    run = RunStore(ws).get("topics-tiny")
    assert run.status == "completed"
    events = run.read_metrics()
    train = [e for e in events if e["kind"] == "train"]
    assert len(train) >= 20
    assert all({"loss", "lr", "grad_norm", "step", "epoch", "time"} <= e.keys() for e in train)
    assert any("samples_per_s" in e and "tokens_per_s" in e for e in train)
    first = sum(e["loss"] for e in train[:5]) / 5
    last = sum(e["loss"] for e in train[-5:]) / 5
    assert last < first * 0.8, (first, last)
    evals = [e for e in events if e["kind"] == "eval"]
    assert evals and "accuracy" in evals[-1] and "macro_f1" in evals[-1]
    assert [e["step"] for e in train] == sorted({e["step"] for e in train})  # no duplicated steps


def test_final_model_predictions_and_metrics(trained):
    ws, _ = trained
    run = RunStore(ws).get("topics-tiny")
    config = json.loads((run.model_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "business", "1": "science", "2": "sports", "3": "world"}
    assert config["label2id"]["world"] == 3
    assert (run.model_dir / "model.safetensors").is_file() and (run.model_dir / "tokenizer.json").is_file()
    assert not (run.model_dir / "training_args.bin").exists()
    preds = run.read_predictions()
    assert len(preds) == 80 and {"id", "input", "gold", "predicted", "scores"} <= preds[0].keys()
    accuracy = sum(p["gold"] == p["predicted"] for p in preds) / len(preds)
    assert accuracy == pytest.approx(run.metrics["accuracy"])
    assert run.info["data"]["eval"]["fingerprint"] and run.info["versions"]["transformers"]
    assert run.info["progress"]["step"] == 80 and run.info["progress"]["max_steps"] == 80


def test_runs_list_and_show_json(trained, capsys):
    from workbench.cli import main

    ws, _ = trained
    assert main(["--workspace", str(ws), "runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "topics-tiny"
    assert main(["--workspace", str(ws), "runs", "show", "topics-tiny", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"id", "name", "status", "pid", "run_dir", "task", "metrics"} <= shown.keys()
    assert shown["task"] == "text-classification" and {"accuracy", "macro_f1"} <= shown["metrics"].keys()


def test_eval_json(trained, capsys):
    from workbench.cli import main

    ws, _ = trained
    assert main(["--workspace", str(ws), "eval", "topics-tiny", "--data", str(SAMPLE_DATA / "topics" / "dev.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "labels"} <= report.keys()
    assert report["labels"] == ["business", "science", "sports", "world"]
    assert sum(map(sum, report["confusion_matrix"])) == 80
    # Same model, same dev set: the same accuracy as the run recorded.
    run = RunStore(ws).get("topics-tiny")
    assert report["accuracy"] == pytest.approx(run.metrics["accuracy"])


def test_detached_training_finishes_on_its_own(tiny_model_dir, cli, workspace):
    code, out, _ = cli(*tiny_args(tiny_model_dir, "--max-steps", "8", "--detach", "--json"))
    assert code == 0
    run_id = json.loads(out)["id"]
    store = RunStore(workspace)
    wait_for(lambda: store.get(run_id).status == "completed", timeout=180)
    assert (store.get(run_id).model_dir / "model.safetensors").is_file()


def test_stop_then_resume_to_the_same_step_count(tiny_model_dir, cli, workspace):
    code, out, _ = cli(*tiny_args(tiny_model_dir, "--max-steps", "400", "--eval-strategy", "steps",
                                  "--eval-steps", "20", "--detach", "--json"))
    run_id = json.loads(out)["id"]
    store = RunStore(workspace)
    wait_for(lambda: (store.get(run_id).info.get("progress") or {}).get("step", 0) >= 25, timeout=180)
    code, out, _ = cli("runs", "stop", run_id, "--wait", "120")
    assert code == 0
    run = store.get(run_id)
    assert run.status == "stopped"
    assert run.last_checkpoint() is not None and run.summary()["can_resume"]
    stopped_at = run.info["progress"]["step"]
    assert stopped_at < 400
    code, _, _ = cli("runs", "resume", run_id, "--json")
    assert code == 0
    run = store.get(run_id)
    assert run.status == "completed" and run.info["progress"]["step"] == 400
    steps = [e["step"] for e in run.read_metrics() if e["kind"] == "train"]
    assert len(steps) == len(set(steps)) and steps == sorted(steps)


def test_killed_worker_shows_as_crashed(tiny_model_dir, cli, workspace):
    code, out, _ = cli(*tiny_args(tiny_model_dir, "--max-steps", "2000", "--detach", "--json"))
    run_id = json.loads(out)["id"]
    store = RunStore(workspace)
    wait_for(lambda: store.get(run_id).status == "running" and store.get(run_id).info.get("progress"), timeout=180)
    pid = store.get(run_id).info["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: store.get(run_id).status == "crashed", timeout=30)
    code, out, _ = cli("runs", "show", run_id, "--json")
    assert json.loads(out)["status"] == "crashed"
    code, _, err = cli("runs", "stop", run_id)
    assert code == 2 and "not running" in err


@pytest.mark.parametrize("args,message", [
    (["--data", "/nonexistent/data.csv"], "data not found"),
    (["--data", str(SAMPLE_DATA / "README.md")], "unknown data format"),
    (["--data", TOPICS, "--text-column", "txt"], "did you mean 'text'"),
    (["--data", TOPICS, "--model", "no-such/model-anywhere"], "not found; tried"),
    (["--data", TOPICS, "--lr", "0"], "lr must be greater than 0"),
    (["--data", TOPICS, "--batch-size", "-4"], "batch_size must be greater than 0"),
    (["--data", TOPICS, "--epochs", "0"], "epochs must be greater than 0"),
    (["--data", TOPICS, "--max-length", "100000"], "exceeds what"),
    (["--data", TOPICS, "--name", "../escape"], "must not contain"),
    ([], "no training data"),
])
def test_bad_input_gives_one_error_line_and_no_run(cli, workspace, args, message):
    code, out, err = cli("train", *args)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in out + err
    assert RunStore(workspace).list() == []


def test_single_class_and_empty_data(cli, workspace, tmp_path):
    (tmp_path / "one.csv").write_text("text,label\n" + "".join(f"t{i},x\n" for i in range(10)))
    (tmp_path / "empty.csv").write_text("")
    for path, message in ((tmp_path / "one.csv", "single class"), (tmp_path / "empty.csv", "is empty")):
        code, _, err = cli("train", "--data", str(path))
        assert code == 2 and message in err


def test_save_config_writes_the_effective_config(cli, workspace, tmp_path):
    from workbench.core.config import RunConfig

    code, _, err = cli("train", "--data", "/nonexistent.csv", "--lr", "2e-5", "--save-config", str(tmp_path / "eff.yaml"))
    assert code == 2  # the data is missing, but the effective config was written first
    cfg = RunConfig.load(tmp_path / "eff.yaml")
    assert cfg.lr == 2e-5 and cfg.data == "/nonexistent.csv"


def test_inspect_cli_json(cli):
    code, out, _ = cli("datasets", "inspect", str(SAMPLE_DATA / "sentiment"), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["splits"]["train"]["label_counts"] == {"negative": 160, "positive": 160}
    assert {"p50", "p95", "max"} <= report["splits"]["train"]["token_length"].keys()


@pytest.mark.integration
def test_embedded_model_beats_majority_baseline(cli, workspace):
    """The real pretrained all-MiniLM-L6-v2, a few dozen steps on the sample sentiment set."""
    code, out, err = cli("train", "--data", str(SAMPLE_DATA / "sentiment"), "--max-steps", "40", "--batch-size", "16",
                         "--lr", "1e-4", "--max-length", "64", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["metrics"]["accuracy"] > 0.5 + 0.15  # majority baseline on the balanced dev set is 0.5
