"""Where a sweep's runs execute: this process, a spawn-context process pool, or Dask.

Runs travel as (key, scenario dict) pairs in batches sized from the runs measured so far,
so that a task takes about BATCH_TARGET_S, and come back as plain records (the summary,
wall_s and error). `execute` yields the records of each finished batch; replab.sweep puts
them in order.

A worker that dies (killed, out of memory) takes its batch with it: those runs go again,
each alone with nothing else in flight, so the one that kills its worker again is known
and gets an error row while the sweep goes on. Workers die with the sweep: each watches
its parent (Linux: PR_SET_PDEATHSIG, and a thread polling the parent's pid), so a sweep
killed with SIGKILL leaves no worker running.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import multiprocessing
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from replab.config.scenario import Scenario, ScenarioError
from replab.experiments.parent_watch import die_with_parent
from replab.sim.model import run

BATCH_TARGET_S = 0.5  # long enough to hide per-task overhead, short enough for a live progress bar
WORKER_DIED = "WorkerDied: the worker process running this run died (killed, or out of memory)"
GIVE_UP_AFTER_DEATHS = 3  # runs in a row that kill their worker before any run has finished: not the runs' fault


def _run_checked_at_plan(scenario: Scenario):
    """replab.run without the size check: the sweep checked every run's size when it planned
    them, with the memory of all its workers in mind (and `force` as the user gave it)."""
    return run(scenario, force=True)


def run_batch(batch: list[tuple[str, dict]], runner: Callable[[Scenario], Any] | None = None) -> list[dict]:
    """Run (key, scenario dict) pairs in this process; a run that raises becomes a record with its error."""
    runner = runner or _run_checked_at_plan
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
    flow = _Flow(deque(todo))
    while flow.pending or flow.alone:
        with pool_for(min(workers or local_workers(), len(flow.pending) + len(flow.alone)), address) as pool:
            yield from flow.drive(*pool, runner)


class _Flow:
    """Runs still to go: `pending` in batches, `alone` one at a time (their batch's worker died)."""

    def __init__(self, pending: deque):
        self.pending, self.alone = pending, deque()
        self.finished_any, self.deaths_in_a_row = False, 0

    def drive(self, submit, wait_any, slots: int, runner) -> Iterator[list[dict]]:
        """Submit and collect until everything is done or the pool breaks (then return for a new one)."""
        sizer, in_flight = _BatchSizer(slots), {}
        while self.pending or self.alone or in_flight:
            if self.alone:
                if not in_flight:  # a suspect runs with nothing beside it: if a worker dies, it is the one
                    run = self.alone.popleft()
                    in_flight[submit(run_batch, [(run.key, run.scenario)], runner)] = ([run], True)
            else:
                while self.pending and len(in_flight) < 2 * slots:  # a queued task per worker hides the hand-over
                    batch = [self.pending.popleft() for _ in range(sizer.size(len(self.pending)))]
                    in_flight[submit(run_batch, [(run.key, run.scenario) for run in batch], runner)] = (batch, False)
            finished, _ = wait_any(set(in_flight))
            broken = False
            for future in finished:
                batch, suspect = in_flight.pop(future)
                try:
                    records = future.result()
                except Exception as err:
                    if not _worker_died(err):
                        raise
                    broken |= isinstance(err, BrokenProcessPool)
                    only_one = len(batch) == 1 and not in_flight and len(finished) == 1  # nothing else ran
                    died = self._died(batch, suspect or only_one)
                    if died:
                        yield died
                    continue
                self.finished_any, self.deaths_in_a_row = True, 0
                sizer.learn(records)
                yield records
            if broken:  # every other task of a broken process pool fails too: they go again, alone
                for future, (batch, _) in in_flight.items():
                    if future.done() and future.exception() is None:
                        yield future.result()
                    else:
                        self.alone.extend(batch)
                return

    def _died(self, batch: list, suspect: bool) -> list[dict]:
        if not suspect:
            self.alone.extend(batch)
            return []
        self.deaths_in_a_row += 1
        if not self.finished_any and self.deaths_in_a_row >= GIVE_UP_AFTER_DEATHS:
            raise RuntimeError("sweep worker processes die before running anything: killed, out of memory, or "
                               "started from a script that calls replab.sweep outside `if __name__ == "
                               "'__main__':` (spawned workers import the main module)")
        return [{"run_key": batch[0].key, "wall_s": math.nan, "error": WORKER_DIED}]


def _worker_died(err: BaseException) -> bool:
    if isinstance(err, BrokenProcessPool):
        return True
    return type(err).__name__ == "KilledWorker"  # distributed's: a task whose workers kept dying


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


def local_workers() -> int:
    """CPUs this process may run on: its affinity mask, capped by a container's CPU quota
    (cgroup v2's cpu.max: a Binder pod may see every CPU of its host and be allowed one)."""
    try:
        cpus = len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    return cpus


@contextmanager
def _process_pool(workers: int, address: str | None):
    # spawn: fresh interpreters, safe from a Jupyter kernel (fork copies its threads) and on any OS
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(),))
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
        except Exception as err:  # refused, timed out, not Dask's protocol, a bad address: all the user's to fix
            raise ScenarioError("address", address, f"no Dask scheduler answers there ({type(err).__name__}: "
                                                    f"{' '.join(str(err).split())[:200]})") from None
    try:
        slots = max(1, sum(client.nthreads().values()))
        yield (lambda fn, *args: client.submit(fn, *args, pure=False),
               lambda fs: wait(fs, return_when="FIRST_COMPLETED"), slots)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


SECURE_SCHEMES = ("tls", "wss")
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def check_address(address: Any) -> None:
    """A Dask scheduler address (tcp://host:port, tls://..., or host:port), or ScenarioError.
    Warns when it is neither on this machine nor encrypted: Dask ships pickled data, and
    whoever can reach or listen to the connection can run code in the workers or read it."""
    allowed = "must be a Dask scheduler address such as tcp://10.0.0.5:8786 or tls://host:8786"
    if not isinstance(address, str) or not address.strip() or any(c.isspace() for c in address.strip()):
        raise ScenarioError("address", address, allowed)
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in SCHEMES:
        raise ScenarioError("address", address, allowed)
    if parts.scheme == "inproc":
        return
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or not 0 < port < 65536:
        raise ScenarioError("address", address, allowed)
    if parts.scheme not in SECURE_SCHEMES and not _is_loopback(parts.hostname):
        warnings.warn(f"{address} is a plaintext connection to another machine: Dask sends pickled data, so "
                      "anyone who can reach or watch it can read the runs or run code in the workers; use "
                      "tls:// or an SSH tunnel", RuntimeWarning, stacklevel=3)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
