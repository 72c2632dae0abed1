"""A data node of a leaderless system: a replica of some keys and a coordinator for any.

A client operation that reaches it is *coordinated*: sent on to the key's replicas, with no
worker of its own spent (forwarding is cheap; the replicas do the work). As a replica it
reads its store for a coordinator's read request on a worker (`service.read`) and takes a
version sent to it (a write, a repair, a hinted write or a hand-off) through its apply queue
(`service.apply`). Versions it has received but not yet applied are durable: they survive a
crash and are applied after the restart. What a version does to the store (supersede,
ignore, keep as a sibling) is the protocol's: `replab.replication.leaderless`.
"""

from __future__ import annotations

from replab.agents.node import UNKNOWN_ORIGIN, DataNode
from replab.core.codes import NODE_DOWN


class ReplicaRead:
    """A coordinator's request to read one key here, waiting for (or on) a worker."""

    __slots__ = ("coordination", "row", "is_write", "incarnation")

    def __init__(self, coordination, row: int):
        self.coordination = coordination  # the coordinator's record of the client read
        self.row = row  # its row in the responses table
        self.is_write = False
        self.incarnation = -1


class ReplicaNode(DataNode):
    """A replica and coordinator in leaderless replication."""

    def __init__(self, model, *args):
        super().__init__(model, *args)
        self.versions: dict[int, tuple] = {}  # key -> versions held (one; or concurrent siblings)
        self.seen: dict[int, tuple] = {}  # key -> vector clock of every version this replica has taken
        self.context: dict[int, tuple] = {}  # key -> what it knows as a coordinator (its writes, read replies)
        self.pending: dict[int, object] = {}  # delivery number -> version received, not yet applied
        self.arriving: dict[int, int] = {}  # write_id -> its deliveries received, not yet applied
        self.hints: dict[int, dict[int, object]] = {}  # home node -> {write_id: version} kept for it

    def on_request(self, now: float, op) -> None:
        """A client operation arrives from the load balancer: coordinate it."""
        if not self.up:
            self.model.fail(now, op, NODE_DOWN)
            return
        op.arrived = now
        self.model.replication.coordinate(now, self, op)

    def read_for(self, now: float, job: ReplicaRead) -> None:
        """A coordinator's read request arrives: it waits for a worker like any read."""
        if not self.up:
            return  # lost with the node: its coordinator never hears back
        if self.busy < self.workers:
            self._set_busy(now, self.busy + 1)
            self._serve(now, job)
        else:
            self.client_queue.append((now, job))

    def _read_done(self, now: float, job: ReplicaRead) -> None:
        if job.incarnation != self.incarnation:
            return  # crashed meanwhile (the crash freed the worker)
        self.model.replication.replica_read_done(now, self, job)
        self._next_job(now)

    def _lose(self, now: float, job, reason: int) -> None:
        """A queued read request dies with the node: its coordinator simply never hears back."""

    def _apply_done(self, now: float, job) -> None:
        delivery, incarnation, received_ms, origin = job
        if incarnation != self.incarnation:
            return  # crashed meanwhile: still pending, applied after the restart
        self.applying -= 1
        self.pending.pop(delivery.number, None)
        self.model.replication.take(now, self, delivery, received_ms, origin)
        self._next_job(now)

    def requeue_backlog(self, now: float, log=None) -> None:
        """Queue again what was received but not applied before a crash, in arrival order."""
        for delivery in list(self.pending.values()):
            self.enqueue_apply(now, delivery, UNKNOWN_ORIGIN)
