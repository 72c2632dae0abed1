"""How the Lab runs: a debouncer for live re-runs, and runs that show their first seconds at once.

Debouncing: a burst of control changes starts one run, `delay_s` after the last change.
Inside a Jupyter kernel the run is scheduled on the kernel's asyncio loop
(`loop.call_later`), so it happens on the kernel's main thread when the kernel is idle and
never races with cell code; without a running loop (plain Python, pytest) a daemon
`threading.Timer` does it. Nothing waits for a browser, so headless kernels never block.
`flush()` runs a pending call now, synchronously: the hook tests and notebooks use
(`Lab.wait()`).

Progressive runs (`ProgressiveRun`): inside a kernel a run is a task on the kernel's loop
that steps the model in slices of a few tens of ms and yields between them, so the kernel
keeps handling widget messages (a slider moved mid-run is taken at once, and its new run
cancels the stale one). Once the run has taken `first_partial_s` it shows what it has so
far (Results.so_far), then again every `every_s` (or four times what the last partial drawing
cost, if more); at the end, the whole Results. A partial
drawing is made only while the rest of the run, extrapolated from its progress, takes longer
than `worth_it_s`, and a later one (which costs about what a whole drawing does) only while
it takes three times the last whole drawing: a run near its end shows itself whole sooner,
and on a 0.5-1 s run a second partial drawing would delay the whole run by a fifth
(benchmarks/LAB_RESULTS.md).
Without a running loop (plain Python) a run is simply done to the end.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable

from replab.analysis.results import Results
from replab.config.scenario import Scenario
from replab.sim.model import ReplicationModel

_frozen = False


def freeze_what_is_loaded() -> None:
    """Once per kernel: take what is alive now (the imported libraries: ~150,000 objects) out
    of the cyclic garbage collector's full passes (gc.freeze). A full pass over them took
    ~0.08 s, and a Lab change paid one every few runs, on top of its own work."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()  # garbage frozen now would never be collected
        gc.freeze()


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


class ProgressiveRun:
    """One simulation at a time, on the kernel's loop when there is one; a new start cancels the old run.

    on_partial(results_so_far, simulated_ms)   called on the loop between slices (the Lab draws)
    on_done(results)                           the whole run
    on_error(exception)                        the model raised
    """

    def __init__(self, on_partial: Callable[[Results, float], None], on_done: Callable[[Results], None],
                 on_error: Callable[[BaseException], None], slice_s: float = 0.025, first_partial_s: float = 0.025,
                 every_s: float = 0.35, worth_it_s: float = 0.15):
        self.on_partial, self.on_done, self.on_error = on_partial, on_done, on_error
        self.slice_s, self.first_partial_s, self.every_s = slice_s, first_partial_s, every_s
        self.worth_it_s = worth_it_s  # partial drawings only while more than this much work remains
        self._task: asyncio.Task | None = None
        self._model: ReplicationModel | None = None
        self.partials, self.partial_s = 0, 0.0  # the last run's partial drawings: how many, seconds in all
        self.whole_s = 0.0  # what the last whole run's Results and drawing took: a later partial costs about that

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, scenario: Scenario) -> None:
        """Begin a run of `scenario` (cancelling one in progress): in the background inside a kernel."""
        self.cancel()
        self.partials, self.partial_s = 0, 0.0
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self._finish(ReplicationModel(scenario))
            return
        self._model = ReplicationModel(scenario)
        self._task = loop.create_task(self._go(self._model))

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._model = None

    def finish_now(self) -> bool:
        """Complete the run in progress synchronously (True), or do nothing if there is none."""
        model = self._model
        if model is None or not self.running:
            return False
        self.cancel()
        self._finish(model)
        return True

    def _finish(self, model: ReplicationModel) -> None:
        try:
            while model.running:
                model.step()
            ended = time.perf_counter()
            results = Results.from_model(model)
        except Exception as err:  # a model failure is the Lab's to show
            self.on_error(err)
            return
        self.on_done(results)
        self.whole_s = time.perf_counter() - ended

    async def _go(self, model: ReplicationModel) -> None:
        next_partial = time.perf_counter() + self.first_partial_s
        stepping_s = 0.0  # seconds of simulation so far
        try:
            while model.running:
                began = time.perf_counter()
                slice_ends = began + self.slice_s
                while model.running and time.perf_counter() < slice_ends:
                    model.step()
                now = time.perf_counter()
                stepping_s += now - began
                if model.running and now >= next_partial:
                    # A partial drawing delays the whole run by what it costs: the first, of a short
                    # history and without the replay, ~0.03 s; a later one about what a whole drawing
                    # costs (0.1-0.2 s). Draw one only while the rest of the run, extrapolated from its
                    # progress, takes longer than worth_it_s, and for a later one three times that cost.
                    done = max(model.now / model.end_ms, 1e-6)
                    worth_it_s = self.worth_it_s if not self.partials else max(self.worth_it_s, 3 * self.whole_s)
                    if stepping_s * (1 - done) / done < worth_it_s:
                        next_partial = float("inf")  # the rest only shrinks: no later partial pays either
                        continue
                    self.on_partial(Results.so_far(model), model.now)
                    cost = time.perf_counter() - now
                    self.partials, self.partial_s = self.partials + 1, self.partial_s + cost
                    # no sooner than every_s, nor than four times this drawing's cost: partial
                    # drawings take at most a fifth of the run, however dear the Lab's charts
                    next_partial = time.perf_counter() + max(self.every_s, 4 * cost)
                await asyncio.sleep(0)  # the kernel handles widget messages here; a newer change cancels us
            ended = time.perf_counter()
            results = Results.from_model(model)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self.on_error(err)
            return
        finally:
            if self._model is model:
                self._model = None
        self.on_done(results)
        self.whole_s = time.perf_counter() - ended
