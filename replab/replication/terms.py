"""Leader-follower replication as real systems run it: terms, a log per node, fencing, and leaders
that can be wrong about leading. The engine of every failover.policy but 'perfect'.

Who decides that the leader is gone and who takes over is the policy's business
(replab.replication.promotion: naive, quorum, manual; replab.replication.election:
consensus). This module keeps the data moving and the history honest:

- Every leadership has a term. A leader ships each write, with its term and the entry
  before it, to every other node; a follower appends it only after that same entry (so
  two logs that agree on an entry agree on everything before it). Every heartbeat_ms the
  leader sends each node a heartbeat with its log length; the answer says how far the
  follower has got, so what a partition dropped is shipped again, and a follower whose log
  went another way (it followed, or was, a leader that has since been replaced) cuts it
  back to the common part: those writes are *discarded*, one row each in `discards`.
- Fencing (failover.fencing = 'terms'): a node that hears of a newer term adopts it, a
  leader that does steps down, and a message of an older term is refused (its sender is
  told the newer term). With 'none' nobody compares terms: a follower takes the stream of
  whoever it was told to follow, and a node that believes it leads is never told otherwise.
  Consensus keeps Raft's term rules for its followers either way. 'stonith' powers the old
  leader off at the promotion instead.
- Acks: async; semi-sync(k) and majority (k followers, or a majority with the leader's own
  copy, have received it); sync (every follower heard from within failover.timeout_ms has
  applied it). replication.semi_sync_timeout_ms: a write waiting that long is acknowledged
  anyway and the leader runs async ("semi-sync-off") until a replica has caught up
  ("semi-sync-on"); those acks are rows of `degraded`. replication.min_replicas: the
  leader refuses writes ("too few replicas") while fewer followers have answered it within
  replication.min_replicas_max_lag_ms.
- What survives is what the log of the leader of the newest term holds at the end. Every
  other committed write is lost, with its reason: 'accepted by a deposed leader (split
  brain)' when a newer term already had a leader as it committed, else 'only on replicas
  that were not promoted' or 'never left the failed leader', as with the perfect model.
"""

from __future__ import annotations

import math
from collections import deque

from replab.agents.detector import BlindController
from replab.agents.term_node import TermNode
from replab.core.codes import NEVER_LEFT_LEADER, NOT_LEADER, NOT_ON_PROMOTED, REFUSED
from replab.replication.base import Entry, Strategy
from replab.replication.election import Election
from replab.replication.leadership import (
    DEGRADED,
    DISCARDS,
    ELECTED,
    LEAD_CAUSES,
    LEADERSHIP,
    LEASE_EXPIRED,
    NEWER_TERM,
    PROMOTED,
    RESTARTED,
    SPLIT_BRAIN,
    START,
    TOLD,
    TOO_FEW_REPLICAS,
)
from replab.replication.promotion import POLICY_CLASSES
from replab.replication.term_acks import Acks
from replab.replication.term_log import CONTACT, TermLog


class TermEntry(Entry):
    """A committed write with the term of the leader that committed it."""

    __slots__ = ("term", "leader", "spread", "discarded_ms")

    def __init__(self, write_id: int, key: int, index: int, commit_ms: float, term: int, leader: int):
        super().__init__(write_id, key, index, commit_ms)
        self.term = term
        self.leader = leader
        self.spread = False  # some other node received it
        self.discarded_ms = math.nan  # when its own leader cut it from its log


class TermLeaderFollower(TermLog, Strategy):
    """Leader-follower replication run with terms, per-node logs and a realistic failover policy."""

    kind = "leader-follower"
    about = "leader-follower with a realistic failover policy (failover.policy)"
    node_class = TermNode
    controller_class = BlindController
    tables = (LEADERSHIP, DISCARDS, DEGRADED)
    NEWER_TERM, RESTARTED = NEWER_TERM, RESTARTED  # for the policies, which cannot import this module

    def __init__(self, model):
        super().__init__(model)
        scenario = model.scenario
        failover = scenario.failover
        self.heartbeat_ms = failover.heartbeat_ms
        self.timeout_ms = failover.timeout_ms
        self.fenced = failover.fencing == "terms"
        self.stonith = failover.fencing == "stonith"
        self.acks = Acks(model)
        self.entries: list[TermEntry] = []  # by write_id - 1
        self.term_started: dict[int, float] = {}  # term -> when its first leader began
        self.balancer_term: dict[int, int] = {}  # id(balancer) -> newest term it has heard of
        self.powered_off: set[int] = set()
        self.consensus = failover.policy == "consensus"
        self.policy = _policy_class(failover.policy)(self)

    @classmethod
    def timer_events(cls, scenario, writes: float) -> tuple[float, str, str]:
        """Every node ticks, and the policy watches, once per heartbeat until the run's end."""
        heartbeats = (scenario.duration_ms + scenario.workload.timeout_ms) / scenario.failover.heartbeat_ms
        work = _policy_class(scenario.failover.policy).work_per_heartbeat(len(scenario.node_names))
        return heartbeats * work, "failover.heartbeat_ms", "failover.heartbeat_ms, duration_ms and the number of nodes"

    @property
    def balancers(self) -> list:
        model = self.model
        return list(model.apps.by_app) if model.apps is not None else [model.balancer]

    # the model's hooks ---------------------------------------------------------------------
    def attach(self) -> None:
        model = self.model
        first = model.leader
        for node in model.nodes:
            node.term = node.synced_term = 1
            node.upstream = None if node is first else first
        self._lead(0.0, first, 1, START)
        for node in model.nodes:
            self._start_ticks(node, 0.0)
        self.policy.attach()

    def publish(self, now: float, live: list) -> None:
        """Only at the start: every balancer knows the first leader (later they hear announcements)."""
        if now == 0.0 and not self.balancer_term:
            for balancer in self.balancers:
                self.balancer_term[id(balancer)] = 1
                balancer.refresh(self.model.leader, live, False)

    def node_recovered(self, now: float, node) -> None:
        self.policy.node_restarted(now, node)
        node.requeue_backlog(now, node.log)
        self._start_ticks(node, now)

    def position(self, node) -> tuple[int, object]:
        if node.leading:
            return 0, None
        return (1, node.upstream) if node.upstream is not None else (-1, None)

    def lag(self, now: float, node) -> tuple[float, int]:
        """Behind the leader of the newest term: ms since its oldest entry not applied here, and entries."""
        leader = self.model.leader
        if node is leader and node.up:
            return 0.0, 0
        log = leader.log
        applied = min(node.applied, len(log))
        return (now - log[applied].commit_ms if applied < len(log) else 0.0), len(log) - applied

    # leadership ----------------------------------------------------------------------------
    def _lead(self, now: float, node, term: int, cause: int, by: str = "") -> None:
        """`node` begins to lead in `term`."""
        model = self.model
        node.role, node.term, node.upstream, node.candidate = "leader", term, None, False
        node.peers = {f.index: [len(node.log), 0, 0, -math.inf, -math.inf] for f in model.nodes if f is not node}
        if now == 0.0:
            for peer in node.peers.values():
                peer[CONTACT] = 0.0  # at the start every follower is there
        node.pending, node.degraded = deque(), False
        _row(model.recorder.leadership, now, node.index, term, 1, cause)
        if cause != START:
            model.recorder.event(now, "promote", node.name, f"term {term}; {by}")
        self.term_started.setdefault(term, now)
        if term >= model.term:
            model.term, model.leader = term, node
        self.policy.began_leading(now, node)
        for follower in model.nodes:
            if follower is not node:
                self._heartbeat(now, node, follower)

    def step_down(self, now: float, node, term: int, leader, cause: int) -> None:
        """`node` stops believing it leads (or, not leading, just learns of `term`)."""
        was_leading = node.leading
        node.term = max(node.term, term)
        node.role, node.upstream, node.candidate, node.matched = "follower", leader, False, 0
        node.pending, node.degraded = deque(), False  # their clients time out: nobody will answer them
        if was_leading:
            _row(self.model.recorder.leadership, now, node.index, node.term, 0, cause)
            self.model.recorder.event(now, "step-down", node.name, f"term {node.term}: {LEAD_CAUSES[cause]}")
        self.policy.stepped_down(now, node)

    def elected(self, now: float, node, term: int) -> None:
        self._lead(now, node, term, ELECTED, "elected by a majority")

    def power_off(self, now: float, node) -> None:
        """STONITH: the old leader's power is cut (out of band: it works across any partition)."""
        model = self.model
        if not node.up:
            return
        model.recorder.event(now, "stonith", node.name, f"{node.role}; powered off by the promotion")
        node.crash(now)
        model.controller.node_crashed(now, node)
        self.powered_off.add(node.index)
        model.calendar.schedule(now + model.scenario.failover.reboot_ms, self._reboot, node)

    def _reboot(self, now: float, node) -> None:
        self.model.recover(now, node, "rebooted after stonith")

    def restarted_after_stonith(self, now: float, node) -> None:
        """A node powered off by STONITH boots as a follower (the cluster manager starts it so);
        a node that merely crashed comes back believing what it believed."""
        if node.index in self.powered_off:
            self.powered_off.discard(node.index)
            if node.leading:
                self.step_down(now, node, node.term, None, RESTARTED)

    def promote(self, now: float, node, term: int, by: str) -> None:
        """A promotion (by a controller or a sentinel) reaches `node`."""
        if term < node.term or node.leading and node.term == term:
            return  # an older decision, or done already
        self._lead(now, node, term, PROMOTED, by)

    def configure(self, now: float, node, term: int, leader) -> None:
        """A controller or sentinel tells `node` to follow `leader` (of `term`)."""
        if node is leader:
            return
        if not self.fenced:
            if node.leading:
                return  # unfenced: nothing tells a node that believes it leads
            if node.upstream is not leader:
                node.upstream, node.matched = leader, 0
            node.term = max(node.term, term)
        elif term >= node.term:
            if node.leading:
                self.step_down(now, node, term, leader, TOLD)
            elif node.upstream is not leader:
                node.term, node.upstream, node.matched = term, leader, 0
            else:
                node.term = term

    def announce(self, now: float, source_host: int, term: int, leader, members: list) -> None:
        """Tell every balancer who leads (None: nobody, writes refused) and which nodes serve."""
        for balancer in self.balancers:
            self.model.network.send(now, source_host, balancer.host, _balancer_hears, (self, balancer, term, leader, members))

    def check_lease(self, now: float, node) -> bool:
        """False (and the leader steps down) when its lease has run out."""
        if self.policy.lease_expired(now, node):
            self.step_down(now, node, node.term, None, LEASE_EXPIRED)
            return False
        return True

    # timers ----------------------------------------------------------------------------------
    def _start_ticks(self, node, now: float) -> None:
        node.ticks += 1
        self.model.calendar.schedule(now, node.deliver, (self._tick, node.ticks))

    def _tick(self, now: float, node, chain: int) -> None:
        if chain != node.ticks:
            return  # a chain from before a crash
        if node.leading:
            if self.check_lease(now, node):
                for follower in self.model.nodes:
                    if follower is not node:
                        self._heartbeat(now, node, follower)
                self.acks.advance(now, node)
                self.policy.leader_tick(now, node)
        else:
            self.policy.follower_tick(now, node)
        self.model.calendar.schedule(now + self.heartbeat_ms, node.deliver, (self._tick, chain))

    # the write path --------------------------------------------------------------------------
    def commit(self, now: float, leader, op) -> None:
        """`leader` has executed a write: unless it has stopped leading, log it, ship it, ack it."""
        model = self.model
        if not leader.leading or not self.check_lease(now, leader):
            model.reply(now, leader, op, REFUSED, -1, NOT_LEADER)
            return
        if self.acks.too_few_replicas(now, leader):
            model.reply(now, leader, op, REFUSED, -1, TOO_FEW_REPLICAS)
            return
        entry = TermEntry(len(self.entries) + 1, op.key, len(leader.log), now, leader.term, leader.index)
        self.entries.append(entry)
        leader.log.append(entry)
        leader.received = len(leader.log)
        leader.install(entry)
        model.recorder.commit(entry.write_id, op, leader.index, leader.term, entry.index, now)
        for follower in model.nodes:
            if follower is not leader:
                self._ship_from(now, leader, follower)
        self.acks.committed(now, leader, op, entry)

    # the end ------------------------------------------------------------------------------------
    def close(self, now: float) -> None:
        """Count every write the final history lacks as lost, with its reason."""
        kept = {entry.write_id for entry in self.model.leader.log}
        started = sorted((ms, term) for term, ms in self.term_started.items())
        for entry in self.entries:
            if entry.write_id in kept:
                continue
            newer = [ms for ms, term in started if term > entry.term]
            deposed = any(ms <= entry.commit_ms for ms in newer)
            reason = SPLIT_BRAIN if deposed else NOT_ON_PROMOTED if entry.spread else NEVER_LEFT_LEADER
            taken_over = min((ms for ms in newer if ms >= entry.commit_ms), default=now)
            lost_ms = entry.discarded_ms if not math.isnan(entry.discarded_ms) else entry.commit_ms if deposed else taken_over
            self.model.recorder.lose(entry.write_id, reason, lost_ms)
        self.model.recorder.totals["terms"] = self.model.term


def _row(table, now: float, node: int, term: int, leading: int, cause: int) -> None:
    table.t_ms.append(now)
    table.node.append(node)
    table.term.append(term)
    table.leading.append(leading)
    table.cause.append(cause)


def _balancer_hears(now: float, message) -> None:
    """An announcement reaches a balancer: it routes by it unless it knows of a newer term (fenced)."""
    strategy, balancer, term, leader, members = message
    known = strategy.balancer_term.get(id(balancer), 0)
    if strategy.fenced and term < known:
        return
    strategy.balancer_term[id(balancer)] = max(known, term)
    balancer.refresh(leader, members, leader is None)


def _policy_class(policy: str) -> type:
    return Election if policy == "consensus" else POLICY_CLASSES[policy]
