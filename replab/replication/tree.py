"""Who replicates from whom: a star (every follower from the leader) or a tree of relays.

With fan-out f, the live nodes after the leader are placed breadth first: the leader
feeds the first f, each of those feeds the next f, and so on, so a chain is a tree of
fan-out 1. Placement is stable: nodes keep their order across redraws and a node that
returns joins at the end, so healthy replicas are not moved about. A relay forwards an entry to its own followers once it has applied it
(as a replica with its own binary log does), through its own outbound link. Nodes known
to be down are left out; when one dies or returns, the tree is drawn again and every node
whose upstream changed is caught up by its new upstream.
"""

from __future__ import annotations


class ReplicaTree:
    """The current replication topology over the live data nodes."""

    def __init__(self, fanout: int):
        self.fanout = fanout  # 0: no limit (a star)
        self.upstream: dict[int, object] = {}  # node index -> the node it replicates from
        self.downstream: dict[int, list] = {}  # node index -> the nodes it ships to
        self.depth: dict[int, int] = {}  # node index -> hops from the leader (leader 0)
        self._order: list = []  # placement order of the nodes, kept across redraws

    def arrange(self, leader, live_nodes: list) -> list:
        """Draw the tree again; returns the nodes whose upstream changed."""
        before = dict(self.upstream)
        self.upstream, self.downstream, self.depth = {}, {}, {}
        if leader is None or leader not in live_nodes:
            return []
        placed = [n for n in self._order if n in live_nodes and n is not leader]
        order = [leader] + placed + [n for n in live_nodes if n is not leader and n not in placed]
        self._order = order
        self.depth[leader.index] = 0
        for node in order:
            self.downstream[node.index] = []
        for position, node in enumerate(order[1:], start=1):
            parent = leader if self.fanout == 0 else order[(position - 1) // self.fanout]
            self.upstream[node.index] = parent
            self.downstream[parent.index].append(node)
            self.depth[node.index] = self.depth[parent.index] + 1
        return [n for n in order[1:] if before.get(n.index) is not self.upstream[n.index]]

    def children(self, node) -> list:
        return self.downstream.get(node.index, [])

    def everyone_below(self, node) -> list:
        """Every node replicating from `node`, directly or through relays."""
        below, stack = [], list(self.children(node))
        while stack:
            child = stack.pop()
            below.append(child)
            stack.extend(self.children(child))
        return below
