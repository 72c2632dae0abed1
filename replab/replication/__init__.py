"""Replication strategies: one module each, behind one interface (`base.Strategy`), found
by name in STRATEGIES (the value of `replication.kind`).

A new strategy is its module, one line below, a preset in data/scenarios and a test: the
scenario's fields and rules, the recorder's tables, the summary's keys and the model's
hooks all come from the strategy class.
"""

from replab.replication.base import Entry, Strategy
from replab.replication.buddy import BuddyReplication
from replab.replication.leader_follower import LeaderFollower
from replab.replication.leader_leader import LeaderLeader
from replab.replication.leaderless import Leaderless

STRATEGIES: dict[str, type[Strategy]] = {
    LeaderFollower.kind: LeaderFollower,
    LeaderLeader.kind: LeaderLeader,
    BuddyReplication.kind: BuddyReplication,
    Leaderless.kind: Leaderless,
}

__all__ = ["STRATEGIES", "BuddyReplication", "Entry", "LeaderFollower", "LeaderLeader", "Leaderless", "Strategy"]
