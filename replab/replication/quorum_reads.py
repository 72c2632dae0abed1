"""Quorum reads of leaderless replication, and read repair.

The coordinator (a node, or the client itself: replab.replication.client_coordination) asks
the key's replicas (all N, or R of them chosen at random; in a sloppy quorum a fallback
stands in for a home replica it cannot reach); each replica reads its store on a worker and
answers with the versions it holds. After the first R responses the coordinator answers the
client with the newest of them (last-writer-wins: the latest
timestamp; siblings: every version none of the others has seen, the largest write id in the
version column). It goes on listening: with read repair, every responder that lacks a
version the coordinator has seen (answering before or after the client was answered) is sent
that version. Every answer is a row of the `responses` table.
"""

from __future__ import annotations

from replab.agents.replica import ReplicaRead
from replab.core.codes import REFUSED, SERVED
from replab.core.recorder import NODE, Column, Table
from replab.replication.versions import READ_REPAIR, lacks, maximal, merge, newest

NAN = float("nan")

RESPONSES = Table("responses", (
    Column("request_id", "q", "the client read"),
    Column("replica", "h", "the node asked (a home replica, or a fallback in a sloppy quorum)", NODE),
    Column("asked_ms", "d", "when the coordinator sent the request"),
    Column("read_ms", "d", "when the replica read its store (NaN: never)"),
    Column("version", "q", "the newest version it held then (0: none; -1: it never read)"),
    Column("arrived_ms", "d", "when its response reached the coordinator (NaN: never)"),
    Column("counted", "b", "1: among the first R responses, which the client's answer was made of"),
), "leaderless: one row per (client read, node asked)")


class Coordination:
    """What a coordinator keeps of one client operation while replicas answer."""

    __slots__ = ("op", "coordinator", "incarnation", "needed", "acks", "asked", "responses", "answered", "merged",
                 "repaired", "checked")

    def __init__(self, op, coordinator, needed: int):
        self.op = op
        self.coordinator = coordinator
        self.incarnation = coordinator.incarnation
        self.needed = needed  # W acks, or R responses
        self.acks = 0
        self.asked = 0
        self.responses: list[tuple] = []  # (replica, versions it held, its responses row)
        self.answered = False
        self.merged: tuple = ()  # the newest versions among the responses so far
        self.repaired: set[tuple[int, int]] = set()  # (replica, write_id) read-repaired
        self.checked = 0  # responses read repair has checked against `merged` as it is


class QuorumReads:
    """The reads a strategy's coordinators are hearing replicas answer."""

    def __init__(self, strategy, too_few_replicas: int):
        self.strategy = strategy
        self.model = strategy.model
        self.too_few_replicas = too_few_replicas
        self.pending: dict[int, Coordination] = {}  # request id -> a read still hearing from replicas

    def read(self, now: float, node, op) -> None:
        """Ask the replicas; answer with the newest of the first R responses."""
        strategy = self.strategy
        homes = strategy.homes(op.key, strategy.n if strategy.ask_all else strategy.r)
        if strategy.available(homes) < strategy.r:
            strategy.answer(now, node, op, REFUSED, -1, self.too_few_replicas)
            return
        read = self.pending[op.id] = Coordination(op, node, strategy.r)
        read.asked = strategy.reach(op.key, homes, lambda replica, home: self.ask(now, node, replica, read))
        if read.asked < strategy.r:
            del self.pending[op.id]
            strategy.answer(now, node, op, REFUSED, -1, self.too_few_replicas)

    def ask(self, now: float, coordinator, replica, read: Coordination) -> bool:
        r = self.model.recorder.responses
        row = len(r.request_id)
        r.request_id.append(read.op.id)
        r.replica.append(replica.index)
        r.asked_ms.append(now)
        r.read_ms.append(NAN)
        r.version.append(-1)
        r.arrived_ms.append(NAN)
        r.counted.append(0)
        delay = self.strategy.legs["read"]()
        return self.strategy.send(now, coordinator, replica, delay, replica.read_for, ReplicaRead(read, row))

    def replica_read_done(self, now: float, node, job: ReplicaRead) -> None:
        """A replica has read its store for a coordinator: the answer goes back."""
        read = job.coordination
        held = node.versions.get(read.op.key, ())
        r = self.model.recorder.responses
        r.read_ms[job.row] = now
        r.version[job.row] = node.store.get(read.op.key, 0)
        self.strategy.send(now, node, read.coordinator, self.strategy.legs["response"](), self.responded, (job, node, held))

    def responded(self, now: float, message) -> None:
        job, replica, held = message
        read = job.coordination
        coordinator = read.coordinator
        if not coordinator.up or coordinator.incarnation != read.incarnation or read.op.id not in self.pending:
            return
        r = self.model.recorder.responses
        r.arrived_ms[job.row] = now
        read.responses.append((replica, held, job.row))
        before = read.merged
        every = before + held
        read.merged = maximal(every) if self.strategy.siblings else ((newest(every),) if every else ())
        if read.merged != before:
            read.checked = 0  # an earlier responder may lack what is new
        if not read.answered and len(read.responses) >= read.needed:
            read.answered = True
            for _, _, row in read.responses:
                r.counted[row] = 1
            key = read.op.key
            for version in read.merged:
                coordinator.context[key] = merge(coordinator.context.get(key), version.vector)
            answer = max((v.write_id for v in read.merged), default=0)
            self.strategy.answer(now, coordinator, read.op, SERVED, answer)
        if read.answered and self.strategy.read_repair:
            self.repair(now, read)
        if len(read.responses) == read.asked:
            del self.pending[read.op.id]

    def repair(self, now: float, read: Coordination) -> None:
        """Read repair: every responder that lacks a version the coordinator saw gets it (those
        checked already against the same versions need no second look)."""
        for replica, held, _row in read.responses[read.checked:]:
            for version in read.merged:
                mark = (replica.index, version.write_id)
                if mark not in read.repaired and lacks(held, version):
                    read.repaired.add(mark)
                    self.strategy.send_version(now, read.coordinator, replica, version, READ_REPAIR, replica)
        read.checked = len(read.responses)

    def coordinator_crashed(self, now: float, node) -> None:
        """Reads it coordinates die with it: the unanswered ones' clients time out."""
        for request_id, read in list(self.pending.items()):
            if read.coordinator is node:
                del self.pending[request_id]
                self.model.fail(now, read.op, self.strategy.node_down)  # nothing if it was answered already
