"""Replication strategies, one module each, behind the interface of `LeaderFollower`:
commit(now, leader, op), on_received / on_applied(now, node, entry), resync(now, upstream,
follower), promote(now, new, old), catch_up(node) and forget_follower(now, node), lag(now, node),
divergent_keys() and network_healed(now); the ReplicaTree says who ships to whom.
`LeaderLeader` is the multi-leader counterpart (commit, resolve, rejoin, lag, ...);
`BuddyReplication` copies session state to buddies (commit, set_live, forget_node, ...).
With pull propagation `LeaderFollower` ships nothing and `read_through.ReadThrough` is the
followers' read path (cache lookups, fetches from the origin or a peer)."""

from replab.replication.buddy import BuddyReplication
from replab.replication.leader_follower import Entry, LeaderFollower
from replab.replication.leader_leader import LeaderLeader
from replab.replication.tree import ReplicaTree

__all__ = ["BuddyReplication", "Entry", "LeaderFollower", "LeaderLeader", "ReplicaTree"]
