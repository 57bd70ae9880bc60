"""Everything whose outcome depends on the host, once per kind of host (pinned, see hosts.py): what ``auto``
precision and attention become, the memory estimate (CLI and Configure), the readings the Monitor gets, and a
real tiny training run on each kind of CPU. These run the same on any machine."""

from __future__ import annotations

import io
import json
import math

import pytest
from hosts import AVX2_FLAGS, HOSTS, Host, pin_host
from rich.console import Console

from workbench.core import telemetry
from workbench.core.config import RunConfig
from workbench.core.training import devices

EXPECTED = {"avx2-cpu": ("fp32", "sdpa"), "bf16-cpu": ("bf16", "eager"), "cuda-gpu": ("bf16", "sdpa")}


def test_auto_precision_and_attention_follow_the_host(host):
    cfg = RunConfig(data="x")
    assert (devices.resolve_precision(cfg), devices.resolve_attention(cfg)) == EXPECTED[host.name]
    # Explicit settings win on every host.
    assert devices.resolve_precision(RunConfig(data="x", precision="fp32")) == "fp32"
    assert devices.resolve_attention(RunConfig(data="x", attention="sdpa")) == "sdpa"


def test_an_older_gpu_gets_fp16(monkeypatch):
    pin_host(monkeypatch, Host("v100", AVX2_FLAGS, cuda=True, cuda_bf16=False, gpus=HOSTS["cuda-gpu"].gpus))
    assert devices.resolve_precision(RunConfig(data="x")) == "fp16"


def test_cpu_flags_come_from_the_environment_or_proc_cpuinfo(monkeypatch):
    monkeypatch.setenv(devices.CPU_FLAGS_ENV, "avx2 amx_bf16")
    assert devices.cpu_flags() == {"avx2", "amx_bf16"} and devices.cpu_supports_bf16()
    monkeypatch.setenv(devices.CPU_FLAGS_ENV, "")
    assert devices.cpu_flags() == frozenset() and not devices.cpu_supports_bf16()
    monkeypatch.delenv(devices.CPU_FLAGS_ENV)
    assert devices.cpu_flags() == devices._proc_cpu_flags()


def test_memory_estimate_follows_the_host(host, tiny_model_dir):
    from workbench.core.memory import estimate_for_run

    est, gpu_bytes = estimate_for_run(RunConfig(data="x", model=str(tiny_model_dir)))
    assert gpu_bytes == (HOSTS["cuda-gpu"].gpus[0]["mem_total"] if host.cuda else None)
    fp32, _ = estimate_for_run(RunConfig(data="x", model=str(tiny_model_dir), precision="fp32"))
    # Activations are kept in 16 bits under bf16 autocast: half of fp32's.
    assert est.activations == (fp32.activations / 2 if EXPECTED[host.name][0] == "bf16" else fp32.activations)


def test_the_cli_estimate_names_the_device_and_warns_near_the_gpu_limit(host, monkeypatch, tiny_model_dir):
    from workbench.cli.commands import _print_memory_estimate

    def printed() -> str:
        out = io.StringIO()
        _print_memory_estimate(Console(file=out, width=200, no_color=True), RunConfig(data="x", model=str(tiny_model_dir)))
        return out.getvalue()

    text = printed()
    assert ("estimated peak GPU memory" in text) == host.cuda
    assert ("estimated peak RAM (CPU training) memory" in text) == (not host.cuda)
    assert "warning" not in text
    if host.cuda:  # the same model on a GPU too small for it
        small = dict(host.gpus[0], mem_total=64 << 20)
        monkeypatch.setattr(telemetry, "gpu_readings", lambda: [small])
        assert "more than 90% of the GPU's" in printed()


def test_system_readings_carry_the_gpus_of_the_host(host):
    reading = telemetry.system_readings()
    assert reading["cpu_count"] >= 1 and reading["ram_total"] > 0
    assert [g["name"] for g in reading.get("gpus", [])] == (["NVIDIA H200"] if host.cuda else [])


@pytest.mark.parametrize("env,expected", [(None, [0, 1, 2]), ("", []), ("2,0", [2, 0]), ("1,9,2", [1]),
                                          ("GPU-5e7c", [0, 1, 2])])
def test_telemetry_shows_only_the_gpus_cuda_may_use(env, expected, monkeypatch):
    if env is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    assert telemetry.visible_gpus(3) == expected


async def test_configure_shows_the_estimate_for_the_host(host, workspace):
    from ui_helpers import new_app, wait_until

    from workbench.core.memory import estimate_for_run

    est, _ = estimate_for_run(RunConfig(data="x"))
    app = new_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        memory = app.screen.query_one("#cfg-memory")
        await wait_until(pilot, lambda: "GiB" in str(memory.render()), what="memory estimate", timeout=60)
        shown = str(memory.render())
    assert f"{est.total / 2**30:.1f} GiB {'per GPU' if host.cuda else 'RAM (CPU)'}" in shown


@pytest.mark.slow
@pytest.mark.parametrize("name", ["avx2-cpu", "bf16-cpu"])
def test_a_real_run_trains_with_the_precision_of_its_cpu(name, monkeypatch, tiny_model_dir, cli, workspace):
    from helpers import SAMPLE_DATA

    pin_host(monkeypatch, HOSTS[name])  # the worker process inherits the CPU flags
    code, out, err = cli("train", "--data", str(SAMPLE_DATA / "topics"), "--model", str(tiny_model_dir), "--max-steps", "6",
                         "--batch-size", "8", "--max-length", "32", "--logging-steps", "2", "--name", name, "--json")
    assert code == 0, err
    info = json.loads((workspace / "runs" / json.loads(out[out.index("{"):])["id"] / "run.json").read_text())
    assert (info["precision"], info["attention"], info["device"]) == (*EXPECTED[name], "cpu")
    losses = [e["loss"] for e in map(json.loads, (workspace / "runs" / info["id"] / "metrics.jsonl").read_text().splitlines())
              if e.get("kind") == "train" and "loss" in e]
    assert losses and all(math.isfinite(v) for v in losses)


def test_the_host_record_of_a_benchmark_names_the_real_cpu_and_any_override(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    record = telemetry.host_record()
    assert record["cpu_flags"] == " ".join(sorted(devices._proc_cpu_flags()))  # the real flags, not the pinned ones
    assert record["cpu_flags_override"] == " ".join(sorted(HOSTS["avx2-cpu"].cpu_flags))  # what the run acted on
    assert record["aten_cpu_capability_env"] == "avx2" and record["torch_cpu_capability"]
    assert set(record["cpu_kernel_flags"]) <= set(telemetry.KERNEL_FLAGS) and record["cores"] >= 1
    assert {"torch", "transformers", "onnxruntime", "textual"} <= set(record["versions"])
    assert record["cpu_identity"] == telemetry.cpu_identity() and telemetry.cpu_identity("") == {}


CPUINFO_BLOCK = "processor\t: {n}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n" \
                "model name\t: {name}\nstepping\t: 2\nflags\t\t: fpu avx2 fma\n\n"


@pytest.mark.parametrize("vendor, family, model, generation", [
    ("AuthenticAMD", 23, 1, "Zen 1"),         # Naples: 128-bit AVX2 units, this project's slowest CI host
    ("AuthenticAMD", 23, 49, "Zen 2"),        # Rome
    ("AuthenticAMD", 25, 1, "Zen 3/Zen 4"),   # Milan
    ("AuthenticAMD", 21, 2, None),            # Bulldozer era: no generation named
    ("GenuineIntel", 6, 143, None),           # Sapphire Rapids: Intel's model numbers name no generation here
])
def test_the_host_record_tells_cpus_of_one_name_apart(vendor, family, model, generation):
    text = "".join(CPUINFO_BLOCK.format(n=n, vendor=vendor, family=family, model=model, name="AMD EPYC")
                   for n in range(2))
    identity = telemetry.cpu_identity(text)
    assert (identity["vendor"], identity["family"], identity["model"], identity["stepping"]) == (vendor, family, model, 2)
    assert identity.get("generation") == generation
