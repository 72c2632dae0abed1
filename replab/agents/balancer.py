"""The DB load balancer: sends writes to the leader and reads to the read pool.

It proxies replies too, which is how least-outstanding knows when an operation is done.
In read-only mode (no leader known to be alive) it refuses writes at once.
"""

from __future__ import annotations

from heapq import heappop, heappush

import mesa

from replab.recorder import NETWORK, NO_REPLICA, READ_ONLY


class LoadBalancer(mesa.Agent):
    """Routes client operations to data nodes by policy."""

    def __init__(self, model: mesa.Model, host: int, policy: str, reads: str, pick):
        super().__init__(model)
        self.name = "balancer"
        self.host = host
        self.policy = policy
        self.reads = reads
        self._pick_uniform = pick  # draws from [0, 1)
        self.leader = None
        self.read_only = False
        self.read_pool: list = []
        self._next = 0
        self._outstanding: dict[int, int] = {}
        self._done_at: dict[int, list[float]] = {}  # node -> heap of times its replies pass here

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

    def on_request(self, now: float, op) -> None:
        model = self.model
        if op.is_write:
            target = self.leader
            if self.read_only or target is None:
                model.refuse(now, op, READ_ONLY)
                return
        else:
            pool = self.read_pool
            if not pool:
                model.refuse(now, op, NO_REPLICA)
                return
            target = self._choose(now, pool)
        op.node = target.index
        if self.policy == "least-outstanding":
            self._outstanding[target.index] = self._outstanding.get(target.index, 0) + 1
        if not model.network.send(now, self.host, target.host, target.on_request, op):
            model.fail(now, op, NETWORK)

    def _choose(self, now: float, pool: list):
        if self.policy == "round-robin":
            self._next = (self._next + 1) % len(pool)
            return pool[self._next]
        if self.policy == "random":
            return pool[int(self._pick_uniform() * len(pool))]
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
        if self.policy == "least-outstanding" and node >= 0:
            heappush(self._done_at.setdefault(node, []), at_ms)
