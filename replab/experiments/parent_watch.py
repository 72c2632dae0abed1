"""Worker processes end when the process that started them ends, however it ends.

A sweep killed with SIGKILL cannot shut its pool down; its spawned workers (~210 MB each)
would run on, orphaned. Each worker arms Linux's PR_SET_PDEATHSIG (the kernel kills it when
its parent dies) and, on any OS, a thread that polls its parent's pid. Kept apart from the
engines so a process can arm it without importing the model.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

PARENT_POLL_S = 0.5


def die_with_parent(parent_pid: int, nice: int = 0) -> None:
    """A pool's initializer: end this process once `parent_pid` is no longer its parent; `nice`:
    lower its priority by that much (a Lab's background runs yield the CPU to the kernel)."""
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass  # not Linux: the thread below is enough
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the signal was armed

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="replab-parent-watch", daemon=True).start()


def background_helper(parent_pid: int, nice: int = 0) -> None:
    """The initializer of a process that works for its parent in the background (a Lab's runs
    ahead): as `die_with_parent`, and deaf to SIGINT. Interrupting a Jupyter kernel signals its
    whole process group; the interrupt is for the student's cell, and a helper killed by it
    printed a KeyboardInterrupt traceback in JupyterLab's terminal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid, nice)


__all__ = ["PARENT_POLL_S", "background_helper", "die_with_parent"]
