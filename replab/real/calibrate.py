"""Calibration: measure this machine's Redis and client, then give the simulator the numbers.

Two short real runs with one operation at a time (a closed loop of one session that never
thinks, so nothing queues; or, asked, at the scenario's own rate): one with async acks, one
waiting for a replica (WAIT 1). From them, and from the servers' own time per command
(INFO commandstats):

- network.hop: a sequential read is four hops in the model (client, balancer, node and
  back), so a hop's mean is a quarter of a read's round trip less the read's own service;
  lognormal, its shape chosen so four hops together vary as much as a real round trip.
  Round trips are summarised by a lognormal fitted to their median and 90th percentile,
  not by their mean: on a shared machine a few stalls would make up most of a mean.
- service.read / service.apply: the servers' own time per LINDEX / per RPUSH on a replica.
- service.write: what a write's median round trip adds to a read's (propagating to every
  replica happens on the primary's one thread, before it answers).
- replication.ship_ms: what WAIT 1 adds to a write's median, beyond the two hops of a
  receipt (half a read's round trip).
- topology.workers and topology.apply_concurrency: 1 (Redis runs one command at a time).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab import Scenario
from replab.real.driver import run as run_real

MIN_MS = 0.001  # the model wants positive means; a microsecond stands for "next to nothing"


def measure(scenario: Scenario, duration_ms: float = 600.0, loaded: bool = False, **options) -> pd.Series:
    """The figures calibration needs, measured on real Redis with `scenario`'s followers
    (ms unless said): read, write and WAIT 1 write round trips (median, 90th percentile), and the
    servers' time per LINDEX, RPUSH on the primary and RPUSH on a replica.

    loaded=False: one operation at a time, so nothing queues (service times proper).
    loaded=True: at the scenario's own rate, so the round trips include the queueing of a
    busy client and a shared machine (the model then has it in its hops)."""
    followers = max(1, scenario.topology.followers)
    arrivals = ({"workload.arrival": "open", "workload.rate_per_s": scenario.workload.rate_per_s} if loaded else
                {"workload.arrival": "closed", "workload.sessions": 1, "workload.think_ms": 0.0})
    probe = Scenario(**{
        "duration_ms": duration_ms, "seed": scenario.seed, "topology.followers": followers, **arrivals,
        "workload.write_ratio": 0.5, "workload.keys": scenario.workload.keys,
        "replication.reads": "followers", "failover.promote": False,
    })
    plain = run_real(probe, sentinels=0, **options)
    waiting = run_real(probe.replace(**{"replication.ack": "semi-sync", "replication.semi_sync_k": 1}), sentinels=0,
                       **options)
    reads, writes = _served(plain, "read"), _served(plain, "write")
    waited = _served(waiting, "write")
    commands = plain.commands
    primary = commands["node"] == "node0"
    return pd.Series({
        "read_p50_ms": np.median(reads), "read_p90_ms": np.percentile(reads, 90), "reads": len(reads),
        "write_p50_ms": np.median(writes), "write_p90_ms": np.percentile(writes, 90), "writes": len(writes),
        "wait_write_p50_ms": np.median(waited), "wait_write_p90_ms": np.percentile(waited, 90), "wait_writes": len(waited),
        "lindex_ms": _per_call(commands[~primary], "lindex"),
        "rpush_primary_ms": _per_call(commands[primary], "rpush"),
        "rpush_replica_ms": _per_call(commands[~primary], "rpush"),
    })


def calibrate(scenario: Scenario, measured: pd.Series | None = None, **options) -> Scenario:
    """`scenario` with its network, service and shipping times set from measurements on
    this machine (`measure(scenario)` unless given)."""
    m = measure(scenario, **options) if measured is None else measured
    read_mean, read_sigma = _lognormal(m["read_p50_ms"], m["read_p90_ms"])
    read_service = max(m["lindex_ms"], MIN_MS)
    hop = max((read_mean - read_service) / 4.0, MIN_MS)
    # what a write and a WAIT add, as differences of medians (a tail of stalls moves neither)
    write_service = max(m["write_p50_ms"] - m["read_p50_ms"], m["rpush_primary_ms"], MIN_MS)
    ship = max(m["wait_write_p50_ms"] - m["write_p50_ms"] - m["read_p50_ms"] / 2.0, 0.0)  # less a receipt's two hops
    # four independent hops vary half as much (relative to their mean) as one round trip
    cv = math.sqrt(math.expm1(read_sigma ** 2))
    sigma = min(math.sqrt(math.log1p((2.0 * cv) ** 2)), 4.0)
    return scenario.replace(**{
        "network.hop.dist": "lognormal", "network.hop.mean_ms": hop, "network.hop.sigma": sigma,
        "service.read.dist": "constant", "service.read.mean_ms": read_service,
        "service.write.dist": "exponential", "service.write.mean_ms": write_service,
        "service.apply.dist": "constant", "service.apply.mean_ms": max(m["rpush_replica_ms"], MIN_MS),
        "replication.ship_ms": ship,
        "topology.workers": 1, "topology.apply_concurrency": 1,
    })


def _lognormal(p50_ms: float, p90_ms: float) -> tuple[float, float]:
    """(mean, sigma) of the lognormal with this median and 90th percentile. Fitted to those
    two rather than to the mean and spread: on a shared machine a few stalled operations
    (hundreds of ms) would otherwise make up most of the mean."""
    sigma = max(math.log(max(p90_ms, p50_ms) / p50_ms) / 1.2816, 0.0) if p50_ms > 0 else 0.0
    return p50_ms * math.exp(sigma * sigma / 2.0), sigma


def _served(results, op: str) -> np.ndarray:
    r = results.requests
    return r.loc[(r["op"] == op) & (r["outcome"] == "served"), "latency_ms"].to_numpy()


def _per_call(commands: pd.DataFrame, name: str) -> float:
    rows = commands[commands["command"] == name]
    calls = rows["calls"].sum()
    return float((rows["calls"] * rows["usec_per_call"]).sum() / calls / 1000.0) if calls else MIN_MS
