"""What every failover policy answers to: the hooks the term engine (replab.replication.terms)
calls as nodes lead, step down, restart and tick. A policy that watches from outside the
data nodes (a controller, sentinels) has nothing to do on most of them; these defaults say so
once. Consensus (replab.replication.election) runs inside the nodes and overrides them all."""

from __future__ import annotations


class Policy:
    """A failover policy's hooks, doing nothing by default (times in simulated ms)."""

    @classmethod
    def work_per_heartbeat(cls, nodes: int) -> float:
        """The calendar's work at each failover.heartbeat_ms, the term engine's own ticks
        included, in events of the default workload's cost: for estimating a run's size
        (replab.config.limits). One observer pinging every node, or the nodes watching
        themselves, grows with the nodes: measured 8-17 events' worth per node (naive, manual
        and consensus, 3 and 9 nodes, two passes: benchmarks/size_estimate.py)."""
        return 30.0 * nodes

    def __init__(self, strategy):
        self.strategy = strategy
        self.model = strategy.model
        self.failover = strategy.model.scenario.failover  # the failover.* settings

    def attach(self) -> None:
        """The model is built: start watching."""

    def began_leading(self, now: float, node) -> None:
        pass

    def stepped_down(self, now: float, node) -> None:
        pass

    def node_restarted(self, now: float, node) -> None:
        self.strategy.restarted_after_stonith(now, node)

    def follower_tick(self, now: float, node) -> None:
        pass

    def leader_tick(self, now: float, node) -> None:
        pass

    def lease_expired(self, now: float, node) -> bool:
        return False

    def heard_follower(self, now: float, leader) -> None:
        pass
