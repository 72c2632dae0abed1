"""The summary of one run: a flat dict of metrics, each explained in SUMMARY_DOC.

`summarise` reads only the frames (and the few counters a model keeps besides them, such
as messages sent); each replication kind and network feature adds its own keys, NaN or 0
where they do not apply, so every run has the same keys (multi-DC runs add theirs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab.analysis.dc_results import DC_SUMMARY_DOC, dc_summary
from replab.analysis.outages import outage_summary
from replab.core.recorder import CACHE_OUTCOMES, LOST_REASONS, LOST_UPDATE, RESOLUTIONS, SERVED

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
    "failovers": "promotions of a follower", "failover_ms": "mean time from the leader's crash to a promotion",
    "mean_lag_ms": "mean replication lag of live followers (leader-leader: of every live node) over the timeline samples (NaN with pull and buddy replication: they follow no log)",
    "max_lag_ms": "largest replication lag of a live follower (leader-leader: of any live node) sampled (NaN with pull and buddy replication)",
    "messages": "network messages sent",
    "conflicts": "leader-leader: pairs of concurrent writes of a key (neither had seen the other) met on some node",
    "conflicts_per_s": "conflicts per simulated second of the run (duration_ms)",
    "lost_updates": "acknowledged writes overwritten by a concurrent write (last writer wins); under sync acks the loser is refused ('conflict') instead, unless its ack had stopped waiting for a node detected dead that then met the conflict",
    "siblings": "writes kept side by side with a concurrent write of their key (keep-both)",
    "mean_divergent_keys": "leader-leader: mean over the timeline samples of keys whose versions differ across live nodes",
    "max_divergent_keys": "leader-leader: most keys found differing across live nodes at a sample",
    "converge_ms": "leader-leader: from the last commit until every live node had applied all it would get and all agreed (NaN: not by the end of the run)",
    "sessions_moved": "buddy replication: sessions moved to another node because theirs died",
    "sessions_lost_state": "buddy replication: moved sessions whose new node lacked some of their writes (lost with a reason)",
    "state_copies": "buddy replication: session-state copies sent to buddies (each a message of buddy.state_bytes)",
    "state_copy_bytes": "buddy replication: bytes of session state sent to buddies",
    "state_bytes_per_node": "buddy replication: mean session state held in a live node's memory over the timeline samples, bytes",
    "takeover_ms": "buddy replication: mean time from a node's crash to its sessions' take-over by buddies",
    "stranded_writes": "leader-leader: acknowledged writes missing on a live node because only leaders down at the end hold them (shipped when they return)",
    "failed_network": "operations that failed because a message of theirs found no live path (a dead switch)",
    "messages_dropped": "network messages dropped for want of a live path (a dead switch on the way)",
    "switch_down_ms": "time within the run with at least one switch down",
    "outage_operations": "operations started while at least one switch was down",
    "outage_availability": "served / operations started while a switch was down (NaN: no switch went down)",
    "longest_gap_ms": "longest stretch of the run (from its start to duration_ms) in which no operation succeeded",
    **DC_SUMMARY_DOC,
    "cache_lookups": "pull: reads a follower looked up in its cache (hits + misses)",
    "cache_hits": "pull: reads a follower answered from an unexpired copy it held",
    "cache_misses": "pull: reads a follower had to fetch (no copy, or an expired one)",
    "hit_ratio": "pull: cache_hits / cache_lookups (NaN with push)",
    "fetches": "pull: fetches followers sent (to the origin or a peer), peer fetches passed on to the origin included",
    "peer_fetches": "pull: fetches sent to a peer follower (cache.source = 'peer')",
    "origin_ops_per_s": "origin load: writes committed, client reads served and fetches answered by a leader, per simulated second of duration_ms (NaN for buddy replication)",
    "staleness_mean_ms": "mean staleness age of the stale reads: how long the version read had been superseded by an acknowledged write when the read started (NaN: no stale read)",
    "staleness_max_ms": "largest staleness age of a read (0: no stale read)",
}


def summarise(model, requests, writes, applies, timeline, events, anomalies, sessions, conflicts, fetches) -> dict:
    """Every summary key of one run (see SUMMARY_DOC)."""
    summary = _core_summary(model, requests, writes, timeline, events, anomalies, sessions)
    summary |= _leader_leader_summary(model, writes, timeline, conflicts)
    summary |= _buddy_summary(model, timeline, events)
    summary |= outage_summary(model, requests, events)
    summary |= _propagation_summary(model, requests, writes, events, fetches)
    if model.dcs is not None:
        summary |= dc_summary(model, requests, writes, applies, events, anomalies)
    return summary


def served_reads(requests: pd.DataFrame) -> np.ndarray:
    """Mask of the served reads (by category codes: far quicker than comparing labels)."""
    return (requests["op"].cat.codes.to_numpy() == 0) & (requests["outcome"].cat.codes.to_numpy() == SERVED)


def _leader_reads(requests: pd.DataFrame, events: pd.DataFrame, model) -> int:
    """Client reads served by a node while it led (by when the read reached it)."""
    served = served_reads(requests)
    node = requests["node"].cat.codes.to_numpy()[served]
    if model.multi_leader:
        return int((node < model.scenario.topology.leaders).sum())
    promotions = events[events["kind"] == "promote"]
    if promotions.empty:
        return int((node == 0).sum())
    names = list(requests["node"].cat.categories)
    leaders = np.array([0] + [names.index(t) for t in promotions["target"]])
    term = np.searchsorted(promotions["t_ms"].to_numpy(), requests["arrived_ms"].to_numpy()[served], side="right")
    return int((node == leaders[term]).sum())


def _propagation_summary(model, requests, writes, events, fetches) -> dict:
    """Push vs pull: cache hits and misses, fetches, origin load, staleness ages."""
    looked_up = np.bincount(requests["cache"].cat.codes.to_numpy(), minlength=len(CACHE_OUTCOMES))
    hits, misses = int(looked_up[1]), int(looked_up[2])
    to_origin = fetches["source"].cat.codes.to_numpy() == model.leader.index  # pull never promotes
    origin_fetches = int((to_origin & ~np.isnan(fetches["answered_ms"].to_numpy())).sum())
    origin_ops = len(writes) + _leader_reads(requests, events, model) + origin_fetches
    age = requests["staleness_ms"].to_numpy()
    stale_age = age[age > 0]
    return {
        "cache_lookups": hits + misses,
        "cache_hits": hits,
        "cache_misses": misses,
        "hit_ratio": hits / (hits + misses) if hits + misses else math.nan,
        "fetches": int(len(fetches)),
        "peer_fetches": int((~to_origin).sum()),
        # buddy replication has no origin: every node serves its own sessions
        "origin_ops_per_s": math.nan if model.buddy else origin_ops / (model.duration_ms / 1000.0),
        "staleness_mean_ms": float(stale_age.mean()) if len(stale_age) else math.nan,
        "staleness_max_ms": float(stale_age.max()) if len(stale_age) else 0.0,
    }


def _leader_leader_summary(model, writes, timeline, conflicts) -> dict:
    """Conflicts, lost updates, siblings, divergence and convergence (NaN/0 for leader-follower)."""
    incoming, existing = conflicts["incoming"].to_numpy(), conflicts["existing"].to_numpy()
    pairs = len(set(zip(np.minimum(incoming, existing).tolist(), np.maximum(incoming, existing).tolist())))
    both = conflicts[conflicts["resolution"] == RESOLUTIONS[2]]
    lost_updates = (writes["lost_reason"] == LOST_REASONS[LOST_UPDATE]) & writes["acked"]
    divergence = timeline.groupby("t_ms", sort=True)["divergent_keys"].first() if len(timeline) else pd.Series(dtype=float)
    multi = model.multi_leader
    stranded = set(getattr(model, "stranded_writes", ()))
    return {
        "conflicts": int(pairs),
        "conflicts_per_s": pairs / (model.duration_ms / 1000.0),
        "lost_updates": int(lost_updates.sum()),
        "siblings": int(len(set(both["incoming"]) | set(both["existing"]))),
        "mean_divergent_keys": float(divergence.mean()) if multi and len(divergence) else math.nan,
        "max_divergent_keys": float(divergence.max()) if multi and len(divergence) else math.nan,
        "converge_ms": float(getattr(model, "converge_ms", math.nan)),
        "stranded_writes": int((writes["write_id"].isin(stranded) & writes["acked"] & ~writes["lost"]).sum()),
    }


def _buddy_summary(model, timeline, events) -> dict:
    """Session moves, state lost, copies and memory of buddy replication (NaN/0 for the other kinds)."""
    if not model.buddy:
        return {"sessions_moved": 0, "sessions_lost_state": 0, "state_copies": 0, "state_copy_bytes": 0,
                "state_bytes_per_node": math.nan, "takeover_ms": math.nan}
    replication = model.replication
    crashed_at, takeovers = {}, []
    for t, kind, target, _detail in events.itertuples(index=False):
        if kind == "crash":
            crashed_at[target] = t
        elif kind == "take-over" and target in crashed_at:
            takeovers.append(t - crashed_at.pop(target))
    live = timeline[timeline["up"]]
    return {
        "sessions_moved": replication.sessions_moved,
        "sessions_lost_state": replication.sessions_lost_state,
        "state_copies": replication.copies_sent,
        "state_copy_bytes": replication.copies_sent * replication.state_bytes,
        "state_bytes_per_node": float(live["state_bytes"].mean()) if len(live) else math.nan,
        "takeover_ms": float(np.mean(takeovers)) if takeovers else math.nan,
    }


def _percentiles(latency: np.ndarray, prefix: str) -> dict:
    if len(latency) == 0:
        return {f"{prefix}_{p}_ms": math.nan for p in ("p50", "p95", "p99", "mean")}
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {f"{prefix}_p50_ms": float(p50), f"{prefix}_p95_ms": float(p95), f"{prefix}_p99_ms": float(p99),
            f"{prefix}_mean_ms": float(latency.mean())}


def _core_summary(model, requests, writes, timeline, events, anomalies, sessions) -> dict:
    duration = model.duration_ms
    outcome = requests["outcome"]
    served = requests[outcome == "served"]
    is_read = served["op"] == "read"
    n = len(requests)
    summary = {
        "operations": n,
        "served": int(len(served)),
        "refused": int((outcome == "refused").sum()),
        "failed": int((outcome == "failed").sum()),
        "availability": len(served) / n if n else math.nan,
        "throughput_per_s": float((served["start_ms"] < duration).sum() / (duration / 1000.0)),
    }
    summary |= _percentiles(served.loc[is_read, "latency_ms"].to_numpy(), "read")
    summary |= _percentiles(served.loc[~is_read, "latency_ms"].to_numpy(), "write")
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
    summary |= _failover_times(events, duration)
    # with several leaders every node is a replica of the others' writes
    followers = timeline[((timeline["role"] == "follower") | model.multi_leader) & timeline["up"]]
    no_log = math.nan if model.buddy else 0.0  # buddy copies follow no log: no lag to speak of
    summary["mean_lag_ms"] = float(followers["lag_ms"].mean()) if len(followers) else no_log
    summary["max_lag_ms"] = float(followers["lag_ms"].max()) if len(followers) else no_log
    summary["messages"] = int(model.network.messages_sent)
    return summary


def _failover_times(events: pd.DataFrame, duration_ms: float) -> dict:
    """Read-only time (clipped to the run) and leader-crash-to-promotion times, from events."""
    read_only_ms, since = 0.0, None
    failover_times, crashed_at = [], None
    for t, kind, _target, detail in events.itertuples(index=False):
        if kind == "read-only":
            since = t
        elif kind == "writable" and since is not None:
            read_only_ms += max(0.0, min(t, duration_ms) - min(since, duration_ms))
            since = None
        elif kind == "crash" and detail.startswith("leader") and crashed_at is None:
            crashed_at = t
        elif kind == "promote" and crashed_at is not None:
            failover_times.append(t - crashed_at)
            crashed_at = None
        elif kind == "recover" and crashed_at is not None and not failover_times:
            pass
    if since is not None:
        read_only_ms += max(0.0, duration_ms - since)
    return {
        "read_only_ms": read_only_ms,
        "failovers": len(failover_times),
        "failover_ms": float(np.mean(failover_times)) if failover_times else math.nan,
    }
