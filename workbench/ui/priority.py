"""The workbench runs below the training it watches.

When training keeps the cores busy (CPU training), every millisecond the UI spends drawing is taken
from the trainer, and a burst on one core stalls a whole step of a multi-threaded op. So the UI thread
lowers its scheduling priority (nice) and draws in the cores' idle moments; the Monitor then costs the
trainer well under 2 % (benchmarks/tui.py).

Two facts shape this (Linux): nice is per thread, inherited by the threads and processes a thread
starts; and an unprivileged process can never raise it again. So worker launches go through one
thread started *before* the UI lowers itself, which keeps normal priority, and training never
inherits the UI's.
"""

from __future__ import annotations

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

UI_NICE = 10


def call_directly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


class NormalPriority:
    """Runs callables (process launches) in one thread that keeps the priority it was started with."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="normal-priority")
        self._pool.submit(lambda: None).result()  # start the thread now, before the UI lowers itself

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._pool.submit(fn, *args, **kwargs).result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)


def lower_ui_priority(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """Lower the UI's priority (the calling thread and the threads of ``loop``'s default executor, which
    run Textual's thread workers); returns how to run launches at normal priority.

    Only on Linux, where the change is per thread: elsewhere it would also slow the launches.
    """
    if not sys.platform.startswith("linux"):
        return call_directly
    spawn = NormalPriority()
    try:
        os.setpriority(os.PRIO_PROCESS, 0, max(UI_NICE, os.getpriority(os.PRIO_PROCESS, 0)))
    except OSError:
        spawn.shutdown()
        return call_directly
    # Threads take the priority of the thread that starts them: a fresh executor, whose threads the
    # lowered UI thread will start, replaces the one whose threads may predate this call.
    loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="ui-worker"))
    return spawn
