"""The failover controller: detects dead nodes, runs read-only mode and promotes a follower.

A node's death is noticed `detection_ms` after it happens (if it is still down then). A
dead leader puts the system in read-only mode: the load balancer refuses writes. After
`promotion_ms` the most up-to-date live follower (most entries received; ties to the
lowest index) becomes leader, the others follow it, and writes flow again. With promotion
disabled the system stays read-only until the old leader returns. A returning node
announces itself at once; an old leader that was replaced rejoins as a follower.
"""

from __future__ import annotations

import mesa


class FailoverController(mesa.Agent):
    """Watches the data nodes and keeps the load balancer's view of them current."""

    def __init__(self, model: mesa.Model, detection_ms: float, promotion_ms: float, promote: bool):
        super().__init__(model)
        self.name = "controller"
        self.detection_ms = detection_ms
        self.promotion_ms = promotion_ms
        self.promote_enabled = promote
        self.known_down: set[int] = set()
        self.read_only = False
        self.read_only_since: float | None = None
        self._promotion_round = 0  # a pending promotion is void once this moves on
        self._awaiting_candidate = False

    @property
    def live_nodes(self) -> list:
        return [n for n in self.model.nodes if n.index not in self.known_down]

    def publish(self, now: float) -> None:
        """Tell the balancer who leads and who is alive; redraw who replicates from whom
        and let every node with a new upstream catch up from it."""
        model = self.model
        live = self.live_nodes
        model.balancer.refresh(model.leader, live, self.read_only)
        for node in model.tree.arrange(model.leader, live):
            if node.up and model.leader.up:
                model.replication.resync(now, model.tree.upstream[node.index], node)

    # what the fault injector tells it -----------------------------------------------------
    def node_crashed(self, now: float, node) -> None:
        self.model.calendar.schedule(now + self.detection_ms, self._detect, (node, node.incarnation))

    def _detect(self, now: float, job) -> None:
        node, incarnation = job
        if node.up or node.incarnation != incarnation or node.index in self.known_down:
            return
        self.known_down.add(node.index)
        self.model.recorder.event(now, "detect", node.name, f"down for {self.detection_ms:g} ms")
        self._detected(now, node)
        self.publish(now)

    def _detected(self, now: float, node) -> None:
        """A node is known to be dead: a dead leader means read-only mode until a promotion."""
        model = self.model
        if node is model.leader:
            self._enter_read_only(now)
            if self.promote_enabled:
                self._promotion_round += 1
                model.calendar.schedule(now + self.promotion_ms, self._promote, self._promotion_round)
        else:
            model.replication.forget_follower(now, node)

    def node_recovered(self, now: float, node) -> None:
        model = self.model
        self.known_down.discard(node.index)
        leader = model.leader
        if node is leader:
            # The leader is back before anyone replaced it: cancel any pending promotion.
            self._promotion_round += 1
            self._awaiting_candidate = False
            if self.read_only:
                self._leave_read_only(now)
            # what had not left its send queue when it crashed must be sent again
            for follower in model.tree.children(node):
                if follower.up:
                    model.replication.resync(now, node, follower)
        else:
            model.replication.catch_up(node)
            node.requeue_backlog(now, model.replication.log)
            if self._awaiting_candidate:
                self._promote(now, self._promotion_round)
        self.publish(now)

    # read-only mode and promotion -------------------------------------------------------------
    def _enter_read_only(self, now: float) -> None:
        if not self.read_only:
            self.read_only, self.read_only_since = True, now
            self.model.recorder.event(now, "read-only", "balancer", "writes refused")

    def _leave_read_only(self, now: float) -> None:
        if self.read_only:
            self.read_only, self.read_only_since = False, None
            self.model.recorder.event(now, "writable", "balancer", "writes accepted")

    def _promote(self, now: float, promotion_round: int) -> None:
        if promotion_round != self._promotion_round:
            return
        model = self.model
        old = model.leader
        candidates = [n for n in model.nodes if n is not old and n.up and n.index not in self.known_down]
        if not candidates:
            self._awaiting_candidate = True
            return
        self._awaiting_candidate = False
        new = max(candidates, key=lambda n: (n.received, -n.index))
        model.term += 1
        lost = model.replication.promote(now, new, old)
        old.role, new.role = "follower", "leader"
        model.leader = new
        new.term = new.synced_term = model.term
        model.recorder.event(now, "promote", new.name, f"term {model.term}; {lost} log entries lost")
        for node in candidates:
            if node is not new:
                model.replication.catch_up(node)
        self._leave_read_only(now)
        self.publish(now)


class BuddyController(FailoverController):
    """Buddy replication: a detected death moves the node's sessions to its buddies.

    Nobody is promoted: every live node serves its own sessions. Requests fail only while
    the session's node is dead and not yet detected (or every node is down).
    """

    def publish(self, now: float) -> None:
        model = self.model
        live = self.live_nodes
        model.replication.set_live(now, live)
        model.balancer.refresh_leaders(model.nodes, live)

    def node_crashed(self, now: float, node) -> None:
        self.model.replication.node_crashed(now, node)
        super().node_crashed(now, node)

    def _detected(self, now: float, node) -> None:
        self.model.replication.forget_node(now, node)
        if not self.live_nodes:
            self._enter_read_only(now)

    def node_recovered(self, now: float, node) -> None:
        self.known_down.discard(node.index)
        self.model.replication.rejoin(now, node, self.live_nodes)
        self._leave_read_only(now)
        self.publish(now)


class PeerController(FailoverController):
    """Leader-leader: detects dead nodes and takes them out of the balancer; nobody is promoted.

    The other leaders keep taking reads and writes; writes are refused (read-only) only while
    every leader is known to be down. A returning node catches up from every live leader and
    ships the writes it committed that its peers lack.
    """

    def publish(self, now: float) -> None:
        model = self.model
        live = self.live_nodes
        model.replication.set_live(live)
        model.balancer.refresh_leaders(model.replication.leaders, live)

    def node_crashed(self, now: float, node) -> None:
        self.model.replication.node_crashed(now, node)
        super().node_crashed(now, node)

    def _detected(self, now: float, node) -> None:
        model = self.model
        model.replication.forget_node(now, node)
        if all(leader.index in self.known_down for leader in model.replication.leaders):
            self._enter_read_only(now)

    def node_recovered(self, now: float, node) -> None:
        model = self.model
        self.known_down.discard(node.index)
        model.replication.rejoin(now, node)
        if node.role == "leader":
            self._leave_read_only(now)
        self.publish(now)
