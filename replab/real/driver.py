"""`replab.real.run`: one scenario on real Redis replication, as the same Results a
simulated run gives.

The run, in order: the network (namespaces, or 127.0.0.1), the primary and its replicas,
the Sentinels (once they know every replica and each other), then the workload from a
client thread while this thread does the faults on time; then every key is read back from
the surviving primary (and the other live nodes) to find the acknowledged writes that are
gone. Whatever happens, every process and namespace of the run is gone when it returns.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from replab import Results, Scenario, ScenarioError
from replab.real import admin
from replab.real.client import Workload, redis_client
from replab.real.faults import SENTINELS, FaultDoer, debug_sleep
from replab.real.frames import build_results
from replab.real.install import require
from replab.real.monitor import RunLog, Sampler, SentinelWatch
from replab.real.network import CLIENT, LoopbackNetwork, NamespaceNetwork, cleanup_leftovers, namespaces_possible
from replab.real.plan import all_faults, check_options, check_scenario, open_arrivals
from replab.real.processes import Cleanup, SignalsAsInterrupts
from replab.real.router import Router
from replab.real.servers import REDIS_PORT, SENTINEL_PORT, Server, free_port, redis_config, sentinel_config, start

_said_loopback = False


def run(scenario: Scenario, faults=(), *, sentinels: int | None = None, crash: str = "host", network: str = "auto",
        persistence: str = "none", min_replicas_to_write: int = 0, min_replicas_max_lag_s: int = 10,
        value_bytes: int = 0, connections_per_node: int = 16) -> Results:
    """Run `scenario` on real Redis (a primary, topology.followers replicas, and Sentinels
    when failover.promote) and return its Results, shaped like a simulated run's.

    faults: extra real faults, tables of at_ms, action, target, duration_ms (see
    replab.real.plan.FAULT_ACTIONS), besides the scenario's crash/recover faults.
    sentinels: how many (default 3 with failover.promote, else 0); failover.detection_ms is
    their down-after-milliseconds. crash: a scenario crash is a 'host' crash (links cut,
    then SIGKILL) or a 'process' kill. network: 'namespaces' (root), 'loopback' or 'auto'.
    persistence: 'none', 'aof-everysec' or 'aof-always'. min_replicas_to_write and
    min_replicas_max_lag_s: Redis' own guard against writing alone. value_bytes: padding
    added to every value written. connections_per_node: the client's pool for each node.
    """
    require()
    check_scenario(scenario)
    options = check_options(scenario, sentinels, crash, network, persistence, min_replicas_to_write,
                            min_replicas_max_lag_s, value_bytes, connections_per_node)
    namespaced = _namespaces(options.network)
    plan = all_faults(scenario, faults, options.crash if namespaced else "process", namespaced, options.sentinels)
    return RealRun(scenario, options, namespaced, plan).go()


def _namespaces(choice: str) -> bool:
    global _said_loopback
    why_not = namespaces_possible()
    if choice == "namespaces" and why_not:
        raise ScenarioError("network", choice, why_not.split(";")[0])
    if choice == "auto" and why_not and not _said_loopback:
        print(f"replab.real: {why_not}", file=sys.stderr)
        _said_loopback = True
    return choice != "loopback" and why_not is None


class RealRun:
    """One real run: what it started, what it recorded, and its clean-up."""

    def __init__(self, scenario: Scenario, options, namespaced: bool, faults):
        self.scenario, self.options, self.faults = scenario, options, faults
        self.names = scenario.node_names
        self.log = RunLog(self.names)
        self.cleanup = Cleanup()
        hosts = self.names + [CLIENT] + ([SENTINELS] if options.sentinels else [])
        self.network = NamespaceNetwork(hosts) if namespaced else LoopbackNetwork(hosts)
        self.nodes: list[Server] = []
        self.sentinels: list[Server] = []
        self.client: ClientThread | None = None

    def go(self) -> Results:
        with SignalsAsInterrupts():
            try:
                self._set_up()
                self._drive()
                readback = self.admin.submit(admin.read_back, self.nodes, self.log, self.client.workload.rows,
                                             self.doer.cut).result(timeout=120)
                workload = self.client.workload
            finally:
                if self.client is not None:
                    self.client.stop()
                self.cleanup()
        return build_results(self.scenario, self.log, workload, readback)

    # setting up ----------------------------------------------------------------------------
    def _set_up(self) -> None:
        if self.network.namespaced:
            cleanup_leftovers()
        folder = Path(tempfile.mkdtemp(prefix=f"replab-{os.getpid()}-"))
        self.cleanup.later(lambda: shutil.rmtree(folder, ignore_errors=True))
        self.cleanup.later(self.network.destroy)  # registered before it makes anything: a half-made network goes too
        if self.network.namespaced:
            self.network.create()
        same_port = self.network.namespaced  # each host has its own address there
        for name in self.names:
            self.nodes.append(Server(name, name, self.network.address(name), REDIS_PORT if same_port else free_port(),
                                     folder / name))
        for i in range(self.options.sentinels):
            port = SENTINEL_PORT + i if same_port else free_port()
            self.sentinels.append(Server(f"sentinel{i}", SENTINELS, self.network.address(SENTINELS), port,
                                         folder / f"sentinel{i}"))
        self.admin = ThreadPoolExecutor(1, thread_name_prefix="replab-admin", initializer=self.network.enter,
                                        initargs=(CLIENT,))
        self.cleanup.later(lambda: self.admin.shutdown(wait=False, cancel_futures=True))
        for i in range(len(self.nodes)):
            self.restart(i, None if i == 0 else 0)
        self.admin.submit(admin.wait_for_replicas, self.nodes).result(timeout=30)
        quorum = self.options.sentinels // 2 + 1
        for sentinel in self.sentinels:
            start(self.cleanup, self.network.command_prefix(SENTINELS), sentinel,
                  sentinel_config(sentinel, self.nodes[0], quorum, int(self.scenario.failover.detection_ms) or 1,
                                  max(3000, int(self.scenario.failover.detection_ms) * 3)), program="redis-sentinel")
        if self.sentinels:
            self.admin.submit(admin.wait_for_sentinels, self.sentinels, len(self.nodes) - 1).result(timeout=60)

    def restart(self, node: int, primary: int | None) -> None:
        """(Re)start a node: the primary when `primary` is None, else a replica of it."""
        o = self.options
        server = self.nodes[node]
        config = redis_config(server, None if primary is None else self.nodes[primary], o.persistence,
                              o.min_replicas_to_write, o.min_replicas_max_lag_s)
        start(self.cleanup, self.network.command_prefix(server.host), server, config)

    # the run itself ------------------------------------------------------------------------
    def _drive(self) -> None:
        self.client = ClientThread(self)
        self.doer = FaultDoer(self.nodes, self.network, self.log, self.restart, self.client.sleep, bool(self.sentinels),
                              lambda promoted: self.admin.submit(admin.switch_over, self.nodes, self.log.primary,
                                                                 promoted).result(30))
        self.client.start()
        if not self.client.started.wait(timeout=60) or self.client.error:
            raise RuntimeError(f"the client did not start: {self.client.error!r}")
        end_ms = self.scenario.duration_ms + self.scenario.workload.timeout_ms
        for fault in self.faults:
            if fault.at_ms >= end_ms or not self._wait_until(fault.at_ms):
                break
            self.doer.apply(fault)
        self.client.join(timeout=end_ms / 1000.0 + 60)
        if self.client.is_alive():
            raise RuntimeError("the client's workload did not finish in time")
        if self.client.error:
            raise self.client.error
        self.doer.end()

    def _wait_until(self, at_ms: float) -> bool:
        """Sleep (interruptibly) until `at_ms` of the run; False if the client stopped first."""
        while self.client.is_alive():
            left_s = (at_ms - self.log.now_ms()) / 1000.0
            if left_s <= 0:
                return True
            time.sleep(min(left_s, 0.05))
        return False


class ClientThread(threading.Thread):
    """The client's asyncio loop, on a thread inside the client's namespace."""

    def __init__(self, run: RealRun):
        super().__init__(name="replab-client", daemon=True)
        self.real = run
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None
        s, o = run.scenario, run.options
        self.router = Router([n.endpoint for n in run.nodes], s.replication.reads, s.balancer.policy, s.seed)
        self.workload = Workload(s, run.log, self.router, [], o.value_bytes)

    def run(self) -> None:
        try:
            self.real.network.enter(CLIENT)
            asyncio.run(self._main())
        except BaseException as err:  # handed to the main thread, which raises it
            self.error = err
            self.started.set()

    async def _main(self) -> None:
        self.loop, self.task = asyncio.get_running_loop(), asyncio.current_task()
        real, s = self.real, self.real.scenario
        timeout_s = s.workload.timeout_ms / 1000.0
        # a connection gets at least a second to open: a busy machine's first handshakes are slow
        clients = [redis_client(n.address, n.port, real.options.connections_per_node, max(timeout_s, 1.0))
                   for n in real.nodes]
        admins = [redis_client(n.address, n.port, 2, 1.0) for n in real.nodes]
        watchers = [redis_client(x.address, x.port, 4, 1.0) for x in real.sentinels]
        self.workload.clients[:] = clients
        self.router.use_sentinels(watchers)
        await admin.warm_up(clients, real.options.connections_per_node)
        await admin.warm_up(admins, 1, rounds=1)
        sampler = Sampler(real.log, admins, self.router, s.record.sample_ms, lambda i: not real.nodes[i].killed)
        watch = SentinelWatch(real.log, watchers, self.router)
        real.log.t0 = time.perf_counter()
        background = [asyncio.create_task(job) for job in
                      (sampler.run_forever(), watch.run_forever(), self.router.rediscover_forever())]
        self.started.set()
        try:
            if s.workload.arrival == "open":
                await self.workload.open_loop(open_arrivals(s))
            else:
                await self.workload.closed_loop()
            await sampler.sample()
        finally:
            sampler.close()
            for job in background:
                job.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            for client in clients + admins + watchers:
                await client.aclose()

    def sleep(self, node: int, seconds: float) -> None:
        """DEBUG SLEEP `node` for `seconds`, from the client's loop (fire and forget)."""
        server = self.real.nodes[node]

        async def sleep_on_own_connection():
            client = redis_client(server.address, server.port, 1, 1.0)
            try:
                await debug_sleep(client, seconds)
            finally:
                await client.aclose()

        asyncio.run_coroutine_threadsafe(sleep_on_own_connection(), self.loop)

    def stop(self) -> None:
        """Cancel the workload (on an error or Ctrl-C) and wait a little for the loop to end."""
        if self.is_alive() and self.loop is not None and self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
            self.join(timeout=5)
