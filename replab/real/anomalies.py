"""Stale reads and session anomalies of a real run, found from its frames alone.

The same definitions as the simulator's (a served read is stale if some write of its key
was acknowledged before it started and is newer than what it returned; read-your-writes and
monotonic reads likewise per session and key), found by one time-ordered sweep.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

_READ_START, _ACK, _READ_END = 0, 1, 2  # at equal times a read's start sorts first


def find_anomalies(requests: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """One row per served read: request_id, session, stale, ryw, monotonic."""
    reads = requests[(requests["op"] == "read") & (requests["outcome"] == "served")]
    stream = [(t, _READ_START, r, s, k, v) for t, r, s, k, v in
              zip(reads["start_ms"], reads["request_id"], reads["session"], reads["key"], reads["version"])]
    stream += [(t, _READ_END, r, s, k, v) for t, r, s, k, v in
               zip(reads["end_ms"], reads["request_id"], reads["session"], reads["key"], reads["version"])]
    acked = writes[writes["acked"]]
    stream += [(t, _ACK, r, s, k, v) for t, r, s, k, v in
               zip(acked["ack_ms"], acked["request_id"], acked["session"], acked["key"], acked["write_id"])]
    stream.sort(key=lambda e: (e[0], e[1], e[2]))
    newest_acked: dict = {}
    newest_own: dict = {}
    newest_seen: dict = {}
    flags: dict[int, tuple[bool, bool, bool]] = {}
    for _t, kind, request_id, session, key, version in stream:
        if kind == _ACK:
            newest_acked[key] = max(newest_acked.get(key, 0), version)
            newest_own[session, key] = max(newest_own.get((session, key), 0), version)
        elif kind == _READ_START:
            flags[request_id] = (version < newest_acked.get(key, 0), version < newest_own.get((session, key), 0),
                                 version < newest_seen.get((session, key), 0))
        else:
            newest_seen[session, key] = max(newest_seen.get((session, key), 0), version)
    rows = [flags[r] for r in reads["request_id"]]
    return pd.DataFrame({
        "request_id": reads["request_id"].to_numpy(),
        "session": reads["session"].to_numpy(),
        "stale": np.array([f[0] for f in rows], dtype=bool),
        "ryw": np.array([f[1] for f in rows], dtype=bool),
        "monotonic": np.array([f[2] for f in rows], dtype=bool),
    })


def staleness_ms(requests: pd.DataFrame, writes: pd.DataFrame, anomalies: pd.DataFrame) -> np.ndarray:
    """Per request: how long the version a served read returned had been superseded by an
    acknowledged write when the read started (0 fresh, NaN for anything but a served read)."""
    age = np.full(len(requests), math.nan)
    served = ((requests["op"] == "read") & (requests["outcome"] == "served")).to_numpy()
    age[served] = 0.0
    stale = set(anomalies.loc[anomalies["stale"], "request_id"].tolist())
    if not stale:
        return age
    acked = writes[writes["acked"]]
    by_key: dict[int, list[tuple[int, float]]] = {}
    for key, write_id, ack_ms in zip(acked["key"], acked["write_id"], acked["ack_ms"]):
        by_key.setdefault(key, []).append((write_id, ack_ms))
    for row, (request_id, key, version, start) in enumerate(zip(requests["request_id"], requests["key"],
                                                                requests["version"], requests["start_ms"])):
        if request_id in stale:
            first_newer = min(ack for write_id, ack in by_key.get(key, []) if write_id > version)
            age[row] = start - first_newer
    return age


def sessions_frame(requests: pd.DataFrame, anomalies: pd.DataFrame, sessions: int) -> pd.DataFrame:
    frame = pd.DataFrame({"session": np.arange(sessions)})
    frame["operations"] = np.bincount(requests["session"], minlength=sessions)
    for column, name in (("ryw", "ryw_violations"), ("monotonic", "monotonic_read_violations"), ("stale", "stale_reads")):
        frame[name] = np.bincount(anomalies["session"], weights=anomalies[column], minlength=sessions).astype(np.int64)
    return frame
