"""The client's view of the cluster: where to send a write, where to send a read.

It behaves like redis-py's Sentinel client: writes go to the primary it last heard of, and
it asks the Sentinels again only after something went wrong with a write (a time-out, a
lost connection, a READONLY reply). So a primary that is cut off from the Sentinels but not
from the clients keeps taking their writes until they get an error: split brain, as
Jepsen found in Redis Sentinel. Reads are spread by `balancer.policy` over the nodes
`replication.reads` allows, leaving out those the Sentinels hold down (+sdown).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from replab.real.servers import MASTER_NAME

REDISCOVER_EVERY_S = 0.05  # after an error, ask the Sentinels at most this often


class Router:
    """Picks a node for each operation; learns the primary from the Sentinels on errors."""

    def __init__(self, endpoints: list[tuple[str, int]], reads: str, policy: str, seed: int):
        self.endpoints = endpoints
        self.node_of = {endpoint: i for i, endpoint in enumerate(endpoints)}
        self.reads = reads
        self.policy = policy
        self.primary = 0
        self.term = 1  # the client's count of primaries it has written to
        self.down: set[int] = set()  # nodes the Sentinels hold subjectively down
        self.outstanding = [0] * len(endpoints)
        self._rng = np.random.default_rng([seed, 7])
        self._next = 0
        self._sticky: dict[int, int] = {}
        self._sentinels = []  # (address, port) of each Sentinel, asked in turn
        self._suspect = asyncio.Event()
        self._asked_at = 0.0

    # picking a node ------------------------------------------------------------------------
    def write_node(self) -> int:
        return self.primary

    def read_pool(self) -> list[int]:
        if self.reads == "leader":
            return [self.primary]
        nodes = [i for i in range(len(self.endpoints)) if i not in self.down]
        if self.reads == "followers":
            nodes = [i for i in nodes if i != self.primary]
        return nodes

    def read_node(self, session: int, key: int) -> int | None:
        """The node for a read, or None when the pool is empty (refused: no replica)."""
        pool = self.read_pool()
        if not pool:
            return None
        if self.policy == "key-hash":
            return pool[key % len(pool)]
        if self.policy == "random":
            return pool[int(self._rng.integers(len(pool)))]
        if self.policy == "least-outstanding":
            return min(pool, key=lambda i: self.outstanding[i])
        if self.policy == "sticky":
            node = self._sticky.get(session)
            if node in pool:
                return node
        self._next += 1
        node = pool[self._next % len(pool)]
        if self.policy == "sticky":
            self._sticky[session] = node
        return node

    # learning the primary ----------------------------------------------------------------
    def use_sentinels(self, sentinels) -> None:
        """`sentinels`: async redis clients of the Sentinels (none: the primary stays node0)."""
        self._sentinels = list(sentinels)

    def write_failed(self) -> None:
        """A write went wrong: ask the Sentinels who the primary is (soon, not every time)."""
        if self._sentinels:
            self._suspect.set()

    async def rediscover_forever(self) -> None:
        while True:
            await self._suspect.wait()
            wait_s = self._asked_at + REDISCOVER_EVERY_S - time.perf_counter()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._suspect.clear()
            self._asked_at = time.perf_counter()
            await self.ask_sentinels()

    async def ask_sentinels(self) -> None:
        for sentinel in self._sentinels:
            try:
                async with asyncio.timeout(0.5):
                    answer = await sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
            except Exception:
                continue  # that Sentinel is unreachable or slow: ask the next
            if answer:
                self.primary_is(self.node_of.get((_text(answer[0]), int(answer[1]))))
                return

    def primary_is(self, node: int | None) -> None:
        if node is not None and node != self.primary:
            self.primary = node
            self.term += 1


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
