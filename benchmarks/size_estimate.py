"""The size estimate (replab.config.limits) against real runs, where the strategies add work of their own.

Timers: a run whose heartbeats (failover.heartbeat_ms) or anti-entropy rounds (quorum.anti_entropy_ms)
come often costs CPU even with no client at all. `replab.config.limits.estimate` counts that
work in events of the default workload's cost (MEASURED["events_per_s"], ~2 us an event):
`Strategy.timer_events`, from a policy's `work_per_heartbeat` or `AntiEntropy.timer_events`.
This runs each case once and prints, per tick: the calendar's events, the wall time in those
events' worth, and what the estimate counts (which should be at or above the wall's worth).

Leaderless requests. A read asks N replicas (or R), each a message, a read and a row. Per extra
request, between a 2 s and a 6 s run: the bytes (tracemalloc's peak over the run and its
Results) and the calendar's events, against the estimate's.

    .venv/bin/python benchmarks/size_estimate.py
"""

from __future__ import annotations

import time
import tracemalloc

from replab import Results, Scenario
from replab.config.limits import MEASURED, estimate
from replab.sim.model import ReplicationModel

IDLE = {"duration_ms": 2_000.0, "workload.rate_per_s": 0.001, "faults.events": []}
CASES = [  # (label, preset, changes, ticks: heartbeats or rounds in the run)
    *[(f"{policy} policy, {nodes} nodes, heartbeat 1 ms", preset,
       {**IDLE, "failover.heartbeat_ms": 1.0, "topology.followers": nodes - 1}, None)
      for policy, preset in (("naive", "gc-pause"), ("manual", "manual-failover"), ("consensus", "consensus"),
                             ("quorum (sentinels)", "sentinel"))
      for nodes in (3, 9)],
    *[(f"anti-entropy every {every:g} ms, {keys:,} keys, 2,000 ops/s", "leaderless",
       {"duration_ms": 2_000.0, "quorum.anti_entropy_ms": every, "workload.keys": keys}, 2_000.0 / every)
      for every, keys in ((1.0, 1_000), (1.0, 100), (10.0, 1_000))],
]


LEADERLESS = [("the preset (N = 3, 20 % writes)", {}),
              ("N = R = W = 32 on 32 nodes", {"quorum.nodes": 32, "quorum.n": 32, "quorum.r": 32, "quorum.w": 32}),
              ("N = 9, R = W = 5", {"quorum.nodes": 9, "quorum.n": 9, "quorum.r": 5, "quorum.w": 5}),
              ("90 % writes", {"workload.write_ratio": 0.9}),
              ("R asked, the client coordinating", {"quorum.read_from": "r", "quorum.coordinator": "client"})]


def _peak_and_events(scenario: Scenario) -> tuple[int, int]:
    tracemalloc.start()
    model = ReplicationModel(scenario)
    model.run()
    _ = Results.from_model(model).summary  # the frames and summary, as a run's caller gets them
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, model.calendar.events_run


def per_request() -> None:
    print("\n| leaderless | bytes a request: measured / estimate | events a request: measured / estimate |")
    print("|---|---|---|")
    for label, changes in LEADERLESS:
        short, long = (Scenario.preset("leaderless").replace(**changes, duration_ms=ms) for ms in (2_000.0, 6_000.0))
        (bytes_short, events_short), (bytes_long, events_long) = _peak_and_events(short), _peak_and_events(long)
        size_short, size_long = estimate(short), estimate(long)
        requests = size_long.requests - size_short.requests
        print(f"| {label} | {(bytes_long - bytes_short) / requests:,.0f} / "
              f"{(size_long.memory_bytes - size_short.memory_bytes) / requests:,.0f} | "
              f"{(events_long - events_short) / requests:.1f} / {(size_long.events - size_short.events) / requests:.1f} |")


def timers() -> None:
    per_event_s = 1.0 / MEASURED["events_per_s"]
    print("| case | ticks | events a tick | wall a tick, in events' worth | the estimate a tick |")
    print("|---|---|---|---|---|")
    for label, preset, changes, ticks in CASES:
        scenario = Scenario.preset(preset).replace(**changes)
        size = estimate(scenario)
        baseline = 0.0
        if "quorum.anti_entropy_ms" in changes:  # the same run without anti-entropy: what the rounds add
            quiet = ReplicationModel(scenario.replace(**{"quorum.anti_entropy_ms": 0.0}))
            started = time.perf_counter()
            quiet.run()
            baseline, baseline_events = time.perf_counter() - started, quiet.calendar.events_run
        else:
            baseline_events = 0
        model = ReplicationModel(scenario)
        started = time.perf_counter()
        model.run()
        wall = time.perf_counter() - started - baseline
        if ticks is None:
            ticks = model.end_ms / scenario.failover.heartbeat_ms
        events = model.calendar.events_run - baseline_events
        print(f"| {label} | {ticks:,.0f} | {events / ticks:,.1f} | {wall / per_event_s / ticks:,.0f} | "
              f"{size.timer_events / ticks:,.0f} |")


if __name__ == "__main__":
    timers()
    per_request()
