"""The codes replab records instead of text: outcomes, reasons, why a write was lost, how a
conflict was resolved, cache lookups, operations and node roles. Code i of a set means its
label i; the frames show the labels (as pandas categories, in this order).

Every code is declared here once. A replication strategy that needs a label of its own adds
it when its module is imported (`TOO_FEW_REPLICAS = REASONS.add("too few replicas")`);
labels are only ever appended, so no existing code changes its meaning, and the registry
(replab.replication) imports the strategies in a fixed order, so a new label gets the same
code in every process.
"""

from __future__ import annotations


class Codes:
    """The labels of one coded column; `labels[code]` is what a code means."""

    def __init__(self, what: str, *labels: str):
        self.what = what
        self.labels: list[str] = list(labels)

    def add(self, label: str) -> int:
        """The code of `label`, appended if it is new."""
        if label not in self.labels:
            self.labels.append(label)
        return self.labels.index(label)

    def code(self, label: str) -> int:
        return self.labels.index(label)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def __getitem__(self, code: int) -> str:
        return self.labels[code]

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"Codes({self.what!r}: " + ", ".join(f"{i}={label!r}" for i, label in enumerate(self.labels)) + ")"


OPS = Codes("operation", "read", "write")
READ, WRITE = range(2)

OUTCOMES = Codes("outcome", "served", "refused", "failed")
SERVED, REFUSED, FAILED = range(3)

REASONS = Codes("reason an operation was refused or failed", "", "read-only", "no replica", "node down", "timeout",
                "network", "not leader", "conflict", "session moved")
NO_REASON, READ_ONLY, NO_REPLICA, NODE_DOWN, TIMEOUT, NETWORK, NOT_LEADER, CONFLICT, SESSION_MOVED = range(9)

LOST_REASONS = Codes("why a committed write was lost", "", "never left the failed leader",
                     "only on replicas that were not promoted", "lost update (last writer wins)",
                     "session state not yet copied to a buddy",
                     "the session's node and every node with a copy were down",
                     "on no live node when the run ended (its node was down, the death not yet detected)")
NOT_LOST, NEVER_LEFT_LEADER, NOT_ON_PROMOTED, LOST_UPDATE, NOT_COPIED, ALL_COPIES_DOWN, ON_NO_LIVE_NODE = range(7)

RESOLUTIONS = Codes("what a node kept of two concurrent versions", "kept the existing version",
                    "took the incoming version", "kept both as siblings")
KEPT_EXISTING, TOOK_INCOMING, KEPT_BOTH = range(3)

CACHE_OUTCOMES = Codes("cache lookup of a read (pull)", "", "hit", "miss")
NO_LOOKUP, HIT, MISS = range(3)

ROLES = Codes("role of a data node", "leader", "follower", "server")
