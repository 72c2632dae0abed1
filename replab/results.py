"""Results: the tidy frames of one run and its summary.

- requests: one row per client operation (session, node, key, op, start_ms, end_ms,
  latency_ms, outcome served/refused/failed, reason, version seen or written, and
  arrived_ms / answered_ms: when it reached the node, or the balancer that refused it,
  and when the answer left; NaN where it never got there; cache: with pull, 'hit' or
  'miss' for a read a follower looked up in its cache, '' otherwise; staleness_ms: for a
  served read, how long the version it returned had been superseded by a write
  acknowledged before the read started (0 when fresh), NaN for anything else).
- writes: one row per committed write (ack_ms, replicas that applied it, lost and why;
  log_index is its place in its leader's log, per leader under leader-leader; applies_before:
  apply rows recorded before it committed, which places it among the applies of its instant).
- applies: one row per (write, replica): who shipped it (sender, sent_ms), when the
  replica received it and when it applied it (NaN/empty for entries re-applied from the
  relay log after a crash, whose receipt was before the crash).
- receipts: leader-leader, one row per (write, node) that took it off its leader's stream
  (write_id, node, received_ms), whether applied by the end or not.
- timeline: per-node samples (role, up, depth in the replication tree (-1: not in it;
  leader-leader: 0 for leaders, 1 for followers), upstream (the node it replicates from;
  empty for leaders and nodes out of the tree), queue, utilisation, lag in ms and in
  writes (NaN for pull followers: a cache follows no log), entries shipped so far on its
  outbound link, and divergent_keys: keys whose
  versions differ across the live nodes at that instant, the same on every row of a sample;
  leader-leader only, NaN otherwise), and state_bytes: buddy replication's session state
  held in the node's memory (its own sessions and its copies of its buddies'; -1 for the
  other kinds).
- events: faults, detections, read-only mode, promotions, buddy take-overs.
- conflicts: leader-leader, one row per node that met two concurrent versions of a key
  (t_ms, node, key, the incoming write, the write it held, what it kept).
- fetches: pull, one row per fetch a follower sent for a client read (node, source: the
  origin or the key's home peer, sent_ms, answered_ms at the source, received_ms back at
  the node, version and expires_ms of the copy kept, from_cache: a peer answered from its
  own copy; NaN/-1 where the fetch never got that far).
- sessions: per-session anomaly counts.
- several data centres (dcs.count > 1): requests also have dc, region, dns_lookup,
  to_dead_dc, dc_move and node_move columns (replab.dc_results).
- summary: a flat dict of metrics (see SUMMARY_DOC).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from replab.dc_results import DC_SUMMARY_DOC, add_dc_columns, dc_summary
from replab.outages import outage_summary
from replab.recorder import LOST_REASONS, LOST_UPDATE, OUTCOMES, REASONS, RESOLUTIONS, SERVED
from replab.scenario import Scenario

SUMMARY_DOC = {
    "operations": "client operations started",
    "served": "operations answered successfully",
    "refused": "operations declined at once (read-only mode, no replica)",
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
    "mean_lag_ms": "mean replication lag of live followers (leader-leader: of every live node) over the timeline samples (NaN with pull: a cache follows no log)",
    "max_lag_ms": "largest replication lag of a live follower (leader-leader: of any live node) sampled (NaN with pull)",
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


def _codes(values, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(values, dtype=np.int16), categories=list(categories))


@dataclass
class Results:
    """Everything one run recorded, as pandas frames, plus its summary and scenario."""

    scenario: Scenario
    requests: pd.DataFrame
    writes: pd.DataFrame
    applies: pd.DataFrame
    timeline: pd.DataFrame
    events: pd.DataFrame
    sessions: pd.DataFrame = field(repr=False)
    summary: dict = field(repr=False)
    conflicts: pd.DataFrame = field(default=None, repr=False)
    receipts: pd.DataFrame = field(default=None, repr=False)
    fetches: pd.DataFrame = field(default=None, repr=False)

    @classmethod
    def from_model(cls, model) -> "Results":
        """The results of a finished model. Takes the history out of its recorder (once)."""
        rec = model.recorder
        if rec.req_id is None:
            raise RuntimeError("this model's results were already taken; keep the Results object")
        names = [n.name for n in model.nodes]
        requests = _requests_frame(rec, names)
        writes = _writes_frame(rec, names)
        applies = pd.DataFrame({
            "write_id": _drain(rec, "a_write", np.int64),
            "node": _codes(_drain(rec, "a_node", np.int16), names),
            "sender": _codes(_drain(rec, "a_sender", np.int16), names),
            "sent_ms": _drain(rec, "a_sent_ms", np.float64),
            "received_ms": _drain(rec, "a_received_ms", np.float64),
            "applied_ms": _drain(rec, "a_ms", np.float64),
        }, copy=False)
        receipts = pd.DataFrame({
            "write_id": _drain(rec, "r_write", np.int64),
            "node": _codes(_drain(rec, "r_node", np.int16), names),
            "received_ms": _drain(rec, "r_ms", np.float64),
        }, copy=False)
        writes["replicas"] = np.bincount(applies["write_id"].to_numpy(), minlength=len(writes) + 1)[1:]
        timeline = pd.DataFrame(rec.samples, columns=["t_ms", "node", "role", "up", "depth", "upstream", "queue",
                                                      "utilisation", "lag_ms", "lag_writes", "shipped",
                                                      "divergent_keys", "state_bytes"])
        timeline["node"] = _codes(timeline["node"].to_numpy(), names)
        timeline["upstream"] = _codes(timeline["upstream"].to_numpy(), names)
        timeline["role"] = pd.Categorical(timeline["role"], categories=["leader", "follower", "server"])
        events = pd.DataFrame(rec.events, columns=["t_ms", "kind", "target", "detail"])
        conflicts = _conflicts_frame(rec, names)
        writes["conflicted"] = writes["write_id"].isin(conflicts["incoming"]) | writes["write_id"].isin(conflicts["existing"])
        anomalies = find_anomalies(requests, writes)
        requests["cache"] = _cache_column(rec, requests)
        requests["staleness_ms"] = staleness_ms(requests, writes, anomalies)
        fetches = _fetches_frame(rec, names)
        sessions = _sessions_frame(requests, anomalies, model.scenario.workload.sessions)
        summary = _summary(model, requests, writes, timeline, events, anomalies, sessions)
        summary |= _leader_leader_summary(model, writes, timeline, conflicts)
        summary |= _buddy_summary(model, timeline, events)
        summary |= outage_summary(model, requests, events)
        summary |= _propagation_summary(model, requests, writes, events, fetches)
        if model.dcs is not None:
            add_dc_columns(model, requests)
            summary |= dc_summary(model, requests, writes, applies, events, anomalies)
        return cls(model.scenario, requests, writes, applies, timeline, events, sessions, summary, conflicts, receipts,
                   fetches)

    # presenting -----------------------------------------------------------------------------
    def summary_table(self) -> pd.DataFrame:
        """The summary as a two-column table (metric, value) with what each means."""
        rows = [(k, v, SUMMARY_DOC.get(k, "")) for k, v in self.summary.items()]
        return pd.DataFrame(rows, columns=["metric", "value", "meaning"]).set_index("metric")

    def format_summary(self) -> str:
        lines = []
        for key, value in self.summary.items():
            if isinstance(value, float):
                text = "-" if math.isnan(value) else f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
            else:
                text = f"{value:,}"
            lines.append(f"{key:<28}{text:>14}")
        return "\n".join(lines)

    def to_parquet(self, out: str | Path) -> Path:
        """Write every frame as Parquet, the summary as JSON and the scenario as TOML."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("requests", "writes", "applies", "timeline", "events", "sessions", "conflicts", "receipts", "fetches"):
            getattr(self, name).to_parquet(out / f"{name}.parquet", index=False)
        (out / "summary.json").write_text(json.dumps(self.summary, indent=2, default=float))
        self.scenario.save(out / "scenario.toml")
        return out


def _drain(rec, attr: str, dtype, order=None) -> np.ndarray:
    """A recorder column as a numpy array (reordered if asked); the recorder lets go of it,
    so the history is never held three times at once."""
    column = getattr(rec, attr)
    view = np.frombuffer(column, dtype=dtype) if len(column) else np.empty(0, dtype=dtype)
    taken = view[order] if order is not None else view.copy()
    del view
    setattr(rec, attr, None)
    return taken


def _requests_frame(rec, names: list[str]) -> pd.DataFrame:
    order = np.argsort(np.frombuffer(rec.req_id, dtype=np.int64), kind="stable") if len(rec.req_id) else None
    start = _drain(rec, "req_start", np.float64, order)
    end = _drain(rec, "req_end", np.float64, order)
    return pd.DataFrame({
        "request_id": _drain(rec, "req_id", np.int64, order),
        "session": _drain(rec, "req_session", np.int32, order),
        "op": _codes(_drain(rec, "req_write", np.int8, order), ["read", "write"]),
        "key": _drain(rec, "req_key", np.int64, order),
        "node": _codes(_drain(rec, "req_node", np.int16, order), names),
        "start_ms": start,
        "end_ms": end,
        "latency_ms": end - start,
        "outcome": _codes(_drain(rec, "req_outcome", np.int8, order), OUTCOMES),
        "reason": _codes(_drain(rec, "req_reason", np.int8, order), REASONS),
        "version": _drain(rec, "req_version", np.int64, order),
        "arrived_ms": _drain(rec, "req_arrived", np.float64, order),
        "answered_ms": _drain(rec, "req_answered", np.float64, order),
    }, copy=False)


def _writes_frame(rec, names: list[str]) -> pd.DataFrame:
    ack = _drain(rec, "w_ack", np.float64)
    lost = _drain(rec, "w_lost", np.int8)
    return pd.DataFrame({
        "write_id": np.arange(1, len(ack) + 1, dtype=np.int64),
        "request_id": _drain(rec, "w_request", np.int64),
        "session": _drain(rec, "w_session", np.int32),
        "key": _drain(rec, "w_key", np.int64),
        "leader": _codes(_drain(rec, "w_leader", np.int16), names),
        "term": _drain(rec, "w_term", np.int32),
        "log_index": _drain(rec, "w_index", np.int64),
        "commit_ms": _drain(rec, "w_commit", np.float64),
        "ack_ms": ack,
        "acked": ~np.isnan(ack),
        "lost": lost > 0,
        "lost_reason": _codes(lost, LOST_REASONS),
        "lost_ms": _drain(rec, "w_lost_ms", np.float64),
        "applies_before": _drain(rec, "w_applies_before", np.int64),
    }, copy=False)


def _conflicts_frame(rec, names: list[str]) -> pd.DataFrame:
    rows = rec.conflicts
    return pd.DataFrame({
        "t_ms": np.array([r[0] for r in rows], dtype=np.float64),
        "node": _codes([r[1] for r in rows], names),
        "key": np.array([r[2] for r in rows], dtype=np.int64),
        "incoming": np.array([r[3] for r in rows], dtype=np.int64),
        "existing": np.array([r[4] for r in rows], dtype=np.int64),
        "resolution": _codes([r[5] for r in rows], RESOLUTIONS),
    })


CACHE_OUTCOMES = ("", "hit", "miss")


def _cache_column(rec, requests: pd.DataFrame) -> pd.Categorical:
    """Per request: '' (no cache lookup), 'hit' or 'miss' (pull, a follower's lookup)."""
    looked_up = _drain(rec, "c_request", np.int64)
    hit = _drain(rec, "c_hit", np.int8)
    _drain(rec, "c_node", np.int16)
    codes = np.zeros(len(requests), dtype=np.int8)
    if len(looked_up):
        codes[np.searchsorted(requests["request_id"].to_numpy(), looked_up)] = 2 - hit
    return _codes(codes, CACHE_OUTCOMES)


def _fetches_frame(rec, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "request_id": _drain(rec, "f_request", np.int64),
        "node": _codes(_drain(rec, "f_node", np.int16), names),
        "source": _codes(_drain(rec, "f_source", np.int16), names),
        "sent_ms": _drain(rec, "f_sent", np.float64),
        "answered_ms": _drain(rec, "f_answered", np.float64),
        "received_ms": _drain(rec, "f_received", np.float64),
        "version": _drain(rec, "f_version", np.int64),
        "expires_ms": _drain(rec, "f_expires", np.float64),
        "from_cache": _drain(rec, "f_from_cache", np.int8).astype(bool),
    }, copy=False)


def staleness_ms(requests: pd.DataFrame, writes: pd.DataFrame, anomalies: pd.DataFrame) -> np.ndarray:
    """Per request: how long before the read started the version it returned had been
    superseded, i.e. read start - the earliest ack of a newer write of its key (0 for a
    fresh served read, NaN for writes and reads not served).

    Only stale reads need a search: for them some newer write was acked before the start,
    so the earliest ack among *all* newer writes of the key is already before it.
    """
    age = np.full(len(requests), np.nan)
    age[_served_reads(requests)] = 0.0
    stale = anomalies.loc[anomalies["stale"].to_numpy(), "request_id"].to_numpy()
    if len(stale) == 0:
        return age
    acked = writes.loc[writes["acked"], ["key", "write_id", "ack_ms"]].sort_values(["key", "write_id"])
    # per write: the earliest ack of it and every later write of its key
    acked["first_ack"] = acked.iloc[::-1].groupby("key", sort=False)["ack_ms"].cummin()
    span = int(acked["write_id"].max()) + 1
    order = acked["key"].to_numpy(np.int64) * span + acked["write_id"].to_numpy()
    rows = np.searchsorted(requests["request_id"].to_numpy(), stale)
    reads = requests.iloc[rows]
    wanted = reads["key"].to_numpy(np.int64) * span + reads["version"].to_numpy()
    newer = np.searchsorted(order, wanted, side="right")  # the first write of the key after the one read
    age[rows] = reads["start_ms"].to_numpy() - acked["first_ack"].to_numpy()[newer]
    return age


def _served_reads(requests: pd.DataFrame) -> np.ndarray:
    """Mask of the served reads (by category codes: far quicker than comparing labels)."""
    return (requests["op"].cat.codes.to_numpy() == 0) & (requests["outcome"].cat.codes.to_numpy() == SERVED)


def _leader_reads(requests: pd.DataFrame, events: pd.DataFrame, model) -> int:
    """Client reads served by a node while it led (by when the read reached it)."""
    served = _served_reads(requests)
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
        "origin_ops_per_s": math.nan if getattr(model, "buddy", False) else origin_ops / (model.duration_ms / 1000.0),
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


def find_anomalies(requests: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """Served reads flagged stale / read-your-writes / monotonic-read violations.

    Vectorised with as-of joins (only the columns each join needs, to keep the peak memory
    of a long run low); `replab.checks` finds the same by a plain sweep.
    """
    served_reads = (requests["op"] == "read") & (requests["outcome"] == "served")
    reads = requests.loc[served_reads, ["request_id", "session", "key", "start_ms", "end_ms", "version"]]
    reads = reads.sort_values("start_ms", kind="stable")
    version = reads["version"].to_numpy()
    acked = writes.loc[writes["acked"], ["session", "key", "ack_ms", "write_id"]]
    # (session, key) as one int64: as-of joins by one integer column are far leaner than by two
    keys = int(max(requests["key"].max(), 0)) + 1 if len(requests) else 1
    reads["session_key"] = reads["session"].to_numpy(np.int64) * keys + reads["key"].to_numpy()
    acked["session_key"] = acked["session"].to_numpy(np.int64) * keys + acked["key"].to_numpy()

    def newest_before(known: pd.DataFrame, at: str, by: str, value: str) -> np.ndarray:
        """Per read: the largest `value` among `known` rows of the same `by` strictly before its start."""
        known = known[[at, by, value]].sort_values(at, kind="stable")
        known[value] = known.groupby(by, sort=False)[value].cummax()
        joined = pd.merge_asof(reads[["start_ms", by]], known, left_on="start_ms", right_on=at, by=by,
                               allow_exact_matches=False)
        return joined[value].fillna(0).to_numpy()

    flags = reads[["request_id", "session"]].copy()
    flags["stale"] = newest_before(acked, "ack_ms", "key", "write_id") > version
    flags["ryw"] = newest_before(acked, "ack_ms", "session_key", "write_id") > version
    flags["monotonic"] = newest_before(reads, "end_ms", "session_key", "version") > version
    return flags


def _sessions_frame(requests, anomalies, sessions: int) -> pd.DataFrame:
    frame = pd.DataFrame({"session": np.arange(sessions)})
    frame["operations"] = np.bincount(requests["session"], minlength=sessions)
    for column, name in (("ryw", "ryw_violations"), ("monotonic", "monotonic_read_violations"),
                         ("stale", "stale_reads")):
        frame[name] = np.bincount(anomalies["session"], weights=anomalies[column], minlength=sessions).astype(np.int64)
    return frame


def _percentiles(latency: np.ndarray, prefix: str) -> dict:
    if len(latency) == 0:
        return {f"{prefix}_{p}_ms": math.nan for p in ("p50", "p95", "p99", "mean")}
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {f"{prefix}_p50_ms": float(p50), f"{prefix}_p95_ms": float(p95), f"{prefix}_p99_ms": float(p99),
            f"{prefix}_mean_ms": float(latency.mean())}


def _summary(model, requests, writes, timeline, events, anomalies, sessions) -> dict:
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
    summary["mean_lag_ms"] = float(followers["lag_ms"].mean()) if len(followers) else 0.0
    summary["max_lag_ms"] = float(followers["lag_ms"].max()) if len(followers) else 0.0
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
