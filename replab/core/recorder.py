"""The Recorder keeps the history of a run in typed arrays (8 bytes a number, not 32).

It is written to on the hot path, so it stores codes, not strings; `replab.analysis.results`
turns the columns into tidy pandas frames once the run is over.
"""

from __future__ import annotations

from array import array

OUTCOMES = ("served", "refused", "failed")
SERVED, REFUSED, FAILED = range(3)
REASONS = ("", "read-only", "no replica", "node down", "timeout", "network", "not leader", "conflict",
           "session moved")
NO_REASON, READ_ONLY, NO_REPLICA, NODE_DOWN, TIMEOUT, NETWORK, NOT_LEADER, CONFLICT, SESSION_MOVED = range(len(REASONS))
LOST_REASONS = ("", "never left the failed leader", "only on replicas that were not promoted",
                "lost update (last writer wins)", "session state not yet copied to a buddy",
                "the session's node and every node with a copy were down",
                "on no live node when the run ended (its node was down, the death not yet detected)")
LOST_UPDATE = 3
RESOLUTIONS = ("kept the existing version", "took the incoming version", "kept both as siblings")
CACHE_OUTCOMES = ("", "hit", "miss")  # requests.cache: not a cache lookup, or a pull follower's hit or miss
NAN = float("nan")


class Recorder:
    """Columns of every client operation, committed write, apply, sample and event."""

    def __init__(self) -> None:
        # requests: one row per client operation, appended when its outcome is known
        self.req_id, self.req_session, self.req_write = array("q"), array("i"), array("b")
        self.req_key, self.req_node = array("q"), array("h")
        self.req_start, self.req_end = array("d"), array("d")
        self.req_outcome, self.req_reason, self.req_version = array("b"), array("b"), array("q")
        self.req_arrived, self.req_answered = array("d"), array("d")
        # writes: row i is write_id i + 1, appended at commit, updated at ack and loss
        self.w_request, self.w_session, self.w_key = array("q"), array("i"), array("q")
        self.w_leader, self.w_term, self.w_index = array("h"), array("i"), array("q")
        self.w_commit, self.w_ack = array("d"), array("d")
        self.w_lost, self.w_lost_ms = array("b"), array("d")
        # apply rows recorded before each commit: orders a commit among the applies of its instant
        self.w_applies_before = array("q")
        # applies: one row per replica that applied a write, with where it came from
        self.a_write, self.a_node, self.a_ms = array("q"), array("h"), array("d")
        self.a_sender, self.a_sent_ms, self.a_received_ms = array("h"), array("d"), array("d")
        # receipts: leader-leader, one row per node that took a write off its stream (applied or not)
        self.r_write, self.r_node, self.r_ms = array("q"), array("h"), array("d")
        # pull only: each follower's cache lookup (hit or miss) and each fetch it sent; row i
        # of the fetches is updated when its source answers and when the answer arrives
        self.c_request, self.c_node, self.c_hit = array("q"), array("h"), array("b")
        self.f_request, self.f_node, self.f_source = array("q"), array("h"), array("h")
        self.f_sent, self.f_answered, self.f_received = array("d"), array("d"), array("d")
        self.f_version, self.f_expires, self.f_from_cache = array("q"), array("d"), array("b")
        # timeline samples, events and conflicts are few: plain rows
        self.samples: list[tuple] = []
        self.events: list[tuple[float, str, str, str]] = []
        self.conflicts: list[tuple[float, int, int, int, int, int]] = []

    def operation(self, op, end_ms: float, outcome: int, reason: int, version: int) -> None:
        self.req_id.append(op.id)
        self.req_session.append(op.session)
        self.req_write.append(op.is_write)
        self.req_key.append(op.key)
        self.req_node.append(op.node)
        self.req_start.append(op.start)
        self.req_end.append(end_ms)
        self.req_outcome.append(outcome)
        self.req_reason.append(reason)
        self.req_version.append(version)
        self.req_arrived.append(op.arrived)
        self.req_answered.append(op.answered)

    def commit(self, write_id: int, op, leader: int, term: int, index: int, at_ms: float) -> None:
        self.w_request.append(op.id)
        self.w_session.append(op.session)
        self.w_key.append(op.key)
        self.w_leader.append(leader)
        self.w_term.append(term)
        self.w_index.append(index)
        self.w_commit.append(at_ms)
        self.w_ack.append(NAN)
        self.w_lost.append(0)
        self.w_lost_ms.append(NAN)
        self.w_applies_before.append(len(self.a_write))

    def ack(self, write_id: int, at_ms: float) -> None:
        self.w_ack[write_id - 1] = at_ms

    def lose(self, write_id: int, reason: int, at_ms: float) -> None:
        self.w_lost[write_id - 1] = reason
        self.w_lost_ms[write_id - 1] = at_ms

    def lose_update(self, write_id: int, at_ms: float) -> None:
        """A concurrent write overwrote this one (last writer wins); the first time counts."""
        if not self.w_lost[write_id - 1]:
            self.lose(write_id, LOST_UPDATE, at_ms)

    def conflict(self, at_ms: float, node: int, key: int, incoming: int, existing: int, resolution: int) -> None:
        """A node met two concurrent versions of a key: the incoming write and one it kept."""
        self.conflicts.append((at_ms, node, key, incoming, existing, resolution))

    def apply(self, write_id: int, node: int, at_ms: float, received_ms: float, origin: tuple[int, float]) -> None:
        self.a_write.append(write_id)
        self.a_node.append(node)
        self.a_ms.append(at_ms)
        self.a_received_ms.append(received_ms)
        self.a_sender.append(origin[0])
        self.a_sent_ms.append(origin[1])

    def receive(self, write_id: int, node: int, at_ms: float) -> None:
        """A node took a replicated write off its stream (it is applied later, or never)."""
        self.r_write.append(write_id)
        self.r_node.append(node)
        self.r_ms.append(at_ms)
    def lookup(self, request_id: int, node: int, hit: bool) -> None:
        """A follower looked a client's read up in its cache (pull)."""
        self.c_request.append(request_id)
        self.c_node.append(node)
        self.c_hit.append(hit)

    def fetch(self, request_id: int, node: int, source: int, sent_ms: float) -> int:
        """A cache asked `source` for a key on behalf of a client read; returns the fetch's row."""
        self.f_request.append(request_id)
        self.f_node.append(node)
        self.f_source.append(source)
        self.f_sent.append(sent_ms)
        self.f_answered.append(NAN)
        self.f_received.append(NAN)
        self.f_version.append(-1)
        self.f_expires.append(NAN)
        self.f_from_cache.append(False)
        return len(self.f_sent) - 1

    def fetch_answered(self, row: int, at_ms: float, from_cache: bool) -> None:
        self.f_answered[row] = at_ms
        self.f_from_cache[row] = from_cache

    def fetch_received(self, row: int, at_ms: float, version: int, expires_ms: float) -> None:
        self.f_received[row] = at_ms
        self.f_version[row] = version
        self.f_expires[row] = expires_ms

    def event(self, at_ms: float, kind: str, target: str, detail: str = "") -> None:
        self.events.append((at_ms, kind, target, detail))
