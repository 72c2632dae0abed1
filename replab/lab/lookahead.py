"""Runs ahead of the student: the settings a Lab is likely to be given next, run while it is looked at.

A whole run takes 0.3-1.5 s of simulation (benchmarks/LAB_RESULTS.md), longer than a Lab
should make a student wait. But a student mostly moves a control one notch, tries another
option of a dropdown, flips a checkbox, or goes back to where they were; and between
changes they look at the charts for a few seconds, while the machine's second core idles.
`Lookahead` uses that time: from each change on, a Lab asks it for the runs one change away
(`neighbours`), and one background process, at a lower priority than the kernel, runs
them in turn, most likely first (the Lab changed last goes first). A change to a setting already run is then drawn at once
from its Results, with no simulation in the kernel.

Nothing about the results changes: a scenario and its seed give the same Results in any
process (a test compares them frame by frame), so a result run ahead is the result.

    Lookahead(size=8)        the Results of the last `size` scenarios, and the runs queued
    lookahead.get(s)         Results of scenario `s` if run already, else None
    lookahead.keep(s, r)     remember a run the Lab did itself
    lookahead.plan(ss)       run these next (most likely first); drops the rest of the old plan
                             and the runs another Lab planned and the process has not started
    lookahead.when_ready(s, callback)   callback(results) on the loop when `s` is run ahead
    neighbours(scenario, controls, last=(path, old, new))   the scenarios one change away

On by default when the process may use two CPUs or more (`local_workers`: its affinity,
capped by a container's CPU quota); `REPLAB_LOOKAHEAD=0` turns it off (with one CPU the worker would
compete with the kernel). The worker is a spawned process that ends with the kernel,
however the kernel ends (replab.experiments.parent_watch), and not when the kernel is
interrupted (the interrupt is for the student's cell), or after IDLE_S (2 minutes)
with nothing to run; it takes about 200 MB while it lives. A script that runs a Lab on an
asyncio loop needs the usual `if __name__ == "__main__":` guard, as for any spawned process.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import math
import multiprocessing
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from replab.analysis.results import Results
from replab.config.scenario import Scenario
from replab.experiments.engines import local_workers
from replab.experiments.parent_watch import background_helper
from replab.lab.controls import decimals, replaced
from replab.sim.model import run

WORKER_NICE = 10  # the kernel's own run and the browser come first
PLANNED = 8  # runs queued after each change: what a few seconds of looking can pay for


def enabled() -> bool:
    """Whether Labs run ahead here: two CPUs or more, and REPLAB_LOOKAHEAD is not '0'."""
    return os.environ.get("REPLAB_LOOKAHEAD", "1") != "0" and local_workers() >= 2


class Lookahead:
    """A Lab's store of finished runs and its plan of runs to do ahead, on one background process."""

    def __init__(self, size: int = 8):
        self.size = size
        self._done: OrderedDict[Scenario, Results] = OrderedDict()  # least recently used first
        self._queued: dict[Scenario, Future] = {}
        self._waiting: dict[Scenario, list[Callable[[Results], None]]] = {}
        self._lock = threading.Lock()
        self.ran_ahead = 0  # runs finished in the background
        self.served = 0  # changes drawn from a run done ahead

    # what is known ---------------------------------------------------------------------------
    def get(self, scenario: Scenario) -> Results | None:
        with self._lock:
            results = self._done.get(scenario)
            if results is not None:
                self._done.move_to_end(scenario)
            return results

    def keep(self, scenario: Scenario, results: Results) -> None:
        with self._lock:
            self._done[scenario] = results
            self._done.move_to_end(scenario)
            while len(self._done) > self.size:
                self._done.popitem(last=False)

    def queued(self, scenario: Scenario) -> bool:
        """True while `scenario` waits for, or runs on, the background process."""
        with self._lock:
            return scenario in self._queued

    # running ahead -----------------------------------------------------------------------------
    def plan(self, scenarios: Iterable[Scenario]) -> None:
        """Run these next, in this order; runs of the old plan not started yet are dropped, and so
        are those of another Lab in the kernel (the student works in one Lab at a time)."""
        global _PLANNER
        other = _PLANNER() if _PLANNER is not None else None
        if other is not None and other is not self:
            other._drop(keep=())
        _PLANNER = weakref.ref(self)
        wanted = [s for s in dict.fromkeys(scenarios) if self.get(s) is None][:PLANNED]
        self._drop(keep=wanted)
        with self._lock:
            wanted = [s for s in wanted if s not in self._queued]
        for scenario in wanted:
            try:
                future = _submit(scenario)
            except BrokenProcessPool:  # the worker died (killed, out of memory): start afresh next time
                shut_down()
                return
            with self._lock:
                self._queued[scenario] = future
            future.add_done_callback(lambda f, s=scenario: self._finished(s, f))

    def _drop(self, keep: list[Scenario]) -> None:
        """Cancel the queued runs not started yet, but those in `keep` and those a change waits for."""
        with self._lock:
            stale = [f for s, f in self._queued.items() if s not in keep and s not in self._waiting]
        for future in stale:
            future.cancel()  # if not started; its callback (`_finished`) forgets it

    def when_ready(self, scenario: Scenario, callback: Callable[[Results], None]) -> bool:
        """Call `callback(results)` on the running loop once `scenario`, queued, has run; False if not queued."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if scenario not in self._queued:
                return False
            self._waiting.setdefault(scenario, []).append(lambda r: loop.call_soon_threadsafe(callback, r))
            return True

    def forget_waiting(self) -> None:
        """The Lab has moved on: no callback is owed any more."""
        with self._lock:
            self._waiting.clear()

    def _finished(self, scenario: Scenario, future: Future) -> None:
        # on the pool's own thread
        with self._lock:
            self._queued.pop(scenario, None)
            callbacks = self._waiting.pop(scenario, [])
        if future.cancelled() or future.exception() is not None:
            return  # the Lab runs it itself if it is asked for (and shows the error then)
        results = future.result()
        self.ran_ahead += 1
        self.keep(scenario, results)
        for callback in callbacks:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is looking
                callback(results)


def neighbours(scenario: Scenario, controls: dict[str, Any], last: tuple[str, Any, Any] | None = None) -> list[Scenario]:
    """The valid scenarios one control change away from `scenario`, most likely first.

    First the control moved last, one more notch the same way; then every other option of
    each dropdown and checkbox; then one notch either way on each slider. `last` is
    (path, old value, new value) of the last change, or None. A notch is a slider's step
    where it has 20 steps or fewer; on a finer slider (write ratio in hundredths) a hand
    lets go at round values, so its notches are the round values a tenth of its range apart
    (0.1, 0.2, 0.5, 1, 2, 5, ... times a power of ten): from 0.45, 0.5 and 0.4.
    """
    steps: list[tuple[str, Any]] = []
    if last is not None:
        path, old, new = last
        if path in controls and _is_number(new) and _is_number(old) and new != old:
            up, down = _notches(controls[path], new)
            steps.append((path, up if new > old else down))
    for path in controls:
        field = Scenario.field(path)
        if field.kind == "choice":
            steps += [(path, option) for option in controls[path].options]
        elif field.kind == "bool":
            steps.append((path, not scenario.get(path)))
    for path, widget in controls.items():
        if Scenario.field(path).kind in ("int", "float") and hasattr(widget, "step") and path != "seed":
            steps += [(path, value) for value in _notches(widget, scenario.get(path))]
    found: list[Scenario] = []
    for path, value in steps:
        candidate = _changed(scenario, controls.get(path), path, value)
        if candidate is not None and candidate != scenario and candidate not in found:
            found.append(candidate)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _notches(widget, value: float) -> tuple[float, float]:
    """The values one notch above and below `value` on a slider (see `neighbours`)."""
    step, span = widget.step, widget.max - widget.min
    if span <= 20 * step:
        return value + step, value - step
    wanted = span / 10
    power = 10 ** math.floor(math.log10(wanted))
    notch = min((m * power for m in (1, 2, 5, 10)), key=lambda n: abs(n - wanted))
    place = value / notch
    if abs(place - round(place)) < 1e-9:
        place = round(place)  # 0.2 / 0.1 is 2.0000000000000004: on a notch, not past it
    up, down = (math.floor(place) + 1) * notch, (math.ceil(place) - 1) * notch
    places = decimals(step)
    return round(up, places), round(down, places)


def _changed(scenario: Scenario, widget, path: str, value: Any) -> Scenario | None:
    """`scenario` with one field changed as its control would hold it, or None if not valid."""
    if widget is not None and hasattr(widget, "max") and not (widget.min <= value <= widget.max):
        return None
    return replaced(scenario, path, value)


IDLE_S = 120.0  # the process ends after this long with nothing to run (a kernel left open keeps no 200 MB)
_POOL: ProcessPoolExecutor | None = None
_PLANNER: weakref.ref | None = None  # the Lookahead that planned last
_POOL_LOCK = threading.RLock()
_OUTSTANDING = 0  # runs submitted and not ended (done, failed or cancelled)
_IDLE: threading.Timer | None = None


def _submit(scenario: Scenario) -> Future:
    """Queue one run on the background process every Lab of this kernel shares (started now if
    it is not running; one worker: one spare CPU)."""
    global _POOL, _OUTSTANDING, _IDLE
    with _POOL_LOCK:
        if _IDLE is not None:
            _IDLE.cancel()
            _IDLE = None
        if _POOL is None:
            # spawn: a fresh interpreter (forking a kernel copies its threads)
            # the worker imports what it runs and no more (not this module: widgets and plotly, 0.7 s)
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=background_helper, initargs=(os.getpid(), WORKER_NICE))
        future = _POOL.submit(run, scenario)
        _OUTSTANDING += 1
    future.add_done_callback(_ended)
    return future


def _ended(_future: Future) -> None:
    """A run ended: with nothing left to run, the process ends after IDLE_S."""
    global _OUTSTANDING, _IDLE
    with _POOL_LOCK:
        _OUTSTANDING -= 1
        if _OUTSTANDING == 0 and _POOL is not None and _IDLE is None:
            _IDLE = threading.Timer(IDLE_S, _shut_down_if_idle)
            _IDLE.daemon = True
            _IDLE.start()


def _shut_down_if_idle() -> None:
    global _IDLE
    with _POOL_LOCK:
        _IDLE = None
        if _OUTSTANDING:
            return
    shut_down()


def running() -> bool:
    """True while the background process is up (from the first plan until IDLE_S after the last run)."""
    return _POOL is not None


def shut_down() -> None:
    """Stop the background process (queued runs are dropped); the next plan starts a new one."""
    global _POOL, _IDLE
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
        if _IDLE is not None:
            _IDLE.cancel()
            _IDLE = None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shut_down)


__all__ = ["IDLE_S", "Lookahead", "enabled", "neighbours", "running", "shut_down"]
