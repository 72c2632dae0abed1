"""Replication strategies, one module each, behind the interface of `LeaderFollower`:
commit(now, leader, op), on_received / on_applied(now, node, entry), resync(now, upstream,
follower), promote(now, new, old), catch_up(node) and forget_follower(now, node); the
ReplicaTree says who ships to whom."""

from replab.replication.leader_follower import Entry, LeaderFollower
from replab.replication.tree import ReplicaTree

__all__ = ["Entry", "LeaderFollower", "ReplicaTree"]
