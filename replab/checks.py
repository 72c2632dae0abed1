"""A history checker: recompute the anomalies from `requests` and `writes` alone.

It knows nothing of the model. It replays the history as a time-ordered stream of
"a write was acknowledged", "a read started" and "a read ended" events and keeps, per key
and per session, the newest version a client could know of. A read that returns an older
version is an anomaly. If the model's summary and this sweep disagree, one is wrong.

Definitions (ties: something that happens at the very instant a read starts does not count):
- stale read: a served read older than some write of its key acknowledged before it started;
- read-your-writes violation: older than the session's own acknowledged write of the key;
- monotonic-read violation: older than a read of the key the session had finished before.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

_READ_START, _ACK, _READ_END = 0, 1, 2  # at equal times a read's start sorts first


@dataclass(frozen=True)
class HistoryReport:
    operations: int
    unfinished: int  # operations without an outcome (must be 0)
    stale_reads: int
    ryw_violations: int
    monotonic_read_violations: int
    lost_acked_writes: int
    acked_writes_not_accounted: int  # acknowledged, not lost, yet absent from the served history (must be 0)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def check_history(requests: pd.DataFrame, writes: pd.DataFrame) -> HistoryReport:
    """Replay the history and count what a client could have observed going wrong."""
    stream = []
    reads = requests[(requests["op"] == "read") & (requests["outcome"] == "served")]
    for row in reads.itertuples(index=False):
        stream.append((row.start_ms, _READ_START, row.request_id, row.session, row.key, row.version))
        stream.append((row.end_ms, _READ_END, row.request_id, row.session, row.key, row.version))
    for row in writes[writes["acked"]].itertuples(index=False):
        stream.append((row.ack_ms, _ACK, row.request_id, row.session, row.key, row.write_id))
    stream.sort(key=lambda e: (e[0], e[1], e[2]))

    newest_acked: dict[int, int] = {}
    newest_own: dict[tuple[int, int], int] = {}
    newest_seen: dict[tuple[int, int], int] = {}
    stale = ryw = monotonic = 0
    for _t, kind, _rid, session, key, version in stream:
        if kind == _ACK:
            newest_acked[key] = max(newest_acked.get(key, 0), version)
            newest_own[session, key] = max(newest_own.get((session, key), 0), version)
        elif kind == _READ_START:
            stale += version < newest_acked.get(key, 0)
            ryw += version < newest_own.get((session, key), 0)
            monotonic += version < newest_seen.get((session, key), 0)
        else:
            newest_seen[session, key] = max(newest_seen.get((session, key), 0), version)

    served_writes = set(requests.loc[(requests["op"] == "write") & (requests["outcome"] == "served"), "request_id"])
    acked = writes[writes["acked"]]
    missing = sum(1 for rid, lost in zip(acked["request_id"], acked["lost"]) if not lost and rid not in served_writes)
    return HistoryReport(
        operations=len(requests),
        unfinished=int(requests["outcome"].isna().sum() + requests["end_ms"].isna().sum()),
        stale_reads=stale,
        ryw_violations=ryw,
        monotonic_read_violations=monotonic,
        lost_acked_writes=int((acked["lost"]).sum()),
        acked_writes_not_accounted=missing,
    )
