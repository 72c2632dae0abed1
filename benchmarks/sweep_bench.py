"""Sweep throughput: runs per second against workers, for the processes and dask engines.

Two run lengths of the leader-follower preset (3 followers, 2,000 operations/s): short
(5 s simulated, ~0.1 s of wall time) and long (60 s simulated, ~1 s). Each sweep is a
batch of replicates of one scenario, so every run costs about the same, and is timed end
to end: the process pool or LocalCluster is started and closed inside `replab.sweep`,
as a user gets it. `start-up` is the wall time of a sweep of `workers` one-millisecond
runs with the same engine, and `steady runs/s` takes it out. Each cell is the best of
--repeat attempts (other work on the machine only ever makes a sweep slower); before each
attempt the script waits (up to 2 minutes) for the machine to be quiet, and `other work`
is the number of cores that processes outside the sweep kept busy during the best attempt.

    .venv/bin/python benchmarks/sweep_bench.py [--repeat 3] [--short-runs 40] [--long-runs 12]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import replab
from replab import Scenario

ENGINES = ("processes", "dask")


def busy_cpu_s() -> float:
    """CPU-seconds the whole machine has spent busy since boot (Linux /proc/stat)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU-seconds of this process and its reaped children (the pool's workers, the cluster's)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def wait_for_quiet(max_wait_s: float = 120.0, busy_cores: float = 0.25) -> float:
    """Wait (up to max_wait_s) until other work uses under `busy_cores` for 2 s; returns what it saw."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = busy_cpu_s()
        time.sleep(2.0)
        used = (busy_cpu_s() - before) / 2.0
        if used < busy_cores or time.monotonic() > deadline:
            return used


def timed_sweep(base: Scenario, runs: int, engine: str, workers: int | None) -> tuple[float, float]:
    """(wall seconds, cores that OTHER work kept busy meanwhile) of one sweep."""
    wait_for_quiet()
    busy, own, started = busy_cpu_s(), own_cpu_s(), time.perf_counter()
    frame = replab.sweep(base, replicates=runs, engine=engine, workers=workers, progress=False)
    wall_s = time.perf_counter() - started
    foreign = max(0.0, (busy_cpu_s() - busy) - (own_cpu_s() - own)) / wall_s
    assert (frame["error"] == "").all(), frame["error"].unique()
    return wall_s, foreign


def best_of(repeat: int, *args) -> tuple[float, float]:
    return min(timed_sweep(*args) for _ in range(repeat))


def main() -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--short-runs", type=int, default=40)
    parser.add_argument("--long-runs", type=int, default=12)
    args = parser.parse_args()

    preset = Scenario.preset("leader-follower")
    lengths = {"short": (preset.replace(duration_ms=5_000.0), args.short_runs),
               "long": (preset.replace(duration_ms=60_000.0), args.long_runs)}
    tiny = preset.replace(duration_ms=1.0)
    print(f"# {platform.node()}: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}; load average before: {os.getloadavg()[0]:.2f}")

    rows = []
    for length, (base, runs) in lengths.items():
        serial_s, foreign = best_of(args.repeat, base, runs, "serial", None)
        rows.append({"runs": length, "engine": "serial", "workers": 1, "n": runs, "wall_s": serial_s,
                     "startup_s": 0.0, "per_run_s": serial_s / runs, "other_cores": foreign})
        for engine in ENGINES:
            for workers in (1, 2):
                startup_s, _ = best_of(args.repeat, tiny, workers, engine, workers)
                wall_s, foreign = best_of(args.repeat, base, runs, engine, workers)
                rows.append({"runs": length, "engine": engine, "workers": workers, "n": runs, "wall_s": wall_s,
                             "startup_s": startup_s, "per_run_s": serial_s / runs, "other_cores": foreign})

    print("\n| runs | engine | workers | runs in sweep | sweep wall s | runs/s | start-up s | steady runs/s "
          "| speed-up vs 1 worker (steady) | other work (cores) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        row["runs_per_s"] = row["n"] / row["wall_s"]
        row["steady_runs_per_s"] = row["n"] / max(row["wall_s"] - row["startup_s"], 1e-9)
        one = next(r for r in rows if (r["runs"], r["engine"], r["workers"]) == (row["runs"], row["engine"], 1))
        row["speedup"] = row["steady_runs_per_s"] / one["steady_runs_per_s"]
        print(f"| {row['runs']} (~{row['per_run_s']:.2f} s/run) | {row['engine']} | {row['workers']} | {row['n']} "
              f"| {row['wall_s']:.2f} | {row['runs_per_s']:.2f} | {row['startup_s']:.2f} "
              f"| {row['steady_runs_per_s']:.2f} | {row['speedup']:.2f}x | {row['other_cores']:.2f} |")
    for length in lengths:
        by = {(r["engine"], r["workers"]): r for r in rows if r["runs"] == length}
        ratio = by[("dask", 2)]["steady_runs_per_s"] / by[("processes", 2)]["steady_runs_per_s"]
        end_to_end = by[("dask", 2)]["runs_per_s"] / by[("processes", 2)]["runs_per_s"]
        print(f"\n{length}: dask / processes at 2 workers = {ratio:.2f} steady, {end_to_end:.2f} end to end")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return rows


if __name__ == "__main__":
    main()
