"""The queue runner: ``python -m workbench.core.training.queue_runner WORKSPACE``.

Started detached by ``RunQueue.ensure_runner`` (its own session: closing the terminal does not stop it). One per
workspace: it holds ``queue/runner.lock`` for its life and exits at once when another runner holds it. Each tick
it looks at the started entries (a run that ended leaves the queue; one killed with the runner or by a reboot
is resumed from its last checkpoint, or started again when it had none), then starts waiting entries while a
device is free: one run at a time on a CPU, up to ``parallel`` on a machine with that many GPUs, one GPU each.
It exits when the queue is empty (or paused with nothing running); the next queue command starts it again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.queue import QUEUE_DIR, RUNNER_FILE, QueueState, RunQueue, acquire_runner_lock, entry_age
from workbench.core.runs import CRASHED, FAILED, QUEUED, RUNNING, STOPPED, Run, RunWriter, atomic_write_json, now_iso
from workbench.paths import Workspace

TICK_S = 1.0
# A run the runner launched that has not written its pid after this long never started (its process is gone).
START_GRACE_S = 60.0
# A run that keeps dying (killed, not failing with an error) is given up after this many starts.
MAX_ATTEMPTS = 3
IDLE_EXIT_S = 3.0


def queue_devices() -> list[int]:
    """The GPUs a queued run may be given (NVML indices, honouring CUDA_VISIBLE_DEVICES); empty on a CPU host."""
    from workbench.core.telemetry import gpu_readings

    return [g["index"] for g in gpu_readings()]


class QueueRunner:
    def __init__(self, workspace: Workspace, *, devices: list[int] | None = None):
        self.queue = RunQueue(workspace)
        self.store = self.queue.store
        self.devices = queue_devices() if devices is None else devices
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def log(self, message: str) -> None:
        print(f"{now_iso()} {message}", flush=True)

    # --- one pass -------------------------------------------------------------------------------------
    def tick(self) -> bool:
        """Check started runs, start waiting ones; False when there is nothing left to do."""
        ended: list[Run] = []
        with self.queue.editing() as state:
            busy = self._check_started(state, ended)
            if not state.paused and not self.stopping:
                self._start_waiting(state, busy)
            working = bool(state.started) or (bool(state.entries) and not state.paused)
        for run in ended:
            self._tell_sweep(run)
        return working

    def _slots(self, state: QueueState) -> list[int | None]:
        if not self.devices:
            return [None]  # a CPU: one run at a time
        return self.devices[: max(1, state.parallel)]

    def _check_started(self, state: QueueState, ended: list[Run]) -> set[int | None]:
        busy: set[int | None] = set()
        for entry in list(state.started):
            if entry["kind"] != "run":
                continue
            try:
                run = self.store.get(entry["id"])
            except WorkbenchError:
                state.entries.remove(entry)  # deleted meanwhile
                continue
            proc = self.procs.get(run.id)
            status = run.status
            # A worker this runner started is in progress while its process lives (whatever run.json says while it
            # starts); one an earlier runner started, while its run says so.
            alive = proc.poll() is None if proc is not None else (
                status == RUNNING or (status == QUEUED and entry_age(entry) < START_GRACE_S))
            if alive:
                busy.update(entry.get("devices") or [None])
                continue
            if status in (CRASHED, QUEUED, RUNNING):  # killed (with the runner, by a reboot, OOM) or never started
                if entry.get("attempts", 1) < MAX_ATTEMPTS:
                    self._launch(run, entry, resume=run.last_checkpoint() is not None)
                    busy.update(entry.get("devices") or [None])
                    continue
                self._give_up(run, entry)
                run.reload()
            self.procs.pop(run.id, None)
            state.entries.remove(entry)
            self.log(f"run {run.id} left the queue: {run.status}")
            ended.append(run)
        return busy

    def _start_waiting(self, state: QueueState, busy: set[int | None]) -> None:
        for entry in list(state.waiting):
            free = [d for d in self._slots(state) if d not in busy]
            if not free:
                return
            if entry["kind"] == "sweep":
                run = self._next_trial(state, entry)
                if run is None:
                    continue
                entry = {"kind": "run", "id": run.id, "added": now_iso()}
                state.entries.insert(state.entries.index(self._sweep_entry(state, run)), entry)
            else:
                try:
                    run = self.store.get(entry["id"])
                except WorkbenchError:
                    state.entries.remove(entry)
                    continue
                resuming = entry.get("resume") and run.status == STOPPED  # a stopped sweep trial, resumed
                if run.stored_status != QUEUED and not resuming:  # stopped or started by hand meanwhile
                    state.entries.remove(entry)
                    continue
            need = max(1, int(run.config.get("nproc") or 1)) if self.devices else 1
            if len(free) < need:
                return  # the order is kept: a later, smaller run does not jump the queue
            entry["devices"] = free[:need] if self.devices else None
            busy.update(entry["devices"] or [None])
            self._launch(run, entry, resume=bool(entry.get("resume")) and run.last_checkpoint() is not None)

    def _sweep_entry(self, state: QueueState, run: Run) -> dict[str, Any]:
        sweep_id = (run.info.get("sweep") or {}).get("id")
        return next(e for e in state.entries if e["kind"] == "sweep" and e["id"] == sweep_id)

    def _next_trial(self, state: QueueState, entry: dict[str, Any]) -> Run | None:
        """A new trial of the sweep (a queued run), or None when the sweep asks for none now. A sweep with nothing
        more to ask and no trial left in the queue is done and leaves it."""
        from workbench.core.sweeps import SweepStore

        sweeps = SweepStore(self.queue.workspace)
        try:
            run = sweeps.next_trial(entry["id"])
        except WorkbenchError as exc:  # the sweep's data or model broke meanwhile: it cannot go on
            self.log(f"sweep {entry['id']}: {exc}")
            sweeps.mark(entry["id"], "failed", error=str(exc))
            run = None
        if run is not None:
            self.log(f"sweep {entry['id']}: trial {run.info['sweep']['trial']} is run {run.id}")
            return run
        mine = {r.id for r in sweeps.trial_runs(entry["id"])}
        if not any(e["kind"] == "run" and e["id"] in mine for e in state.entries):
            state.entries.remove(entry)
            sweeps.finish(entry["id"])
            self.log(f"sweep {entry['id']} left the queue")
        return None

    # --- starting and ending runs ------------------------------------------------------------------------
    def _launch(self, run: Run, entry: dict[str, Any], *, resume: bool) -> None:
        from workbench.core.training.launcher import launch_worker

        env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, entry["devices"]))} if entry.get("devices") else None
        proc = launch_worker(run, resume=resume, env=env)
        self.procs[run.id] = proc
        entry["attempts"] = entry.get("attempts", 0) + 1
        entry["started"] = now_iso()
        how = "resuming from " + run.last_checkpoint().name if resume else "starting"
        self.log(f"run {run.id}: {how} (pid {proc.pid}, attempt {entry['attempts']}, devices {entry.get('devices') or 'cpu'})")

    def _give_up(self, run: Run, entry: dict[str, Any]) -> None:
        try:
            writer = RunWriter(run.path)
        except WorkbenchError:
            return
        try:
            writer.update(status=FAILED, finished=now_iso(),
                          error=f"the worker died {entry.get('attempts', 1)} times without finishing; the queue gave up on it "
                                f"(see {run.log_path}).")
        finally:
            writer.close()

    def _tell_sweep(self, run: Run) -> None:
        if not run.info.get("sweep"):
            return
        from workbench.core.sweeps import SweepStore

        try:
            SweepStore(self.queue.workspace).trial_ended(run)
        except Exception as exc:  # a sweep's bookkeeping must never stop the queue
            self.log(f"run {run.id}: could not report to its sweep: {type(exc).__name__}: {exc}")

    # --- the loop --------------------------------------------------------------------------------------
    def beat(self) -> None:
        atomic_write_json(self.queue.dir / RUNNER_FILE, {"pid": os.getpid(), "host": socket.gethostname(),
                                                         "started": self.started, "heartbeat": now_iso()})

    def loop(self) -> int:
        self.started = now_iso()
        idle_since: float | None = None
        while True:
            try:
                working = self.tick()
            except Exception:  # logged; the runner goes on (a run's own failure is in the run store)
                traceback.print_exc()
                working = True
            self.beat()
            if working or any(p.poll() is None for p in self.procs.values()):
                idle_since = None
            else:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= IDLE_EXIT_S:
                    self.log("queue empty: runner exits")
                    return 0
            if self.stopping:
                return 0
            time.sleep(TICK_S)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m workbench.core.training.queue_runner WORKSPACE", file=sys.stderr)
        return 2
    workspace = Workspace.resolve(args[0])
    lock = acquire_runner_lock(workspace.root / QUEUE_DIR)
    if lock is None:
        print(f"{now_iso()} another queue runner holds {workspace.root / QUEUE_DIR}; this one exits", flush=True)
        return 0
    runner = QueueRunner(workspace)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # SIGTERM: start nothing new and exit; the runs go on (they are processes of their own) and a new runner
    # picks them up.
    signal.signal(signal.SIGTERM, lambda *_: setattr(runner, "stopping", True))
    runner.log(f"queue runner {os.getpid()} for {workspace.root} (devices: {runner.devices or 'cpu'})")
    try:
        return runner.loop()
    finally:
        lock.close()


if __name__ == "__main__":
    raise SystemExit(main())
