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
far (Results.so_far), then again every `every_s` (or four times what a partial drawing
cost, if more); at the end, the whole Results. A run whose remaining work, extrapolated from
its progress, is under `worth_it_s` draws no partial: it will show itself whole sooner.
Without a running loop (plain Python) a run is simply done to the end.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from replab.analysis.results import Results
from replab.config.scenario import Scenario
from replab.sim.model import ReplicationModel


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

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, scenario: Scenario) -> None:
        """Begin a run of `scenario` (cancelling one in progress): in the background inside a kernel."""
        self.cancel()
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
            results = Results.from_model(model)
        except Exception as err:  # a model failure is the Lab's to show
            self.on_error(err)
            return
        self.on_done(results)

    async def _go(self, model: ReplicationModel) -> None:
        started = time.perf_counter()
        next_partial = started + self.first_partial_s
        try:
            while model.running:
                slice_ends = time.perf_counter() + self.slice_s
                while model.running and time.perf_counter() < slice_ends:
                    model.step()
                now = time.perf_counter()
                if model.running and now >= next_partial:
                    # a run about to end shows itself whole sooner than a partial drawing would
                    done = max(model.now / model.end_ms, 1e-6)
                    if (now - started) * (1 - done) / done < self.worth_it_s:
                        next_partial = float("inf")
                        continue
                    self.on_partial(Results.so_far(model), model.now)
                    # a snapshot costs more as the history grows: keep them to a fifth of the work
                    cost = time.perf_counter() - now
                    next_partial = time.perf_counter() + max(self.every_s, 4 * cost)
                await asyncio.sleep(0)  # the kernel handles widget messages here; a newer change cancels us
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
