"""The child processes of real runs, and the promise that none outlives its run.

Every server is started in a process group of its own (so a signal reaches it and only it)
with a parent-death signal (SIGKILL when the thread that started it goes away, so even a
`kill -9` of Python takes the servers with it). Every child and every network of a run is
registered here; `Cleanup` undoes them in reverse order, and an atexit hook undoes whatever
a run could not (an interpreter leaving in the middle of a run).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path
from shutil import which

_live_cleanups: set[Cleanup] = set()
_lock = threading.Lock()


class Child:
    """One server process: its name, its Popen and the log it writes."""

    def __init__(self, name: str, argv: list[str], log: Path):
        self.name = name
        self.log = log
        # SIGKILL on parent death is a safety net; without setpriv, Cleanup still does the job
        guard = ["setpriv", "--pdeathsig", "KILL"] if which("setpriv") else []
        prefix, command = _split_prefix(argv)
        with open(log, "ab") as out:
            self.popen = subprocess.Popen([*prefix, *guard, *command], stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.popen.pid
        self.stopped = False  # SIGSTOP sent and not yet SIGCONT

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)
        self.stopped = signum == signal.SIGSTOP or (self.stopped and signum != signal.SIGCONT)

    def kill(self, wait_s: float = 5.0) -> None:
        """SIGKILL the process group and reap it."""
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=wait_s)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])


def _split_prefix(argv: list[str]) -> tuple[list[str], list[str]]:
    """`ip netns exec NS cmd...` -> (the ip part, cmd...): the guard goes right before the server."""
    if argv[:3] == ["ip", "netns", "exec"]:
        return argv[:4], argv[4:]
    return [], argv


class Cleanup:
    """What one run made (children, networks, folders), undone in reverse order, once."""

    def __init__(self):
        self.children: list[Child] = []
        self._undo: list = []
        self.done = False
        with _lock:
            _live_cleanups.add(self)

    def child(self, name: str, argv: list[str], log: Path) -> Child:
        child = Child(name, argv, log)
        self.children.append(child)
        return child

    def later(self, undo) -> None:
        """Call `undo()` at cleanup time, after the children are dead (last added, first run)."""
        self._undo.append(undo)

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        for child in self.children:
            if child.stopped:
                child.signal(signal.SIGCONT)  # a stopped process dies of SIGKILL anyway; be explicit
            child.kill()
        errors = []
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception as err:  # keep undoing the rest; report the first failure
                errors.append(err)
        with _lock:
            _live_cleanups.discard(self)
        if errors:
            raise errors[0]


@atexit.register
def _clean_everything() -> None:
    with _lock:
        pending = list(_live_cleanups)
    for cleanup in pending:
        with contextlib.suppress(Exception):
            cleanup()


class SignalsAsInterrupts:
    """While a run is on (main thread only), SIGTERM raises KeyboardInterrupt like Ctrl-C does,
    so the run's `finally` cleans up either way."""

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._interrupt)
        return self

    @staticmethod
    def _interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        return False
