"""Leaderless replication (Dynamo, Cassandra, Riak): N replicas per key, W write acks, R read replies.

Keys sit on a consistent-hash ring (`replab.replication.ring`); a key's N home replicas are
the first N nodes clockwise from it. Any node coordinates: the one the DB load balancer
picked sends a client's write to the key's replicas and acknowledges it after W of them have
applied it and said so; it sends a read to the replicas (all N, or only R chosen at random)
and answers with the newest version among the first R responses. Or the client coordinates
its operations itself (quorum.coordinator = 'client': `replab.replication.client_coordination`). A write *commits* when its
coordinator has its W-th ack (the requests frame's answered_ms of the write); each leg of the
journey has its own delay distribution (`replab.replication.legs`: the WARS model of PBS).

Versions carry the coordinator's timestamp and a vector clock (`replab.replication.versions`):
last-writer-wins keeps the later timestamp, siblings keeps concurrent versions side by side.

When a home replica is known down or cannot be reached, a sloppy quorum sends its share to
the next healthy node on the ring with a hint; the fallback hands the write back once the
home replica is reachable again. Replicas that missed writes converge by read repair (a
coordinator sends the newest version it saw to the replicas that answered with an older one)
and anti-entropy (periodic comparisons between replicas): `replab.replication.convergence`.

writes.leader is the coordinator (empty: the client), writes.commit_ms when it timestamped the write and sent it
out (the quorum time is the write request's answered_ms), writes.term 0 and log_index -1
(there is no log). Two tables of its own record every message that carries a version
(`deliveries`) and every replica's answer to a read (`responses`).
"""

from __future__ import annotations

import math

from replab.agents.replica import ReplicaNode
from replab.core.codes import NODE_DOWN, REASONS, REFUSED, SERVED
from replab.core.field import Field, ScenarioError
from replab.core.randomness import stream, uniform
from replab.core.recorder import NODE, NODE_OR_CLIENT, Column, Table
from replab.replication.base import Strategy
from replab.replication.client_coordination import SessionClient, is_client
from replab.replication.convergence import AntiEntropy, Divergence, HintedHandoff, convergence_figures
from replab.replication.legs import LEGS, check_legs, leg_fields, leg_sampler, leg_settings
from replab.replication.quorum_reads import RESPONSES, Coordination, QuorumReads
from replab.replication.ring import Ring
from replab.replication.versions import (
    DELIVERY_KINDS,
    HANDOFF,
    HINTED_WRITE,
    WRITE,
    Delivery,
    Version,
    covers,
    keep,
    merge,
)

NAN = float("nan")
TOO_FEW_REPLICAS = REASONS.add("too few replicas")

DELIVERIES = Table("deliveries", (
    Column("write_id", "q", "the write (version) carried"),
    Column("key", "q", "its key"),
    Column("kind", "b", "write, hinted write (to a fallback), read repair, anti-entropy or hinted handoff", DELIVERY_KINDS),
    Column("sender", "h", "the coordinator (\"client\": a client coordinating it), repairing node or fallback that sent it", NODE_OR_CLIENT),
    Column("receiver", "h", "the node it was sent to", NODE),
    Column("home", "h", "the home replica it is meant for (a hinted write's: the one the fallback keeps it for)", NODE),
    Column("sent_ms", "d", "when it was sent"),
    Column("arrived_ms", "d", "when it reached the receiver (NaN: no path, or the receiver was down)"),
    Column("applied_ms", "d", "when the receiver took it off its apply queue (NaN: never)"),
    Column("new", "b", "1: it became (one of) the version(s) the receiver holds; 0: it had it, or something newer"),
    Column("acked_ms", "d", "writes and hand-offs: when the receiver's ack reached the sender (NaN: never)"),
), "leaderless: one row per message carrying a version to a node")



class Leaderless(Strategy):
    """Quorum reads and writes over a consistent-hash ring, with hints, read repair and anti-entropy."""

    kind = "leaderless"
    lag_of_every_node = True  # every node is a replica: how long each has lacked a newer version
    about = "every node coordinates; each key lives on quorum.n nodes of a hash ring, writes wait for quorum.w acks, reads for quorum.r replies (see quorum.*)"
    fields = (
        Field("quorum.nodes", "int", 5, "leaderless: data nodes on the consistent-hash ring (topology.leaders, topology.followers, replication.reads and replication.ack are not used)", 1, 32),
        Field("quorum.n", "int", 3, "leaderless: replicas of each key (N), the first N nodes clockwise from the key on the ring", 1, 32),
        Field("quorum.w", "int", 2, "leaderless: replica acks a coordinator waits for before acknowledging a write (W)", 1, 32),
        Field("quorum.r", "int", 2, "leaderless: replica responses a coordinator waits for before answering a read with the newest of them (R)", 1, 32),
        Field("quorum.coordinator", "choice", "replica", "leaderless: who coordinates a write: the first live home replica of its key, to which the node the balancer picked forwards it (Dynamo: a key's versions then grow from what one of its replicas has seen), or the node the balancer picked, whatever it holds (Cassandra; with vector clocks a coordinator that has not seen the key's newest version makes a concurrent one), with reads coordinated by the node picked; or the client, writes and reads alike (Dynamo's client-driven coordination, Voldemort, Riak clients: no balancer, no hop through a node; its vector clocks count each session's writes, so two sessions writing blind are concurrent)", choices=("replica", "any", "client")),
        Field("quorum.read_from", "choice", "all", "leaderless: ask all N replicas and answer from the first R responses, or ask only R of them, chosen at random", choices=("all", "r")),
        Field("quorum.write_to", "choice", "all", "leaderless: send each write to all N replicas, or to only W of them chosen at random (a non-expanding quorum, as PBS's k-staleness formula assumes: the others get it by read repair, anti-entropy or not at all)", choices=("all", "w")),
        Field("quorum.conflicts", "choice", "last-writer-wins", "leaderless: of concurrent versions of a key (neither's vector clock has seen the other), keep the later timestamp (the other is a lost update), or keep them all as siblings", choices=("last-writer-wins", "siblings")),
        Field("quorum.sloppy", "bool", True, "leaderless: a home replica known down or unreachable is replaced by the next healthy node on the ring, which keeps the write with a hint and hands it back when it can (false: a strict quorum refuses an operation that cannot reach W or R home replicas)"),
        Field("quorum.read_repair", "bool", True, "leaderless: a coordinator sends the newest version it saw to every replica that answered its read with an older one"),
        Field("quorum.anti_entropy_ms", "float", 0.0, "leaderless: interval between anti-entropy rounds, in which each node compares the keys it shares with one other node (as Merkle trees would) and each sends the other the versions it lacks, ms (0 = no anti-entropy)", 0.0, 1e8),
        Field("quorum.vnodes", "int", 8, "leaderless: tokens (virtual nodes) of each node on the ring", 1, 256),
        *leg_fields(),
    )
    summary_doc = {
        "hinted_writes": "leaderless: writes a fallback node took with a hint for a home replica that was down or unreachable (sloppy quorum)",
        "hints_handed_off": "leaderless: hinted writes handed back to their home replica and acknowledged by it",
        "hints_pending": "leaderless: hints still held by fallback nodes at the end of the run",
        "handoff_mean_ms": "leaderless: mean time from a fallback taking a hinted write to its home replica taking it back (NaN: none handed back)",
        "read_repairs": "leaderless: versions coordinators sent to replicas that had answered a read with an older one",
        "anti_entropy_repairs": "leaderless: versions anti-entropy sent to a replica that lacked them",
        "everywhere_p50_ms": "leaderless: median time from a write being sent until all N home replicas held it or a newer version (writes that got there)",
        "everywhere_p99_ms": "leaderless: 99th percentile of the same",
        "not_everywhere": "leaderless: writes that some home replica held neither of, nor anything newer, at the end of the run",
    }
    tables = (DELIVERIES, RESPONSES)
    node_down = NODE_DOWN
    node_class = ReplicaNode
    has_leader = False

    def __init__(self, model):
        super().__init__(model)
        scenario = model.scenario
        q = scenario.quorum
        self.nodes = model.nodes
        self.n, self.r, self.w = q.n, q.r, q.w
        self.ring = Ring(len(self.nodes), q.vnodes)
        self.siblings = q.conflicts == "siblings"
        self.sloppy = q.sloppy
        self.read_repair = q.read_repair
        self.forward_writes = q.coordinator == "replica"
        self.clients: dict[int, SessionClient] = {}  # session -> its client, where clients coordinate
        self.ask_all = q.read_from == "all"
        self.write_all = q.write_to == "all"
        flat = scenario.to_flat()
        self.legs = {leg: leg_sampler(leg_settings(flat, leg), scenario.seed, leg) for leg in LEGS}
        self._pick = uniform(stream(scenario.seed, "quorum.replicas"))  # which R (or W) of the N
        self._zero = (0,) * len(self.nodes)
        self.write_ids = 0
        self.issued: list[Version] = []  # every write's version, by write id (checks read their vectors)
        self.sent_versions = 0
        self._writes: dict[int, Coordination] = {}  # write_id -> a write waiting for W acks
        self.reads = QuorumReads(self, TOO_FEW_REPLICAS)
        self.divergence = Divergence(self)
        self.handoff = HintedHandoff(self)
        self.anti_entropy = AntiEntropy(self, q.anti_entropy_ms)

    # declarations ----------------------------------------------------------------------------
    @classmethod
    def check(cls, v) -> None:
        nodes, n = v["quorum.nodes"], v["quorum.n"]
        if n > nodes:
            raise ScenarioError("quorum.n", n, f"must be at most quorum.nodes ({nodes})")
        for name in ("quorum.r", "quorum.w"):
            if v[name] > n:
                raise ScenarioError(name, v[name], f"must be at most quorum.n ({n})")
        if v["replication.ack"] != "async":
            raise ScenarioError("replication.ack", v["replication.ack"], "must be 'async' with replication.kind = "
                                "'leaderless' (quorum.w says when a write is acknowledged)")
        if v["replication.fanout"]:
            raise ScenarioError("replication.fanout", v["replication.fanout"], "must be 0 with replication.kind = 'leaderless'")
        if v["dcs.count"] > 1:
            raise ScenarioError("dcs.count", v["dcs.count"], "must be 1 with replication.kind = 'leaderless' (one ring in one DC)")
        check_legs(v)

    @classmethod
    def node_count(cls, v) -> int:
        return v["quorum.nodes"]

    @classmethod
    def balancer_reads(cls, scenario) -> str:
        return "any"  # every node coordinates reads

    @classmethod
    def clients_coordinate(cls, scenario) -> bool:
        return scenario.quorum.coordinator == "client"

    @classmethod
    def copies_per_write(cls, scenario) -> float:
        # each of the N copies is a delivery and a version kept with its vector clock: about twice
        # a leader-follower apply's bytes (benchmarks/README.md, "Size guard and hostile inputs")
        return 2.0 * scenario.quorum.n

    @classmethod
    def replica_reads_per_read(cls, scenario) -> float:
        q = scenario.quorum
        return float(q.n if q.read_from == "all" else q.r)

    @classmethod
    def timer_events(cls, scenario, writes: float) -> tuple[float, str, str]:
        return AntiEntropy.timer_events(scenario, writes)

    @classmethod
    def summary(cls, results) -> dict:
        """Hints, repairs and how long writes took to reach all their replicas (0/NaN for other kinds)."""
        if results.scenario.replication.kind != cls.kind:
            return {"hinted_writes": 0, "hints_handed_off": 0, "hints_pending": 0, "handoff_mean_ms": math.nan,
                    "read_repairs": 0, "anti_entropy_repairs": 0, "everywhere_p50_ms": math.nan,
                    "everywhere_p99_ms": math.nan, "not_everywhere": 0}
        return convergence_figures(results)

    # the model's hooks -------------------------------------------------------------------------
    def attach(self) -> None:
        for node in self.nodes:
            node.role = "server"
        self.anti_entropy.begin()

    def publish(self, now: float, live: list) -> None:
        """Every live node takes reads and writes; hints go home to whoever is back."""
        self.model.balancer.refresh_leaders(self.nodes, live)
        self.handoff.offer(now)

    def node_crashed(self, now: float, node) -> None:
        """Operations it coordinates die with it: their clients time out."""
        for write_id, write in list(self._writes.items()):
            if write.coordinator is node:
                del self._writes[write_id]
                self.model.fail(now, write.op, NODE_DOWN)
        self.reads.coordinator_crashed(now, node)

    def node_recovered(self, now: float, node) -> None:
        node.requeue_backlog(now)  # then the controller publishes, which offers the hints held for it

    def network_healed(self, now: float) -> None:
        self.handoff.offer(now)

    def lag(self, now: float, node) -> tuple[float, int]:
        return self.divergence.lag(now, node)

    def divergent_keys(self) -> int:
        return self.divergence.keys_behind()

    def close(self, now: float) -> None:
        self.model.recorder.totals["hints_pending"] = sum(len(h) for n in self.nodes for h in n.hints.values())

    # choosing replicas ------------------------------------------------------------------------
    def homes(self, key: int, wanted: int) -> list[int]:
        """The key's home replicas to contact: all N, or `wanted` of them chosen at random."""
        homes = list(self.ring.replicas(key, self.n))
        if wanted >= len(homes):
            return homes
        for i in range(wanted):  # a partial Fisher-Yates shuffle
            j = i + int(self._pick() * (len(homes) - i))
            homes[i], homes[j] = homes[j], homes[i]
        return homes[:wanted]

    def available(self, homes: list[int]) -> int:
        """How many nodes the coordinator may count on, as the failure detector sees them."""
        down = self.model.controller.known_down
        if self.sloppy:
            return len(self.nodes) - len(down)
        return sum(1 for h in homes if h not in down)

    def reach(self, key: int, homes: list[int], send) -> int:
        """Call `send(node, home)` for each home replica, or (sloppy) for the next healthy node
        on the ring in place of one known down or unreachable; returns how many were reached."""
        down = self.model.controller.known_down
        spares = list(self.ring.walk(key)[self.n:])
        reached = 0
        for home in homes:
            node = self.nodes[home]
            if home not in down and send(node, node):
                reached += 1
                continue
            while self.sloppy and spares:
                spare = spares.pop(0)
                if spare not in down and send(self.nodes[spare], node):
                    reached += 1
                    break
        return reached

    def send(self, now: float, sender, receiver, delay_ms: float, handler, message) -> bool:
        """A message after `delay_ms` plus the network's path (none to itself); False: no path."""
        if sender is receiver:
            self.model.calendar.schedule(now + delay_ms, handler, message)
            return True
        return self.model.network.send(now + delay_ms, sender.host, receiver.host, handler, message)

    def answer(self, now: float, coordinator, op, outcome: int, version: int, reason: int = 0) -> None:
        """The coordinator has the outcome of `op`: a node's answer goes back through the
        balancer; a client has its answer where it is."""
        if is_client(coordinator):
            self.model.answer_at_client(now, op, outcome, version, reason)
        else:
            self.model.reply(now, coordinator, op, outcome, version, reason)

    # writes ---------------------------------------------------------------------------------
    def coordinate_at_client(self, now: float, op) -> None:
        """A session starts `op` and its client coordinates it, from the client's host."""
        op.arrived = now
        client = self.clients.get(op.session)
        if client is None:
            client = self.clients[op.session] = SessionClient(op.session, op.client_host)
        if op.is_write:
            self.write(now, client, op)
        else:
            self.reads.read(now, client, op)

    def coordinate(self, now: float, node, op) -> None:
        """A client operation reached `node`: it coordinates it (or forwards a write to a home replica)."""
        if not op.is_write:
            self.reads.read(now, node, op)
        elif not self.forward_writes:
            self.write(now, node, op)
        else:
            self.forward(now, node, op)

    def forward(self, now: float, node, op) -> None:
        """Send a write to the first live home replica of its key that can be reached; a node
        that is one coordinates, and so does one that reaches none (sloppy, or refusing)."""
        down = self.model.controller.known_down
        for home in self.ring.replicas(op.key, self.n):
            if home == node.index:
                break
            target = self.nodes[home]
            if home not in down and self.model.network.send(now, node.host, target.host, self.forwarded, (target, op)):
                return
        self.write(now, node, op)

    def forwarded(self, now: float, message) -> None:
        target, op = message
        if target.up:
            self.write(now, target, op)
        else:
            self.model.fail(now, op, NODE_DOWN)

    def write(self, now: float, node, op) -> None:
        """Timestamp and version the write, send it to the replicas, ack after W acks (`node`
        is the coordinator: a data node, or a SessionClient)."""
        key, model = op.key, self.model
        homes = self.homes(key, self.n if self.write_all else self.w)
        if self.available(homes) < self.w:
            self.answer(now, node, op, REFUSED, -1, TOO_FEW_REPLICAS)
            return
        self.write_ids += 1
        write_id = self.write_ids
        if is_client(node):
            vector = node.stamp(key)
        else:
            known = merge(node.context.get(key), node.seen.get(key)) or self._zero
            vector = known[:node.index] + (known[node.index] + 1,) + known[node.index + 1:]
            node.context[key] = vector
        version = Version(write_id, key, now, vector)
        self.issued.append(version)
        model.recorder.commit(write_id, op, node.index, 0, -1, now)
        write = self._writes[write_id] = Coordination(op, node, self.w)
        write.asked = self.reach(key, homes, lambda replica, home: self.send_version(
            now, node, replica, version, WRITE if replica is home else HINTED_WRITE, home))
        if write.asked < self.w:
            del self._writes[write_id]
            self.answer(now, node, op, REFUSED, -1, TOO_FEW_REPLICAS)

    def send_version(self, now: float, sender, receiver, version: Version, kind: int, home) -> bool:
        """Send one version to one node (a write, a hinted write, a repair or a hand-off)."""
        d = self.model.recorder.deliveries
        row = len(d.write_id)
        d.write_id.append(version.write_id)
        d.key.append(version.key)
        d.kind.append(kind)
        d.sender.append(sender.index)
        d.receiver.append(receiver.index)
        d.home.append(home.index)
        d.sent_ms.append(now)
        d.arrived_ms.append(NAN)
        d.applied_ms.append(NAN)
        d.new.append(0)
        d.acked_ms.append(NAN)
        self.sent_versions += 1
        delivery = Delivery(self.sent_versions, version, kind, sender, receiver, home, row, now)
        return self.send(now, sender, receiver, self.legs["write"](), self.arrive, delivery)

    def arrive(self, now: float, delivery: Delivery) -> None:
        node = delivery.receiver
        if not node.up:
            if delivery.kind == HANDOFF:
                self.handoff.dropped(delivery)
            return
        self.model.recorder.deliveries.arrived_ms[delivery.row] = now
        node.pending[delivery.number] = delivery
        node.arriving[delivery.write_id] = node.arriving.get(delivery.write_id, 0) + 1
        node.enqueue_apply(now, delivery, (delivery.sender.index, delivery.sent_ms))

    def take(self, now: float, node, delivery: Delivery, received_ms: float, origin) -> None:
        """A node has applied a version it received: keep it by the conflict policy, then ack."""
        d = self.model.recorder.deliveries
        d.applied_ms[delivery.row] = now
        version, kind = delivery.version, delivery.kind
        left = node.arriving.pop(version.write_id) - 1
        if left:
            node.arriving[version.write_id] = left
        if self.keep(now, node, version):
            d.new[delivery.row] = 1
            self.model.recorder.apply(version.write_id, node.index, now, received_ms, origin)
        if kind == HINTED_WRITE:
            node.hints.setdefault(delivery.home.index, {})[version.write_id] = version
            self.handoff.offer_to(now, node, delivery.home)
        if kind in (WRITE, HINTED_WRITE, HANDOFF):
            sent = self.send(now, node, delivery.sender, self.legs["ack"](), self.acked, delivery)
            if not sent and kind == HANDOFF:
                self.handoff.dropped(delivery)

    def keep(self, now: float, node, version: Version) -> bool:
        """Take `version` into `node`'s store; True when it is now (one of) the version(s) held."""
        key = version.key
        seen = node.seen.get(key)
        if seen is not None and covers(seen, version.vector):
            return False  # had it, or a version that has seen it
        node.seen[key] = merge(seen, version.vector)
        kept, conflicts, lost = keep(node.versions.get(key, ()), version, self.siblings)
        node.versions[key] = kept
        node.store[key] = max(v.write_id for v in kept)
        recorder = self.model.recorder
        for existing, resolution in conflicts:
            recorder.conflict(now, node.index, key, version.write_id, existing.write_id, resolution)
        for loser in lost:
            recorder.lose_update(loser.write_id, now)
        self.divergence.stored(now, node, key)
        return version in kept

    def acked(self, now: float, delivery: Delivery) -> None:
        """A replica's ack reached the coordinator (or a hand-off's reached its fallback)."""
        if delivery.kind == HANDOFF:
            self.handoff.acked(now, delivery)
            return
        coordinator = delivery.sender
        if not coordinator.up:
            return
        self.model.recorder.deliveries.acked_ms[delivery.row] = now
        write = self._writes.get(delivery.write_id)
        if write is None or write.incarnation != coordinator.incarnation:
            return
        write.acks += 1
        if write.acks == write.needed:
            del self._writes[delivery.write_id]
            self.answer(now, coordinator, write.op, SERVED, delivery.write_id)


    def replica_read_done(self, now: float, node, job) -> None:
        self.reads.replica_read_done(now, node, job)


__all__ = ["DELIVERIES", "DELIVERY_KINDS", "RESPONSES", "TOO_FEW_REPLICAS", "Leaderless"]
