"""A real run's records as the simulator's frames: same columns, dtypes and categories.

What a client cannot see is estimated or left out, and said so:
- writes.commit_ms: the start of the write plus half a typical round trip (the primary's
  own clock is not read); write_id orders each key's writes as the primary committed them
  (by the list position RPUSH returned, within each primary the client wrote to), numbered
  in time order across keys.
- writes holds every acknowledged write, and every unacknowledged one that some node or
  read showed was committed; a write refused (READONLY, NOREPLICAS) never committed.
- writes.lost: acknowledged (or seen) but absent from the survivor at the end.
- applies, receipts, fetches, conflicts: empty (a replica's applies are not visible).
- besides the frames, the table `results.commands`: each live server's calls and mean time
  per command at the end (INFO commandstats: node, command, calls, usec_per_call); it is
  saved and loaded with the rest (Results.save / Results.load).
- the summary is `replab.summarise` of these frames, as for a simulated run; messages counts
  the client's requests and answers only (the servers' own traffic is not seen).
- timeline.lag_bytes (an extra column, with offset): the primary's replication offset
  minus the follower's, both read at the sample; lag_writes and lag_ms: the writes whose
  bytes lie past the follower's offset (placed by the primary's offsets at earlier samples)
  and how long ago the oldest of them committed. shipped: writes committed x replicas.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab import Results, summarise
from replab.analysis.anomalies import find_anomalies, sessions_frame, staleness_ms
from replab.core import codes

# the simulator's own codes, so a real run's categorical columns are the simulator's exactly
OUTCOMES, REASONS, LOST_REASONS = codes.OUTCOMES.categories, codes.REASONS.categories, codes.LOST_REASONS.categories
RESOLUTIONS, CACHE_OUTCOMES, ROLES = codes.RESOLUTIONS.categories, codes.CACHE_OUTCOMES.categories, codes.ROLES.categories
REQUEST_COLUMNS = ["request_id", "session", "is_write", "key", "node", "start_ms", "end_ms", "outcome", "reason", "tag",
                   "term", "length"]


def _codes(values, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(values, dtype=np.int16), categories=list(categories))


def build_results(scenario, log, workload, readback) -> Results:
    names = scenario.node_names
    raw = pd.DataFrame(workload.rows, columns=REQUEST_COLUMNS).sort_values("request_id", kind="stable")
    raw = raw.reset_index(drop=True)
    writes, tag_to_id = _writes(raw, readback, log)
    requests = _requests(raw, names, tag_to_id, writes)
    writes = _finish_writes(writes, names)
    timeline = _timeline(log, names, writes)
    events = pd.DataFrame(sorted(log.events + [(log.now_ms(), "client-error", "", f"{count} x {text}")
                                               for text, count in workload.errors.items()]),
                          columns=["t_ms", "kind", "target", "detail"])
    anomalies = find_anomalies(requests, writes)
    requests["cache"] = _codes(np.zeros(len(requests)), CACHE_OUTCOMES)
    requests["staleness_ms"] = staleness_ms(requests, writes, anomalies)
    sessions = sessions_frame(requests, anomalies, scenario.workload.sessions)
    empty = _empty_frames(names)
    # what only a real run has: each server's own count and time per command (INFO commandstats)
    commands = pd.DataFrame(readback.commands, columns=["node", "command", "calls", "usec_per_call"])
    commands["node"] = commands["node"].map(dict(enumerate(names)))
    answered = int((requests["outcome"] != "failed").sum())
    totals = {"messages_sent": len(requests) + answered, "messages_dropped": 0}  # the client's own
    results = Results(scenario, requests, writes, empty["applies"], timeline, events, sessions, {},
                      empty["conflicts"], empty["receipts"], empty["fetches"], totals, {"commands": commands})
    results.summary = summarise(results, anomalies)
    return results


def _writes(raw: pd.DataFrame, readback, log) -> tuple[pd.DataFrame, dict[int, int]]:
    """One row per write known to have committed, numbered in each key's commit order."""
    is_write = raw["is_write"].to_numpy(bool)
    reads_seen = set(raw.loc[~is_write & (raw["outcome"] == 0), "tag"].tolist())
    held = {node: {t for tags in lists.values() for t in tags} for node, lists in readback.tags.items()}
    anywhere = set().union(*held.values()) if held else set()
    survivor = held.get(readback.primary, set())
    w = raw[is_write & ((raw["outcome"] == 0) | (raw["outcome"] == 2))].copy()
    w = w[(w["outcome"] == 0) | w["tag"].isin(anywhere | reads_seen)]
    served = raw[(raw["outcome"] == 0)]
    trip_ms = float(np.median((served["end_ms"] - served["start_ms"]).to_numpy())) if len(served) else 0.0
    latency = (w["end_ms"] - w["start_ms"]).to_numpy()
    w["commit_ms"] = w["start_ms"].to_numpy() + np.minimum(latency, trip_ms) / 2.0
    final_position = {t: i + 1 for lists in [readback.tags.get(readback.primary, {})] for tags in lists.values()
                      for i, t in enumerate(tags)}
    known = w["length"].to_numpy() > 0
    w["position"] = np.where(known, w["length"], [final_position.get(t, math.inf) for t in w["tag"]])
    # slots in time order, then each key's slots handed out again in its commit order
    w = w.sort_values(["commit_ms", "tag"], kind="stable")
    w["write_id"] = np.arange(1, len(w) + 1, dtype=np.int64)
    by_slot = w.sort_values(["key", "write_id"], kind="stable")["write_id"].to_numpy()
    in_order = w.sort_values(["key", "term", "position", "commit_ms", "tag"], kind="stable").index
    w.loc[in_order, "write_id"] = by_slot
    w = w.sort_values("write_id").reset_index(drop=True)
    w["acked"] = (w["outcome"] == 0).to_numpy()
    w["lost"] = ~w["tag"].isin(survivor).to_numpy() if readback.primary is not None else w["acked"].to_numpy()
    others = anywhere - survivor
    w["lost_code"] = np.where(~w["lost"], 0, np.where(w["tag"].isin(others), 2, 1))
    losses = sorted(t for t, kind, *_ in log.events if kind in ("promote", "+convert-to-slave"))
    after = np.searchsorted(np.array(losses, dtype=float), w["commit_ms"].to_numpy(), side="right")
    lost_ms = np.array(losses + [math.nan], dtype=float)[after]
    w["lost_ms"] = np.where(w["lost"], lost_ms, math.nan)
    w["replicas"] = [sum(1 for node, tags in held.items() if node != leader and tag in tags)
                     for tag, leader in zip(w["tag"], w["node"])]
    return w, dict(zip(w["tag"].tolist(), w["write_id"].tolist()))


def _requests(raw: pd.DataFrame, names, tag_to_id: dict[int, int], writes: pd.DataFrame) -> pd.DataFrame:
    served = raw["outcome"].to_numpy() == 0
    is_write = raw["is_write"].to_numpy(bool)
    version = np.array([tag_to_id.get(t, 0) if t > 0 else 0 for t in raw["tag"]], dtype=np.int64)
    version = np.where(served, version, -1)
    start, end = raw["start_ms"].to_numpy(float), raw["end_ms"].to_numpy(float)
    return pd.DataFrame({
        "request_id": raw["request_id"].to_numpy(np.int64),
        "session": raw["session"].to_numpy(np.int32),
        "op": _codes(is_write.astype(np.int8), ["read", "write"]),
        "key": raw["key"].to_numpy(np.int64),
        "node": _codes(raw["node"].to_numpy(), names),
        "start_ms": start,
        "end_ms": end,
        "latency_ms": end - start,
        "outcome": _codes(raw["outcome"].to_numpy(), OUTCOMES),
        "reason": _codes([REASONS.index(r) for r in raw["reason"]], REASONS),
        "version": version,
        "arrived_ms": np.full(len(raw), math.nan),
        "answered_ms": np.full(len(raw), math.nan),
    })


def _finish_writes(w: pd.DataFrame, names) -> pd.DataFrame:
    ack = np.where(w["acked"], w["end_ms"], math.nan)
    return pd.DataFrame({
        "write_id": w["write_id"].to_numpy(np.int64),
        "request_id": w["request_id"].to_numpy(np.int64),
        "session": w["session"].to_numpy(np.int32),
        "key": w["key"].to_numpy(np.int64),
        "leader": _codes(w["node"].to_numpy(), names),
        "term": w["term"].to_numpy(np.int32),
        "log_index": (w["length"].to_numpy(np.int64) - 1).clip(-1),
        "commit_ms": w["commit_ms"].to_numpy(float),
        "ack_ms": ack.astype(float),
        "acked": w["acked"].to_numpy(bool),
        "lost": w["lost"].to_numpy(bool),
        "lost_reason": _codes(w["lost_code"].to_numpy(), LOST_REASONS),
        "lost_ms": w["lost_ms"].to_numpy(float),
        "applies_before": np.zeros(len(w), dtype=np.int64),
        "replicas": np.asarray(w["replicas"], dtype=np.int64),
        "conflicted": np.zeros(len(w), dtype=bool),
    })


def _timeline(log, names, writes: pd.DataFrame) -> pd.DataFrame:
    columns = ["t_ms", "primary", "node", "answered", "up", "role", "offset", "cpu_s", "replicas", "upstream", "queue"]
    s = pd.DataFrame(log.samples, columns=columns)
    s["offset"] = s["offset"].astype(float)
    s["cpu_s"] = s["cpu_s"].astype(float)
    leader = (s["role"] == "leader").to_numpy()
    primary = s[s["node"] == s["primary"]]
    s["primary_offset"] = s["t_ms"].map(primary.set_index("t_ms")["offset"])
    lag_bytes = np.where(leader, 0.0, np.clip(s["primary_offset"] - s["offset"], 0, None))
    lag_bytes = np.where(s["up"], lag_bytes, math.nan)
    lag_writes, lag_ms = _lag(s, primary, writes, lag_bytes)
    utilisation = s.groupby("node")["cpu_s"].diff().to_numpy() / (s.groupby("node")["t_ms"].diff().to_numpy() / 1000.0)
    return pd.DataFrame({
        "t_ms": s["t_ms"].to_numpy(float),
        "node": _codes(s["node"].to_numpy(), names),
        "role": pd.Categorical(s["role"], categories=list(ROLES)),
        "up": s["up"].to_numpy(bool),
        "depth": np.where(leader, 0, 1).astype(np.int64),
        "upstream": _codes(np.where(leader, -1, s["upstream"]), names),
        "queue": s["queue"].to_numpy(np.int64),
        "utilisation": np.nan_to_num(utilisation, nan=math.nan, posinf=math.nan),
        "lag_ms": lag_ms,
        "lag_writes": lag_writes,
        "shipped": _shipped(s, writes),
        "divergent_keys": np.full(len(s), math.nan),
        "state_bytes": np.full(len(s), -1, dtype=np.int64),
        "lag_bytes": lag_bytes,
        "offset": s["offset"].to_numpy(float),
    })


def _lag(s: pd.DataFrame, primary: pd.DataFrame, writes: pd.DataFrame, lag_bytes: np.ndarray):
    """Per sample row: writes the node lacks and how long ago the oldest of them committed.

    A follower whose offset lies between two samples of the primary's offset (at t1 and t2)
    has every write the primary had committed by t1, and the share of those committed in
    (t1, t2] that its offset covers, byte for byte; it lacks the rest, up to now."""
    times = primary["t_ms"].to_numpy()
    ahead = np.fmax.accumulate(np.nan_to_num(primary["offset"].to_numpy(), nan=-1.0))  # a new primary's offset may dip
    commit = {node: np.sort(g["commit_ms"].to_numpy())
              for node, g in writes.groupby(writes["leader"].cat.codes.to_numpy())}
    lag_writes = np.zeros(len(s), dtype=np.int64)
    lag_ms = np.where(np.isnan(lag_bytes), math.nan, 0.0)
    for row, (t, boss, offset, behind) in enumerate(zip(s["t_ms"], s["primary"], s["offset"], lag_bytes)):
        if not behind > 0:
            continue
        done = commit.get(boss, np.empty(0))
        now = np.searchsorted(times, t, side="right")  # the primary's samples up to now
        i = np.searchsorted(ahead[:now], offset, side="right") - 1
        t1, o1 = (times[i], ahead[i]) if i >= 0 else (0.0, offset)
        t2, o2 = (times[i + 1], ahead[i + 1]) if i + 1 < now else (t, offset)
        a, b, c = np.searchsorted(done, [t1, t2, t], side="right")
        share = (offset - o1) / (o2 - o1) if o2 > o1 else 0.0
        first_missing = a + int(round(share * (b - a)))
        lag_writes[row] = max(c - first_missing, 0)
        if first_missing < c:
            lag_ms[row] = t - done[first_missing]
    return lag_writes, lag_ms


def _shipped(s: pd.DataFrame, writes: pd.DataFrame) -> np.ndarray:
    """Estimated entries a leader has put on its replication links so far: the writes it
    committed by then, times the replicas connected to it."""
    shipped = np.zeros(len(s), dtype=np.int64)
    for node, g in writes.groupby(writes["leader"].cat.codes.to_numpy()):
        rows = ((s["node"] == node) & (s["role"] == "leader")).to_numpy()
        done = np.searchsorted(np.sort(g["commit_ms"].to_numpy()), s["t_ms"].to_numpy()[rows], side="right")
        shipped[rows] = done * s["replicas"].to_numpy()[rows]
    return shipped


def _empty_frames(names) -> dict[str, pd.DataFrame]:
    none_f, none_i = np.empty(0, dtype=float), np.empty(0, dtype=np.int64)
    nodes = _codes(np.empty(0, dtype=np.int16), names)
    return {
        "applies": pd.DataFrame({"write_id": none_i, "node": nodes, "sender": nodes.copy(), "sent_ms": none_f,
                                 "received_ms": none_f, "applied_ms": none_f}),
        "receipts": pd.DataFrame({"write_id": none_i, "node": nodes, "received_ms": none_f}),
        "conflicts": pd.DataFrame({"t_ms": none_f, "node": nodes, "key": none_i, "incoming": none_i,
                                   "existing": none_i, "resolution": _codes(np.empty(0), RESOLUTIONS)}),
        "fetches": pd.DataFrame({"request_id": none_i, "node": nodes, "source": nodes.copy(), "sent_ms": none_f,
                                 "answered_ms": none_f, "received_ms": none_f, "version": none_i,
                                 "expires_ms": none_f, "from_cache": np.empty(0, dtype=bool)}),
    }
