"""The real client: an asyncio workload driving Redis with redis-py, one row per operation.

Each write appends a tag of its own to its key's list (``RPUSH k<key> <tag>``), so every
write stays distinguishable: a read returns the newest tag of its key (``LINDEX k<key> -1``)
and the read-back at the end finds which acknowledged writes the surviving primary lacks.
Semi-sync and sync send ``WAIT numreplicas timeout`` in the same round trip; a write whose
WAIT came back short was committed on the primary but never acknowledged (failed, time-out).

Open loop: operations start at the planned instants whatever the replies, and latency is
counted from the planned instant, so a client that falls behind shows it. Closed loop:
each session thinks, sends, waits for the answer.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError, ReadOnlyError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from replab.real.monitor import RunLog
from replab.real.plan import Arrivals, draw_keys, key_weights
from replab.real.router import Router

SERVED, REFUSED, FAILED = 0, 1, 2


def redis_client(address: str, port: int, connections: int, timeout_s: float) -> Redis:
    """A redis-py asyncio client that never retries by itself (a retried write is a second
    write) and waits for a free connection rather than failing."""
    no_retry = Retry(NoBackoff(), 0)
    pool = BlockingConnectionPool(host=address, port=port, max_connections=connections, timeout=None,
                                  socket_connect_timeout=timeout_s, socket_timeout=None, retry=no_retry)
    return Redis(connection_pool=pool, retry=no_retry)


class Workload:
    """Runs the scenario's operations against the cluster and keeps one row per operation:
    (request_id, session, is_write, key, node, start_ms, end_ms, outcome, reason, tag, term,
    list_length); `tag` is the tag written, or the tag read (0: the key was empty)."""

    def __init__(self, scenario, log: RunLog, router: Router, clients: list[Redis], value_bytes: int):
        self.scenario = scenario
        w, rep = scenario.workload, scenario.replication
        self.log, self.router, self.clients = log, router, clients
        self.timeout_s = w.timeout_ms / 1000.0
        self.wait_for = {"async": 0, "semi-sync": rep.semi_sync_k, "sync": scenario.topology.followers}[rep.ack]
        self.padding = b":" + b"x" * value_bytes if value_bytes else b""
        self.rows: list[tuple] = []
        self.errors: dict[str, int] = {}  # unexpected error replies, counted, logged as events at the end
        self.tags = 0
        self.requests = 0
        self._tasks: set[asyncio.Task] = set()

    # the two arrival processes -------------------------------------------------------------
    async def open_loop(self, plan: Arrivals) -> None:
        for i in range(len(plan.start_ms)):
            start_ms = float(plan.start_ms[i])
            wait_s = self.log.t0 + start_ms / 1000.0 - time.perf_counter()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            task = asyncio.create_task(self.operation(int(plan.session[i]), bool(plan.is_write[i]),
                                                      int(plan.key[i]), start_ms))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self.drain()

    async def closed_loop(self) -> None:
        w = self.scenario.workload
        rng = np.random.default_rng(self.scenario.seed)
        cdf = key_weights(self.scenario)
        end_ms = self.scenario.duration_ms

        async def session(s: int) -> None:
            while True:
                await asyncio.sleep(rng.exponential(w.think_ms) / 1000.0 if w.think_ms > 0 else 0)
                start_ms = self.log.now_ms()
                if start_ms >= end_ms:
                    return
                await self.operation(s, bool(rng.random() < w.write_ratio), int(draw_keys(rng, self.scenario, 1, cdf)[0]),
                                     start_ms)

        await asyncio.gather(*(session(s) for s in range(w.sessions)))

    async def drain(self) -> None:
        """Wait for the operations still in flight (each ends by its own time-out)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # one operation -------------------------------------------------------------------------
    async def operation(self, session: int, is_write: bool, key: int, start_ms: float) -> None:
        self.requests += 1
        request_id = self.requests
        router = self.router
        node = router.write_node() if is_write else router.read_node(session, key)
        tag = term = -1
        if is_write:
            self.tags += 1
            tag, term = self.tags, router.term
        row = [request_id, session, is_write, key, -1 if node is None else node, start_ms, start_ms, FAILED, "", tag,
               term, -1]
        remaining_s = self.timeout_s - (self.log.now_ms() - start_ms) / 1000.0
        if node is None:
            row[7:9] = REFUSED, "no replica"
        elif remaining_s <= 0:
            row[8] = "timeout"  # the client had fallen so far behind that it gave up before sending
        else:
            router.outstanding[node] += 1
            try:
                async with asyncio.timeout(remaining_s):
                    if is_write:
                        row[7], row[8], row[11] = await self._write(node, key, tag, remaining_s)
                    else:
                        row[9] = await self._read(node, key)
                        row[7] = SERVED
            except (TimeoutError, RedisTimeoutError):
                row[8] = "timeout"
            except ReadOnlyError:
                row[7:9] = REFUSED, "not leader"  # READONLY: a replica refused the write, as a model follower does
            except BusyLoadingError:
                row[8] = "node down"  # still loading its data after a restart
            except (RedisConnectionError, OSError) as err:
                row[8] = "node down" if "refused" in str(err).lower() else "network"
            except ResponseError as err:
                text = str(err)
                if text.startswith("NOREPLICAS"):
                    row[7:9] = REFUSED, "no replica"  # min-replicas-to-write: too few good replicas
                else:
                    self.errors[text[:80]] = self.errors.get(text[:80], 0) + 1
                    row[8] = "network"
            finally:
                router.outstanding[node] -= 1
            if is_write and row[7] != SERVED:
                router.write_failed()
        row[6] = self.log.now_ms() if row[8] != "timeout" else max(self.log.now_ms(), start_ms + self.timeout_s * 1000)
        self.rows.append(tuple(row))

    async def _write(self, node: int, key: int, tag: int, remaining_s: float) -> tuple[int, str, int]:
        value = str(tag).encode() + self.padding
        client = self.clients[node]
        if not self.wait_for:
            return SERVED, "", int(await client.rpush(f"k{key}", value))
        pipe = client.pipeline(transaction=False)
        pipe.rpush(f"k{key}", value)
        pipe.execute_command("WAIT", self.wait_for, max(1, int(remaining_s * 1000)))
        length, replicas = await pipe.execute()
        if int(replicas) < self.wait_for:
            return FAILED, "timeout", int(length)  # committed on the primary, never acknowledged
        return SERVED, "", int(length)

    async def _read(self, node: int, key: int) -> int:
        value = await self.clients[node].lindex(f"k{key}", -1)
        return int(value.split(b":", 1)[0]) if value else 0
