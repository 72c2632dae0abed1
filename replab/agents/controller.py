"""The failure detector and publisher: who is alive, as the rest of the system believes.

A node's death is noticed `failover.detection_ms` after it happens (if it is still down
then): a perfect detector, never fooled. What a detected death means is the replication
strategy's business (read-only mode and a promotion for leader-follower, moving sessions for
buddy replication, ...); the controller tells the strategy, then publishes the new view to
it (`Strategy.publish`), which passes it on to the load balancer and redraws who replicates
from whom. A returning node announces itself at once. The controller also keeps read-only
mode (writes refused for want of a leader), which strategies enter and leave.
"""

from __future__ import annotations

import mesa


class FailoverController(mesa.Agent):
    """Watches the data nodes and keeps everyone's view of them current."""

    def __init__(self, model: mesa.Model, detection_ms: float):
        super().__init__(model)
        self.name = "controller"
        self.detection_ms = detection_ms
        self.known_down: set[int] = set()
        self.read_only = False
        self.read_only_since: float | None = None

    @property
    def live_nodes(self) -> list:
        return [n for n in self.model.nodes if n.index not in self.known_down]

    def publish(self, now: float) -> None:
        self.model.replication.publish(now, self.live_nodes)

    # what the fault injector tells it -----------------------------------------------------
    def node_crashed(self, now: float, node) -> None:
        self.model.replication.node_crashed(now, node)
        self.model.calendar.schedule(now + self.detection_ms, self._detect, (node, node.incarnation))

    def _detect(self, now: float, job) -> None:
        node, incarnation = job
        if node.up or node.incarnation != incarnation or node.index in self.known_down:
            return
        self.known_down.add(node.index)
        self.model.recorder.event(now, "detect", node.name, f"down for {self.detection_ms:g} ms")
        self.model.replication.node_detected_dead(now, node)
        self.publish(now)

    def node_recovered(self, now: float, node) -> None:
        self.known_down.discard(node.index)
        self.model.replication.node_recovered(now, node)
        self.publish(now)

    # read-only mode ---------------------------------------------------------------------------
    def enter_read_only(self, now: float) -> None:
        if not self.read_only:
            self.read_only, self.read_only_since = True, now
            self.model.recorder.event(now, "read-only", "balancer", "writes refused")

    def leave_read_only(self, now: float) -> None:
        if self.read_only:
            self.read_only, self.read_only_since = False, None
            self.model.recorder.event(now, "writable", "balancer", "writes accepted")
