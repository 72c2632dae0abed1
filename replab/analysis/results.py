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
- receipts: one row per (write, node) that took it off its leader's stream (write_id, node,
  received_ms), whether applied by the end or not (leader-follower and leader-leader).
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
  to_dead_dc, dc_move and node_move columns (replab.analysis.dc_results).
- summary: a flat dict of metrics (see replab.analysis.summary.SUMMARY_DOC).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from replab.analysis.dc_results import add_dc_columns
from replab.analysis.summary import SUMMARY_DOC, served_reads, summarise
from replab.config.scenario import Scenario
from replab.core.recorder import CACHE_OUTCOMES, LOST_REASONS, OUTCOMES, REASONS, RESOLUTIONS


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
    def from_model(cls, model) -> Results:
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
        if model.dcs is not None:
            add_dc_columns(model, requests)
        summary = summarise(model, requests, writes, applies, timeline, events, anomalies, sessions, conflicts, fetches)
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
    age[served_reads(requests)] = 0.0
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


def find_anomalies(requests: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """Served reads flagged stale / read-your-writes / monotonic-read violations.

    Vectorised with as-of joins (only the columns each join needs, to keep the peak memory
    of a long run low); `replab.analysis.checks` finds the same by a plain sweep.
    """
    served = (requests["op"] == "read") & (requests["outcome"] == "served")
    reads = requests.loc[served, ["request_id", "session", "key", "start_ms", "end_ms", "version"]]
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


