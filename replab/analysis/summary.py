"""The summary of one run: a flat dict of metrics, each explained in SUMMARY_DOC.

`summarise(results)` reads only the Results: the frames, the scenario and the few counts a
model keeps besides them (`results.totals`, such as messages sent), so a run saved to disk
is summarised again to the same values. Each replication strategy adds its own keys
(`Strategy.summary`), as do network features, NaN or 0 where they do not apply, so every run
has the same keys (multi-DC runs add theirs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab.analysis.anomalies import find_anomalies, served_reads
from replab.analysis.dc_results import DC_SUMMARY_DOC, dc_summary
from replab.analysis.outages import outage_summary
from replab.analysis.split_brain import PROMOTION_DOC, promotion_summary
from replab.analysis.staleness import STALENESS_DOC, staleness_summary
from replab.core.codes import CACHE_OUTCOMES, FAILED, HIT, MISS, READ, REFUSED, SERVED
from replab.replication import STRATEGIES

SUMMARY_DOC = {
    "operations": "client operations started",
    "served": "operations answered successfully",
    "refused": "operations declined at once (read-only mode, no replica, a buddy session that had moved)",
    "failed": "operations the client gave up on (node down, network, time-out)",
    "availability": "served / operations",
    "throughput_per_s": "served operations per simulated second (started within duration_ms)",
    "read_p50_ms": "median latency of served reads", "read_p95_ms": "95th percentile", "read_p99_ms": "99th percentile",
    "read_mean_ms": "mean latency of served reads",
    "write_p50_ms": "median latency of served writes (client to ack)", "write_p95_ms": "95th percentile",
    "write_p99_ms": "99th percentile", "write_mean_ms": "mean latency of served writes",
    "writes_acked": "writes acknowledged to their client",
    "lost_acked_writes": "acknowledged writes discarded by a failover or overwritten by a concurrent write (last writer wins)",
    "lost_writes": "committed writes discarded by a failover or overwritten by a concurrent write, acknowledged or not",
    "stale_reads": "served reads older than a write acknowledged before the read started",
    "stale_read_rate": "stale_reads / served reads",
    "ryw_violations": "served reads older than the session's own acknowledged write of that key",
    "ryw_sessions": "sessions with at least one read-your-writes violation",
    "monotonic_read_violations": "served reads older than a read of that key the session finished earlier",
    "monotonic_sessions": "sessions with at least one monotonic-read violation",
    "read_only_ms": "time within the run with writes refused for want of a leader",
    "failovers": "promotions of a follower (with a realistic failover policy also of leaders that had not crashed)",
    "failover_ms": "mean time from the leader's crash to a promotion",
    "mean_lag_ms": "mean replication lag of live followers (leader-leader: of every live node) over the timeline samples (NaN with pull and buddy replication: they follow no log)",
    "max_lag_ms": "largest replication lag of a live follower (leader-leader: of any live node) sampled (NaN with pull and buddy replication)",
    "messages": "network messages sent",
    "failed_network": "operations that failed because a message of theirs found no live path (a dead switch)",
    "messages_dropped": "network messages dropped for want of a live path (a dead switch on the way)",
    "switch_down_ms": "time within the run with at least one switch down",
    "outage_operations": "operations started while at least one switch was down",
    "outage_availability": "served / operations started while a switch was down (NaN: no switch went down)",
    "longest_gap_ms": "longest stretch of the run (from its start to duration_ms) in which no operation succeeded",
    **{key: meaning for strategy in STRATEGIES.values() for key, meaning in strategy.summary_doc.items()},
    **DC_SUMMARY_DOC,
    **PROMOTION_DOC,
    "cache_lookups": "pull: reads a follower looked up in its cache (hits + misses)",
    "cache_hits": "pull: reads a follower answered from an unexpired copy it held",
    "cache_misses": "pull: reads a follower had to fetch (no copy, or an expired one)",
    "hit_ratio": "pull: cache_hits / cache_lookups (NaN with push)",
    "fetches": "pull: fetches followers sent (to the origin or a peer), peer fetches passed on to the origin included",
    "peer_fetches": "pull: fetches sent to a peer follower (cache.source = 'peer')",
    "origin_ops_per_s": "origin load: writes committed, client reads served and fetches answered by a leader, per simulated second of duration_ms (NaN for buddy replication)",
    "staleness_mean_ms": "mean staleness age of the stale reads: how long the version read had been superseded by an acknowledged write when the read started (NaN: no stale read)",
    "staleness_max_ms": "largest staleness age of a read (0: no stale read)",
    **STALENESS_DOC,
}

def summarise(results, anomalies: pd.DataFrame | None = None) -> dict:
    """Every summary key of one run (see SUMMARY_DOC), from its Results alone.
    `anomalies` (find_anomalies of its frames) may be passed when already computed."""
    if anomalies is None:
        anomalies = find_anomalies(results.requests, results.writes)
    summary = _core_summary(results, anomalies)
    for strategy in STRATEGIES.values():
        summary |= strategy.summary(results)
    summary |= outage_summary(results)
    summary |= _propagation_summary(results)
    summary |= promotion_summary(results)
    summary |= staleness_summary(results)
    if results.scenario.dcs.count > 1:
        summary |= dc_summary(results, anomalies)
    return summary


def _origin_reads(results) -> int:
    """Client reads served by a node while it led (by when the read reached it)."""
    requests, events = results.requests, results.events
    served = served_reads(requests)
    node = requests["node"].cat.codes.to_numpy()[served]
    promotions = events[events["kind"] == "promote"]
    if promotions.empty:
        return int((node < results.scenario.topology.leaders).sum())
    names = list(requests["node"].cat.categories)
    leaders = np.array([0] + [names.index(t) for t in promotions["target"]])
    term = np.searchsorted(promotions["t_ms"].to_numpy(), requests["arrived_ms"].to_numpy()[served], side="right")
    return int((node == leaders[term]).sum())


def _propagation_summary(results) -> dict:
    """Push vs pull: cache hits and misses, fetches, origin load, staleness ages."""
    requests, writes, fetches = results.requests, results.writes, results.fetches
    looked_up = np.bincount(requests["cache"].cat.codes.to_numpy(), minlength=len(CACHE_OUTCOMES))
    hits, misses = int(looked_up[HIT]), int(looked_up[MISS])
    to_origin = fetches["source"].cat.codes.to_numpy() == 0  # pull never promotes: node0 stays the origin
    origin_fetches = int((to_origin & ~np.isnan(fetches["answered_ms"].to_numpy())).sum())
    has_origin = STRATEGIES[results.scenario.replication.kind].has_leader
    origin_ops = len(writes) + _origin_reads(results) + origin_fetches if has_origin else math.nan
    age = requests["staleness_ms"].to_numpy()
    stale_age = age[age > 0]
    return {
        "cache_lookups": hits + misses,
        "cache_hits": hits,
        "cache_misses": misses,
        "hit_ratio": hits / (hits + misses) if hits + misses else math.nan,
        "fetches": int(len(fetches)),
        "peer_fetches": int((~to_origin).sum()),
        "origin_ops_per_s": origin_ops / (results.scenario.duration_ms / 1000.0),
        "staleness_mean_ms": float(stale_age.mean()) if len(stale_age) else math.nan,
        "staleness_max_ms": float(stale_age.max()) if len(stale_age) else 0.0,
    }


def _percentiles(latency: np.ndarray, prefix: str) -> dict:
    if len(latency) == 0:
        return {f"{prefix}_{p}_ms": math.nan for p in ("p50", "p95", "p99", "mean")}
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {f"{prefix}_p50_ms": float(p50), f"{prefix}_p95_ms": float(p95), f"{prefix}_p99_ms": float(p99),
            f"{prefix}_mean_ms": float(latency.mean())}


def _core_summary(results, anomalies) -> dict:
    requests, writes, sessions = results.requests, results.writes, results.sessions
    duration = results.scenario.duration_ms
    # numpy arrays by category codes: selecting the served rows of the whole frame copied every column
    outcome = requests["outcome"].cat.codes.to_numpy()
    served = outcome == SERVED
    is_read = requests["op"].cat.codes.to_numpy()[served] == READ
    latency = requests["latency_ms"].to_numpy()[served]
    n = len(requests)
    served_count = int(served.sum())
    summary = {
        "operations": n,
        "served": served_count,
        "refused": int((outcome == REFUSED).sum()),
        "failed": int((outcome == FAILED).sum()),
        "availability": served_count / n if n else math.nan,
        "throughput_per_s": float((requests["start_ms"].to_numpy()[served] < duration).sum() / (duration / 1000.0)),
    }
    summary |= _percentiles(latency[is_read], "read")
    summary |= _percentiles(latency[~is_read], "write")
    reads_served = int(is_read.sum())
    summary |= {
        "writes_acked": int(writes["acked"].sum()),
        "lost_acked_writes": int((writes["lost"] & writes["acked"]).sum()),
        "lost_writes": int(writes["lost"].sum()),
        "stale_reads": int(anomalies["stale"].sum()),
        "stale_read_rate": float(anomalies["stale"].sum() / reads_served) if reads_served else math.nan,
        "ryw_violations": int(anomalies["ryw"].sum()),
        "ryw_sessions": int((sessions["ryw_violations"] > 0).sum()),
        "monotonic_read_violations": int(anomalies["monotonic"].sum()),
        "monotonic_sessions": int((sessions["monotonic_read_violations"] > 0).sum()),
    }
    summary |= _failover_times(results.events, duration)
    strategy = STRATEGIES[results.scenario.replication.kind]
    summary["mean_lag_ms"], summary["max_lag_ms"] = strategy.lag_figures(results.timeline)
    summary["messages"] = int(results.totals.get("messages_sent", 0))
    return summary


def _failover_times(events: pd.DataFrame, duration_ms: float) -> dict:
    """Read-only time (clipped to the run) and leader-crash-to-promotion times, from events."""
    read_only_ms, since = 0.0, None
    failover_times, crashed_at, promotions = [], None, 0
    for t, kind, _target, detail in events.itertuples(index=False):
        if kind == "read-only":
            since = t
        elif kind == "writable" and since is not None:
            read_only_ms += max(0.0, min(t, duration_ms) - min(since, duration_ms))
            since = None
        elif kind == "crash" and detail.startswith("leader") and crashed_at is None:
            crashed_at = t
        elif kind == "promote":
            promotions += 1  # realistic failover policies also promote leaders that never crashed
            if crashed_at is not None:
                failover_times.append(t - crashed_at)
                crashed_at = None
        elif kind == "recover" and crashed_at is not None and not failover_times:
            pass
    if since is not None:
        read_only_ms += max(0.0, duration_ms - since)
    return {
        "read_only_ms": read_only_ms,
        "failovers": promotions,
        "failover_ms": float(np.mean(failover_times)) if failover_times else math.nan,
    }
