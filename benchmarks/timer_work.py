"""What the timers that tick whatever the workload does cost, against the size estimate's figure.

A run whose heartbeats (failover.heartbeat_ms) or anti-entropy rounds (quorum.anti_entropy_ms)
come often costs CPU even with no client at all. `replab.config.limits.estimate` counts that
work in events of the default workload's cost (MEASURED["events_per_s"], ~2 us an event):
`Strategy.timer_events`, from a policy's `work_per_heartbeat` or `AntiEntropy.timer_events`.
This runs each case once and prints, per tick: the calendar's events, the wall time in those
events' worth, and what the estimate counts (which should be at or above the wall's worth).

    .venv/bin/python benchmarks/timer_work.py
"""

from __future__ import annotations

import time

from replab import Scenario
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


def main() -> None:
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
    main()
