"""Time from a control change to the Lab's charts updated, for every chapter's Lab (full-length runs).

Runs each Lab on an asyncio loop, as in a Jupyter kernel: a control's value is set (what a
slider release does); the Lab's debounced re-run starts as a task on the loop, draws the
first simulated seconds as soon as they exist, and the whole run at the end; a poller on
the same loop notes both moments. Reported per Lab, over the changes listed below:

- first update: change -> the first drawing of the new run (a partial one, or the whole run
  if it ended first); what a student waits for before the charts move
- complete: change -> every chart, the replay and the summary drawn from the whole run
- simulate / draw: medians of the work split (`lab.timings`, with the partial drawings
  inside "simulate", which is everything before the last drawing)
- partials: the partial drawings per change (mean) and their median seconds per change
  (each one's snapshot of the run so far included): what showing the run as it goes costs

- ahead: changes drawn from a run done ahead in the background (replab.lab.lookahead)

Both end-to-end figures include the debounce and exclude the browser's own rendering (done
by the front end after the kernel sends the update; tests/test_browser.py exercises it).
`--look S` waits S seconds after each change is drawn before the next, as a student looks at
the charts (0, the default: changes back to back, so nothing can be run ahead of them);
`--no-lookahead` turns the background runs off. `--scale F` multiplies every Lab's run length
and fault times by F (0 < F <= 1): what shorter runs in the Labs would give.

    .venv/bin/python benchmarks/lab_latency.py [--repeat 3] [--only 01 09] [--look 3] [--no-lookahead] [--scale 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import platform
import statistics
import time

from replab import Scenario
from replab.lab import Lab

FOLLOWERS = [("topology.followers", 4), ("topology.followers", 6), ("topology.followers", 2),
             ("topology.followers", 3)]


def _chapters() -> dict[str, dict]:
    """Each chapter's Lab as its notebook builds it without REPLAB_FAST, and the changes tried on it."""
    lf = Scenario.preset("leader-follower")
    failover = Scenario.preset("failover").replace(**{"faults.events": [
        {"at_ms": 3_000.0, "action": "crash", "target": "leader"}, {"at_ms": 7_000.0, "action": "recover", "target": "node0"}]})
    outage = [{"at_ms": 3_000.0, "action": "crash", "target": "switch0"},
              {"at_ms": 6_000.0, "action": "recover", "target": "switch0"}]
    dc1 = [{"at_ms": 2_000.0, "action": "crash", "target": "dc1"}, {"at_ms": 7_500.0, "action": "recover", "target": "dc1"}]
    return {
        "00 start here": dict(
            scenario=lf, controls=["topology.followers", "workload.write_ratio"], charts=["replay", "latency"],
            changes=FOLLOWERS + [("workload.write_ratio", 0.4), ("workload.write_ratio", 0.2)]),
        "01 leader-follower": dict(
            scenario=lf, controls=["topology.followers", "workload.write_ratio", "replication.ack"],
            charts=["latency", "throughput", "lag", "replay"],
            changes=FOLLOWERS + [("workload.write_ratio", 0.4), ("replication.ack", "semi-sync"),
                                 ("replication.ack", "sync"), ("replication.ack", "async")]),
        "02 failover (crash at 3 s)": dict(
            scenario=failover, faults=True, charts=["throughput", "lag", "replay"],
            controls=["failover.promote", "failover.detection_ms", "failover.promotion_ms", "replication.ack"],
            changes=[("replication.ack", "semi-sync"), ("failover.detection_ms", 500.0), ("failover.promote", False),
                     ("failover.promote", True), ("failover.promotion_ms", 500.0), ("replication.ack", "sync"),
                     ("failover.detection_ms", 1500.0), ("replication.ack", "async")]),
        "03 leader-leader": dict(
            scenario=Scenario.preset("leader-leader").replace(**{"workload.keys": 100, "workload.write_ratio": 0.5}),
            controls=["topology.leaders", "replication.ack", "replication.conflicts", "network.hop.mean_ms"],
            charts=["latency", "throughput", "replay"],
            changes=[("topology.leaders", 3), ("replication.ack", "sync"), ("replication.conflicts", "keep-both"),
                     ("network.hop.mean_ms", 1.0), ("topology.leaders", 2), ("replication.ack", "async")]),
        "04 tree": dict(
            scenario=Scenario.preset("tree"), faults=True, charts=["lag", "topology", "replay"],
            controls=["topology.followers", "replication.fanout", "workload.write_ratio", "replication.ship_ms"],
            changes=[("replication.fanout", 1), ("replication.fanout", 0), ("replication.ship_ms", 0.4),
                     ("replication.fanout", 2), ("topology.followers", 8), ("replication.ship_ms", 0.05)]),
        "05 buddy (node1 dies at 5 s)": dict(
            scenario=Scenario.preset("buddy"), faults=["crash-node", "recover", "clear"],
            charts=["state", "throughput", "replay"],
            controls=["buddy.layout", "buddy.copies", "replication.ack", "replication.ship_ms", "failover.detection_ms"],
            changes=[("buddy.layout", "all"), ("replication.ack", "sync"), ("replication.ship_ms", 1.0),
                     ("buddy.layout", "pairs"), ("failover.detection_ms", 1000.0), ("buddy.layout", "ring"),
                     ("buddy.copies", 2), ("replication.ack", "async")]),
        "06 costs": dict(
            scenario=lf, charts=["lag", "latency"],
            controls=["topology.followers", "topology.apply_concurrency", "workload.write_ratio", "replication.ship_ms"],
            changes=[("workload.write_ratio", 0.6), ("topology.apply_concurrency", 2), ("replication.ship_ms", 0.3),
                     ("topology.followers", 6), ("workload.write_ratio", 0.2), ("topology.apply_concurrency", 1)]),
        "07 push vs pull": dict(
            scenario=Scenario.preset("push-pull"), charts=["latency", "throughput", "replay"],
            controls=["replication.propagation", "cache.ttl_ms", "cache.source", "workload.zipf_s", "workload.write_ratio"],
            changes=[("cache.ttl_ms", 100.0), ("cache.ttl_ms", 3_000.0), ("workload.zipf_s", 1.5),
                     ("cache.source", "peer"), ("replication.propagation", "push"), ("workload.write_ratio", 0.3),
                     ("replication.propagation", "pull"), ("cache.source", "origin")]),
        "08 switches (switch0 down 3-6 s)": dict(
            scenario=Scenario.preset("switch-pair").replace(**{"faults.events": outage}), faults=["crash-switch", "clear"],
            charts=["throughput", "topology", "lag", "replay"],
            controls=["topology.switching", "topology.followers", "workload.write_ratio"],
            changes=[("topology.switching", "single"), ("topology.switching", "pair-single-attached"),
                     ("topology.followers", 5), ("workload.write_ratio", 0.4), ("topology.switching", "pair-dual-attached"),
                     ("topology.followers", 3), ("workload.write_ratio", 0.2)]),
        "09 multi-DC (dc1 down 2-7.5 s)": dict(
            scenario=Scenario.preset("three-dc").replace(**{"faults.events": dc1}),
            faults=["fail-dc", "recover-dc", "clear"], charts=["traffic", "throughput", "replay"],
            controls=["dns.ttl_ms", "dns.health_interval_ms", "dns.health_threshold", "dns.ignore_ttl_share",
                      "sessions.sticky_dc"],
            changes=[("dns.ttl_ms", 500.0), ("dns.health_interval_ms", 1_000.0), ("dns.health_threshold", 3),
                     ("dns.ignore_ttl_share", 0.3), ("sessions.sticky_dc", True), ("dns.ttl_ms", 5_000.0),
                     ("sessions.sticky_dc", False)]),
        "10 sweeps (one cell up close)": dict(
            scenario=lf.replace(**{"workload.popularity": "zipf", "replication.ship_ms": 0.15, "topology.followers": 8,
                                   "workload.write_ratio": 0.45}),
            controls=["topology.followers", "workload.write_ratio", "replication.ship_ms"], charts=["lag", "latency"],
            changes=[("workload.write_ratio", 0.4), ("topology.followers", 6), ("replication.ship_ms", 0.1),
                     ("workload.write_ratio", 0.45), ("topology.followers", 8), ("replication.ship_ms", 0.15)]),
        "11 queueing theory": dict(
            scenario=Scenario.preset("single-node").replace(**{"record.sample_ms": 10.0, "duration_ms": 10_000.0}),
            controls=["workload.rate_per_s", "topology.workers"], charts=["latency", "throughput"],
            changes=[("workload.rate_per_s", 900.0), ("topology.workers", 2), ("workload.rate_per_s", 1_500.0),
                     ("topology.workers", 4), ("workload.rate_per_s", 5_000.0), ("topology.workers", 1)]),
        "12 promotion logic": dict(
            scenario=Scenario.preset("split-brain").replace(**{"workload.rate_per_s": 1_000.0, "duration_ms": 8_000.0}),
            faults=["pause-leader", "cut-off", "heal", "slow-node", "crash-leader", "clear"],
            controls=["failover.policy", "failover.fencing", "replication.ack", "failover.timeout_ms",
                      "failover.lease_ms", "replication.min_replicas"], charts=["leadership", "throughput"],
            changes=[("failover.fencing", "none"), ("failover.policy", "quorum"), ("failover.timeout_ms", 1_000.0),
                     ("replication.ack", "majority"), ("failover.policy", "consensus"), ("failover.lease_ms", 800.0),
                     ("replication.min_replicas", 1), ("failover.policy", "naive")]),
        "13 leaderless quorums": dict(
            scenario=Scenario.preset("leaderless").replace(duration_ms=10_000.0, **{"workload.keys": 50}),
            controls=["quorum.n", "quorum.r", "quorum.w", "quorum.read_from", "quorum.coordinator",
                      "quorum.legs.write.pareto_share", "quorum.legs.write.pareto_alpha", "workload.write_ratio"],
            charts=["t-visibility", "quorum-story", "latency", "k-staleness"],
            changes=[("quorum.r", 1), ("quorum.w", 1), ("quorum.read_from", "r"), ("quorum.coordinator", "client"),
                     ("workload.write_ratio", 0.4), ("quorum.r", 2), ("quorum.w", 2), ("quorum.read_from", "all")]),
    }


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """`scenario` with its run and its faults' times `factor` times as long."""
    faults = [dict(dataclasses.asdict(f), at_ms=f.at_ms * factor, duration_ms=f.duration_ms * factor)
              for f in scenario.faults.events]
    return scenario.replace(**{"duration_ms": scenario.duration_ms * factor, "faults.events": faults})


async def measure(chapter: dict, repeat: int, look_s: float, lookahead: bool) -> dict:
    lab = Lab(chapter["scenario"], controls=chapter["controls"], faults=chapter.get("faults", False),
              charts=chapter["charts"], lookahead=lookahead)
    first, complete, simulate, draw, partials, partials_s = [], [], [], [], [], []
    slowest, ahead = (0.0, ""), 0
    for _ in range(repeat):
        for path, value in chapter["changes"]:
            if lab.controls[path].value == value:
                continue  # no change, no run
            await asyncio.sleep(look_s)
            before = lab.results
            started = time.perf_counter()
            lab.controls[path].value = value
            seen_first = None
            while lab.results is before:
                if lab.error:
                    raise SystemExit(f"{path} = {value!r} was refused: {lab.error}")
                if seen_first is None and lab.status.value.startswith("running:"):
                    seen_first = time.perf_counter() - started
                await asyncio.sleep(0.001)
            complete.append(time.perf_counter() - started)
            first.append(seen_first if seen_first is not None else complete[-1])
            slowest = max(slowest, (complete[-1], f"{path}={value}"))
            simulate.append(lab.timings["simulate_s"])
            draw.append(lab.timings["draw_s"])
            partials.append(lab.timings["partials"])
            partials_s.append(lab.timings["partials_s"])
            ahead += lab.timings["ahead"]
    return {"n": len(complete), "ahead": ahead, "operations": lab.results.summary["operations"],
            "first": (statistics.median(first), max(first)), "complete": (statistics.median(complete), max(complete)),
            "simulate": statistics.median(simulate), "draw": statistics.median(draw),
            "partials": (statistics.mean(partials), statistics.median(partials_s)), "slowest": slowest[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes over each Lab's list of changes")
    parser.add_argument("--only", nargs="*", default=None, help="chapters whose number is listed (e.g. 01 09)")
    parser.add_argument("--look", type=float, default=0.0, help="seconds looked at the charts between changes")
    parser.add_argument("--no-lookahead", action="store_true", help="no runs ahead in the background")
    parser.add_argument("--scale", type=float, default=1.0, help="every Lab's run and fault times times this (0-1]")
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error(f"--scale {args.scale:g}: must be above 0 and at most 1")
    print(f"python {platform.python_version()}, {platform.machine()}, {args.repeat} passes, {args.look:g} s looks, "
          f"lookahead {'off' if args.no_lookahead else 'on'}, runs x{args.scale:g}")
    print(f"{'Lab':<34}{'changes':>8}{'ahead':>6}{'ops/run':>9}{'first update med/max':>23}{'complete med/max':>19}"
          f"{'simulate':>10}{'draw':>7}{'partials n / s':>16}")
    for name, chapter in _chapters().items():
        if args.only and name[:2] not in args.only:
            continue
        chapter["scenario"] = scaled(chapter["scenario"], args.scale)
        r = asyncio.run(measure(chapter, args.repeat, args.look, not args.no_lookahead))
        print(f"{name:<34}{r['n']:>8}{r['ahead']:>6}{r['operations']:>9,}{r['first'][0]:>14.3f} / {r['first'][1]:.3f}"
              f"{r['complete'][0]:>10.3f} / {r['complete'][1]:.3f}{r['simulate']:>10.3f}{r['draw']:>7.3f}"
              f"{r['partials'][0]:>9.1f} / {r['partials'][1]:.3f}   slowest: {r['slowest']}", flush=True)


if __name__ == "__main__":
    main()
