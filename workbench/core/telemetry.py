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


def gpu_readings() -> list[dict[str, Any]]:
    """One dict per GPU (index, name, util %, memory used/total in bytes, temperature °C, power W)."""
    nv = _nvml()
    if nv is None:
        return []
    out = []
    try:
        count = nv.nvmlDeviceGetCount()
    except Exception:
        return []
    for i in range(count):
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
