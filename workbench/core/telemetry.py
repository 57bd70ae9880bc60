"""System readings: GPUs through nvidia-ml-py when present, CPU and RAM through psutil."""

from __future__ import annotations

import os
from typing import Any

_nvml_state: dict[str, Any] = {"tried": False, "ok": False}


def _nvml():
    if not _nvml_state["tried"]:
        _nvml_state["tried"] = True
        try:
            import pynvml

            pynvml.nvmlInit()
            _nvml_state.update(ok=True, mod=pynvml)
        except Exception:
            _nvml_state["ok"] = False
    return _nvml_state.get("mod") if _nvml_state["ok"] else None


def visible_gpus(count: int, env: str | None = None) -> list[int]:
    """The NVML indices of the GPUs this process may use: all of them, or those ``CUDA_VISIBLE_DEVICES`` names
    (NVML ignores that variable, CUDA does not). Indices only; an entry that is not one (a UUID) shows all GPUs."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES") if env is None else env
    if env is None:
        return list(range(count))
    picked = []
    for part in filter(None, (p.strip() for p in env.split(","))):
        if not part.lstrip("-").isdigit():
            return list(range(count))
        if not 0 <= int(part) < count:
            break  # CUDA stops at the first invalid index
        picked.append(int(part))
    return picked


def gpu_readings() -> list[dict[str, Any]]:
    """One dict per visible GPU (index, name, util %, memory used/total in bytes, temperature °C, power W)."""
    nv = _nvml()
    if nv is None:
        return []
    out = []
    try:
        count = nv.nvmlDeviceGetCount()
    except Exception:
        return []
    for i in visible_gpus(count):
        try:
            h = nv.nvmlDeviceGetHandleByIndex(i)
            name = nv.nvmlDeviceGetName(h)
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            util = nv.nvmlDeviceGetUtilizationRates(h)
            reading = {
                "index": i,
                "name": name.decode() if isinstance(name, bytes) else name,
                "util": float(util.gpu),
                "mem_used": int(mem.used),
                "mem_total": int(mem.total),
            }
            try:
                reading["temp"] = float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            except Exception:
                pass
            try:
                reading["power"] = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
            except Exception:
                pass
            out.append(reading)
        except Exception:
            continue
    return out


def system_readings(pid: int | None = None) -> dict[str, Any]:
    """CPU %, RAM, the process's RSS (when ``pid`` given) and GPU readings."""
    import psutil

    vm = psutil.virtual_memory()
    reading: dict[str, Any] = {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "cpu_count": os.cpu_count(),
        "ram_used": int(vm.total - vm.available),
        "ram_total": int(vm.total),
    }
    if pid:
        try:
            reading["rss"] = int(psutil.Process(pid).memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    gpus = gpu_readings()
    if gpus:
        reading["gpus"] = gpus
    return reading


# The CPU features that decide which kernels run (bf16 autocast, int8 matrix products, vector width).
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8")


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_name() -> str:
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# AMD (vendor AuthenticAMD) family numbers of the Zen generations; a virtual machine often reports only
# "AMD EPYC" as the model name, and Zen 1 (128-bit vector units) runs AVX2 code at about half Zen 3's rate.
# Family 23 holds Zen 1 and Zen+ (models below 0x30) and Zen 2, told apart by the model.
AMD_FAMILIES = {25: "Zen 3/Zen 4", 26: "Zen 5"}


def cpu_identity(cpuinfo: str | None = None) -> dict[str, Any]:
    """Vendor, family, model and stepping of the first processor in ``cpuinfo`` (default: /proc/cpuinfo; empty
    where there is none), with the AMD generation they name: the model name alone does not tell two CPUs of
    one brand apart."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                cpuinfo = fh.read()
        except OSError:
            return {}
    fields = {"vendor_id": "vendor", "cpu family": "family", "model": "model", "stepping": "stepping"}
    found: dict[str, Any] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if found:
                break  # the first processor's block is enough
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in fields:
            found[fields[key]] = int(value) if value.isdigit() else value
    if found.get("vendor") == "AuthenticAMD":
        family, model = found.get("family"), found.get("model")
        generation = (("Zen 1" if model < 0x30 else "Zen 2") if family == 23 and isinstance(model, int)
                      else AMD_FAMILIES.get(family))
        if generation:
            found["generation"] = generation
    return found


def _torch_cpu_capability() -> str | None:
    try:
        import torch

        return torch.backends.cpu.get_cpu_capability()
    except Exception:  # no torch, or one without the query
        return None


# Every package whose version shapes a run, an export or a figure: run.json, export manifests and benchmark
# results all record these, so they can be compared with each other.
PACKAGES = ("torch", "transformers", "datasets", "accelerate", "peft", "scikit-learn", "onnx", "onnxruntime",
            "onnxscript", "tokenizers", "numpy", "textual", "rich", "textual-plotext", "opacus")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Python's and each installed package's version (missing packages are left out)."""
    import importlib.metadata as md
    import platform

    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return versions


def host_record(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    """What a benchmark figure depends on: CPU model and flags, cores, GPUs, load, package versions.

    Every results file under benchmarks/ carries one, so a figure can be traced to the machine it came from."""
    import platform
    import time

    from workbench.core.training.devices import CPU_FLAGS_ENV, _proc_cpu_flags

    flags = _proc_cpu_flags()
    versions = package_versions(packages)
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu": cpu_name(),
        "cpu_identity": cpu_identity(),
        "cpu_kernel_flags": [f for f in KERNEL_FLAGS if f in flags],
        "cpu_flags": " ".join(sorted(flags)),
        # Set when the run was told to act as another CPU (devices.CPU_FLAGS_ENV): the flags it acted on.
        "cpu_flags_override": os.environ.get(CPU_FLAGS_ENV),
        # The vector level torch dispatches to (ATEN_CPU_CAPABILITY can lower it, e.g. to emulate an AVX2 CPU).
        "torch_cpu_capability": _torch_cpu_capability(),
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY"),
        "cores": os.cpu_count(),
        "cores_available": available_cores(),
        "gpus": [{"name": g["name"], "mem_total": g["mem_total"]} for g in gpu_readings()],
        "load_avg": load,
        "platform": platform.platform(),
        "versions": versions,
    }
