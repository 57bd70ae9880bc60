"""The hosts a test can run on, pinned: what the workbench reads of the machine is fixed by the test.

The workbench reads the host in two places: ``workbench.core.training.devices`` (CPU flags, CUDA, bf16 on the
GPU: what ``auto`` precision and attention become, and so the memory estimate) and
``workbench.core.telemetry.gpu_readings`` (NVML). Every test runs on ``DEFAULT_HOST`` (an AVX2-only CPU, no GPU,
the most common cloud machine) unless it asks for another with ``pin_host``; the CPU flags also reach the
worker processes a test starts, through ``SFT_WORKBENCH_CPU_FLAGS``. So no outcome depends on the machine that
runs the suite, and a test matrix over ``HOSTS`` covers every branch on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AVX2_FLAGS = frozenset("fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2".split())
BF16_FLAGS = AVX2_FLAGS | frozenset("avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_bf16 amx_int8 amx_tile".split())

H200 = {"index": 0, "name": "NVIDIA H200", "util": 0.0, "mem_used": 1 << 30, "mem_total": 150_754_820_096,
        "temp": 31.0, "power": 75.0}


@dataclass(frozen=True)
class Host:
    name: str
    cpu_flags: frozenset[str]
    cuda: bool = False
    cuda_bf16: bool = False
    gpus: tuple[dict, ...] = field(default_factory=tuple)


HOSTS = {
    "avx2-cpu": Host("avx2-cpu", AVX2_FLAGS),              # AMD EPYC Zen 3 and most cloud CPUs: no bf16 instructions
    "bf16-cpu": Host("bf16-cpu", BF16_FLAGS),              # Xeon Sapphire Rapids: AVX512-BF16 and AMX
    "cuda-gpu": Host("cuda-gpu", BF16_FLAGS, cuda=True, cuda_bf16=True, gpus=(H200,)),
}
DEFAULT_HOST = HOSTS["avx2-cpu"]


def pin_host(monkeypatch, host: Host) -> Host:
    """Make this process (and the workers it starts) see ``host``."""
    from workbench.core import telemetry
    from workbench.core.training import devices

    monkeypatch.setenv(devices.CPU_FLAGS_ENV, " ".join(sorted(host.cpu_flags)))
    monkeypatch.setattr(devices, "cuda_available", lambda: host.cuda)
    monkeypatch.setattr(devices, "cuda_bf16_supported", lambda: host.cuda_bf16)
    monkeypatch.setattr(devices, "device_name", lambda: "cuda:" + host.gpus[0]["name"] if host.cuda else "cpu")
    monkeypatch.setattr(telemetry, "gpu_readings", lambda: [dict(g) for g in host.gpus])
    return host
