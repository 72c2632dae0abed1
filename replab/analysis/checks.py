"""A history checker: recompute the anomalies from `requests` and `writes` alone.

It knows nothing of the model. It replays the history as a time-ordered stream of
"a write was acknowledged", "a read started" and "a read ended" events and keeps, per key
and per session, the newest version a client could know of. A read that returns an older
version is an anomaly. If the model's summary and this sweep disagree, one is wrong.

Definitions (ties: something that happens at the very instant a read starts does not count):
- stale read: a served read older than some write of its key acknowledged before it started;
- read-your-writes violation: older than the session's own acknowledged write of the key;
- monotonic-read violation: older than a read of the key the session had finished before.

Given the run's Results as well (or through `check_run(results)`), it also finds the
acknowledged writes not counted lost that nothing holds at the end of the run
(replab.analysis.durability): a model that forgets to count a loss cannot hide it.

Leader-leader runs have a second checker, `check_leader_leader(results)`: it replays every
node's version vectors from the frames (`replab.analysis.leader_leader_replay`) and recomputes
conflicts, lost updates, siblings, divergence, convergence and stranded writes, and checks
that every served read returned a version its node held at that instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from replab.analysis.durability import acked_writes_held_nowhere
from replab.analysis.leader_leader_replay import LeaderLeaderReplay, replay_leader_leader
from replab.core.codes import KEPT_BOTH, RESOLUTIONS

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
    acked_writes_held_nowhere: int | None  # acknowledged, not lost, held by nothing at the end (must be 0;
    #                                        None: not checked: no Results, or a kind it cannot read)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def check_run(results) -> HistoryReport:
    """check_history with every frame it can use (and, for leader-leader, check_leader_leader)."""
    if results.scenario.replication.kind == "leader-leader":
        return check_leader_leader(results)
    return check_history(results.requests, results.writes, results)


def check_history(requests: pd.DataFrame, writes: pd.DataFrame, results=None) -> HistoryReport:
    """Replay the history and count what a client could have observed going wrong; given the
    run's `results` too, also the acknowledged writes that nothing holds at the end."""
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
    for _t, happened, _rid, session, key, version in stream:
        if happened == _ACK:
            newest_acked[key] = max(newest_acked.get(key, 0), version)
            newest_own[session, key] = max(newest_own.get((session, key), 0), version)
        elif happened == _READ_START:
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
        acked_writes_held_nowhere=_count(acked_writes_held_nowhere(results)) if results is not None else None,
    )


def _count(ids: list[int] | None) -> int | None:
    return None if ids is None else len(ids)


# leader-leader ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeaderLeaderReport(HistoryReport):
    """check_history's counts plus leader-leader's, recomputed from the frames; a field named
    like a summary key means the same, so the two can be compared key by key."""

    conflicts: int  # pairs of concurrent writes of a key met on some node
    conflicts_per_s: float
    lost_updates: int  # acknowledged writes that lost a conflict (last writer wins)
    lost_writes: int  # writes that lost a conflict, acknowledged or not
    siblings: int  # writes kept beside a concurrent write (keep-both)
    mean_divergent_keys: float  # over the timeline samples
    max_divergent_keys: float
    divergent_keys_at_end: int  # keys whose versions differ across the nodes live at the end
    converge_ms: float  # last commit to the last apply, if the live nodes then agree and lack nothing
    stranded_writes: int  # acknowledged, not lost, missing on a live node, held by a leader down at the end
    reads_not_held: int  # served reads of a version their node did not hold then (must be 0)
    applies_not_received: int  # apply rows without a receipt before, or twice (must be 0)
    receipts_out_of_order: int  # receipts not in their leader's log order, or twice (must be 0)
    refusals_not_lost: int  # writes refused for a conflict that the replay did not see lose (must be 0)


def check_leader_leader(results) -> LeaderLeaderReport:
    """Check a leader-leader run from its frames alone: check_history's counts plus conflicts,
    lost updates, siblings, divergence and convergence recomputed by `replay_leader_leader`."""
    replay = replay_leader_leader(results)
    requests, writes = results.requests, results.writes
    history = check_history(requests, writes, results)
    served_writes = requests[(requests["op"] == "write") & (requests["outcome"] == "served")]
    acked = set(served_writes["version"].tolist())
    conflicts = replay.conflicts
    pairs = set(zip(np.minimum(conflicts["incoming"], conflicts["existing"]).tolist(),
                    np.maximum(conflicts["incoming"], conflicts["existing"]).tolist()))
    both = conflicts[conflicts["resolution"] == RESOLUTIONS[KEPT_BOTH]]
    refused = requests.loc[(requests["reason"] == "conflict"), "request_id"]
    write_of_request = dict(zip(writes["request_id"].tolist(), writes["write_id"].tolist()))
    divergence = replay.divergent_keys
    lost_acked = sum(1 for w in replay.lost_ms if w in acked)
    return LeaderLeaderReport(**history.as_dict() | {
        "lost_acked_writes": lost_acked,
        "conflicts": len(pairs),
        "conflicts_per_s": len(pairs) / (results.scenario.duration_ms / 1000.0),
        "lost_updates": lost_acked,
        "lost_writes": len(replay.lost_ms),
        "siblings": len(set(both["incoming"]) | set(both["existing"])),
        "mean_divergent_keys": float(divergence.mean()) if len(divergence) else math.nan,
        "max_divergent_keys": float(divergence.max()) if len(divergence) else math.nan,
        "divergent_keys_at_end": replay.divergent_keys_at_end,
        "converge_ms": replay.converge_ms,
        "stranded_writes": sum(1 for w in replay.stranded if w in acked and w not in replay.lost_ms),
        "reads_not_held": replay.reads_not_held,
        "applies_not_received": replay.applies_not_received,
        "receipts_out_of_order": replay.receipts_out_of_order,
        "refusals_not_lost": sum(1 for r in refused if write_of_request.get(r) not in replay.lost_ms),
    })


__all__ = ["HistoryReport", "LeaderLeaderReplay", "LeaderLeaderReport", "acked_writes_held_nowhere", "check_history",
           "check_leader_leader", "check_run", "replay_leader_leader"]
