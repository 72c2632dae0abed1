"""Replication strategies, one module each, behind the interface of `LeaderFollower`:
commit(now, leader, op), on_applied(now, node, entry), resync(now, follower),
promote(now, node) and forget_follower(now, node)."""

from replab.replication.leader_follower import Entry, LeaderFollower

__all__ = ["Entry", "LeaderFollower"]
