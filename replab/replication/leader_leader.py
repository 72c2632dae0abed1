"""Leader-leader replication: every leader takes writes and ships them to every other node.

A leader commits a write locally, acknowledges it when the ack mode allows, and puts it on
its outbound link once for every other node it believes alive (the other leaders and any
followers), `ship_ms` a copy, over an ordered channel per pair. Each leader's writes form
its own log; a receiver takes them in that order (`received_from[leader]`) and applies them
with its apply queue like any replicated write. A gap (a copy dropped by a dead switch)
makes the receiver ask the leader to resend from where it is.

Concurrency is detected per key with version vectors (leader index -> writes of the key
seen from that leader). An incoming version that has seen what the node holds supersedes
it; one the node has already seen (or seen superseded) is ignored; otherwise the two are
concurrent: a conflict, resolved alike on every node so they converge:
- last-writer-wins: the later commit is kept (commits at the same instant: the one the
  simulation committed last, i.e. the larger write id); the other is a lost update;
- keep-both: both are kept as siblings (a read returns the newest); the next write of the
  key on a node that holds them all supersedes them (the application's merge).

Acks: async at commit; semi-sync(k): k other nodes have received it; sync: every other node
the controller believes alive has applied it, so latency grows with the slowest of them.
Sync does not prevent conflicts (each leader still commits first), but a write waiting for
its ack that loses one is refused to its client ("conflict") instead of acknowledged: the
other leader applies it, sees it lose, and says so in its receipt. Async and semi-sync
acknowledge before anyone can know, so their losers are acknowledged lost updates.

A leader's death takes nobody's role: the others keep serving. What it had committed but
not yet sent stays in its log and is shipped when it returns; meanwhile those writes are
*stranded* (acknowledged, not lost, not on the live nodes). A returning node gets from every
live leader what it lacks of that leader's writes.
"""

from __future__ import annotations

import math
from operator import ge

import numpy as np
import pandas as pd

from replab.agents.peer import PeerNode
from replab.core.codes import (
    CONFLICT,
    KEPT_BOTH,
    KEPT_EXISTING,
    LOST_REASONS,
    LOST_UPDATE,
    REFUSED,
    RESOLUTIONS,
    SERVED,
    TOOK_INCOMING,
)
from replab.core.field import Field, ScenarioError
from replab.replication.base import Entry, Strategy, receipt_completes


class PeerEntry(Entry):
    """One write committed by one leader: its place in that leader's log and its version vector."""

    __slots__ = ("origin", "vector", "lost")


def covers(seen: tuple, vector: tuple) -> bool:
    """True when `seen` has seen everything `vector` has (every leader's count at least as high)."""
    return all(map(ge, seen, vector))


class LeaderLeader(Strategy):
    """The leader-leader protocol over a model's peer nodes (leaders first, then followers)."""

    kind = "leader-leader"
    about = "topology.leaders leaders all take writes and ship them to every other node"
    fields = (
        Field("replication.write_routing", "choice", "balancer", "leader-leader: the DB load balancer picks each write's leader by balancer.policy, or the application sends session s to leader s mod topology.leaders", choices=("balancer", "session")),
        Field("replication.conflicts", "choice", "last-writer-wins", "leader-leader: of two concurrent writes of a key keep the later commit (the other is a lost update), or keep both as siblings for the application", choices=("last-writer-wins", "keep-both")),
    )
    summary_doc = {
        "conflicts": "leader-leader: pairs of concurrent writes of a key (neither had seen the other) met on some node",
        "conflicts_per_s": "conflicts per simulated second of the run (duration_ms)",
        "lost_updates": "acknowledged writes overwritten by a concurrent write (last writer wins); under sync acks the loser is refused ('conflict') instead, unless its ack had stopped waiting for a node detected dead that then met the conflict",
        "siblings": "writes kept side by side with a concurrent write of their key (keep-both)",
        "mean_divergent_keys": "leader-leader: mean over the timeline samples of keys whose versions differ across live nodes",
        "max_divergent_keys": "leader-leader: most keys found differing across live nodes at a sample",
        "converge_ms": "leader-leader: from the last commit until every live node had applied all it would get and all agreed (NaN: not by the end of the run)",
        "stranded_writes": "leader-leader: acknowledged writes missing on a live node because only leaders down at the end hold them (shipped when they return)",
    }
    node_class = PeerNode
    leader_per_dc = True
    lag_of_every_node = True  # every live node replicates the other leaders' writes

    def __init__(self, model):
        super().__init__(model)
        scenario = model.scenario
        rep = scenario.replication
        self.leaders = model.nodes[:scenario.topology.leaders]
        self.ack = rep.ack
        # the ack mode as flags, asked on every write and every copy of one
        self._async, self._semi_sync, self._sync = (self.ack == mode for mode in ("async", "semi-sync", "sync"))
        self.semi_sync_k = rep.semi_sync_k
        self.keep_both = rep.conflicts == "keep-both"
        self.logs: list[list[PeerEntry]] = [[] for _ in self.leaders]  # each leader's own writes, in commit order
        self.write_ids = 0
        self.last_commit_ms = math.nan
        self._zero = (0,) * len(self.leaders)
        self._targets: dict[int, list] = {}  # leader index -> the other nodes it ships to
        self._awaiting: dict[int, PeerEntry] = {}  # write_id -> entry whose ack waits for other nodes
        self._dirty: set[int] = set()  # keys written since every node (up or down) last agreed on them
        self._resend_asked: set[tuple[int, int]] = set()  # (leader, receiver) with a resend requested
        self._receive = self._peer_receive  # a bound method made once: one goes with every copy shipped

    # declarations ----------------------------------------------------------------------------
    @classmethod
    def check(cls, v) -> None:
        others = v["topology.leaders"] - 1 + v["topology.followers"]
        if v["replication.fanout"]:
            raise ScenarioError("replication.fanout", v["replication.fanout"],
                                "must be 0 with replication.kind = 'leader-leader' (every leader ships to every other node)")
        if v["replication.ack"] == "semi-sync" and others == 0:
            raise ScenarioError("replication.ack", "semi-sync", "needs another node to receive writes "
                                "(topology.leaders - 1 + topology.followers is 0)")
        if v["replication.ack"] == "semi-sync" and v["replication.semi_sync_k"] > others:
            raise ScenarioError("replication.semi_sync_k", v["replication.semi_sync_k"],
                                f"must be at most the other nodes (topology.leaders - 1 + topology.followers = "
                                f"{others}) with semi-sync acks")
        if v["replication.reads"] == "followers" and v["topology.followers"] == 0:
            raise ScenarioError("replication.reads", "followers", "needs at least one follower (topology.followers is 0); use 'leader' or 'any'")
        if v["dcs.count"] > 1 and v["dcs.placement"] != "leader-per-dc":
            raise ScenarioError("dcs.placement", v["dcs.placement"], "has one leader; use 'leader-per-dc' with replication.kind = 'leader-leader'")

    @classmethod
    def summary(cls, results) -> dict:
        """Conflicts, lost updates, siblings, divergence and convergence (0/NaN for other kinds)."""
        conflicts, writes, timeline = results.conflicts, results.writes, results.timeline
        incoming, existing = conflicts["incoming"].to_numpy(), conflicts["existing"].to_numpy()
        pairs = len(set(zip(np.minimum(incoming, existing).tolist(), np.maximum(incoming, existing).tolist())))
        both = conflicts[conflicts["resolution"] == RESOLUTIONS[KEPT_BOTH]]
        lost_updates = (writes["lost_reason"] == LOST_REASONS[LOST_UPDATE]) & writes["acked"]
        mine = results.scenario.replication.kind == cls.kind
        divergence = timeline.groupby("t_ms", sort=True)["divergent_keys"].first() if mine and len(timeline) \
            else pd.Series(dtype=float)
        return {
            "conflicts": int(pairs),
            "conflicts_per_s": pairs / (results.scenario.duration_ms / 1000.0),
            "lost_updates": int(lost_updates.sum()),
            "siblings": int(len(set(both["incoming"]) | set(both["existing"]))),
            "mean_divergent_keys": float(divergence.mean()) if len(divergence) else math.nan,
            "max_divergent_keys": float(divergence.max()) if len(divergence) else math.nan,
            "converge_ms": float(results.totals.get("converge_ms", math.nan)),
            "stranded_writes": int(results.totals.get("stranded_writes", 0)),
        }

    # the model's hooks -------------------------------------------------------------------------
    def attach(self) -> None:
        for leader in self.leaders:
            leader.role = "leader"

    def publish(self, now: float, live: list) -> None:
        """Leaders ship to the others among the live nodes; the balancer writes to live leaders."""
        self._targets = {leader.index: [n for n in live if n is not leader] for leader in self.leaders}
        self.model.balancer.refresh_leaders(self.leaders, live)

    def node_detected_dead(self, now: float, node) -> None:
        self.forget_node(now, node)
        known_down = self.model.controller.known_down
        if all(leader.index in known_down for leader in self.leaders):
            self.model.controller.enter_read_only(now)

    def node_recovered(self, now: float, node) -> None:
        self.rejoin(now, node)
        if node.role == "leader":
            self.model.controller.leave_read_only(now)

    def position(self, node) -> tuple[int, object]:
        return (0 if node.index < len(self.leaders) else 1), None

    def close(self, now: float) -> None:
        """Convergence and the acknowledged writes stranded on leaders down at the end."""
        writes = self.model.recorder.writes
        stranded = [w for w in self.stranded()
                    if not math.isnan(writes.ack_ms[w - 1]) and not writes.lost_reason[w - 1]]
        self.model.recorder.totals |= {"converge_ms": self.converge_ms(), "stranded_writes": len(stranded)}

    # the write path -----------------------------------------------------------------------
    def commit(self, now: float, leader, op) -> None:
        """A leader has executed a write: version it, keep it, ship it, ack when the mode allows."""
        model = self.model
        self.write_ids = write_id = self.write_ids + 1
        key, i = op.key, leader.index
        own = self.logs[i]
        index = len(own)
        entry = PeerEntry(write_id, key, index, now)
        entry.origin, entry.lost = i, False
        # has seen all the leader had, and itself (a list, then a tuple: cheaper than slicing)
        vector = list(leader.vectors.get(key, self._zero))
        vector[i] += 1
        entry.vector = vector = tuple(vector)
        own.append(entry)
        leader.received_from[i] = index + 1
        leader.vectors[key] = vector
        leader.versions[key] = (entry,)
        leader.store[key] = write_id
        self._dirty.add(key)
        self.last_commit_ms = now
        model.recorder.commit(write_id, op, i, model.term, index, now)
        targets = self._targets.get(i, ())
        for peer in targets:
            self.ship(now, leader, peer, entry, self._receive)
        if self._async or (self._sync and not targets):
            model.reply(now, leader, op, SERVED, write_id)
            return
        entry.waiting_for = self.semi_sync_k if self._semi_sync else {p.index for p in targets}
        entry.op = op
        self._awaiting[write_id] = entry

    def _peer_receive(self, now: float, node, entry: PeerEntry, sender, departs: float, _extra) -> None:
        """A replication message reaches a node: take it if it is the next of its leader's writes.
        (A method, where it was a function calling one: every copy of every write comes here.)"""
        if not node.up:
            return
        origin = entry.origin
        position = node.received_from[origin]
        if entry.index != position:
            if entry.index > position:
                self.ask_resend(now, sender, node)
            return  # a duplicate after a resend, or past a gap
        node.received_from[origin] = position + 1
        node.pending[entry.write_id] = entry
        self.model.recorder.receive(entry.write_id, node.index, now)
        node.enqueue_apply(now, entry, (sender.index, departs))
        if self._semi_sync and entry.op is not None:
            self._receipt(now, node, entry)

    def on_applied(self, now: float, node, entry: PeerEntry) -> None:
        if self._sync and entry.op is not None:
            self._receipt(now, node, entry)

    def _receipt(self, now: float, node, entry: PeerEntry) -> None:
        """Tell the entry's leader this node has it (semi-sync: received; sync: applied)."""
        leader = self.leaders[entry.origin]
        self.model.network.send(now, node.host, leader.host, peer_receipt, (self, entry, node))

    def on_receipt(self, now: float, entry: PeerEntry, node) -> None:
        if entry.op is None:
            return
        if entry.lost:
            self._refuse_conflict(now, entry)
            return
        if receipt_completes(entry, node.index):
            self._ack(now, entry)

    def _ack(self, now: float, entry: PeerEntry) -> None:
        op, entry.op = entry.op, None
        del self._awaiting[entry.write_id]
        self.model.reply(now, self.leaders[entry.origin], op, SERVED, entry.write_id)

    def _refuse_conflict(self, now: float, entry: PeerEntry) -> None:
        """A write still waiting for its ack lost a conflict: its client hears so, not OK."""
        op, entry.op = entry.op, None
        del self._awaiting[entry.write_id]
        self.model.reply(now, self.leaders[entry.origin], op, REFUSED, -1, CONFLICT)

    def _overwritten(self, now: float, node, loser: PeerEntry) -> None:
        """Last writer wins on `node`: `loser` is a lost update (its leader knows at once)."""
        self.model.recorder.lose_update(loser.write_id, now)
        loser.lost = True
        if loser.op is not None and node.index == loser.origin:
            self._refuse_conflict(now, loser)

    # applying: supersede, ignore or resolve a conflict -------------------------------------
    def resolve(self, now: float, node, entry: PeerEntry) -> None:
        """Apply a replicated version on `node` by its version vector."""
        key, vector = entry.key, entry.vector
        seen = node.vectors.get(key)
        if seen is None:
            self._dirty.add(key)  # this node may now differ from the others on the key
            node.vectors[key] = vector
            node.versions[key] = (entry,)
            node.store[key] = entry.write_id
            return
        # covers(seen, vector) and covers(vector, v.vector), written out: one Python call less each
        if all(map(ge, seen, vector)):
            return  # this node has it already, or a version that superseded it
        self._dirty.add(key)
        node.vectors[key] = tuple(map(max, seen, vector))
        concurrent = [v for v in node.versions[key] if not all(map(ge, vector, v.vector))]
        if not concurrent:
            node.versions[key] = (entry,)
            node.store[key] = entry.write_id
            return
        recorder = self.model.recorder
        if self.keep_both:
            for kept in concurrent:
                recorder.conflict(now, node.index, key, entry.write_id, kept.write_id, KEPT_BOTH)
            siblings = tuple(sorted(concurrent + [entry], key=lambda v: v.write_id))
            node.versions[key] = siblings
            node.store[key] = siblings[-1].write_id
            return
        (kept,) = concurrent  # last-writer-wins keeps one version per key
        if entry.write_id > kept.write_id:
            recorder.conflict(now, node.index, key, entry.write_id, kept.write_id, TOOK_INCOMING)
            self._overwritten(now, node, kept)
            node.versions[key] = (entry,)
            node.store[key] = entry.write_id
        else:
            recorder.conflict(now, node.index, key, entry.write_id, kept.write_id, KEPT_EXISTING)
            self._overwritten(now, node, entry)

    # failures -------------------------------------------------------------------------------
    def node_crashed(self, now: float, node) -> None:
        """A leader's connections die with it: clients waiting for its acks will time out."""
        for entry in [e for e in self._awaiting.values() if e.origin == node.index]:
            entry.op = None
            del self._awaiting[entry.write_id]

    def forget_node(self, now: float, node) -> None:
        """Sync acks stop waiting for a node detected dead (as a real sync leader must)."""
        if self.ack != "sync":
            return
        for entry in list(self._awaiting.values()):
            entry.waiting_for.discard(node.index)
            if not entry.waiting_for and self.leaders[entry.origin].up:
                self._ack(now, entry)

    def rejoin(self, now: float, node) -> None:
        """A node is back: apply what it had received, get what it lacks, send what others lack."""
        node.requeue_backlog(now)
        # Where the returning node may differ from the live ones: keys of writes some of them
        # have not received or not yet applied (other changes mark their keys as they happen).
        dirty, up = self._dirty, [n for n in self.model.nodes if n.up]
        for other in up:
            dirty.update(e.key for e in other.pending.values())
        for leader, log in zip(self.leaders, self.logs):
            start = min((n.received_from[leader.index] for n in up if n is not leader), default=len(log))
            dirty.update(e.key for e in log[start:])
        known_down = self.model.controller.known_down
        live = [n for n in self.model.nodes if n.up and n.index not in known_down and n is not node]
        for leader in self.leaders:
            if leader in live:
                self.resync(now, leader, node)
        if node.role == "leader":
            for peer in live:
                self.resync(now, node, peer)

    def network_healed(self, now: float) -> None:
        """A switch is back: every live leader resends to every live node what it lacks."""
        known_down = self.model.controller.known_down
        live = [n for n in self.model.nodes if n.up and n.index not in known_down]
        for leader in self.leaders:
            if leader in live:
                for node in live:
                    if node is not leader:
                        self.resync(now, leader, node)

    def resync(self, now: float, leader, node) -> None:
        """Ship `node`, in order, every write of `leader`'s log it has not received."""
        for entry in self.logs[leader.index][node.received_from[leader.index]:]:
            self.ship(now, leader, node, entry, self._receive)

    def ask_resend(self, now: float, leader, node) -> None:
        """`node` saw a gap in `leader`'s stream: ask once for a resend from where it is."""
        asked = (leader.index, node.index)
        if asked in self._resend_asked:
            return
        self._resend_asked.add(asked)
        if not self.model.network.send(now, node.host, leader.host, resend_request, (self, leader, node)):
            self._resend_asked.discard(asked)

    # measuring ------------------------------------------------------------------------------
    def lag(self, now: float, node) -> tuple[float, int]:
        """(ms since the oldest write `node` has not applied was committed, writes not applied)."""
        # min(oldest, ...) written out: a slow call in Python 3.11, once per write pending here
        oldest, behind = now, len(node.pending)
        for entry in node.pending.values():
            if entry.commit_ms < oldest:
                oldest = entry.commit_ms
        for leader, log in zip(self.leaders, self.logs):
            if leader is not node and node.received_from[leader.index] < len(log):
                behind += len(log) - node.received_from[leader.index]
                committed_ms = log[node.received_from[leader.index]].commit_ms
                if committed_ms < oldest:
                    oldest = committed_ms
        return now - oldest, behind

    def divergent_keys(self) -> int:
        """Keys whose versions differ across the live nodes now. Only keys written since the
        live nodes last agreed on them are compared (and, when a node returns, the keys of
        what it or its peers lack), so a sample costs what was written, not the key space."""
        live = [n for n in self.model.nodes if n.up]
        if not live:
            return 0
        first, rest = live[0].versions, [n.versions for n in live[1:]]
        differ, agreed = 0, []
        for key in self._dirty:
            held = first.get(key)
            for versions in rest:  # all(... == held for ...), written out: no generator per key
                if versions.get(key) != held:
                    differ += 1
                    break
            else:
                agreed.append(key)
        self._dirty.difference_update(agreed)
        return differ

    def converge_ms(self) -> float:
        """Time from the last commit until every live node had applied all it will get, if
        the live nodes then agree on every key; NaN if they did not by now (or no writes)."""
        live = [n for n in self.model.nodes if n.up]
        if math.isnan(self.last_commit_ms) or not live:
            return math.nan
        for node in live:
            if node.pending or node.apply_queue or node.applying:
                return math.nan
            for leader, log in zip(self.leaders, self.logs):
                if leader.up and node.received_from[leader.index] < len(log):
                    return math.nan
        if self.divergent_keys():
            return math.nan
        return max(0.0, max(n.last_apply_ms for n in live) - self.last_commit_ms)

    def stranded(self) -> list[int]:
        """Write ids some live node lacks whose leader is down now: only a write's own leader
        ships it, so they arrive when it returns (another live node may hold a copy already)."""
        live = [n for n in self.model.nodes if n.up]
        out = []
        for leader, log in zip(self.leaders, self.logs):
            if not leader.up and live:
                out += [e.write_id for e in log[min(n.received_from[leader.index] for n in live):]]
        return out


def peer_receipt(now: float, message) -> None:
    protocol, entry, node = message
    protocol.on_receipt(now, entry, node)


def resend_request(now: float, message) -> None:
    protocol, leader, node = message
    protocol._resend_asked.discard((leader.index, node.index))
    if leader.up and node.up:
        protocol.resync(now, leader, node)


__all__ = ["LeaderLeader", "PeerEntry", "covers"]
