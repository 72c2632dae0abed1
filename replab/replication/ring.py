"""The consistent-hash ring: keys and data nodes placed on one circle of 64-bit positions.

Each node owns `vnodes` tokens, positions hashed from its name and the token's number, so a
node's share of the keys evens out as its tokens grow, and a node joining or leaving moves
only the keys next to its tokens. A key's replicas are the first N distinct nodes met walking
clockwise from the key's position: its *preference list* (Dynamo's word). Walking on finds
the fallback nodes a sloppy quorum uses when a home replica cannot be reached.

Positions depend on names only (not on the seed), so any run, and any analysis of its
frames, places a key on the same nodes.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right


def position(label: str) -> int:
    """Where `label` sits on the ring (a 64-bit hash; the same on every machine)."""
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "big")


class Ring:
    """`nodes` data nodes with `vnodes` tokens each; who holds a key, in preference order."""

    def __init__(self, nodes: int, vnodes: int):
        tokens = sorted((position(f"node{i}#{t}"), i) for i in range(nodes) for t in range(vnodes))
        self.nodes = nodes
        self.vnodes = vnodes
        self.positions = [p for p, _ in tokens]
        self.owners = [i for _, i in tokens]
        self._walks: dict[int, tuple[int, ...]] = {}  # key -> every node in preference order (hashing is the cost)

    def walk(self, key: int) -> tuple[int, ...]:
        """Every node, in the order met walking clockwise from the key's position."""
        walk = self._walks.get(key)
        if walk is None:
            owners, count = self.owners, len(self.owners)
            start = bisect_right(self.positions, position(f"key{key}"))
            met: list[int] = []
            for step in range(count):
                owner = owners[(start + step) % count]
                if owner not in met:
                    met.append(owner)
                    if len(met) == self.nodes:
                        break
            walk = self._walks[key] = tuple(met)
        return walk

    def replicas(self, key: int, n: int) -> tuple[int, ...]:
        """The key's N home replicas (its preference list)."""
        return self.walk(key)[:n]
