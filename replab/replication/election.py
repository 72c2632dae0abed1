"""The consensus policy: the data nodes elect their leader by term and majority vote (Raft).

A follower that has heard from no leader for its election time-out (drawn afresh, from
failover.timeout_ms to twice that, so two rarely stand at once) first asks the others
whether they would vote for it (a pre-vote: a node that has lately heard from a leader,
or whose log is newer, says no, so a node cut off on its own cannot disturb the rest with
ever higher terms). With a majority of yeses it stands in a new term: it votes for itself
and asks for votes. A node gives its vote once per term, to a candidate whose log is at
least as up to date as its own (last entry's term, then length), unless it has heard from
a leader within failover.timeout_ms. A majority of votes makes the candidate leader.

The leader holds a lease: each heartbeat a majority answers extends it to failover.lease_ms
after that heartbeat was sent. A leader whose lease has run out (it cannot reach a
majority: a partition, or a pause it has just woken from) steps down before it commits a
write or serves a read. A node that has heard from a leader within timeout_ms votes for
nobody, so with lease_ms at most timeout_ms a new leader is only elected once the old
lease is over: two leaders never serve at once (clocks here are perfect). lease_ms = 0: no
lease, the old leader stops only when it hears of a newer term (fenced) or never.

Votes and terms are kept across a crash; a node restarts as a follower. The leader
announces itself to the balancers at every heartbeat.
"""

from __future__ import annotations

import math

from replab.core.randomness import stream, uniform
from replab.replication.policy import Policy


class Election(Policy):
    """Raft-style elections and leader leases over one model's term nodes."""

    def __init__(self, strategy):
        super().__init__(strategy)
        model, failover = self.model, self.failover
        self.timeout_ms = failover.timeout_ms
        self.lease_ms = failover.lease_ms
        self.majority = len(model.nodes) // 2 + 1
        self._draw = uniform(stream(model.scenario.seed, "election"))

    def attach(self) -> None:
        for node in self.model.nodes:
            self._reset(node, 0.0)
        # the first leader's lease was set when it began leading (for ever, alone in its cluster)

    def _reset(self, node, now: float) -> None:
        node.election_due_ms = now + self.timeout_ms * (1.0 + self._draw())

    # the engine's hooks ---------------------------------------------------------------------
    def began_leading(self, now: float, node) -> None:
        # the votes that elected it were a majority's answers to a request sent when it stood
        node.lease_until_ms = (node.stood_ms + self.lease_ms) if self.lease_ms and self.majority > 1 else math.inf
        self.leader_tick(now, node)

    def stepped_down(self, now: float, node) -> None:
        self._reset(node, now)

    def node_restarted(self, now: float, node) -> None:
        if node.leading:
            self.strategy.step_down(now, node, node.term, None, self.strategy.RESTARTED)
        node.candidate = False
        self._reset(node, now)

    def lease_expired(self, now: float, node) -> bool:
        return node.leading and now > node.lease_until_ms

    def heard_follower(self, now: float, leader) -> None:
        if not self.lease_ms or self.majority == 1:
            return
        acked = sorted((peer[4] for peer in leader.peers.values()), reverse=True)
        leader.lease_until_ms = max(leader.lease_until_ms, acked[self.majority - 2] + self.lease_ms)

    def leader_tick(self, now: float, leader) -> None:
        """Tell the balancers who leads, and which nodes answered lately (they serve reads)."""
        members = [leader] + [n for n in self.model.nodes
                              if n.index in leader.peers and now - leader.peers[n.index][3] <= self.timeout_ms]
        self.strategy.announce(now, leader.host, leader.term, leader, members)

    def follower_tick(self, now: float, node) -> None:
        if now >= node.election_due_ms:
            self._pre_vote(now, node)

    # standing -------------------------------------------------------------------------------
    def _pre_vote(self, now: float, node) -> None:
        self._reset(node, now)
        node.candidate, node.votes = True, {node.index}
        node.ballot = node.term + 1
        self._ask(now, node, _pre_vote_request)
        self._tally(now, node, node.ballot, True)

    def _stand(self, now: float, node) -> None:
        node.term += 1
        node.voted_for[node.term] = node.index
        node.votes, node.stood_ms = {node.index}, now
        self.model.recorder.event(now, "election", node.name, f"stands in term {node.term}")
        self._ask(now, node, _vote_request)
        self._tally(now, node, node.term, False)

    def _ask(self, now: float, node, handler) -> None:
        last = node.last()
        message = (handler, (node, node.ballot if handler is _pre_vote_request else node.term,
                             len(node.log), last.term if last else 0))
        for other in self.model.nodes:
            if other is not node:
                self.model.network.send(now, node.host, other.host, other.deliver, message)

    def _tally(self, now: float, node, term: int, pre: bool) -> None:
        if len(node.votes) < self.majority or not node.candidate:
            return
        if pre:
            if node.ballot == term and node.term == term - 1:
                self._stand(now, node)
        elif node.term == term:
            self.strategy.elected(now, node, term)

    # voting ---------------------------------------------------------------------------------
    def would_vote(self, now: float, voter, candidate, length: int, last_term: int) -> bool:
        """A fresh vote for `candidate`: nobody led here lately and its log is not behind this one."""
        if voter.leading or now - voter.heard_leader_ms < self.timeout_ms:
            return False
        last = voter.last()
        return (last_term, length) >= ((last.term if last else 0), len(voter.log))

    def pre_vote_requested(self, now: float, voter, message) -> None:
        candidate, ballot, length, last_term = message
        if ballot > voter.term and self.would_vote(now, voter, candidate, length, last_term):
            self._answer(now, voter, candidate, ballot, True, True)

    def vote_requested(self, now: float, voter, message) -> None:
        candidate, term, length, last_term = message
        strategy = self.strategy
        if term < voter.term:
            self._answer(now, voter, candidate, voter.term, False, False)
            return
        if voter.leading and not (strategy.fenced and term > voter.term):
            return  # a leader (unfenced: any leader) keeps leading; a fenced one steps down for a newer term
        if not voter.leading and now - voter.heard_leader_ms < self.timeout_ms:
            return  # it heard from a leader lately: the leader is not gone
        if term > voter.term:
            if voter.leading:
                strategy.step_down(now, voter, term, None, strategy.NEWER_TERM)
            voter.term, voter.upstream, voter.candidate, voter.matched = term, None, False, 0
        last = voter.last()
        up_to_date = (last_term, length) >= ((last.term if last else 0), len(voter.log))
        if voter.voted_for.get(term, candidate.index) == candidate.index and up_to_date:
            voter.voted_for[term] = candidate.index
            voter.heard_leader_ms = now  # as from a leader: it votes for no other until a time-out passes
            self._reset(voter, now)
            self._answer(now, voter, candidate, term, True, False)

    def _answer(self, now: float, voter, candidate, term: int, granted: bool, pre: bool) -> None:
        message = (_vote_answer, (voter, term, granted, pre))
        self.model.network.send(now, voter.host, candidate.host, candidate.deliver, message)

    def vote_answered(self, now: float, candidate, message) -> None:
        voter, term, granted, pre = message
        if not pre and term > candidate.term:
            if candidate.leading and not self.strategy.fenced:
                return
            self.strategy.step_down(now, candidate, term, None, self.strategy.NEWER_TERM)
            return
        in_phase = pre == (candidate.term < candidate.ballot)  # an answer to the phase it is in
        if granted and candidate.candidate and in_phase and term == (candidate.ballot if pre else candidate.term):
            candidate.votes.add(voter.index)
            self._tally(now, candidate, term, pre)


def _pre_vote_request(now: float, node, message) -> None:
    node.model.replication.policy.pre_vote_requested(now, node, message)


def _vote_request(now: float, node, message) -> None:
    node.model.replication.policy.vote_requested(now, node, message)


def _vote_answer(now: float, node, message) -> None:
    node.model.replication.policy.vote_answered(now, node, message)
