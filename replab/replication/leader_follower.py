"""Leader-follower replication: writes commit on the leader and ship to followers in log order.

Ack modes, and what the client waits for after the leader's commit:
- async: nothing; the leader acks at once (a write can die with the leader).
- semi-sync(k): k followers, anywhere in the tree, have *received* the entry.
- sync: every follower the leader believes alive, down to the last replica of the tree,
  has *applied* it.
- majority: a majority of the nodes, the leader's own copy included, have received it
  (semi-sync with k = nodes // 2).
Followers replicate from the leader or from relays (see `replab.replication.tree`). With
pull propagation nothing is shipped: followers are read-through caches
(`replab.replication.read_through`).

The log is one list of entries; a promotion (`replab.replication.failover`) cuts it at the
promoted follower's received position and the entries past the cut are lost: counted,
with the reason. That is the perfect failover model (failover.policy = 'perfect'); every
realistic policy runs in replab.replication.terms instead (`for_scenario`).
"""

from __future__ import annotations

import math

from replab.core.codes import NEVER_LEFT_LEADER, NOT_ON_PROMOTED, SERVED
from replab.core.field import Field, ScenarioError
from replab.replication.base import Entry, Strategy, receipt_completes
from replab.replication.failover import Failover
from replab.replication.promotion_settings import check_promotion, majority_followers
from replab.replication.read_through import ReadThrough
from replab.replication.terms import TermLeaderFollower
from replab.replication.tree import ReplicaTree

PULL = "with replication.propagation = 'pull'"


class LeaderFollower(Strategy):
    """The leader-follower protocol over a model's nodes, network and log."""

    kind = "leader-follower"
    about = "one leader ships every write to its followers (or relays, see replication.fanout)"
    single_leader = True
    pausable = True
    fields = (
        Field("replication.fanout", "int", 0, "followers each node ships to; relays pass entries on (0 = all from the leader; 1 = a chain)", 0, 32),
        Field("replication.propagation", "choice", "push", "push: the leader ships every write to its followers; pull: followers get nothing shipped and read through on a miss, keeping a copy for cache.ttl_ms", choices=("push", "pull")),
        Field("cache.ttl_ms", "float", 1_000.0, "pull: life of a copy a follower fetched, ms (0 = keep nothing, fetch on every read)", 0.0, 1e8),
        Field("cache.source", "choice", "origin", "pull: where a follower fetches a key it lacks: the origin (the leader), or the key's home follower (key mod live followers), which serves its own unexpired copy or fetches from the origin first", choices=("origin", "peer")),
    )

    def __init__(self, model):
        super().__init__(model)
        rep = model.scenario.replication
        self.ships = rep.propagation == "push"  # pull: followers are caches, nothing is shipped
        self.ack = rep.ack
        self.semi_sync_k = rep.semi_sync_k
        if self.ack == "majority":  # a majority of the nodes, the leader's own copy included
            self.semi_sync_k = majority_followers(len(model.nodes))
            self.ack = "semi-sync" if self.semi_sync_k else "async"
        self.tree = ReplicaTree(rep.fanout)
        self.failover = Failover(self, model.scenario.failover)
        self.log: list[Entry] = []
        self.truncations: list[tuple[int, int]] = []  # (term, kept entries) at each promotion
        self._awaiting: dict[int, Entry] = {}  # write_id -> entry still waiting to ack (sync)
        self.write_ids = 0
        if not self.ships:
            read_through = ReadThrough(model, model.scenario.cache.ttl_ms, model.scenario.cache.source)
            for node in model.nodes:
                node.read_through = read_through

    # declarations ----------------------------------------------------------------------------
    @classmethod
    def for_scenario(cls, scenario) -> type[Strategy]:
        """The perfect failover model runs here; every realistic policy in replab.replication.terms."""
        return cls if scenario.failover.policy == "perfect" else TermLeaderFollower

    @classmethod
    def check(cls, v) -> None:
        followers, leaders = v["topology.followers"], v["topology.leaders"]
        if leaders != 1:
            raise ScenarioError("topology.leaders", leaders, "must be 1 with replication.kind = 'leader-follower'; "
                                "set replication.kind = 'leader-leader' for more")
        if v["replication.ack"] == "semi-sync":
            if followers == 0:
                raise ScenarioError("replication.ack", "semi-sync", "needs at least one follower (topology.followers is 0)")
            if v["replication.semi_sync_k"] > followers:
                raise ScenarioError("replication.semi_sync_k", v["replication.semi_sync_k"],
                                    f"must be at most topology.followers ({followers}) with semi-sync acks")
        if v["replication.propagation"] == "pull":
            _check_pull(v)
        check_promotion(v)
        if v["replication.reads"] == "followers" and followers == 0:
            raise ScenarioError("replication.reads", "followers", "needs at least one follower (topology.followers is 0); use 'leader' or 'any'")

    @classmethod
    def copies_per_write(cls, scenario) -> float:
        # pull: followers fetch on a miss, at most once per read (counted with the requests)
        return 0 if scenario.replication.propagation == "pull" else len(scenario.node_names) - 1

    # the model's hooks ---------------------------------------------------------------------
    def attach(self) -> None:
        self.model.leader.role = "leader"

    def publish(self, now: float, live: list) -> None:
        """Tell the balancer who leads and who is alive; redraw who replicates from whom
        and let every node with a new upstream catch up from it."""
        model = self.model
        model.balancer.refresh(model.leader, live, model.controller.read_only)
        for node in self.tree.arrange(model.leader, live):
            if node.up and model.leader.up:
                self.resync(now, self.tree.upstream[node.index], node)

    def node_detected_dead(self, now: float, node) -> None:
        if node is self.model.leader:
            self.failover.leader_dead(now)
        else:
            self.forget_follower(now, node)

    def node_recovered(self, now: float, node) -> None:
        model = self.model
        if node is model.leader:
            self.failover.leader_back(now)
            # what had not left its send queue when it crashed must be sent again
            for follower in self.tree.children(node):
                if follower.up:
                    self.resync(now, node, follower)
        else:
            self.catch_up(node)
            node.requeue_backlog(now, self.log)
            self.failover.candidate_back(now)

    def position(self, node) -> tuple[int, object]:
        return self.tree.depth.get(node.index, -1), self.tree.upstream.get(node.index)

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
        tree = self.tree
        if self.ships:
            self.ship_each(now, leader, tree.children(leader), entry, None, model.term, follower_arrives)
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

    def on_applied(self, now: float, node, entry: Entry) -> None:
        if node.role != "follower":
            return
        if self.ack == "sync" and entry.op is not None:
            self._receipt(now, node, entry)
        # a relay passes on what it has applied, in log order
        applied = node.applied
        if node.forwarded < applied:
            children = self.tree.downstream.get(node.index)  # tree.children(node), inlined
            if children:
                term, log = self.model.term, self.log
                for forward in log[node.forwarded:min(applied, len(log))]:
                    self.ship_each(now, node, children, forward, None, term, follower_arrives)
            node.forwarded = applied

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
        term = self.model.term
        for entry in self.log[follower.received:upto]:
            self.ship(now, upstream, follower, entry, None, term, follower_arrives)
        if upstream.role != "leader":
            upstream.forwarded = max(upstream.forwarded, upto)

    # promotion ----------------------------------------------------------------------------
    def cut_log(self, now: float, new_leader, old_leader) -> int:
        """Cut the log at the new leader's position; returns how many entries were lost."""
        model = self.model
        keep = new_leader.received
        others = max((n.received for n in model.nodes if n is not old_leader and n is not new_leader), default=0)
        for entry in self.log[keep:]:
            reason = NOT_ON_PROMOTED if entry.index < others else NEVER_LEFT_LEADER
            model.recorder.lose(entry.write_id, reason, now)
            if entry.op is not None:
                entry.op = None  # its client will time out: it was never acknowledged
            self._awaiting.pop(entry.write_id, None)
        lost = len(self.log) - keep
        del self.log[keep:]
        self.truncations.append((model.term, keep))
        return lost

    def catch_up(self, node) -> None:
        """Make a returning or repointed node agree with the log: cut what was discarded."""
        for term, keep in self.truncations:
            if term > node.synced_term:
                node.rewind(self.log, keep)
        node.synced_term = self.model.term
        node.term = self.model.term

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

    def network_healed(self, now: float) -> None:
        """A switch is back: every live node is resent, by its upstream, what it missed
        while cut off (a stream with a gap accepts nothing until then)."""
        for index, upstream in list(self.tree.upstream.items()):
            node = self.model.nodes[index]
            if node.up and upstream.up:
                self.resync(now, upstream, node)


def follower_arrives(now: float, message) -> None:
    """A shipped entry reaches a follower (what `base.arrive` and a `deliver` would do, in one
    call: every entry passes here on every follower): it is taken unless its sender crashed
    before it left, and only if it is the next entry of the follower's term. A paused follower
    keeps it until the pause ends, then takes it here again."""
    _, follower, entry, sender, incarnation, sent_ms, term = message
    if incarnation != sender.incarnation and sender.crash_times[incarnation] < sent_ms:
        return  # the sender crashed before this entry left its send queue
    if follower.paused:
        follower.hold(follower_arrives, message)
        return
    if not follower.up or term != follower.term or entry.index != follower.received:
        return  # down, from a deposed leader, or a duplicate after a resync
    follower.received += 1
    protocol = follower.model.replication
    protocol.model.recorder.receive(entry.write_id, follower.index, now)  # the relay log survives a crash: checks read it
    follower.enqueue_apply(now, entry, (sender.index, sent_ms))
    if protocol.ack == "semi-sync" and entry.op is not None:
        protocol._receipt(now, follower, entry)


def leader_receipt(now: float, message) -> None:
    protocol, entry, leader, follower = message
    if leader.paused:
        leader.hold(leader_receipt, message)
        return
    protocol.on_receipt(now, entry, leader, follower)


def _check_pull(v) -> None:
    """Pull (read-through caches) replaces shipping: refuse what needs shipped replicas."""
    if v["replication.ack"] != "async":
        raise ScenarioError("replication.ack", v["replication.ack"],
                            f"must be 'async' {PULL}: followers receive no writes, so none can confirm one")
    if v["replication.fanout"]:
        raise ScenarioError("replication.fanout", v["replication.fanout"],
                            f"must be 0 {PULL}: nothing is shipped, so nothing is relayed")
    if v["topology.followers"] == 0:
        raise ScenarioError("topology.followers", 0, f"must be at least 1 {PULL} (the followers are the caches)")
    if v["dcs.count"] > 1:
        raise ScenarioError("dcs.count", v["dcs.count"], f"must be 1 {PULL} (read-through caches across data "
                            "centres are not modelled)")
    if v["replication.reads"] == "leader":
        raise ScenarioError("replication.reads", "leader",
                            f"must be 'followers' or 'any' {PULL}: with reads on the leader no cache is ever read")
    if v["failover.promote"]:
        raise ScenarioError("failover.promote", True,
                            f"must be false {PULL}: followers hold only cached copies, none can take over the "
                            "writes (while the leader is down, writes are refused and misses fail)")


__all__ = ["Entry", "LeaderFollower"]
