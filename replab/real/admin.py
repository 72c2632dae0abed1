"""Talking to the servers outside the workload: waiting until replication and the Sentinels
are ready, warming the client's connections, and reading every key back at the end.

The synchronous functions run on the run's admin thread, which lives in the client's
namespace (the root namespace has no address to reach the servers from).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import redis

from replab.real.servers import MASTER_NAME, Server

READY_POLL_S = 0.02


class NotReady(RuntimeError):
    """Replication or the Sentinels did not settle in time."""


def _client(server: Server, timeout_s: float = 2.0) -> redis.Redis:
    return redis.Redis(host=server.address, port=server.port, socket_timeout=timeout_s,
                       socket_connect_timeout=timeout_s, retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))


def _until(what: str, timeout_s: float, check) -> None:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError as err:
            last = err
        time.sleep(READY_POLL_S)
    raise NotReady(f"{what} not ready after {timeout_s:g} s" + (f" ({last})" if last else ""))


def wait_for_replicas(nodes: list[Server], timeout_s: float = 20.0) -> None:
    """Every replica has finished its first sync with node0 and its stream flows.

    After a diskless full sync the primary holds the stream back until the replica's first
    acknowledgement, which a replica sends once a second: without this wait a run's first
    second would show replicas stuck at offset 0."""
    if len(nodes) == 1:
        return
    clients = [_client(n) for n in nodes]
    try:
        def synced() -> bool:
            if clients[0].info("replication").get("connected_slaves", 0) < len(nodes) - 1:
                return False
            return all(c.info("replication").get("master_link_status") == "up" for c in clients[1:])

        _until("replication", timeout_s, synced)
        clients[0].set("replab:ready", "1")  # a write for the stream to carry
        target = clients[0].info("replication")["master_repl_offset"]
        _until("the replication stream", timeout_s,
               lambda: all(c.info("replication").get("slave_repl_offset", 0) >= target for c in clients[1:]))
    finally:
        for c in clients:
            c.close()


def wait_for_sentinels(sentinels: list[Server], replicas: int, timeout_s: float = 30.0) -> None:
    """Every Sentinel knows every replica and every other Sentinel (they find each other
    through hello messages every 2 s, so this takes a couple of seconds with several)."""
    clients = [_client(s) for s in sentinels]
    try:
        def known() -> bool:
            for c in clients:
                found = c.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
                if sum(1 for r in found if "disconnected" not in str(_flags(r))) < replicas:
                    return False
                if len(c.execute_command("SENTINEL", "SENTINELS", MASTER_NAME)) < len(clients) - 1:
                    return False
            return True

        _until("the Sentinels", timeout_s, known)
    finally:
        for c in clients:
            c.close()


def switch_over(nodes: list[Server], primary: int, promoted: int, timeout_s: float = 10.0) -> None:
    """A coordinated switchover (Redis' FAILOVER command): the primary pauses its writers until
    `promoted` has caught up, then they swap roles; the other replicas are then pointed at
    the new primary. Nothing acknowledged is lost; clients are not told."""
    with _client(nodes[primary]) as c:
        c.execute_command("FAILOVER", "TO", nodes[promoted].address, nodes[promoted].port, "TIMEOUT", 5000)
    with _client(nodes[promoted]) as c:
        _until("the switchover", timeout_s, lambda: c.info("replication").get("role") == "master")
    for i, node in enumerate(nodes):
        if i not in (primary, promoted) and not node.killed:
            try:
                with _client(node) as c:
                    c.execute_command("REPLICAOF", nodes[promoted].address, nodes[promoted].port)
            except redis.RedisError:
                pass  # paused or cut off: it keeps following the old primary (now a replica) meanwhile


def _flags(entry) -> str:
    if isinstance(entry, dict):
        return str(entry.get("flags", ""))
    pairs = dict(zip(entry[::2], entry[1::2]))
    value = pairs.get(b"flags", pairs.get("flags", ""))
    return value.decode() if isinstance(value, bytes) else str(value)


async def warm_up(clients, connections: int, rounds: int = 5, batch: int = 8) -> None:
    """Open `connections` connections to each node and send a few rounds of reads on them
    before the clock starts (the first few hundred operations of a cold client are slow).
    Connections open a batch at a time: a busy machine may take a while for each."""
    for client in clients:
        for begin in range(0, connections, batch):
            await _patiently([client] * min(batch, connections - begin))
    for _ in range(rounds):
        await _patiently([c for c in clients for _ in range(connections)])


async def _patiently(clients, tries: int = 3, timeout_s: float = 10.0) -> None:
    """One read on each of `clients` at once (a client listed n times: n connections)."""
    for attempt in range(tries):
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*(c.lindex("warm-up", -1) for c in clients))
            return
        except (TimeoutError, redis.RedisError, OSError) as err:
            if attempt == tries - 1:
                raise NotReady("the client could not open its connections to the servers") from err
            await asyncio.sleep(0.1)


@dataclass
class ReadBack:
    """What the surviving nodes hold at the end: node -> {key: [tags in list order]}."""

    primary: int | None  # the node read as the survivor (None: no node could be read)
    tags: dict[int, dict[int, list[int]]] = field(default_factory=dict)
    note: str = ""
    commands: list[tuple] = field(default_factory=list)  # (node, command, calls, usec_per_call) from INFO commandstats


def read_back(nodes: list[Server], log, rows: list[tuple], cut: set[int]) -> ReadBack:
    """Read every written key from every live, reachable node; the survivor is the run's
    primary if it can be read, else the replica furthest ahead (the one a promotion would pick)."""
    keys = sorted({row[3] for row in rows if row[2]})
    reachable = [i for i, n in enumerate(nodes) if not n.killed and i not in cut]
    offsets = _settled_offsets(nodes, reachable, log.primary)
    if not offsets:
        log.event("readback", "", "no node could be read: every acknowledged write counts as lost")
        return ReadBack(None, note="no survivor")
    survivor = max(offsets, key=lambda i: offsets[i])
    with _client(nodes[survivor], 5.0) as c, contextlib.suppress(redis.RedisError):
        c.execute_command("WAIT", len(offsets) - 1, 1000)  # let the live replicas catch up first
    result = ReadBack(survivor)
    for i in offsets:
        try:
            result.commands += _commandstats(nodes[i], i)  # before the read-back adds its own LRANGEs
            result.tags[i] = _lists(nodes[i], keys)
        except redis.RedisError:
            continue
    why = "the primary" if survivor == log.primary else "the replica furthest ahead (the primary could not be read)"
    log.event("readback", nodes[survivor].name, f"{len(keys)} keys read back from {why}")
    return result


SETTLE_S, SETTLE_POLL_S = 3.0, 0.05


def _offsets(nodes: list[Server], reachable: list[int], primary: int | None) -> dict[int, tuple[bool, int]]:
    """node -> (is the run's primary, replication offset), for the nodes that answer."""
    offsets = {}
    for i in reachable:
        try:
            with _client(nodes[i]) as c:
                info = c.info("replication")
            offsets[i] = (info.get("role") == "master" and i == primary,
                          info.get("master_repl_offset" if info.get("role") == "master" else "slave_repl_offset", 0))
        except redis.RedisError:
            continue
    return offsets


def _settled_offsets(nodes: list[Server], reachable: list[int], primary: int | None) -> dict[int, tuple[bool, int]]:
    """The offsets once no node's moves between two looks SETTLE_POLL_S apart (at most SETTLE_S):
    a replica of a killed primary may still be applying what the kernel delivered after the
    kill (on a busy machine, for hundreds of ms); read back before that, and writes it is about
    to hold would count as lost."""
    deadline = time.monotonic() + SETTLE_S
    offsets = _offsets(nodes, reachable, primary)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_S)
        again = _offsets(nodes, reachable, primary)
        if again == offsets:
            break
        offsets = again
    return offsets


def _commandstats(server: Server, node: int) -> list[tuple]:
    with _client(server) as c:
        stats = c.info("commandstats")
    return [(node, name.removeprefix("cmdstat_"), int(v.get("calls", 0)), float(v.get("usec_per_call", 0.0)))
            for name, v in stats.items()]


def _lists(server: Server, keys: list[int], batch: int = 500) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    with _client(server, 10.0) as c:
        for begin in range(0, len(keys), batch):
            chunk = keys[begin:begin + batch]
            pipe = c.pipeline(transaction=False)
            for key in chunk:
                pipe.lrange(f"k{key}", 0, -1)
            for key, values in zip(chunk, pipe.execute()):
                found[key] = [int(v.split(b":", 1)[0]) for v in values]
    return found
