"""The training process: ``python -m workbench.core.training.worker RUN_DIR [--resume]``.

Started by the launcher in its own session, so it outlives the terminal. It is the only writer of its
run directory and always leaves a truthful status: completed, stopped or failed (with the error).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import traceback
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workbench-worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    from workbench.core.errors import WorkbenchError
    from workbench.core.runs import COMPLETED, FAILED, RUNNING, STOP_FILE, STOPPED, RunWriter, now_iso

    # Under torchrun every process runs this; rank 0 owns the run directory, the others only read it.
    if int(os.environ.get("RANK", "0")) != 0:
        return run_secondary_rank(args.run_dir, resume=args.resume)
    try:
        writer = RunWriter(args.run_dir)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    # A closed terminal must not stop training; SIGTERM asks for a clean stop with a checkpoint.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # A file-size limit (or a full disk) must surface as an error we can report, not a silent kill.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: (args.run_dir / STOP_FILE).touch())

    writer.clear_stop()
    if not args.resume and writer.info.get("started"):
        # Started before and died before its first checkpoint: the queue runner starts it again from scratch.
        writer.truncate_metrics_after(-1)
    writer.update(status=RUNNING, pid=os.getpid(), host=socket.gethostname(), error=None,
                  started=writer.info.get("started") or now_iso(), finished=None,
                  resumes=writer.info.get("resumes", 0) + (1 if args.resume else 0))
    writer.start_heartbeat()
    print(f"worker {os.getpid()} {'resuming' if args.resume else 'starting'} run {writer.info.get('id')}", flush=True)
    try:
        from transformers.utils import logging as hf_logging

        from workbench.core.training.trainer import run_training

        hf_logging.disable_progress_bar()

        outcome = run_training(writer, resume=args.resume)
        status = STOPPED if outcome.stopped else COMPLETED
        writer.update(status=status, finished=now_iso())
        print(f"run {status}", flush=True)
        return 0
    except WorkbenchError as exc:
        print(f"error: {exc}", flush=True)
        writer.update(status=FAILED, error=str(exc), finished=now_iso())
        return 1
    except KeyboardInterrupt:
        writer.update(status=STOPPED, finished=now_iso())
        return 130
    except BaseException as exc:  # the log keeps the traceback; run.json keeps one line
        traceback.print_exc()
        message = describe_failure(exc)
        try:
            writer.update(status=FAILED, error=message, finished=now_iso())
        except OSError:
            pass  # nothing more can be written; the dead pid will read as crashed
        return 1
    finally:
        writer.clear_stop()
        writer.close()


def run_secondary_rank(run_dir: Path, *, resume: bool) -> int:
    """A torchrun rank other than 0: trains its shard, writes nothing; rank 0 reports any failure."""
    from workbench.core.runs import STOP_FILE, RankWriter

    # Like rank 0: SIGTERM asks every rank for a clean stop at the same step (the callback agrees on it).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: (run_dir / STOP_FILE).touch())
    from transformers.utils import logging as hf_logging

    from workbench.core.training.trainer import run_training

    hf_logging.disable_progress_bar()
    try:
        run_training(RankWriter(run_dir), resume=resume)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


_WRITE_FAILURES = ("inline_container", "PytorchStreamWriter", "file write failed", "No space left")


def describe_failure(exc: BaseException) -> str:
    """One line for run.json. Disk-full errors are named as such (torch.save hides ENOSPC in a RuntimeError)."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
    disk = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    if disk or any(marker in str(exc) for marker in _WRITE_FAILURES):
        return (f"writing to disk failed (disk full or file-size limit?): {text}. The last complete checkpoint is "
                "kept: free some space and resume the run.")
    return text


if __name__ == "__main__":
    raise SystemExit(main())
