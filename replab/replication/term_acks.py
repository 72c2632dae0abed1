"""When a leader of the realistic failover model acknowledges a write.

    async       at once
    semi-sync   once k followers (replication.semi_sync_k) have received it; majority: once
                a majority of the nodes has, the leader's own copy included
    sync        once every follower heard from within failover.timeout_ms has applied it

replication.semi_sync_timeout_ms (MySQL's rpl_semi_sync_master_timeout): a write that has
waited that long is acknowledged anyway, and so is every write after it ("semi-sync-off")
until the k-th follower has caught up with the whole log ("semi-sync-on"). Each such ack is
a row of `degraded`. replication.min_replicas (Redis' min-replicas-to-write): the leader
refuses writes while fewer followers than that have answered it within
replication.min_replicas_max_lag_ms.
"""

from __future__ import annotations

import math

from replab.core.codes import SERVED
from replab.replication.promotion_settings import majority_followers
from replab.replication.term_log import APPLIED, CONTACT, RECEIVED


class Acks:
    """One model's ack rule, over the peers records its leaders keep."""

    def __init__(self, model):
        self.model = model
        scenario = model.scenario
        rep = scenario.replication
        self.mode, self.k = rep.ack, rep.semi_sync_k
        if self.mode == "majority":
            self.mode, self.k = "semi-sync", majority_followers(len(model.nodes))
        if self.mode == "semi-sync" and self.k == 0:
            self.mode = "async"  # one node: a majority of one is the leader itself
        self.timeout_ms = scenario.failover.timeout_ms
        self.semi_sync_timeout_ms = rep.semi_sync_timeout_ms
        self.min_replicas, self.max_lag_ms = rep.min_replicas, rep.min_replicas_max_lag_ms

    def too_few_replicas(self, now: float, leader) -> bool:
        if not self.min_replicas:
            return False
        answered = sum(1 for peer in leader.peers.values() if now - peer[CONTACT] <= self.max_lag_ms)
        return answered < self.min_replicas

    def committed(self, now: float, leader, op, entry) -> None:
        """`leader` has logged and shipped `entry` for `op`: ack it now, or when the rule allows."""
        model = self.model
        if self.mode == "async":
            model.reply(now, leader, op, SERVED, entry.write_id)
        elif leader.degraded:
            self._degraded_ack(now, leader, op, entry)
        else:
            entry.op = op
            leader.pending.append(entry)
            if self.semi_sync_timeout_ms:
                model.calendar.schedule(now + self.semi_sync_timeout_ms, leader.deliver,
                                        (self._semi_sync_timeout, (entry, leader.term)))
            self.advance(now, leader)

    def advance(self, now: float, leader) -> None:
        """Acknowledge every waiting write the leader's followers now hold as the rule needs."""
        pending = leader.pending
        if self.mode == "async":
            return
        if self.mode == "sync":
            needed = [p[APPLIED] for p in leader.peers.values() if now - p[CONTACT] <= self.timeout_ms]
            upto = min(needed) if needed else math.inf
        else:
            received = sorted((p[RECEIVED] for p in leader.peers.values()), reverse=True)
            upto = received[self.k - 1] if len(received) >= self.k else 0
            if leader.degraded and upto >= len(leader.log):
                leader.degraded = False
                self.model.recorder.event(now, "semi-sync-on", leader.name, "a replica has caught up")
        while pending and pending[0].index < upto:
            entry = pending.popleft()
            op, entry.op = entry.op, None
            self.model.reply(now, leader, op, SERVED, entry.write_id)

    def _semi_sync_timeout(self, now: float, leader, job) -> None:
        entry, term = job
        if entry.op is None or not leader.leading or leader.term != term or leader.degraded:
            return
        leader.degraded = True
        self.model.recorder.event(now, "semi-sync-off", leader.name,
                                  f"no receipt for {self.semi_sync_timeout_ms:g} ms: acknowledging without replicas")
        while leader.pending:
            waiting = leader.pending.popleft()
            op, waiting.op = waiting.op, None
            self._degraded_ack(now, leader, op, waiting)

    def _degraded_ack(self, now: float, leader, op, entry) -> None:
        rows = self.model.recorder.degraded
        rows.write_id.append(entry.write_id)
        rows.t_ms.append(now)
        self.model.reply(now, leader, op, SERVED, entry.write_id)
