"""The summary of a real run, from its frames alone, with the simulator's keys.

Until `replab.summarise(results)` exists this computes the keys a leader-follower run has
(a test checks the key list against a simulated run's); the keys of other replication kinds,
switches, DCs and pull keep the values a simulated leader-follower run gives them.
Where a real run differs:
- read_only_ms: 0; Redis has no read-only mode, a client just waits for a primary.
- failovers / failover_ms: the Sentinels' promotions, from the crash of the primary to the
  first +promoted-slave (or +switch-master) that followed it.
- messages: what the client sent and heard (a request and its answer each); the servers'
  own traffic is not counted.
- lag: over the timeline samples of live followers, from replication offsets.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _percentiles(latency: np.ndarray, prefix: str) -> dict:
    if len(latency) == 0:
        return {f"{prefix}_{p}_ms": math.nan for p in ("p50", "p95", "p99", "mean")}
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {f"{prefix}_p50_ms": float(p50), f"{prefix}_p95_ms": float(p95), f"{prefix}_p99_ms": float(p99),
            f"{prefix}_mean_ms": float(latency.mean())}


def failover_times(events: pd.DataFrame) -> list[float]:
    """ms from each crash of the primary to the promotion that followed it."""
    times, crashed_at = [], None
    for t, kind, _target, detail in events.itertuples(index=False):
        if kind == "crash" and str(detail).startswith("leader") and crashed_at is None:
            crashed_at = t
        elif kind == "promote" and crashed_at is not None:
            times.append(t - crashed_at)
            crashed_at = None
    return times


def real_summary(scenario, requests, writes, timeline, events, anomalies, sessions) -> dict:
    duration = scenario.duration_ms
    outcome = requests["outcome"]
    served = requests[outcome == "served"]
    is_read = served["op"] == "read"
    n = len(requests)
    reads_served = int(is_read.sum())
    stale = int(anomalies["stale"].sum())
    failovers = failover_times(events)
    followers = timeline[(timeline["role"] == "follower") & timeline["up"]]
    age = requests["staleness_ms"].to_numpy()
    stale_age = age[age > 0]
    ends = np.sort(served["end_ms"].to_numpy()[served["end_ms"].to_numpy() < duration])
    answered = int((outcome != "failed").sum())
    summary = {
        "operations": n,
        "served": int(len(served)),
        "refused": int((outcome == "refused").sum()),
        "failed": int((outcome == "failed").sum()),
        "availability": len(served) / n if n else math.nan,
        "throughput_per_s": float((served["start_ms"] < duration).sum() / (duration / 1000.0)),
        **_percentiles(served.loc[is_read, "latency_ms"].to_numpy(), "read"),
        **_percentiles(served.loc[~is_read, "latency_ms"].to_numpy(), "write"),
        "writes_acked": int(writes["acked"].sum()),
        "lost_acked_writes": int((writes["lost"] & writes["acked"]).sum()),
        "lost_writes": int(writes["lost"].sum()),
        "stale_reads": stale,
        "stale_read_rate": stale / reads_served if reads_served else math.nan,
        "ryw_violations": int(anomalies["ryw"].sum()),
        "ryw_sessions": int((sessions["ryw_violations"] > 0).sum()),
        "monotonic_read_violations": int(anomalies["monotonic"].sum()),
        "monotonic_sessions": int((sessions["monotonic_read_violations"] > 0).sum()),
        "read_only_ms": 0.0,
        "failovers": len(failovers),
        "failover_ms": float(np.mean(failovers)) if failovers else math.nan,
        "mean_lag_ms": float(followers["lag_ms"].mean()) if len(followers) else 0.0,
        "max_lag_ms": float(followers["lag_ms"].max()) if len(followers) else 0.0,
        "messages": n + answered,
        "conflicts": 0, "conflicts_per_s": 0.0, "lost_updates": 0, "siblings": 0,
        "mean_divergent_keys": math.nan, "max_divergent_keys": math.nan, "converge_ms": math.nan,
        "stranded_writes": 0,
        "sessions_moved": 0, "sessions_lost_state": 0, "state_copies": 0, "state_copy_bytes": 0,
        "state_bytes_per_node": math.nan, "takeover_ms": math.nan,
        "failed_network": int(((outcome == "failed") & (requests["reason"] == "network")).sum()),
        "messages_dropped": 0, "switch_down_ms": 0.0, "outage_operations": 0, "outage_availability": math.nan,
        "longest_gap_ms": float(np.diff(np.concatenate(([0.0], ends, [duration]))).max()),
        "cache_lookups": 0, "cache_hits": 0, "cache_misses": 0, "hit_ratio": math.nan, "fetches": 0, "peer_fetches": 0,
        "origin_ops_per_s": (len(writes) + _leader_reads(served, events)) / (duration / 1000.0),
        "staleness_mean_ms": float(stale_age.mean()) if len(stale_age) else math.nan,
        "staleness_max_ms": float(stale_age.max()) if len(stale_age) else 0.0,
    }
    return summary


def _leader_reads(served: pd.DataFrame, events: pd.DataFrame) -> int:
    """Reads served by whichever node was the primary when they were sent."""
    reads = served[served["op"] == "read"]
    promotions = events[events["kind"] == "promote"]
    names = list(reads["node"].cat.categories)
    leaders = np.array([0] + [names.index(t) for t in promotions["target"]])
    term = np.searchsorted(promotions["t_ms"].to_numpy(), reads["start_ms"].to_numpy(), side="right")
    return int((reads["node"].cat.codes.to_numpy() == leaders[term]).sum())
