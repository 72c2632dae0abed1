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


def served(requests: pd.DataFrame, op: int) -> np.ndarray:
    """Mask of the served operations of kind `op` (READ or WRITE), by category codes: far
    quicker than comparing labels."""
    return (requests["op"].cat.codes.to_numpy() == op) & (requests["outcome"].cat.codes.to_numpy() == SERVED)


def served_reads(requests: pd.DataFrame) -> np.ndarray:
    """Mask of the served reads."""
    return served(requests, READ)


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
    # in numpy (the acked writes by (key, write_id), a running minimum per key from the end),
    # where selecting, sorting and grouping frames cost ~5 % of a Results
    acked = writes["acked"].to_numpy()
    key = writes["key"].to_numpy(np.int64)[acked]
    write_id = writes["write_id"].to_numpy(np.int64)[acked]
    ack_ms = writes["ack_ms"].to_numpy()[acked]
    by_key = np.lexsort((write_id, key))
    key, write_id, ack_ms = key[by_key], write_id[by_key], ack_ms[by_key]
    # per write: the earliest ack of it and every later write of its key, as a running minimum
    # of the acks' ranks lifted by key (so that it restarts at each key), from the end
    times = np.sort(ack_ms)
    lift = key * (len(times) + 1)
    first_ack = times[np.minimum.accumulate((lift + np.searchsorted(times, ack_ms))[::-1])[::-1] - lift]
    span = int(write_id.max()) + 1
    order = key * span + write_id
    rows = np.searchsorted(requests["request_id"].to_numpy(), stale)
    wanted = requests["key"].to_numpy(np.int64)[rows] * span + requests["version"].to_numpy()[rows]
    newer = np.searchsorted(order, wanted, side="right")  # the first write of the key after the one read
    age[rows] = requests["start_ms"].to_numpy()[rows] - first_ack[newer]
    return age


def find_anomalies(requests: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """Served reads flagged stale / read-your-writes / monotonic-read violations.

    Vectorised in numpy (sorted searches instead of three pandas as-of joins, whose fixed
    cost was half of building a short run's Results); `replab.analysis.checks` finds the
    same by a plain sweep.
    """
    rows = np.flatnonzero(served_reads(requests))
    rows = rows[np.argsort(requests["start_ms"].to_numpy()[rows], kind="stable")]  # by start, as the flags are listed
    start = requests["start_ms"].to_numpy()[rows]
    version = requests["version"].to_numpy(np.int64)[rows]
    key = requests["key"].to_numpy(np.int64)[rows]
    acked = writes["acked"].to_numpy()
    acked_key = writes["key"].to_numpy(np.int64)[acked]
    acked_at = writes["ack_ms"].to_numpy()[acked]
    acked_id = writes["write_id"].to_numpy(np.int64)[acked]
    # (session, key) as one int64
    keys = int(max(requests["key"].max(), 0)) + 1 if len(requests) else 1
    session_key = requests["session"].to_numpy(np.int64)[rows] * keys + key
    acked_session_key = writes["session"].to_numpy(np.int64)[acked] * keys + acked_key

    # A time t is strictly before read i's start exactly when t's place among the sorted
    # starts (the reads starting at or before t) is at most i: times become those places.
    acked_at = np.searchsorted(start, acked_at, side="right")
    ended_at = np.searchsorted(start, requests["end_ms"].to_numpy()[rows], side="right")
    return pd.DataFrame({  # built once: each column set on a frame cost ~0.3 ms
        "request_id": requests["request_id"].to_numpy()[rows],
        "session": requests["session"].to_numpy()[rows],
        "stale": newest_before(acked_at, acked_key, acked_id, key) > version,
        "ryw": newest_before(acked_at, acked_session_key, acked_id, session_key) > version,
        "monotonic": newest_before(ended_at, session_key, version, session_key) > version,
    }, index=requests.index[rows])


def newest_before(place: np.ndarray, group: np.ndarray, value: np.ndarray, read_group: np.ndarray) -> np.ndarray:
    """For each read i (in start order) of group read_group[i]: the largest `value` among the
    known rows of its group whose `place` is at most i; 0 when there is none.

    (group, place) is one int64 to sort and search; a running maximum over the sorted rows,
    lifted by group so it restarts at each. In-place steps keep the peak memory low.
    """
    reads = len(read_group)
    if len(place) == 0 or reads == 0:
        return np.zeros(reads, dtype=np.int64)
    span = reads + 1  # places run from 0 to reads
    # (group, place), and a value lifted by its group below, must fit in an int64: else dense groups
    width = max(span, int(value.max()) - int(value.min()) + 1)
    if int(max(group.max(), read_group.max())) >= 2**62 // width:
        group, read_group = np.split(np.unique(np.concatenate((group, read_group)), return_inverse=True)[1], (len(place),))
    known = group * span
    known += place
    order = np.argsort(known)  # ties (same group and place) need no order: the running max covers them all
    known = known[order]
    known_group = group[order]
    low = int(value.min())  # lifted from the least value, so a negative one (-1: none) cannot carry across groups
    lift = known_group * (int(value.max()) - low + 1)
    lift -= low
    running = value[order]
    running += lift
    np.maximum.accumulate(running, out=running)
    running -= lift
    del order, lift
    wanted = read_group * span
    wanted += np.arange(1, span)
    last = np.searchsorted(known, wanted, side="left")  # just past the group's last row placed at most i
    del wanted, known
    last -= 1
    found = last >= 0
    np.maximum(last, 0, out=last)
    found &= known_group[last] == read_group
    return np.where(found, running[last], 0)


def sessions_frame(requests, anomalies, sessions: int) -> pd.DataFrame:
    """One row per session: operations it started and its anomalies."""
    columns = {"session": np.arange(sessions),
               "operations": np.bincount(requests["session"].to_numpy(), minlength=sessions)}
    session = anomalies["session"].to_numpy()
    for column, name in (("ryw", "ryw_violations"), ("monotonic", "monotonic_read_violations"),
                         ("stale", "stale_reads")):
        columns[name] = np.bincount(session, weights=anomalies[column].to_numpy(), minlength=sessions).astype(np.int64)
    return pd.DataFrame(columns, copy=False)  # built once: each column set on a frame cost ~0.3 ms
