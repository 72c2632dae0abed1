"""The DB load balancer: sends writes to the leader and reads to the read pool.

It proxies replies too, which is how least-outstanding knows when an operation is done.
In read-only mode (no leader known to be alive) it refuses writes at once.

With several leaders (leader-leader) writes go to a live leader chosen by the policy, or,
with write routing by session (or the key-hash policy), to the session's (the key's) own
leader: number s mod leaders, or the next live one after it while that one is down.

The sticky policy pins each session to a node (cookie-style): the first pick is
round-robin, and the session stays there while the node is in the pool. Reads and writes
keep separate pins, since their pools differ.
"""

from __future__ import annotations

from heapq import heappop, heappush

import mesa

from replab.core.codes import NETWORK, NO_REPLICA, READ_ONLY


class LoadBalancer(mesa.Agent):
    """Routes client operations to data nodes by policy."""

    def __init__(self, model: mesa.Model, host: int, policy: str, reads: str, pick, write_routing: str = "balancer"):
        super().__init__(model)
        self.name = "balancer"
        self.host = host
        self.policy = policy
        # the policy as flags, asked on every operation
        self.round_robin = policy == "round-robin"
        self.counts_outstanding = policy == "least-outstanding"  # operation_ended does anything
        self._send = model.network.send
        self.reads = reads
        self.write_routing = write_routing
        # leader-leader: each write goes to its session's (its key's) own leader
        self._writes_home = write_routing == "session" or policy == "key-hash"
        self._pick_uniform = pick  # draws from [0, 1)
        self.leader = None
        self.read_only = False
        self.read_pool: list = []
        self.write_pool: list | None = None  # the live leaders, with several leaders; None with one
        self._home: list = []  # leader-leader: slot s -> leader s if live, else the next live one
        self._next = 0
        self._next_write = 0
        self._outstanding: dict[int, int] = {}
        self._done_at: dict[int, list[float]] = {}  # node -> heap of times its replies pass here
        self.pins: tuple[dict, dict] = ({}, {})  # sticky: session -> node, for reads and for writes

    def refresh(self, leader, live_nodes: list, read_only: bool) -> None:
        """Take the controller's view: who leads, which nodes are alive, whether writes are refused."""
        self.leader = leader
        self.read_only = read_only
        leader_alive = leader is not None and leader in live_nodes
        if self.reads == "leader":
            self.read_pool = [leader] if leader_alive else []
        elif self.reads == "followers":
            self.read_pool = [n for n in live_nodes if n is not leader]
        else:
            self.read_pool = list(live_nodes)
        self._next = 0

    def refresh_leaders(self, leaders: list, live_nodes: list) -> None:
        """Leader-leader: every leader in `leaders` takes writes; those in `live_nodes` get them."""
        live_leaders = [n for n in leaders if n in live_nodes]
        self.write_pool = live_leaders
        self.read_only = not live_leaders
        self._home = [next((leaders[(s + i) % len(leaders)] for i in range(len(leaders))
                            if leaders[(s + i) % len(leaders)] in live_nodes), None) for s in range(len(leaders))]
        if self.reads == "leader":
            self.read_pool = live_leaders
        elif self.reads == "followers":
            self.read_pool = [n for n in live_nodes if n not in leaders]
        else:
            self.read_pool = list(live_nodes)
        self._next = self._next_write = 0

    def pin_sessions(self, nodes: dict) -> None:
        """Pin each session, reads and writes alike, to a node (buddy replication: where its state lives)."""
        pins = dict(nodes)
        self.pins = (pins, pins)

    def pin(self, session: int, node) -> None:
        """Move a session's pins to `node` (its state moved there)."""
        for pins in self.pins:
            pins[session] = node

    def on_request(self, now: float, op) -> None:
        if op.is_write:
            target = self.leader if self.write_pool is None else self._write_leader(now, op)
            if self.read_only or target is None:
                self.model.refuse(now, op, READ_ONLY)
                return
        else:
            pool = self.read_pool
            if not pool:
                self.model.refuse(now, op, NO_REPLICA)
                return
            if self.round_robin:  # _choose's round-robin, inlined: the default policy, every read
                self._next = turn = (self._next + 1) % len(pool)
                target = pool[turn]
            else:
                target = self._choose(now, pool, op)
        op.node = index = target.index
        if self.counts_outstanding:
            self._outstanding[index] = self._outstanding.get(index, 0) + 1
        if not self._send(now, self.host, target.host, target.on_request, op):
            self.model.fail(now, op, NETWORK)

    def _write_leader(self, now: float, op):
        """Leader-leader: the live leader this write goes to (None when every leader is down)."""
        if self._writes_home:
            home = self._home
            return home[(op.session if self.write_routing == "session" else op.key) % len(home)]
        pool = self.write_pool
        if not pool:
            return None
        if self.round_robin:
            self._next_write = (self._next_write + 1) % len(pool)  # its own turn, apart from the reads'
            return pool[self._next_write]
        return self._choose(now, pool, op)

    def _choose(self, now: float, pool: list, op):
        if self.policy == "sticky":
            pins = self.pins[op.is_write]
            node = pins.get(op.session)
            if node is None or node not in pool:
                self._next = (self._next + 1) % len(pool)
                node = pins[op.session] = pool[self._next]
            return node
        if self.policy == "round-robin":
            self._next = (self._next + 1) % len(pool)
            return pool[self._next]
        if self.policy == "random":
            return pool[int(self._pick_uniform() * len(pool))]
        if self.policy == "key-hash":
            return pool[op.key % len(pool)]
        # least-outstanding: settle the replies that have passed by now, then take the
        # least loaded node, scanning from a rotating start so ties are shared.
        best, best_count = None, None
        start = self._next = (self._next + 1) % len(pool)
        for i in range(len(pool)):
            node = pool[(start + i) % len(pool)]
            count = self._settle(now, node.index)
            if best_count is None or count < best_count:
                best, best_count = node, count
        return best

    def _settle(self, now: float, node: int) -> int:
        heap = self._done_at.get(node)
        count = self._outstanding.get(node, 0)
        while heap and heap[0] <= now:
            heappop(heap)
            count -= 1
        self._outstanding[node] = count
        return count

    def operation_ended(self, node: int, at_ms: float) -> None:
        """An operation routed to `node` stops counting as outstanding at `at_ms`."""
        if self.counts_outstanding and node >= 0:
            heappush(self._done_at.setdefault(node, []), at_ms)
