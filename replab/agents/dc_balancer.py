"""The DB load balancer of one data centre, and the set of them that the controller updates.

Each DC's balancer keeps reads in its own DC when it can: its read pool is the live nodes
of the whole system that the read policy allows, narrowed to those in its DC when there is
one (a DC without such a node forwards reads over the WAN). Writes go to the leader wherever
it is (leader-dc placement) or, with a leader per DC, to the DC's own leader while it is
known to be alive, else to a live leader elsewhere (session s to the s-th of them).
"""

from __future__ import annotations

from replab.agents.balancer import LoadBalancer


class DCBalancer(LoadBalancer):
    """A LoadBalancer that prefers the nodes of its own data centre."""

    def __init__(self, model, host: int, dc: int, policy: str, reads: str, pick, write_routing: str = "balancer"):
        super().__init__(model, host, policy, reads, pick, write_routing)
        self.dc = dc
        self.name = f"balancer{dc}"

    def _local(self, nodes: list) -> list:
        here = [n for n in nodes if n.dc == self.dc]
        return here or nodes

    def refresh(self, leader, live_nodes: list, read_only: bool) -> None:
        super().refresh(leader, live_nodes, read_only)
        self.read_pool = self._local(self.read_pool)

    def refresh_leaders(self, leaders: list, live_nodes: list) -> None:
        super().refresh_leaders(leaders, live_nodes)
        self.write_pool = self._local(self.write_pool)
        self.read_pool = self._local(self.read_pool)

    def _write_leader(self, now: float, op):
        pool = self.write_pool
        return pool[op.session % len(pool)] if pool else None


class DCBalancers:
    """Every DC's balancer, seen by the failover controller as one balancer to refresh."""

    def __init__(self, balancers: list[DCBalancer]):
        self.by_dc = balancers

    def refresh(self, leader, live_nodes: list, read_only: bool) -> None:
        for balancer in self.by_dc:
            balancer.refresh(leader, live_nodes, read_only)

    def refresh_leaders(self, leaders: list, live_nodes: list) -> None:
        for balancer in self.by_dc:
            balancer.refresh_leaders(leaders, live_nodes)

    def pin_sessions(self, nodes: dict) -> None:
        for balancer in self.by_dc:
            balancer.pin_sessions(nodes)

    def pin(self, session: int, node) -> None:
        for balancer in self.by_dc:
            balancer.pin(session, node)

    @property
    def read_only(self) -> bool:
        return self.by_dc[0].read_only
