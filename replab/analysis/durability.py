"""Where every acknowledged write is at the end of a run, recomputed from the frames alone.

The promise: an acknowledged write is present at the end (on what survives) or counted
lost, with a reason. This checker knows nothing of the model's internals; it reads
`writes`, `applies` and `events` and the replication kind, and lists the acknowledged
writes not counted lost that nothing holds. What "holds" means follows the kind:

- buddy: session state lives in memory. A node holds version v of a session if it
  committed v (as the session's node) or applied a copy of v, after its last crash, and
  it is up at the end. A copy of v is the session's whole state: it holds every write of
  the session up to v that was not counted lost. So a write is present when some live node
  holds a version of its session at least as new.
- leader-follower (push or pull): logs are durable (a crash keeps them), so a write stays
  unless a promotion cuts the log below it. A follower takes the log in order, so at a
  promotion the new leader holds every entry up to the newest one it had received (its
  `receipts` rows, or entries it committed as an earlier leader). A write not lost must be
  held by every node promoted after it committed.
- leader-leader: each leader's own log is durable and only a conflict loses a write (the
  leader-leader replay in replab.analysis.leader_leader_replay checks those); a write whose
  leader is down at the end is stranded, not gone.
"""

from __future__ import annotations

import math

import pandas as pd


def acked_writes_held_nowhere(results) -> list[int] | None:
    """Write ids acknowledged, not counted lost, and held by nothing that survives the run
    (from `results`' writes, applies, receipts and events, and its replication kind); None for
    a kind this checker does not know how to read (it checks leader-follower and buddy)."""
    kind = results.scenario.replication.kind
    if kind not in ("buddy", "leader-follower"):
        return None
    writes = results.writes
    acked = writes[writes["acked"] & ~writes["lost"]]
    if acked.empty:
        return []
    if kind == "buddy":
        return _buddy(writes, acked, results.applies, results.events)
    return _leader_follower(writes, acked, results.receipts, results.events)


def _down_at_end(events: pd.DataFrame) -> tuple[dict[str, float], set[str]]:
    """Each node's last crash time, and the nodes down at the end (their last event a crash)."""
    last_crash: dict[str, float] = {}
    down: set[str] = set()
    nodes = events[events["kind"].isin(["crash", "recover"]) & events["target"].str.startswith("node")]
    for t_ms, kind, target in zip(nodes["t_ms"], nodes["kind"], nodes["target"]):
        if kind == "crash":
            last_crash[target] = t_ms
            down.add(target)
        else:
            down.discard(target)
    return last_crash, down


def _buddy(writes, acked, applies, events) -> list[int]:
    last_crash, down = _down_at_end(events)
    session_of = dict(zip(writes["write_id"].tolist(), writes["session"].tolist()))
    newest: dict[int, int] = {}  # session -> newest version some live node holds

    def hold(node: str, write_id: int, at_ms: float) -> None:
        if node in down or at_ms <= last_crash.get(node, -math.inf):
            return  # the node is down, or its memory was wiped after it took this version
        session = session_of[write_id]
        newest[session] = max(newest.get(session, 0), write_id)

    for write_id, node, at_ms in zip(writes["write_id"].tolist(), writes["leader"].astype(str), writes["commit_ms"]):
        hold(node, write_id, at_ms)
    for write_id, node, at_ms in zip(applies["write_id"].tolist(), applies["node"].astype(str), applies["applied_ms"]):
        hold(node, write_id, at_ms)
    return [w for w, s in zip(acked["write_id"].tolist(), acked["session"].tolist()) if newest.get(s, 0) < w]


def _leader_follower(writes, acked, receipts, events) -> list[int]:
    promotions = events[events["kind"] == "promote"]
    if promotions.empty:
        return []
    kept = writes[~writes["lost"]]
    index_of = dict(zip(kept["write_id"].tolist(), kept["log_index"].tolist()))
    # (node, at_ms, log_index): the node had the entry at that index from at_ms on. A cut
    # entry's index was reused, so only entries never cut say where a node's log reaches.
    held = pd.DataFrame({"node": kept["leader"].astype(str), "at_ms": kept["commit_ms"], "log_index": kept["log_index"]})
    received = receipts[receipts["write_id"].isin(index_of)]
    held = pd.concat([held, pd.DataFrame({"node": received["node"].astype(str), "at_ms": received["received_ms"],
                                          "log_index": received["write_id"].map(index_of)})], ignore_index=True)
    missing: set[int] = set()
    commits, indices, ids = acked["commit_ms"].to_numpy(), acked["log_index"].to_numpy(), acked["write_id"].to_numpy()
    for at_ms, node in zip(promotions["t_ms"], promotions["target"]):
        mine = held.loc[(held["node"] == node) & (held["at_ms"] <= at_ms), "log_index"]
        reaches = int(mine.max()) if len(mine) else -1
        missing.update(ids[(commits <= at_ms) & (indices > reaches)].tolist())
    return sorted(int(w) for w in missing)


__all__ = ["acked_writes_held_nowhere"]
