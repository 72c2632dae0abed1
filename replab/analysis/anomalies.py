"""Anomalies a client could observe, read from the requests and writes frames alone.

    find_anomalies(requests, writes)   served reads flagged stale / read-your-writes / monotonic
    staleness_ms(requests, writes, anomalies)   how long each read's version had been superseded
    sessions_frame(requests, anomalies, sessions)   per-session counts

Definitions (ties: what happens at the very instant a read starts does not count):
- stale read: a served read older than some write of its key acknowledged before it started;
- read-your-writes violation: older than the session's own acknowledged write of the key;
- monotonic-read violation: older than a read of the key the session had finished before.
`replab.analysis.checks` finds the same by a plain time-ordered sweep.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from replab.core.codes import READ, SERVED


def served_reads(requests: pd.DataFrame) -> np.ndarray:
    """Mask of the served reads (by category codes: far quicker than comparing labels)."""
    return (requests["op"].cat.codes.to_numpy() == READ) & (requests["outcome"].cat.codes.to_numpy() == SERVED)


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


def sessions_frame(requests, anomalies, sessions: int) -> pd.DataFrame:
    """One row per session: operations it started and its anomalies."""
    frame = pd.DataFrame({"session": np.arange(sessions)})
    frame["operations"] = np.bincount(requests["session"], minlength=sessions)
    for column, name in (("ryw", "ryw_violations"), ("monotonic", "monotonic_read_violations"),
                         ("stale", "stale_reads")):
        frame[name] = np.bincount(anomalies["session"], weights=anomalies[column], minlength=sessions).astype(np.int64)
    return frame
