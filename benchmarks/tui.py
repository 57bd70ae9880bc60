"""How the Textual workbench performs, measured on the real program in a pseudo-terminal.

1. start-up: process start → the Runs screen's first rows written to the terminal (target ≤ 1.0 s);
2. metric latency: a line appended to metrics.jsonl → its step counter written to the terminal (≤ 1 s);
3. training overhead: the worker's throughput with the Monitor open on it vs with no UI (≤ 2 %).

Prints a table and writes JSON (default ``bench_out/tui.json``). Example::

    python benchmarks/tui.py                       # all three, embedded MiniLM for the training part
    python benchmarks/tui.py --only startup latency
    python benchmarks/tui.py --model tiny --steps 400   # a tiny random BERT: many steps/s, UI-heavy case
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import pty
import random
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "ui"))

import canned  # noqa: E402  (canned run directories, shared with the UI tests)

QUIT = b"\x11"  # ctrl+q


class Terminal:
    """The workbench running in a pseudo-terminal, with everything it writes kept and time-stamped."""

    def __init__(self, workspace: Path, size=(100, 30)):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "workbench", "-w", str(workspace)], stdin=slave,
                                     stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.output = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.output += chunk

    def wait_for(self, marker: bytes, since: int = 0, timeout: float = 30.0) -> tuple[float, int]:
        """(perf_counter time when ``marker`` first appeared after byte ``since``, its end offset)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                at = self.output.find(marker, since)
            if at >= 0:
                return time.perf_counter(), at + len(marker)
            time.sleep(0.001)
        raise TimeoutError(f"{marker!r} did not appear within {timeout}s")

    @property
    def size(self) -> int:
        with self.lock:
            return len(self.output)

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        try:
            self.send(QUIT)
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


# --------------------------------------------------------------------------------------------------------
def bench_startup(repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        canned.make_run(ws, "bench-completed", status="completed", age_s=3600, steps=90, max_steps=90,
                        final={"accuracy": 0.9, "macro_f1": 0.9})
        times = []
        for _ in range(repeats):
            term = Terminal(ws)
            try:
                seen, _ = term.wait_for(b"bench-completed")
                times.append(seen - term.started)
            finally:
                term.close()
    return {"seconds": times, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def bench_latency(samples: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
        try:
            path = canned.make_run(ws, "bench-live", status="running", age_s=60, steps=45, max_steps=10_000,
                                   pid=sleeper.pid, heartbeat=time.time())
            term = Terminal(ws)
            try:
                term.wait_for(b"bench-live")
                term.send(b"\r")  # open the Monitor on it
                _, offset = term.wait_for(b"step 45/10,000")
                delays = []
                with open(path / "metrics.jsonl", "a") as fh:
                    for step in range(46, 46 + samples):
                        time.sleep(random.uniform(0.05, 0.6))  # land anywhere in the poll interval
                        since = term.size
                        event = {"time": time.time(), "kind": "train", "step": step, "epoch": 1.0, "loss": 0.3,
                                 "lr": 1e-5, "samples_per_s": 100.0}
                        fh.write(json.dumps(event) + "\n")
                        fh.flush()
                        written = time.perf_counter()
                        seen, _ = term.wait_for(f"step {step:,}/10,000".encode(), since=since, timeout=10)
                        delays.append(seen - written)
            finally:
                term.close()
        finally:
            sleeper.kill()
            sleeper.wait()
    return {"seconds": delays, "median_s": statistics.median(delays), "p90_s": sorted(delays)[int(0.9 * len(delays))],
            "max_s": max(delays)}


# --------------------------------------------------------------------------------------------------------
def tiny_model(folder: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertModel

    from workbench.core.models import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def train_once(ws: Path, model: str, steps: int, batch: int, *, with_monitor: bool) -> float:
    """Median samples/s of one run (the worker measures each logging interval, evaluations excluded)."""
    from workbench.core.config import RunConfig
    from workbench.core.runs import RunStore
    from workbench.ui.actions import launch_run

    cfg = RunConfig(data=str(REPO / "sample_data" / "sentiment"), model=model, max_steps=steps, batch_size=batch,
                    logging_steps=1, name=f"bench-{'monitor' if with_monitor else 'headless'}")
    store = RunStore(ws)
    run = launch_run(store, cfg)
    term = None
    try:
        if with_monitor:
            term = Terminal(ws)
            term.wait_for(cfg.name.encode())
            term.send(b"\r")  # newest run first: open its Monitor
        deadline = time.time() + 1800
        while store.get(run.id).is_active and time.time() < deadline:
            time.sleep(0.5)
    finally:
        if term is not None:
            term.close()
    events = [e for e in store.get(run.id).read_metrics() if e.get("kind") == "train" and e.get("samples_per_s")]
    rates = [e["samples_per_s"] for e in events[3:]]  # the first steps include warm-up
    if store.get(run.id).status != "completed" or not rates:
        raise RuntimeError(f"benchmark run {run.id} did not complete: see {run.path / 'stdout.log'}")
    return statistics.median(rates)


def bench_overhead(model: str, steps: int, batch: int, pairs: int) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        model_ref = str(tiny_model(ws / "tiny-model")) if model == "tiny" else model
        headless, monitored = [], []
        for i in range(pairs):  # interleaved, alternating which goes first, so drift hits both alike
            order = (False, True) if i % 2 == 0 else (True, False)
            for with_monitor in order:
                rate = train_once(ws, model_ref, steps, batch, with_monitor=with_monitor)
                (monitored if with_monitor else headless).append(rate)
    h, m = statistics.median(headless), statistics.median(monitored)
    return {"model": model, "steps": steps, "batch_size": batch, "headless_samples_per_s": headless,
            "monitor_samples_per_s": monitored, "headless_median": h, "monitor_median": m,
            "overhead_pct": 100.0 * (h - m) / h}


# --------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=("startup", "latency", "overhead"),
                        default=["startup", "latency", "overhead"])
    parser.add_argument("--repeats", type=int, default=7, help="start-ups to time")
    parser.add_argument("--samples", type=int, default=20, help="metric lines to time")
    parser.add_argument("--model", default="default", help="'default' (embedded MiniLM), 'tiny', or a model dir")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=2, help="headless/monitor run pairs")
    parser.add_argument("--out", default=str(REPO / "bench_out" / "tui.json"))
    args = parser.parse_args()

    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                 "platform": platform.platform()}}
    rows = []
    if "startup" in args.only:
        r = results["startup"] = bench_startup(args.repeats)
        rows.append(("start-up to first paint", f"{r['median_s']:.3f} s median (min {r['min_s']:.3f}, max {r['max_s']:.3f})",
                     "≤ 1.0 s", r["median_s"] <= 1.0))
    if "latency" in args.only:
        r = results["latency"] = bench_latency(args.samples)
        rows.append(("metric line → on screen", f"{r['median_s']:.3f} s median (p90 {r['p90_s']:.3f}, max {r['max_s']:.3f})",
                     "≤ 1.0 s", r["max_s"] <= 1.0))
    if "overhead" in args.only:
        r = results["overhead"] = bench_overhead(args.model, args.steps, args.batch_size, args.pairs)
        rows.append((f"training with Monitor open ({args.model})",
                     f"{r['monitor_median']:.1f} vs {r['headless_median']:.1f} samples/s headless: "
                     f"{r['overhead_pct']:+.1f} %", "≤ 2 %", r["overhead_pct"] <= 2.0))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'result':<62}  {'target':<8}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<{width}}  {value:<62}  {target:<8}  {'yes' if ok else 'NO'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
