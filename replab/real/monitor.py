"""Watching a real run: its clock and log, the nodes' replication offsets sampled into the
timeline, and the Sentinels' own events (+sdown, +odown, +switch-master, ...).

Every time is ms since the workload started, on the monotonic clock all threads share.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from replab.real.router import Router, _text

PROMOTIONS = ("+promoted-slave", "+switch-master")


@dataclass
class RunLog:
    """The run's clock and what it recorded besides the operations (shared by its threads)."""

    node_names: list[str]
    t0: float = 0.0  # perf_counter() when the workload started
    events: list[tuple[float, str, str, str]] = field(default_factory=list)
    samples: list[tuple] = field(default_factory=list)
    primary: int = 0  # the primary as the Sentinels announced it (node0 until they say otherwise)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    def event(self, kind: str, target: str, detail: str, t_ms: float | None = None) -> None:
        with self._lock:
            self.events.append((self.now_ms() if t_ms is None else t_ms, kind, target, detail))


class Sampler:
    """Every sample interval: each node's role, replication offset and CPU time (INFO).
    A sample row: (t_ms, the run's primary, node, answered, up, role, offset, cpu_s,
    connected replicas, upstream node or -1, the client's operations outstanding there);
    a node that does not answer keeps its last answer (a paused replica's offset stands still)."""

    def __init__(self, log: RunLog, admins: list, router: Router, sample_ms: float, alive):
        self.log, self.admins, self.router = log, admins, router
        self.sample_s = sample_ms / 1000.0
        self.alive = alive  # node index -> False once a fault killed it (and it was not restarted)
        self.last: list[dict] = [{} for _ in admins]  # each node's last INFO answer
        self.fresh = [False] * len(admins)  # answered at this sample
        self.asking: list[asyncio.Task | None] = [None] * len(admins)

    async def run_forever(self) -> None:
        tick = 0  # a sample at the start too: the primary's offset before any write places later lags
        while True:
            wait_s = self.log.t0 + tick * self.sample_s - time.perf_counter()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            tick += 1
            await self.sample()

    async def sample(self) -> None:
        t_ms = self.log.now_ms()
        first = self.log.primary  # the primary first: a replica read after it can only look closer
        wait_s = min(0.5, max(0.05, self.sample_s * 0.8))
        await self._ask([first], wait_s)
        await self._ask([i for i in range(len(self.admins)) if i != first], wait_s)
        for node in range(len(self.admins)):
            seen, answered = self.last[node], self.fresh[node]
            leads = seen.get("role", "master") == "master"
            upstream = (_text(seen.get("master_host", "")), int(seen.get("master_port", 0) or 0))
            self.log.samples.append((
                t_ms, first, node, answered, bool(self.alive(node)), "leader" if leads else "follower",
                seen.get("master_repl_offset" if leads else "slave_repl_offset"),
                seen.get("used_cpu_sys_main_thread", 0.0) + seen.get("used_cpu_user_main_thread", 0.0) if answered else None,
                int(seen.get("connected_slaves", 0)), self.router.node_of.get(upstream, -1), self.router.outstanding[node],
            ))

    async def _ask(self, nodes: list[int], wait_s: float) -> None:
        """Ask each node for INFO and wait up to `wait_s`; a question not answered by then stays
        open (never cancelled: cancelling would close the connection, and a busy machine may
        not reopen it in time either) and the node keeps its last answer meanwhile."""
        for node in nodes:
            self.fresh[node] = False
            if self.alive(node) and (self.asking[node] is None or self.asking[node].done()):
                self.asking[node] = asyncio.create_task(
                    self.admins[node].execute_command("INFO", "replication", "cpu"))
        open_questions = [self.asking[n] for n in nodes if self.asking[n] is not None]
        if open_questions:
            await asyncio.wait(open_questions, timeout=wait_s)
        for node in nodes:
            task = self.asking[node]
            if task is not None and task.done():
                self.asking[node] = None
                if not task.cancelled() and task.exception() is None:
                    self.last[node], self.fresh[node] = task.result(), True

    def close(self) -> None:
        for task in self.asking:
            if task is not None:
                task.cancel()


class SentinelWatch:
    """Subscribes to every Sentinel's events and logs them; keeps the run's primary and the
    router's list of nodes held down up to date."""

    def __init__(self, log: RunLog, sentinels: list, router: Router):
        self.log, self.sentinels, self.router = log, sentinels, router

    async def run_forever(self) -> None:
        await asyncio.gather(*(self._listen(i, s) for i, s in enumerate(self.sentinels)))

    async def _listen(self, index: int, sentinel) -> None:
        pubsub = sentinel.pubsub()
        await pubsub.psubscribe("*")
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.1)  # this Sentinel's link broke; the others still talk
                continue
            if message and message.get("type") == "pmessage":
                self.heard(index, _text(message["channel"]), _text(message["data"]))

    def heard(self, index: int, kind: str, text: str) -> None:
        words = text.split()
        node = self._node(words, kind)
        name = self.log.node_names[node] if node is not None else ""
        self.log.event(kind, name, f"sentinel{index}: {text}")
        if kind in ("+sdown", "-sdown") and node is not None:
            (self.router.down.add if kind == "+sdown" else self.router.down.discard)(node)
        if kind in PROMOTIONS and node is not None and node != self.log.primary:
            self.log.primary = node
            self.log.event("promote", name, f"the Sentinels made {name} the primary ({kind})")

    def _node(self, words: list[str], kind: str) -> int | None:
        """The node an event is about: the new primary for +switch-master, else the instance named."""
        try:
            if kind == "+switch-master":
                return self.router.node_of.get((words[3], int(words[4])))
            if words[0] in ("master", "slave"):
                return self.router.node_of.get((words[2], int(words[3])))
        except (IndexError, ValueError):
            pass
        return None
