"""Versions of a key in leaderless replication, and what a replica keeps of them.

Every write is a version: its write id, the coordinator's timestamp (simulated time, so
clocks agree) and a vector clock with one count per coordinator (node index -> writes of the
key it coordinated that this version has seen). The vector says whether one version has
seen another (`covers`, the test leader-leader uses) or whether the two are *concurrent*.
Where clients coordinate (quorum.coordinator = 'client') a clock counts each session's
writes instead, as a dict session -> count (replab.replication.client_coordination); both
kinds of clock are compared and merged by the same `covers` and `merge`.

What a replica keeps (`keep`):
- last-writer-wins: one version per key, the one with the larger (timestamp, write id);
  a concurrent version it discards is a lost update;
- siblings: every concurrent version, side by side (a read returns them all, newest first
  in the version column); a version that has seen them all replaces them.
In both, a version the replica has seen already (or one that superseded it) changes nothing.
"""

from __future__ import annotations

from operator import ge

from replab.core.codes import KEPT_BOTH, KEPT_EXISTING, TOOK_INCOMING, Codes

DELIVERY_KINDS = Codes("why a version was sent to a node", "write", "hinted write", "read repair", "anti-entropy",
                       "hinted handoff")
WRITE, HINTED_WRITE, READ_REPAIR, ANTI_ENTROPY, HANDOFF = range(5)


class Version:
    """One write of one key as replicas hold it."""

    __slots__ = ("write_id", "key", "stamp_ms", "vector")

    def __init__(self, write_id: int, key: int, stamp_ms: float, vector: tuple):
        self.write_id = write_id
        self.key = key
        self.stamp_ms = stamp_ms
        self.vector = vector

    def __repr__(self) -> str:
        return f"Version({self.write_id}, key={self.key}, at {self.stamp_ms:g} ms, {self.vector})"


class Delivery:
    """One version on its way to one node, and why (a code of DELIVERY_KINDS)."""

    __slots__ = ("number", "version", "kind", "sender", "receiver", "home", "row", "sent_ms")

    def __init__(self, number: int, version: Version, kind: int, sender, receiver, home, row: int, sent_ms: float):
        self.number = number  # unique per run: a node's pending deliveries are keyed by it
        self.version = version
        self.kind = kind
        self.sender = sender
        self.receiver = receiver
        self.home = home  # the replica it is meant for: the receiver, or the home a fallback keeps it for
        self.row = row  # its row in the deliveries table
        self.sent_ms = sent_ms

    @property
    def write_id(self) -> int:
        return self.version.write_id

    @property
    def key(self) -> int:
        return self.version.key


def covers(seen: tuple | dict, vector: tuple | dict) -> bool:
    """True when `seen` has seen everything `vector` has (every count at least as high)."""
    if type(vector) is dict:
        return all(seen.get(writer, 0) >= count for writer, count in vector.items())
    return all(map(ge, seen, vector))


def merge(a: tuple | dict | None, b: tuple | dict | None) -> tuple | dict | None:
    """The vector clock that has seen everything `a` and `b` have."""
    if a is None:
        return b
    if b is None:
        return a
    if type(a) is dict:
        merged = dict(a)
        for writer, count in b.items():
            if count > merged.get(writer, 0):
                merged[writer] = count
        return merged
    return tuple(map(max, a, b))


def later(a: Version, b: Version) -> bool:
    """True when `a` wins last-writer-wins against `b` (the larger timestamp, then write id)."""
    return (a.stamp_ms, a.write_id) > (b.stamp_ms, b.write_id)


def newest(versions) -> Version | None:
    """The version last-writer-wins would keep of `versions`."""
    best = None
    for version in versions:
        if best is None or later(version, best):
            best = version
    return best


def maximal(versions) -> tuple[Version, ...]:
    """The versions no other one has seen (the siblings a merge keeps), by write id."""
    unique = {v.write_id: v for v in versions}.values()
    kept = [v for v in unique if not any(o is not v and covers(o.vector, v.vector) for o in unique)]
    return tuple(sorted(kept, key=lambda v: v.write_id))


def lacks(reported: tuple, version: Version) -> bool:
    """True when a replica that answered with `reported` has not seen `version`."""
    if version in reported:
        return False  # the very version (the common case: no clocks to compare)
    return not any(covers(held.vector, version.vector) for held in reported)


def keep(held: tuple, incoming: Version, siblings: bool) -> tuple[tuple, list[tuple[Version, int]], list[Version]]:
    """What a replica holding `held` keeps after taking `incoming` (which it had not seen).

    Returns (versions kept, conflicts as (existing version, resolution code), versions
    discarded by last-writer-wins although concurrent: lost updates)."""
    concurrent = [v for v in held if not covers(incoming.vector, v.vector)]
    if not concurrent:
        return (incoming,), [], []
    if siblings:
        return tuple(sorted([*concurrent, incoming], key=lambda v: v.write_id)), [(v, KEPT_BOTH) for v in concurrent], []
    (existing,) = concurrent  # last-writer-wins keeps one version per key
    if later(incoming, existing):
        return (incoming,), [(existing, TOOK_INCOMING)], [existing]
    return (existing,), [(existing, KEPT_EXISTING)], [incoming]
