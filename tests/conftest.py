"""Shared fixtures: an offline environment, a tiny random BERT, temporary workspaces, worker clean-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests run on the CPU on every machine, a GPU box too (set before anything imports torch); the GPU branches
# are covered by pinning a CUDA host (hosts.py), not by the machine the suite happens to run on.
os.environ["CUDA_VISIBLE_DEVICES"] = ""
# Under pytest-xdist (`-n 2`), each test process and every worker process it starts would otherwise run one
# OpenMP thread per core: two test processes on two cores then oversubscribe them, and OpenMP's spin-waiting
# makes that much slower than sharing the cores out. So each process gets its share (set before torch is
# imported; the workers a test starts inherit it). A value the user set is kept; a serial run is left alone.
_xdist_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _xdist_workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _xdist_workers)))

from helpers import QA_TRAIN_FLAGS, REPO, SAMPLE_DATA, SHARED_DATASETS, kill_workers, wait_for  # noqa: F401  (re-exported)
from hosts import DEFAULT_HOST, HOSTS, pin_host  # noqa: E402

# The CPU flags too, for the whole session: session fixtures that train (before any function fixture runs)
# and every worker process see the default host. No GPU is visible, so NVML readings are empty as well.
os.environ["SFT_WORKBENCH_CPU_FLAGS"] = " ".join(sorted(DEFAULT_HOST.cpu_flags))


@pytest.fixture(autouse=True)
def pinned_host(monkeypatch):
    """Every test sees the same host, whatever machine runs it: an AVX2-only CPU without a GPU."""
    return pin_host(monkeypatch, DEFAULT_HOST)


@pytest.fixture(params=sorted(HOSTS))
def host(request, monkeypatch):
    """Runs the test once per kind of host (bf16-capable CPU, AVX2-only CPU, CUDA GPU), pinned."""
    return pin_host(monkeypatch, HOSTS[request.param])


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with the embedded model's tokenizer (no network)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from workbench.core.models import embedded_model_dir

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def workspace(tmp_path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    yield ws
    kill_workers(ws)


@pytest.fixture
def cli(workspace, capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from workbench.cli import main

    def run(*argv: str):
        code = main(["--workspace", str(workspace), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def ner_trained(tiny_model_dir, tmp_path_factory):
    """One tiny NER run on sample_data/ner (40 steps at lr 1e-2 learn it: entity F1 ~0.88), shared by the NER
    tests: ``(workspace, exit code)``; the run is named ``ner-tiny``."""
    from workbench.cli import main

    ws = tmp_path_factory.mktemp("ner-ws")
    code = main(["--workspace", str(ws), "train", "--data", str(SAMPLE_DATA / "ner"), "--model", str(tiny_model_dir),
                 "--batch-size", "16", "--lr", "1e-2", "--max-length", "48", "--max-steps", "40", "--logging-steps", "2",
                 "--eval-strategy", "steps", "--eval-steps", "20", "--name", "ner-tiny", "--json"])
    yield ws, code
    kill_workers(ws)


@pytest.fixture(scope="session")
def qa_trained(tiny_model_dir, tmp_path_factory):
    """One tiny extractive-QA run on sample_data/qa, shared by the QA tests: ``(workspace, exit code)``; the run is
    named ``qa-tiny``."""
    from workbench.cli import main

    ws = tmp_path_factory.mktemp("qa-ws")
    code = main(["--workspace", str(ws), "train", "--data", str(SAMPLE_DATA / "qa"), "--model", str(tiny_model_dir),
                 *QA_TRAIN_FLAGS, "--name", "qa-tiny", "--json"])
    yield ws, code
    kill_workers(ws)


# --- fuzz tests (tests/fuzz): a longer, randomised run on request -------------------------------------------
def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run the Hypothesis fuzz tests with the long profile (same as SFT_WORKBENCH_FUZZ_LONG=1; "
                          "read by tests/fuzz/conftest.py)")
