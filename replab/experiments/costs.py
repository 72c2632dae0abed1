"""The costs of replication, each a measured curve.

Replication buys read capacity and survival; these functions measure what it costs. Each
takes a base Scenario and the values to sweep, runs them through `replab.sweep` (so
`engine="processes"` spreads the runs over cores and the rows never depend on the engine)
and returns a tidy DataFrame: the swept x, the measured y, `replicate` and `seed`. Every
number comes from a run's Results (summary, timeline, requests, writes, applies), never
from the model's insides.

    lost_writes_curve(base, acks, ship_ms, crashes)      acknowledged writes lost at a leader crash
    read_capacity_curve(base, write_rates_per_s)          reads a saturated read pool serves vs write rate
    lag_vs_followers(base, followers)                     replication lag vs number of followers
    apply_concurrency_lag(base, concurrency, ...)         lag over time, one apply thread vs n
    hardware_per_request(base, followers)                 nodes, messages, bytes, work per served request

Times are simulated ms, rates per simulated second. Defaults keep each curve to a few
seconds of wall time on one core.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from replab.config.arguments import whole
from replab.config.scenario import Scenario, ScenarioError
from replab.experiments.sweep import derived_seed, sweep
from replab.sim.model import run

ACK_MODES = ("async", "semi-sync", "sync")
HEADER_BYTES = 64  # one message's envelope: addresses, ids, a key and a version
VALUE_BYTES = 512  # one stored value: carried by a write request, a read reply and a shipped entry


# Acknowledged writes lost when the leader dies ------------------------------------------------
def lost_writes_curve(base: Scenario, acks: Iterable[str] = ACK_MODES,
                      ship_ms: Iterable[float] = (0.05, 0.25, 0.5, 0.75), crashes: int = 8,
                      crash_ms: tuple[float, float] = (300.0, 700.0), seed: int = 0, engine: str = "serial",
                      workers: int | None = None, progress: bool = False) -> pd.DataFrame:
    """Writes lost when the leader crashes, vs ack mode and the leader's shipping backlog.

    Every (ack, ship_ms) point sees the same `crashes` crashes: crash i hits the leader at
    a time spread evenly over `crash_ms`, with its own seed shared by all points, so ack
    modes are compared on identical histories. A slower link (`replication.ship_ms` per
    entry per follower) keeps more committed entries queued on the leader; under async
    they were acknowledged already. Each run lasts until just after the promotion
    (duration_ms = last crash + detection + promotion + 100 ms).

    One row per run: ack, ship_ms, crash, crash_at_ms, seed, link_utilisation (share of
    the time before the crash the leader's link was sending), exposure_ms (mean time from
    commit until an entry's first copy left the leader, before the crash: by Little's law
    the writes at risk are write rate x exposure), lag_ms (mean follower lag sampled
    before the crash), writes_acked, lost_writes, lost_acked_writes, write_p50_ms.
    """
    if not base.failover.promote:
        raise ScenarioError("failover.promote", False, "must be true: writes are lost when a follower is promoted")
    whole("crashes", crashes)
    first_ms, last_ms = crash_ms
    at = [first_ms + (last_ms - first_ms) * (i + 0.5) / crashes for i in range(crashes)]
    seeds = [derived_seed(seed, f"crash {i}") for i in range(crashes)]
    duration = last_ms + base.failover.detection_ms + base.failover.promotion_ms + 100.0
    samples = [{"seed": s, "faults.events": [{"at_ms": t, "action": "crash", "target": "leader"}]}
               for s, t in zip(seeds, at)]
    frame = _sweep(base.replace(duration_ms=duration), engine, workers, progress, _measure_crash,
                   grid={"replication.ack": list(acks), "replication.ship_ms": [float(s) for s in ship_ms]},
                   samples=samples)
    frame["crash"] = frame["seed"].map({s: i for i, s in enumerate(seeds)})
    frame = frame.rename(columns={"replication.ack": "ack", "replication.ship_ms": "ship_ms"})
    return frame[["ack", "ship_ms", "crash", "crash_at_ms", "seed", "link_utilisation", "exposure_ms", "lag_ms",
                  "writes_acked", "lost_writes", "lost_acked_writes", "write_p50_ms"]]


def _measure_crash(scenario: Scenario) -> _Measured:
    results = run(scenario)
    crash = scenario.faults.events[0].at_ms
    leader = results.timeline["node"].cat.categories[0]  # node0 leads until the crash
    timeline = results.timeline[results.timeline["t_ms"] <= crash]
    before = timeline[timeline["node"] == leader]
    shipped = int(before["shipped"].iloc[-1]) if len(before) else 0
    sampled_ms = float(before["t_ms"].iloc[-1]) if len(before) else 0.0
    followers = timeline[(timeline["role"] == "follower") & timeline["up"]]
    copies = results.applies.merge(results.writes[["write_id", "commit_ms"]], on="write_id")
    copies = copies[(copies["sender"] == leader) & (copies["commit_ms"] < crash)]
    first_copy = copies.groupby("write_id")[["sent_ms", "commit_ms"]].agg({"sent_ms": "min", "commit_ms": "first"})
    summary = results.summary
    return _Measured({
        "crash_at_ms": crash,
        "link_utilisation": shipped * scenario.replication.ship_ms / sampled_ms if sampled_ms else np.nan,
        "exposure_ms": float((first_copy["sent_ms"] - first_copy["commit_ms"]).mean()),
        "lag_ms": float(followers["lag_ms"].mean()) if len(followers) else np.nan,
        **{key: summary[key] for key in ("writes_acked", "lost_writes", "lost_acked_writes", "write_p50_ms")},
    })


# Replicas bogged down replaying writes ----------------------------------------------------------
def read_capacity_curve(base: Scenario, write_rates_per_s: Iterable[float] = (0.0, 250.0, 500.0, 750.0),
                        sessions: int = 200, duration_ms: float = 1_500.0, warmup_ms: float = 500.0,
                        replicates: int = 1, seed: int = 0,
                        engine: str = "serial", workers: int | None = None, progress: bool = False) -> pd.DataFrame:
    """Reads per second the read pool can serve, vs the write rate its replicas must replay.

    The read pool is saturated: `sessions` closed-loop sessions with no think time keep
    every read-serving node's queue full, so served reads per second is its capacity. Each
    write is executed on the leader and applied again on every follower, and applies take
    workers that reads would otherwise use: with W workers, read time r and apply time a a
    follower has W - lambda*a workers left for reads (while one apply thread keeps up).
    The write ratio of each point is chosen from the scenario's mean service times so the
    measured write rate comes out near the target; the x to plot is the measured one.

    One row per run: target_write_rate_per_s, write_ratio, write_rate_per_s (writes
    committed per second), apply_rate_per_s (writes applied per second by each follower),
    read_capacity_per_s (reads answered per second), read_capacity_per_node_per_s,
    read_p95_ms, read_utilisation (mean utilisation of the read-serving nodes), replicate,
    seed. Rates are measured over (warmup_ms, duration_ms]: until the queues have filled
    (a few hundred ms), followers put off applies and serve more reads than they can keep up.
    """
    if not 0.0 <= warmup_ms < duration_ms:
        raise ScenarioError("warmup_ms", warmup_ms, f"must be from 0 to below duration_ms ({duration_ms:g})")
    closed = base.replace(duration_ms=duration_ms, **{"workload.arrival": "closed", "workload.think_ms": 0.0,
                                                        "workload.sessions": sessions})
    targets = [float(rate) for rate in write_rates_per_s]
    ratios = [_write_ratio_for(closed, rate) for rate in targets]
    runner = functools.partial(_measure_read_capacity, warmup_ms=float(warmup_ms))
    frame = _sweep(closed, engine, workers, progress, runner, replicates=replicates, seed=seed,
                   samples=[{"workload.write_ratio": ratio} for ratio in ratios])
    frame["target_write_rate_per_s"] = frame["workload.write_ratio"].map(dict(zip(ratios, targets)))
    frame = frame.rename(columns={"workload.write_ratio": "write_ratio"})
    return frame[["target_write_rate_per_s", "write_ratio", "write_rate_per_s", "apply_rate_per_s",
                  "read_capacity_per_s", "read_capacity_per_node_per_s", "read_p95_ms", "read_utilisation",
                  "replicate", "seed"]]


def _read_pool(scenario: Scenario) -> list[str]:
    """The nodes that serve reads when nothing has failed."""
    names = scenario.node_names
    return {"leader": names[:1], "followers": names[1:], "any": names}[scenario.replication.reads]


def _write_ratio_for(scenario: Scenario, write_rate_per_s: float) -> float:
    """The write share at which a saturated closed loop writes about `write_rate_per_s`."""
    per_ms = write_rate_per_s / 1000.0
    workers = scenario.topology.workers
    apply_busy = min(per_ms * scenario.service.apply.mean_ms, scenario.topology.apply_concurrency)
    write_busy = min(per_ms * scenario.service.write.mean_ms, workers)
    reads_per_ms = sum(max(workers - (write_busy if node == "node0" else apply_busy), 0.0)
                       for node in _read_pool(scenario)) / scenario.service.read.mean_ms
    return 1.0 if per_ms + reads_per_ms == 0 else per_ms / (per_ms + reads_per_ms)


def _measure_read_capacity(scenario: Scenario, warmup_ms: float) -> _Measured:
    results = run(scenario)
    start_ms, end_ms = warmup_ms, scenario.duration_ms
    window_s = (end_ms - start_ms) / 1000.0
    requests = results.requests
    pool = _read_pool(scenario)
    reads = requests[(requests["op"] == "read") & (requests["outcome"] == "served")
                     & requests["answered_ms"].between(start_ms, end_ms, inclusive="right")]
    commits = results.writes["commit_ms"].between(start_ms, end_ms, inclusive="right").sum()
    applies = results.applies["applied_ms"].between(start_ms, end_ms, inclusive="right").sum()
    followers = scenario.topology.followers
    timeline = results.timeline
    busy = timeline[timeline["node"].isin(pool) & timeline["t_ms"].between(start_ms, end_ms, inclusive="right")]
    return _Measured({
        "write_rate_per_s": commits / window_s,
        "apply_rate_per_s": applies / window_s / followers if followers else np.nan,
        "read_capacity_per_s": len(reads) / window_s,
        "read_capacity_per_node_per_s": len(reads) / window_s / len(pool),
        "read_p95_ms": float(np.percentile(reads["latency_ms"], 95)) if len(reads) else np.nan,
        "read_utilisation": float(busy["utilisation"].mean()),
    })


# More replicas, more lag --------------------------------------------------------------------------
def lag_vs_followers(base: Scenario, followers: Iterable[int] = (1, 2, 4, 8), duration_ms: float | None = None,
                     replicates: int = 1, seed: int = 0, engine: str = "serial", workers: int | None = None,
                     progress: bool = False) -> pd.DataFrame:
    """Replication lag vs the number of followers the leader ships every write to.

    The leader's one outbound link puts each entry on the wire once per follower
    (`replication.ship_ms` each), so N followers cost N x ship_ms of link time per write:
    the link is a queue with utilisation write rate x N x ship_ms, and every follower
    waits for it.

    One row per run: followers, link_utilisation (share of the run the leader's link was
    sending), ship_wait_ms (mean time from commit until a copy left the leader),
    replication_delay_ms and replication_delay_p95_ms (commit to applied on a follower,
    over every copy), mean_lag_ms and max_lag_ms (the timeline's sampled lag: the age of
    the oldest write a follower has not applied), replicate, seed.
    """
    scenario = base if duration_ms is None else base.replace(duration_ms=duration_ms)
    frame = _sweep(scenario, engine, workers, progress, _measure_lag, replicates=replicates, seed=seed,
                   grid={"topology.followers": [int(n) for n in followers]})
    frame = frame.rename(columns={"topology.followers": "followers"})
    return frame[["followers", "link_utilisation", "ship_wait_ms", "replication_delay_ms", "replication_delay_p95_ms",
                  "mean_lag_ms", "max_lag_ms", "replicate", "seed"]]


def _measure_lag(scenario: Scenario) -> _Measured:
    results = run(scenario)
    copies = results.applies.merge(results.writes[["write_id", "commit_ms"]], on="write_id")
    leader = results.timeline["node"].cat.categories[0]
    from_leader = copies[copies["sender"] == leader]
    delay = (copies["applied_ms"] - copies["commit_ms"]).dropna()
    shipped = results.timeline.loc[results.timeline["node"] == leader, "shipped"].max()
    return _Measured({
        "link_utilisation": shipped * scenario.replication.ship_ms / scenario.duration_ms,
        "ship_wait_ms": float((from_leader["sent_ms"] - from_leader["commit_ms"]).mean()),
        "replication_delay_ms": float(delay.mean()),
        "replication_delay_p95_ms": float(np.percentile(delay, 95)) if len(delay) else np.nan,
        "mean_lag_ms": results.summary["mean_lag_ms"],
        "max_lag_ms": results.summary["max_lag_ms"],
    })


# Single-threaded apply ----------------------------------------------------------------------------
def apply_concurrency_lag(base: Scenario, concurrency: Iterable[int] = (1, 4), write_rate_per_s: float | None = None,
                          duration_ms: float = 3_000.0, replicates: int = 1, seed: int = 0, engine: str = "serial",
                          workers: int | None = None, progress: bool = False) -> pd.DataFrame:
    """Follower lag over time with 1 apply thread vs n, at a write rate only n keep up with.

    The leader executes writes on all its `topology.workers`; a follower replays them on at
    most `topology.apply_concurrency`. At a write rate lambda above one thread's 1/a
    (a = mean apply time) but within the leader's workers / write time, one apply thread
    falls behind without bound: its backlog grows by lambda - 1/a writes a ms, the time a
    new write waits to be applied by lambda*a - 1 ms a ms, and the sampled lag (age of the
    oldest unapplied write) by 1 - 1/(lambda*a) ms a ms. With n threads it stays flat.

    `write_rate_per_s` defaults to 1.5 x one apply thread's capacity; the base's read rate
    is kept and the writes added to it. One row per follower per timeline sample up to
    duration_ms: apply_concurrency, replicate, seed, t_ms, node, lag_ms, lag_writes,
    replay_ms (lag_writes x a / apply_concurrency: time the backlog takes to replay),
    utilisation, write_rate_per_s (the run's measured commit rate).
    """
    if write_rate_per_s is None:
        write_rate_per_s = 1.5 * 1000.0 / base.service.apply.mean_ms
    reads_per_s = base.workload.rate_per_s * (1.0 - base.workload.write_ratio)
    total = reads_per_s + write_rate_per_s
    scenario = base.replace(duration_ms=duration_ms, **{"workload.arrival": "open", "workload.rate_per_s": total,
                                                         "workload.write_ratio": write_rate_per_s / total})
    frame = _sweep(scenario, engine, workers, progress, _measure_lag_over_time, replicates=replicates, seed=seed,
                   grid={"topology.apply_concurrency": [int(n) for n in concurrency]})
    rows = []
    for row in frame.to_dict("records"):
        samples = pd.DataFrame(json.loads(row["samples"]))
        samples.insert(0, "apply_concurrency", row["topology.apply_concurrency"])
        samples.insert(1, "replicate", row["replicate"])
        samples.insert(2, "seed", row["seed"])
        samples["write_rate_per_s"] = row["write_rate_per_s"]
        rows.append(samples)
    return pd.concat(rows, ignore_index=True)


def _measure_lag_over_time(scenario: Scenario) -> _Measured:
    results = run(scenario)
    timeline = results.timeline
    followers = timeline[(timeline["role"] == "follower") & (timeline["t_ms"] <= scenario.duration_ms)]
    apply_ms = scenario.service.apply.mean_ms / scenario.topology.apply_concurrency
    samples = {
        "t_ms": followers["t_ms"].tolist(),
        "node": followers["node"].astype(str).tolist(),
        "lag_ms": followers["lag_ms"].tolist(),
        "lag_writes": followers["lag_writes"].tolist(),
        "replay_ms": (followers["lag_writes"] * apply_ms).tolist(),
        "utilisation": followers["utilisation"].tolist(),
    }
    commits = (results.writes["commit_ms"] < scenario.duration_ms).sum()
    return _Measured({"write_rate_per_s": commits / (scenario.duration_ms / 1000.0), "samples": json.dumps(samples)})


# More hardware ------------------------------------------------------------------------------------
def hardware_per_request(base: Scenario, followers: Iterable[int] = (0, 1, 2, 4, 8),
                         duration_ms: float | None = 2_000.0, header_bytes: int = HEADER_BYTES,
                         value_bytes: int = VALUE_BYTES, replicates: int = 1, seed: int = 0, engine: str = "serial",
                         workers: int | None = None, progress: bool = False) -> pd.DataFrame:
    """Nodes, messages, bytes and work per served request, vs the number of followers.

    Every client operation is 4 messages (client -> balancer -> node and back); every write
    is shipped once to each follower, and under semi-sync and sync followers send receipts.
    Bytes are an estimate: every message costs `header_bytes`, and the messages that carry
    a value (a write on its way to the leader, two hops; a read's reply, two hops; every
    shipped entry) `value_bytes` more. With no followers and reads on followers, the single
    node serves reads itself (replication.reads = "any").

    One row per run: followers, nodes, served, writes_per_request (the served requests'
    write share), throughput_per_s, node_ms_per_request
    (nodes x duration / served: node-time bought per request), busy_worker_ms_per_request
    (worker time actually spent per request: reads, writes and their applies),
    messages_per_request, replication_messages_per_request (entries shipped),
    bytes_per_request, replicate, seed.
    """
    scenario = base if duration_ms is None else base.replace(duration_ms=duration_ms)
    samples = []
    for n in followers:
        point = {"topology.followers": int(n)}
        if int(n) == 0 and scenario.replication.reads == "followers":
            point["replication.reads"] = "any"
        samples.append(point)
    frame = _sweep(scenario, engine, workers, progress, _measure_hardware, replicates=replicates, seed=seed,
                   samples=samples)
    frame = frame.rename(columns={"topology.followers": "followers"})
    frame["nodes"] = frame["followers"] + 1
    frame["bytes_per_request"] = (frame["messages_per_request"] * header_bytes
                                  + frame["value_messages_per_request"] * value_bytes)
    return frame[["followers", "nodes", "served", "writes_per_request", "throughput_per_s", "node_ms_per_request",
                  "busy_worker_ms_per_request", "messages_per_request", "replication_messages_per_request",
                  "bytes_per_request", "replicate", "seed"]]


def _measure_hardware(scenario: Scenario) -> _Measured:
    results = run(scenario)
    summary = results.summary
    served = summary["served"]
    timeline = results.timeline.sort_values(["node", "t_ms"], kind="stable")
    interval_ms = timeline.groupby("node", observed=True)["t_ms"].diff().fillna(timeline["t_ms"])
    busy_ms = float((timeline["utilisation"] * scenario.topology.workers * interval_ms).sum())
    shipped = int(timeline.groupby("node", observed=True)["shipped"].max().sum())
    ops = results.requests[results.requests["outcome"] == "served"]["op"].value_counts()
    nodes = scenario.topology.followers + 1
    return _Measured({
        "served": served,
        "writes_per_request": ops.get("write", 0) / served,
        "throughput_per_s": summary["throughput_per_s"],
        "node_ms_per_request": nodes * scenario.duration_ms / served,
        "busy_worker_ms_per_request": busy_ms / served,
        "messages_per_request": summary["messages"] / served,
        "replication_messages_per_request": shipped / served,
        "value_messages_per_request": (2 * ops.get("read", 0) + 2 * ops.get("write", 0) + shipped) / served,
    })


# running ------------------------------------------------------------------------------------------
class _Measured:
    """What a measuring runner hands the sweep: a flat summary of one run's curve values."""

    __slots__ = ("summary",)

    def __init__(self, summary: dict[str, Any]):
        self.summary = summary


def _sweep(base: Scenario, engine: str, workers: int | None, progress: bool, runner, **plan) -> pd.DataFrame:
    """Run a sweep with a measuring runner; a run that failed is an error here, not a gap in a curve."""
    frame = sweep(base, engine=engine, workers=workers, progress=progress, runner=runner, **plan)
    failed = frame[frame["error"] != ""]
    if len(failed):
        raise RuntimeError(f"{len(failed)} of {len(frame)} runs failed; the first: {failed['error'].iloc[0]}")
    return frame.loc[:, ~frame.columns.duplicated()]  # a sweep that varies seed lists it twice


__all__ = ["ACK_MODES", "HEADER_BYTES", "VALUE_BYTES", "apply_concurrency_lag", "hardware_per_request",
           "lag_vs_followers", "lost_writes_curve", "read_capacity_curve"]
