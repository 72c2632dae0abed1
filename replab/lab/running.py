"""How the Lab runs: a debouncer for live re-runs and a simulation that reports its progress.

Debouncing: a burst of control changes starts one run, `delay_s` after the last change.
Inside a Jupyter kernel the run is scheduled on the kernel's asyncio loop
(`loop.call_later`), so it happens on the kernel's main thread when the kernel is idle and
never races with cell code; without a running loop (plain Python, pytest) a daemon
`threading.Timer` does it. Nothing waits for a browser, so headless kernels never block.
`flush()` runs a pending call now, synchronously: the hook tests and notebooks use
(`Lab.wait()`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from replab.analysis.results import Results
from replab.config.scenario import Scenario
from replab.sim.model import run


class Debouncer:
    """Call `action` once, `delay_s` after the last `trigger()`; `flush()` calls it now if pending."""

    def __init__(self, delay_s: float, action: Callable[[], object]):
        self.delay_s = delay_s
        self.action = action
        self._pending = None  # an asyncio TimerHandle or a threading.Timer
        self._lock = threading.RLock()

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def trigger(self) -> None:
        with self._lock:
            self.cancel()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                timer = threading.Timer(self.delay_s, self._fire)
                timer.daemon = True
                self._pending = timer
                timer.start()
            else:
                self._pending = loop.call_later(self.delay_s, self._fire)

    def cancel(self) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None

    def flush(self) -> bool:
        """Run the pending action now (True), or wait for one in progress and return False."""
        with self._lock:
            if self._pending is None:
                return False
            self.cancel()
            self.action()
            return True

    def _fire(self) -> None:
        with self._lock:
            if self._pending is None:  # flushed or cancelled while this call waited
                return
            self._pending = None
            self.action()


def simulate(scenario: Scenario, progress: Callable[[float], None] | None = None,
             every_s: float = 0.1) -> Results:
    """`replab.run(scenario)`, reporting the share of simulated time done to `progress`."""
    return run(scenario, progress=progress, every_s=every_s)
