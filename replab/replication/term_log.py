"""How a leader's log reaches its followers under terms, and how the leader hears back.

The shipping half of the realistic failover model (mixed into replab.replication.terms):
a leader ships every entry with its term and the entry before it; a follower appends it
only after that same entry, so two logs that agree on an entry agree on everything before
it. Every heartbeat_ms the leader sends each node a heartbeat, on the same ordered channel,
with its log length and last entry; the answer (a *report*) says how far the follower's
log agrees with the leader's. What a partition dropped is shipped again; a follower whose
log went another way cuts it back to the common part (a row of `discards` per entry).

Which messages a node takes (`_accepts`) is the fencing: with failover.fencing = 'terms'
(and always for consensus followers) a node refuses an older term, telling the sender the
newer one, and adopts a newer term, a leader stepping down; with 'none' a follower takes
the stream of the node it was told to follow and a leader listens to nobody.
"""

from __future__ import annotations

import math

from replab.replication.base import arrive
from replab.replication.leadership import NEWER_TERM

NEXT, RECEIVED, APPLIED, CONTACT, ACKED_SENT = range(5)  # a leader's record of one follower


class TermLog:
    """Shipping, heartbeats and reports (a mixin of TermLeaderFollower: its model, acks and policy)."""

    def _ship_from(self, now: float, leader, follower) -> None:
        """Ship `follower` every entry of the leader's log from where its shipping stands."""
        peer = leader.peers[follower.index]
        log = leader.log
        for index in range(peer[NEXT], len(log)):
            self.ship(now, leader, follower, log[index], entry_arrives, (leader.term, log[index - 1] if index else None))
        peer[NEXT] = len(log)

    def ship(self, now: float, sender, receiver, entry, deliver, extra=None) -> None:
        """As Strategy.ship, but a message to or from a slow host waits its delay in the sender's
        queue before it has left (a congested link): a sender that crashes meanwhile loses it."""
        free_ms = sender.link_free_ms
        departs = (free_ms if free_ms > now else now) + self.ship_ms  # max(), written out: a slow call in Python 3.11
        sender.link_free_ms = departs
        sender.shipped += 1
        slow = self.model.network.slow_ms
        left = departs + (slow.get(sender.host, 0.0) + slow.get(receiver.host, 0.0) if slow else 0.0)
        message = (deliver, receiver, entry, sender, sender.incarnation, left, extra)
        self.model.network.send_ordered(departs, sender.host, receiver.host, arrive, message)

    def _heartbeat(self, now: float, leader, follower) -> None:
        """On the replication channel, after whatever was shipped: where the leader's log stands."""
        message = (self._on_heartbeat, (leader, leader.term, len(leader.log), leader.last(),
                                        leader.peers[follower.index][NEXT], now))
        self.model.network.send_ordered(now, leader.host, follower.host, follower.deliver, message)

    # a follower ------------------------------------------------------------------------------
    def _accepts(self, now: float, node, leader, term: int) -> bool:
        """Whether `node` takes the heartbeat or entry `leader` sent in `term` (see the fencing rules)."""
        if node is leader:
            return False
        if not (self.fenced or self.consensus):
            return not node.leading and node.upstream is leader
        if term < node.term:  # an older term: refuse, and say which term is current
            self._report(now, node, leader, None, 0)
            return False
        if node.leading:
            if term == node.term or not self.fenced:
                return False
            self.step_down(now, node, term, leader, NEWER_TERM)
        elif term > node.term or node.upstream is not leader:
            node.term, node.upstream, node.candidate, node.matched = term, leader, False, 0
        node.heard_leader_ms = now
        return True

    def _on_heartbeat(self, now: float, node, message) -> None:
        leader, term, length, last, shipped, sent_ms = message
        if not self._accepts(now, node, leader, term):
            return
        log = node.log
        if leader.leading and leader.term == term:  # its log up to `length` is as it was when sent
            if length == 0 or len(log) >= length and log[length - 1] is last:
                keep = length  # agrees with the leader's whole log: anything past it went another way
            elif len(log) < length and (not log or log[-1] is leader.log[len(log) - 1]):
                keep = len(log)  # only behind
            else:
                keep = _common(log, leader.log, length)
            if keep < len(log):
                self._discard(now, node, node.cut_log(keep))
            node.matched = len(log)
        self._report(now, node, leader, sent_ms, shipped)

    def _on_entry(self, now: float, node, message) -> None:
        entry, leader, sent_ms, (term, before) = message
        if not self._accepts(now, node, leader, term):
            return
        log, index = node.log, entry.index
        if index > len(log) or index and log[index - 1] is not before:
            return  # a gap, or it follows an entry this node lacks: the next heartbeat sorts it out
        if index < len(log):
            if log[index] is entry:
                return  # a duplicate of a resend
            self._discard(now, node, node.cut_log(index))
        log.append(entry)
        node.received = node.matched = len(log)  # it follows the entry before, so all before agree
        entry.spread = True
        self.model.recorder.receive(entry.write_id, node.index, now)
        node.enqueue_apply(now, entry, (leader.index, sent_ms))
        if self.acks.mode != "async":
            self._report(now, node, leader, None, 0)

    def on_applied(self, now: float, node, entry) -> None:
        if self.acks.mode == "sync" and not node.leading and node.upstream is not None:
            self._report(now, node, node.upstream, None, 0)

    def _report(self, now: float, node, leader, sent_ms, shipped: int) -> None:
        """Tell `leader` how far this node's log is known to agree with its own, and its term
        (and whether it follows that leader: a refusal tells the newer term and nothing else)."""
        follows = node.upstream is leader and not node.leading
        message = (self._on_report, (node, node.term, node.matched if follows else 0, node.applied, sent_ms, shipped,
                                     follows))
        self.model.network.send(now, node.host, leader.host, leader.deliver, message)

    def _discard(self, now: float, node, cut: list) -> None:
        recorder = self.model.recorder
        receipts = len(recorder.receipts.write_id)
        rows = recorder.discards
        for entry in cut:
            rows.write_id.append(entry.write_id)
            rows.node.append(node.index)
            rows.t_ms.append(now)
            rows.receipts_before.append(receipts)
            if entry.leader == node.index and math.isnan(entry.discarded_ms):
                entry.discarded_ms = now

    # the leader hears back --------------------------------------------------------------------
    def _on_report(self, now: float, leader, message) -> None:
        follower, term, length, applied, sent_ms, shipped, follows = message
        if term > leader.term and self.fenced and leader.leading:
            self.step_down(now, leader, term, None, NEWER_TERM)
            return
        if not (follows and leader.leading) or (self.fenced or self.consensus) and term != leader.term:
            return
        peer = leader.peers[follower.index]
        peer[RECEIVED], peer[APPLIED], peer[CONTACT] = length, applied, now
        if sent_ms is not None:
            peer[ACKED_SENT] = max(peer[ACKED_SENT], sent_ms)
            self.policy.heard_follower(now, leader)
            if length < shipped:  # what was shipped before this heartbeat never arrived: ship it again
                peer[NEXT] = min(peer[NEXT], length)
                self._ship_from(now, leader, follower)
        self.acks.advance(now, leader)


def _common(mine: list, theirs: list, upto: int) -> int:
    """How many first entries two logs share (looking at most `upto` into theirs)."""
    count, end = 0, min(len(mine), upto)
    while count < end and mine[count] is theirs[count]:
        count += 1
    return count


def entry_arrives(now: float, node, entry, sender, sent_ms: float, extra) -> None:
    node.deliver(now, (node.model.replication._on_entry, (entry, sender, sent_ms, extra)))
