"""Leader-follower replication: writes commit on the leader and ship to followers in log order.

Ack modes, and what the client waits for after the leader's commit:
- async: nothing; the leader acks at once (a write can die with the leader).
- semi-sync(k): k followers, anywhere in the tree, have *received* the entry.
- sync: every follower the leader believes alive, down to the last replica of the tree,
  has *applied* it.
Followers replicate from the leader or from relays (see `replab.replication.tree`).

Shipping: the leader has one outbound link shared by all its followers; putting one entry
on the wire to one follower takes `ship_ms`, so with N followers each write costs N * ship_ms
of link time and a busy leader builds a send queue. Entries still in that queue when the
leader crashes never leave it.

The log is one list of entries; a promotion cuts it at the promoted follower's received
position and the entries past the cut are lost: counted, with the reason.
"""

from __future__ import annotations

import math

from replab.core.recorder import LOST_REASONS, SERVED


class Entry:
    """One committed write in the log."""

    __slots__ = ("write_id", "key", "index", "commit_ms", "op", "waiting_for")

    def __init__(self, write_id: int, key: int, index: int, commit_ms: float):
        self.write_id = write_id
        self.key = key
        self.index = index
        self.commit_ms = commit_ms
        self.op = None  # the client operation still waiting for its ack (semi-sync, sync)
        self.waiting_for = None  # semi-sync: receipts still needed; sync: set of node indices


class LeaderFollower:
    """The leader-follower protocol over a model's nodes, network and log."""

    def __init__(self, model, ack: str, semi_sync_k: int, ship_ms: float, ships: bool = True):
        self.model = model
        self.ships = ships  # False with pull propagation: followers are caches, nothing is shipped
        self.ack = ack
        self.semi_sync_k = semi_sync_k
        self.ship_ms = ship_ms
        self.log: list[Entry] = []
        self.truncations: list[tuple[int, int]] = []  # (term, kept entries) at each promotion
        self._awaiting: dict[int, Entry] = {}  # write_id -> entry still waiting to ack (sync)
        self.write_ids = 0

    # the write path -----------------------------------------------------------------------
    def commit(self, now: float, leader, op) -> None:
        """The leader has executed a write: log it, ship it, and ack it when the mode allows."""
        model = self.model
        self.write_ids += 1
        write_id = self.write_ids
        entry = Entry(write_id, op.key, len(self.log), now)
        self.log.append(entry)
        leader.received = len(self.log)
        leader.install(entry)
        model.recorder.commit(write_id, op, leader.index, model.term, entry.index, now)
        tree = model.tree
        if self.ships:
            for follower in tree.children(leader):
                self._ship(now, leader, follower, entry)
        if self.ack == "async":
            model.reply(now, leader, op, SERVED, write_id)
            return
        if self.ack == "semi-sync":
            entry.waiting_for = self.semi_sync_k
        else:
            entry.waiting_for = {f.index for f in tree.everyone_below(leader)}
            if not entry.waiting_for:
                model.reply(now, leader, op, SERVED, write_id)
                return
            self._awaiting[write_id] = entry
        entry.op = op

    def on_received(self, now: float, follower, entry: Entry, sender, sent_ms: float) -> None:
        self.model.recorder.receive(entry.write_id, follower.index, now)  # the relay log survives a crash: checks read it
        follower.enqueue_apply(now, entry, (sender.index, sent_ms))
        if self.ack == "semi-sync" and entry.op is not None:
            self._receipt(now, follower, entry)

    def on_applied(self, now: float, node, entry: Entry) -> None:
        if node.role != "follower":
            return
        if self.ack == "sync" and entry.op is not None:
            self._receipt(now, node, entry)
        # a relay passes on what it has applied, in log order
        children = self.model.tree.children(node)
        if children and node.forwarded < node.applied:
            for forward in self.log[node.forwarded:min(node.applied, len(self.log))]:
                for child in children:
                    self._ship(now, node, child, forward)
        node.forwarded = max(node.forwarded, node.applied)

    def _receipt(self, now: float, follower, entry: Entry) -> None:
        """Tell the leader this follower has the entry (semi-sync: received; sync: applied)."""
        leader = self.model.leader
        self.model.network.send(now, follower.host, leader.host, leader_receipt, (self, entry, leader, follower))

    def on_receipt(self, now: float, entry: Entry, leader, follower) -> None:
        if entry.op is None or not leader.up or leader.role != "leader":
            return
        if receipt_completes(entry, follower.index):
            self._ack(now, leader, entry)

    def _ack(self, now: float, leader, entry: Entry) -> None:
        op, entry.op = entry.op, None
        self._awaiting.pop(entry.write_id, None)
        self.model.reply(now, leader, op, SERVED, entry.write_id)

    def forget_follower(self, now: float, node) -> None:
        """Sync mode stops waiting for a follower detected dead (as a real sync leader must)."""
        leader = self.model.leader
        for entry in list(self._awaiting.values()):
            entry.waiting_for.discard(node.index)
            if not entry.waiting_for and leader is not None and leader.up:
                self._ack(now, leader, entry)

    def resync(self, now: float, upstream, follower) -> None:
        """Ship a follower, in order, every entry it lacks that its upstream has
        (the leader has the whole log; a relay what it has applied)."""
        if not self.ships:
            return
        upto = len(self.log) if upstream.role == "leader" else min(upstream.applied, len(self.log))
        for entry in self.log[follower.received:upto]:
            self._ship(now, upstream, follower, entry)
        if upstream.role != "leader":
            upstream.forwarded = max(upstream.forwarded, upto)

    def _ship(self, now: float, sender, follower, entry: Entry) -> None:
        """Queue an entry on the sender's outbound link; it travels once it has left."""
        departs = max(now, sender.link_free_ms) + self.ship_ms
        sender.link_free_ms = departs
        sender.shipped += 1
        message = (follower, entry, self.model.term, sender, sender.incarnation, departs)
        self.model.network.send_ordered(departs, sender.host, follower.host, follower_receive, message)

    # promotion ----------------------------------------------------------------------------
    def promote(self, now: float, new_leader, old_leader) -> int:
        """Cut the log at the new leader's position; returns how many entries were lost."""
        model = self.model
        keep = new_leader.received
        others = max((n.received for n in model.nodes if n is not old_leader and n is not new_leader), default=0)
        for entry in self.log[keep:]:
            reason = 2 if entry.index < others else 1
            model.recorder.lose(entry.write_id, reason, now)
            if entry.op is not None:
                entry.op = None  # its client will time out: it was never acknowledged
            self._awaiting.pop(entry.write_id, None)
        lost = len(self.log) - keep
        del self.log[keep:]
        self.truncations.append((model.term, keep))
        return lost

    # measuring ------------------------------------------------------------------------------
    def lag(self, now: float, node) -> tuple[float, int]:
        """(ms since the oldest entry `node` has not applied was committed, entries not applied)."""
        if node is self.model.leader and node.up:
            return 0.0, 0
        if not self.ships:
            return math.nan, math.nan  # a cache is not behind a log: no replication lag
        log = self.log
        entries = len(log)
        applied = min(node.applied, entries)
        return (now - log[applied].commit_ms if applied < entries else 0.0), entries - applied

    def divergent_keys(self) -> float:
        """Not measured for leader-follower (its followers' lag says how far behind they are)."""
        return math.nan

    def network_healed(self, now: float) -> None:
        """A switch is back: every live node is resent, by its upstream, what it missed
        while cut off (a stream with a gap accepts nothing until then)."""
        tree = self.model.tree
        for index, upstream in list(tree.upstream.items()):
            node = self.model.nodes[index]
            if node.up and upstream.up:
                self.resync(now, upstream, node)

    def catch_up(self, node) -> None:
        """Make a returning or repointed node agree with the log: cut what was discarded."""
        for term, keep in self.truncations:
            if term > node.synced_term:
                node.rewind(self.log, keep)
        node.synced_term = self.model.term
        node.term = self.model.term


def receipt_completes(entry, node_index: int) -> bool:
    """Count one node's receipt of an entry; True when the ack may go to the client.
    `waiting_for` is a count of receipts still needed (semi-sync) or a set of nodes (sync)."""
    if isinstance(entry.waiting_for, int):
        entry.waiting_for -= 1
        return entry.waiting_for <= 0
    entry.waiting_for.discard(node_index)
    return not entry.waiting_for


def follower_receive(now: float, message) -> None:
    """A replication message reaches a follower: accept it if it is the next entry of its term."""
    follower, entry, term, sender, incarnation, departs = message
    if incarnation != sender.incarnation and sender.crash_times[incarnation] < departs:
        return  # the sender crashed before this entry left its send queue
    if not follower.up or term != follower.term or entry.index != follower.received:
        return  # down, from a deposed leader, or a duplicate after a resync
    follower.received += 1
    follower.model.replication.on_received(now, follower, entry, sender, departs)


def leader_receipt(now: float, message) -> None:
    protocol, entry, leader, follower = message
    protocol.on_receipt(now, entry, leader, follower)


__all__ = ["Entry", "LeaderFollower", "LOST_REASONS"]
