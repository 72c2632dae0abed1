"""A data node of a leader-leader system: its versions carry version vectors.

Besides the store every data node has (key -> the version a read returns), a peer node
keeps, per key, the versions it holds (one, or several concurrent siblings under
keep-both) and the version vector of everything it has seen of the key, and, per leader,
how many of that leader's writes it has received. What is decided on applying (supersede,
ignore, conflict) is the protocol's: `replab.replication.leader_leader`.
"""

from __future__ import annotations

from replab.agents.node import UNKNOWN_ORIGIN, DataNode


class PeerNode(DataNode):
    """A leader (or a follower of every leader) in leader-leader replication."""

    def __init__(self, model, *args):
        super().__init__(model, *args)
        self.received_from = [0] * model.scenario.topology.leaders  # leader index -> entries of its log received here
        self.vectors: dict[int, tuple] = {}  # key -> version vector of all that was seen of the key
        self.versions: dict[int, tuple] = {}  # key -> entries kept (siblings sorted by write id)
        self.pending: dict[int, object] = {}  # write_id -> entry received, not yet applied (survives a crash)
        self.last_apply_ms = 0.0

    def _apply_done(self, now: float, job) -> None:
        entry, incarnation, received_ms, origin = job
        if incarnation != self.incarnation:
            return  # crashed meanwhile: the entry is still pending and is applied after the restart
        self.applying -= 1
        self.pending.pop(entry.write_id, None)
        self.last_apply_ms = now
        replication = self.model.replication
        replication.resolve(now, self, entry)
        self.model.recorder.apply(entry.write_id, self.index, now, received_ms, origin)
        replication.on_applied(now, self, entry)
        self._next_job(now)

    def requeue_backlog(self, now: float, log=None) -> None:
        """Queue the received but not yet applied entries again, in the order they arrived
        (when they were received is not kept across a crash: recorded as unknown)."""
        for entry in list(self.pending.values()):
            self.enqueue_apply(now, entry, UNKNOWN_ORIGIN)
