"""Several application servers in one data centre, each with its clients and its own DB load balancer.

Session s sends through app server s mod n (app0 is the one balancer and clients host a
single-server model has). Each balancer routes by itself; whoever keeps the view of the
leader current (the perfect controller, or the realistic policies' announcements) tells
each of them. A partition can put app servers on different sides, so clients on both
sides keep writing: that is how two leaders come to take writes at once.
"""

from __future__ import annotations


class AppServers:
    """Every app server's balancer, seen by the perfect controller and the strategies as one."""

    def __init__(self, balancers: list, client_hosts: list[int]):
        self.by_app = balancers
        self.client_hosts = client_hosts

    def route(self, session: int) -> tuple:
        """(balancer, client host) of the app server a session uses."""
        app = session % len(self.by_app)
        return self.by_app[app], self.client_hosts[app]

    @property
    def host(self) -> int:
        return self.by_app[0].host

    def refresh(self, leader, live_nodes: list, read_only: bool) -> None:
        for balancer in self.by_app:
            balancer.refresh(leader, live_nodes, read_only)

    def refresh_leaders(self, leaders: list, live_nodes: list) -> None:
        for balancer in self.by_app:
            balancer.refresh_leaders(leaders, live_nodes)

    def pin_sessions(self, nodes: dict) -> None:
        for balancer in self.by_app:
            balancer.pin_sessions(nodes)

    def pin(self, session: int, node) -> None:
        for balancer in self.by_app:
            balancer.pin(session, node)

    @property
    def read_only(self) -> bool:
        return self.by_app[0].read_only
