"""Where a sweep's runs execute: this process, a spawn-context process pool, or Dask.

Runs travel as (key, scenario dict) pairs in batches sized from the runs measured so far,
so that a task takes about BATCH_TARGET_S, and come back as plain records (the summary,
wall_s and error). `execute` yields the records of each finished batch; replab.sweep puts
them in order.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from replab.config.scenario import Scenario, ScenarioError
from replab.sim.model import run

BATCH_TARGET_S = 0.5  # long enough to hide per-task overhead, short enough for a live progress bar


def run_batch(batch: list[tuple[str, dict]], runner: Callable[[Scenario], Any] | None = None) -> list[dict]:
    """Run (key, scenario dict) pairs in this process; a run that raises becomes a record with its error."""
    runner = runner or run
    records = []
    for key, tree in batch:
        started = time.perf_counter()
        try:
            summary, error = dict(runner(Scenario(tree)).summary), ""
        except Exception as err:  # the sweep goes on; the row says what went wrong
            summary, error = {}, f"{type(err).__name__}: {err}"
        records.append({"run_key": key, **summary, "wall_s": time.perf_counter() - started, "error": error})
    return records


def execute(todo: list, engine: str, workers: int | None, address: str | None,
             runner) -> Iterator[list[dict]]:
    """Yield the records of finished batches, in whatever order they finish."""
    if not todo:
        return
    if engine == "serial":
        for run in todo:
            yield run_batch([(run.key, run.scenario)], runner)
        return
    pool_for = _process_pool if engine == "processes" else _dask_pool
    with pool_for(min(workers or os.cpu_count() or 1, len(todo)), address) as (submit, wait_any, slots):
        sizer, pending, in_flight = _BatchSizer(slots), deque(todo), set()
        while pending or in_flight:
            while pending and len(in_flight) < 2 * slots:  # a queued task per worker hides the hand-over
                batch = [pending.popleft() for _ in range(sizer.size(len(pending)))]
                in_flight.add(submit(run_batch, [(run.key, run.scenario) for run in batch], runner))
            finished, in_flight = wait_any(in_flight)
            for future in finished:
                try:
                    records = future.result()
                except BrokenProcessPool:
                    raise RuntimeError("a sweep worker process died: killed, out of memory, or started from a "
                                       "script that calls replab.sweep outside `if __name__ == '__main__':` "
                                       "(spawned workers import the main module)") from None
                sizer.learn(records)
                yield records


class _BatchSizer:
    """Runs per task: about BATCH_TARGET_S of work, but never so many that workers idle at the end."""

    def __init__(self, slots: int):
        self.slots, self.runs, self.seconds = slots, 0, 0.0

    def size(self, remaining: int) -> int:
        if self.runs == 0:
            return 1  # nothing measured yet
        per_run_s = max(self.seconds / self.runs, 1e-4)
        wanted = max(1, int(BATCH_TARGET_S / per_run_s))
        return min(wanted, math.ceil(remaining / (2 * self.slots)))

    def learn(self, records: list[dict]) -> None:
        self.runs += len(records)
        self.seconds += sum(r["wall_s"] for r in records)


@contextmanager
def _process_pool(workers: int, address: str | None):
    # spawn: fresh interpreters, safe from a Jupyter kernel (fork copies its threads) and on any OS
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool.submit, lambda fs: wait_futures(fs, return_when=FIRST_COMPLETED), workers
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _dask_pool(workers: int, address: str | None):
    try:
        from distributed import Client, LocalCluster, wait
    except ImportError:
        raise ScenarioError("engine", "dask", "needs dask[distributed]: pip install 'replab[dask]'") from None
    cluster = None
    if address is None:
        import dask

        # Without a dashboard nobody reads the workers' statistical profiler, which samples the
        # running task's stack every 10 ms and measurably slows pure-Python runs (~3%).
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=10)
        except (OSError, TimeoutError) as err:
            raise ScenarioError("address", address, f"no Dask scheduler answers there ({err})") from None
    try:
        slots = max(1, sum(client.nthreads().values()))
        yield (lambda fn, *args: client.submit(fn, *args, pure=False),
               lambda fs: wait(fs, return_when="FIRST_COMPLETED"), slots)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
