"""Time from a control change to the Lab's charts updated, for each chapter's default Lab.

Runs the Lab on an asyncio loop, as in a Jupyter kernel: a control's value is set (what a
slider release does), the Lab's debounced re-run fires from the loop, simulates, and
redraws every FigureWidget in place; a poller on the same loop notes when the new Results
are drawn. Reported per Lab, over the changes listed below:

- end-to-end: change -> charts updated (includes the debounce delay; excludes the
  browser's own rendering of the plotly update, which happens after the kernel sends it)
- work: simulate + redraw, from `lab.timings` (what remains with no debounce)

    .venv/bin/python benchmarks/lab_latency.py [--repeat 3] [--debounce 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time

from replab import Scenario
from replab.lab import Lab
from replab.lab.lab import DEFAULT_CHARTS, DEFAULT_DEBOUNCE_S

CHAPTERS = {
    "01 leader-follower": dict(
        scenario=Scenario.preset("leader-follower"),
        controls=["topology.followers", "workload.write_ratio", "replication.ack"],
        changes=[("topology.followers", 4), ("topology.followers", 6), ("workload.write_ratio", 0.4),
                 ("replication.ack", "semi-sync"), ("replication.ack", "sync"), ("topology.followers", 2),
                 ("workload.write_ratio", 0.1), ("replication.ack", "async")],
        faults=False),
    "02 failover (leader crash at 3000 ms)": dict(
        scenario=Scenario.preset("failover"),
        controls=["replication.ack", "failover.promote", "failover.detection_ms", "topology.followers"],
        changes=[("replication.ack", "semi-sync"), ("failover.detection_ms", 500.0), ("failover.promote", False),
                 ("failover.promote", True), ("topology.followers", 5), ("replication.ack", "sync"),
                 ("failover.detection_ms", 1500.0), ("replication.ack", "async")],
        faults=True),
    "05 buddy (node1 dies at 5000 ms)": dict(
        scenario=Scenario.preset("buddy"),
        controls=["buddy.layout", "buddy.copies", "replication.ack", "replication.ship_ms", "failover.detection_ms"],
        changes=[("buddy.layout", "all"), ("replication.ack", "sync"), ("replication.ship_ms", 1.0),
                 ("buddy.layout", "pairs"), ("failover.detection_ms", 1000.0), ("buddy.layout", "ring"),
                 ("buddy.copies", 2), ("replication.ack", "async")],
        charts=["throughput", "topology"], faults=["crash-node", "recover", "clear"]),
    "07 push vs pull (pull, TTL 1 s)": dict(
        scenario=Scenario.preset("push-pull"),
        controls=["replication.propagation", "cache.ttl_ms", "cache.source", "workload.zipf_s", "workload.write_ratio"],
        changes=[("cache.ttl_ms", 100.0), ("cache.ttl_ms", 3_000.0), ("workload.zipf_s", 1.5),
                 ("cache.source", "peer"), ("replication.propagation", "push"), ("workload.write_ratio", 0.3),
                 ("replication.propagation", "pull"), ("cache.source", "origin")],
        charts=["latency", "throughput"], faults=False),
    "08 switches (switch0 down 3-6 s)": dict(
        scenario=Scenario.preset("switch-pair"),
        controls=["topology.switching", "topology.followers", "workload.write_ratio"],
        changes=[("topology.switching", "single"), ("topology.switching", "pair-single-attached"),
                 ("topology.followers", 5), ("workload.write_ratio", 0.4), ("topology.switching", "pair-dual-attached"),
                 ("topology.followers", 3), ("workload.write_ratio", 0.2)],
        charts=["throughput", "topology", "lag"], faults=["crash-switch", "clear"]),
    "09 multi-DC (dc1 down 4-9 s)": dict(
        scenario=Scenario.preset("three-dc"),
        controls=["dns.ttl_ms", "dns.health_interval_ms", "dns.health_threshold", "dns.ignore_ttl_share",
                  "sessions.sticky_dc"],
        changes=[("dns.ttl_ms", 500.0), ("dns.health_interval_ms", 1_000.0), ("dns.health_threshold", 3),
                 ("dns.ignore_ttl_share", 0.3), ("sessions.sticky_dc", True), ("dns.ttl_ms", 5_000.0),
                 ("sessions.sticky_dc", False)],
        charts=["traffic", "throughput"], faults=["fail-dc", "recover-dc", "clear"]),
}


async def measure(chapter: dict, debounce_s: float, repeat: int) -> dict:
    lab = Lab(chapter["scenario"], controls=chapter["controls"], faults=chapter["faults"], debounce_s=debounce_s,
              charts=chapter.get("charts", DEFAULT_CHARTS))
    end_to_end, work, simulate, draw = [], [], [], []
    slowest = (0.0, "")
    for _ in range(repeat):
        for path, value in chapter["changes"]:
            if lab.controls[path].value == value:
                continue  # no change, no run
            before = lab.results
            started = time.perf_counter()
            lab.controls[path].value = value
            while lab.results is before:
                if lab.error:
                    raise SystemExit(f"{path} = {value!r} was refused: {lab.error}")
                await asyncio.sleep(0.001)
            end_to_end.append(time.perf_counter() - started)
            slowest = max(slowest, (end_to_end[-1], f"{path}={value}"))
            work.append(lab.timings["total_s"])
            simulate.append(lab.timings["simulate_s"])
            draw.append(lab.timings["draw_s"])
    operations = lab.results.summary["operations"]
    return {"n": len(end_to_end), "operations": operations,
            "end_to_end": (statistics.median(end_to_end), max(end_to_end)),
            "work": (statistics.median(work), max(work)),
            "simulate": statistics.median(simulate), "draw": statistics.median(draw), "slowest": slowest[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes over each Lab's list of changes")
    parser.add_argument("--debounce", type=float, default=None, help="Lab debounce_s (default: the Lab's)")
    args = parser.parse_args()
    debounce = args.debounce if args.debounce is not None else DEFAULT_DEBOUNCE_S
    print(f"python {platform.python_version()}, {platform.machine()}, debounce {debounce:g} s, "
          f"{args.repeat} passes")
    print(f"{'Lab':<40}{'changes':>8}{'ops/run':>9}{'end-to-end median/max':>24}"
          f"{'work median/max':>18}{'simulate':>10}{'draw':>8}")
    for name, chapter in CHAPTERS.items():
        r = asyncio.run(measure(chapter, debounce, args.repeat))
        print(f"{name:<40}{r['n']:>8}{r['operations']:>9,}"
              f"{r['end_to_end'][0]:>15.3f} / {r['end_to_end'][1]:.3f}"
              f"{r['work'][0]:>10.3f} / {r['work'][1]:.3f}{r['simulate']:>10.3f}{r['draw']:>8.3f}"
              f"   slowest: {r['slowest']}")


if __name__ == "__main__":
    main()
