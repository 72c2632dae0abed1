"""ReplicationModel: the Mesa model of a replicated data system, run in simulated ms.

Data flows one way: a Scenario builds the model; agents exchange messages over the
Network on the event calendar; the Recorder keeps the history; `replab.analysis.results` turns it
into frames. `step()` advances one timeline sample interval, so Mesa-style stepping works.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import mesa

from replab.agents import ClientSession, DataNode, LoadBalancer, Switch
from replab.agents.app_servers import AppServers
from replab.agents.dc_balancer import DCBalancer, DCBalancers
from replab.agents.dns import GlobalDNS
from replab.analysis.results import Results
from replab.config.limits import check_size, time_stopped
from replab.config.scenario import Scenario
from replab.core.calendar import EventCalendar, TimeStalled
from replab.core.codes import FAILED, NETWORK, REFUSED, SERVED, TIMEOUT
from replab.core.network import Network
from replab.core.randomness import sampler, stream, uniform
from replab.core.recorder import Recorder
from replab.replication import STRATEGIES
from replab.sim.host_faults import HostFaults
from replab.sim.workload import Workload
from replab.topology.datacentres import DataCentres
from replab.topology.switching import switch_layout


class ReplicationModel(mesa.Model):
    """Data nodes replicating by one strategy (replab.replication) behind a DB load balancer."""

    def __init__(self, scenario: Scenario):
        super().__init__(seed=scenario.seed)
        self.scenario = scenario
        seed = scenario.seed
        self.duration_ms = scenario.duration_ms
        self.timeout_ms = scenario.workload.timeout_ms
        self.end_ms = self.duration_ms + self.timeout_ms  # every operation has ended by then
        self.sample_ms = scenario.record.sample_ms
        self.calendar = EventCalendar()
        strategy = STRATEGIES[scenario.replication.kind].for_scenario(scenario)
        self.recorder = Recorder(strategy.tables)
        net = scenario.network.hop
        # several data centres: their switches, WAN and whole-DC faults (None: the one-DC model)
        self.dcs = DataCentres(scenario) if scenario.dcs.count > 1 else None
        self.dns = None
        hop_ms = sampler(net.dist, net.mean_ms, net.sigma, stream(seed, "network"))
        if self.dcs is None:
            self.switch_layout = switch_layout(scenario.topology)
            self.network = Network(self.calendar, hop_ms, len(self.switch_layout.switches))
            layouts = [self.switch_layout]
        else:
            self.network = Network(self.calendar, hop_ms, len(self.dcs.switch_dc), self.dcs.switch_dc, self.dcs.wan_ms)
            layouts = self.dcs.layouts
        self.switches = [Switch(self, i, layout.partner(i)) for layout in layouts for i in layout.switches]
        self.nodes = [self._data_node(i, strategy.node_class) for i in range(len(scenario.node_names))]
        self.leader = self.nodes[0]  # the node a fault on "leader" hits (with several leaders: the first)
        self.term = 1
        if self.dcs is None:
            rep = scenario.replication
            self.balancer = LoadBalancer(self, self.network.attach(*self.switch_layout.balancer), scenario.balancer.policy,
                                         strategy.balancer_reads(scenario), uniform(stream(seed, "balancer")),
                                         rep.write_routing)
            self.client_host = self.network.attach(*self.switch_layout.clients)
            self.machines = {"balancer": [self.balancer.host], "clients": [self.client_host],
                             "app0": [self.balancer.host, self.client_host]}
            self.apps = self._build_app_servers(scenario, strategy) if scenario.topology.app_servers > 1 else None
        else:
            self._build_data_centres(scenario)
            self.apps, self.machines = None, {}
        # host names a fault may target -> their hosts (a strategy adds the hosts it runs, e.g. a controller)
        self.machines |= {node.name: [node.host] for node in self.nodes}
        self.controller = strategy.controller_class(self, scenario.failover.detection_ms)
        self.replication = strategy(self)
        self.sessions = [ClientSession(self, i) for i in range(scenario.workload.sessions)]
        self.think_ms = sampler("exponential", max(scenario.workload.think_ms, 1e-9), 0.0, stream(seed, "think"))
        at_client = self.replication.coordinate_at_client if strategy.clients_coordinate(scenario) else None
        self.in_flight: dict[int, object] = {}
        self.workload = Workload(self, scenario, strategy.key_is_session, at_client)
        self.closed_loop = self.workload.closed  # asked as each operation ends
        for node in self.nodes:
            node.term = node.synced_term = self.term
        self.replication.attach()
        self.controller.publish(0.0)
        self.host_faults = HostFaults(self) if any(f.on_hosts for f in scenario.faults.events) else None
        self._schedule_faults(scenario)
        if self.dns is not None:
            self.dns.begin()
        self.workload.begin()
        self._last_sample_ms = 0.0
        self._area_at_last_sample = [0.0] * len(self.nodes)
        self.running = True

    def _data_node(self, index: int, node_class: type) -> DataNode:
        s = self.scenario
        draws = {
            op: sampler(d.dist, d.mean_ms, d.sigma, stream(s.seed, f"service.{op}.node{index}"))
            for op, d in (("read", s.service.read), ("write", s.service.write), ("apply", s.service.apply))
        }
        host = self.network.attach(*(self.dcs.node_switches[index] if self.dcs else self.switch_layout.node(index)))
        return node_class(self, index, host, s.topology.workers, s.topology.apply_concurrency,
                          draws["read"], draws["write"], draws["apply"])

    def _build_app_servers(self, scenario: Scenario, strategy) -> AppServers:
        """Application servers 1..n-1 beside app0 (the balancer and clients built already)."""
        rep, seed = scenario.replication, scenario.seed
        balancers, client_hosts = [self.balancer], [self.client_host]
        for app in range(1, scenario.topology.app_servers):
            balancers.append(LoadBalancer(self, self.network.attach(*self.switch_layout.balancer), scenario.balancer.policy,
                                          strategy.balancer_reads(scenario), uniform(stream(seed, f"balancer.app{app}")),
                                          rep.write_routing))
            balancers[-1].name = f"balancer{app}"
            client_hosts.append(self.network.attach(*self.switch_layout.clients))
        for app, (balancer, host) in enumerate(zip(balancers, client_hosts)):
            self.machines[f"app{app}"] = [balancer.host, host]
        apps = AppServers(balancers, client_hosts)
        self.balancer = apps
        return apps

    def _build_data_centres(self, scenario: Scenario) -> None:
        """One DB load balancer per DC, the regions' client hosts and the global DNS balancer."""
        dcs, rep, seed = self.dcs, scenario.replication, scenario.seed
        dcs.bind(self)
        balancers = [DCBalancer(self, self.network.attach(*dcs.balancer_switches[d]), d, scenario.balancer.policy,
                                rep.reads, uniform(stream(seed, f"balancer.dc{d}")), rep.write_routing)
                     for d in range(dcs.count)]
        self.balancer = DCBalancers(balancers)
        region_hosts = [self.network.attach(switch) for switch in dcs.region_switch]
        self.dns = GlobalDNS(self, dcs, balancers, region_hosts, scenario)

    # running ---------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one sample interval of simulated time and record a timeline sample."""
        until = min(self.calendar.now + self.sample_ms, self.end_ms)
        self.calendar.run_until(until)
        self._sample(until)
        if until >= self.end_ms:
            self._close()

    def run(self) -> ReplicationModel:
        while self.running:
            self.step()
        return self

    @property
    def now(self) -> float:
        return self.calendar.now

    def _close(self) -> None:
        """The run is over: operations still in flight have timed out by now."""
        # Mesa keeps a per-model counter of agent ids in a class-level dict keyed by the model,
        # which would keep every finished model (and its history) alive: a long sweep grew
        # ~1.7 MB a run. No agent is created after this point.
        mesa.Agent._ids.pop(self, None)
        for op in list(self.in_flight.values()):
            self.fail(self.end_ms, op, TIMEOUT)
        self.replication.close(self.end_ms)
        self.recorder.totals |= {"messages_sent": self.network.messages_sent,
                                 "messages_dropped": self.network.messages_dropped}
        self.running = False

    def schedule_operation(self, at_ms: float, session: int, is_write: bool, key: int) -> None:
        """Have `session` start one chosen operation at `at_ms`, besides the workload's own
        (stories and exercises script exact histories with it)."""
        self.calendar.schedule(at_ms, self._scripted_operation, (session, is_write, key))

    def _scripted_operation(self, now: float, job) -> None:
        session, is_write, key = job
        self.workload.send(now, session, (is_write, key))

    # how operations end -------------------------------------------------------------------
    def reply(self, now: float, node, op, outcome: int, version: int, reason: int = 0) -> None:
        """The node has an answer for `op`: it travels back through the load balancer."""
        if op.done:
            return
        op.answered = now
        net = self.network
        balancer = op.balancer
        via = balancer.host
        to_balancer = net.latency_ms(node.host, via)
        to_client = net.latency_ms(via, op.client_host)
        net.messages_sent += 2
        if to_balancer is None or to_client is None:
            net.messages_dropped += 1  # the answer is lost on its way
            self.fail(now, op, NETWORK)
            return
        if balancer.counts_outstanding:  # operation_ended's own test, first: a call saved under other policies
            balancer.operation_ended(op.node, now + to_balancer)
        # _reaches_client(now, op, end, ...) and _finish, inlined: nearly every operation ends here
        end = now + to_balancer + to_client
        if end - op.start > self.timeout_ms:
            self.fail(now, op, TIMEOUT)
            return
        if op.is_write and outcome == SERVED:
            self.recorder.ack(version, end)
        op.done = True
        del self.in_flight[op.id]
        self.recorder.operation(op, end, outcome, reason, version)
        if self.closed_loop:
            self.sessions[op.session].think_then_send(end)

    def answer_at_client(self, now: float, op, outcome: int, version: int, reason: int = 0) -> None:
        """A client coordinating `op` itself has its outcome now: nothing travels back, and no
        balancer hears of it (Strategy.clients_coordinate)."""
        if op.done:
            return
        op.answered = now
        self._reaches_client(now, op, now, outcome, reason, version)

    def _reaches_client(self, now: float, op, end: float, outcome: int, reason: int, version: int) -> None:
        """The outcome reaches the client at `end`: a served write is acknowledged then, unless
        the client has given up by then."""
        if end - op.start > self.timeout_ms:
            self.fail(now, op, TIMEOUT)
            return
        if op.is_write and outcome == SERVED:
            self.recorder.ack(version, end)
        self._finish(op, end, outcome, reason, version)

    def refuse(self, now: float, op, reason: int) -> None:
        """The load balancer declines `op` (read-only mode, no replica): the client hears at once."""
        op.arrived = op.answered = now
        to_client = self.network.latency_ms(op.balancer.host, op.client_host)
        self.network.messages_sent += 1
        if to_client is None:
            self.network.messages_dropped += 1
            self.fail(now, op, NETWORK)
        elif now + to_client - op.start > self.timeout_ms:
            self.fail(now, op, TIMEOUT)  # the client gave up before the refusal reached it
        else:
            self._finish(op, now + to_client, REFUSED, reason, -1)

    def fail(self, now: float, op, reason: int) -> None:
        """`op` will never be answered: its client gives up at its time-out."""
        if op.done:
            return
        end = op.start + self.timeout_ms
        op.balancer.operation_ended(op.node, end)
        self._finish(op, end, FAILED, reason, -1)

    def _finish(self, op, end: float, outcome: int, reason: int, version: int) -> None:
        op.done = True
        del self.in_flight[op.id]
        self.recorder.operation(op, end, outcome, reason, version)
        if self.closed_loop:
            self.sessions[op.session].think_then_send(end)

    # faults ------------------------------------------------------------------------------
    def _schedule_faults(self, scenario: Scenario) -> None:
        for fault in scenario.faults.events:
            self.calendar.schedule(fault.at_ms, self._scheduled_fault, fault)
        if scenario.faults.mttf_ms > 0:
            for node in self.nodes:
                up_ms = sampler("exponential", scenario.faults.mttf_ms, 0.0, stream(scenario.seed, f"mttf.{node.name}"))
                down_ms = sampler("exponential", scenario.faults.mttr_ms, 0.0, stream(scenario.seed, f"mttr.{node.name}"))
                self._random_crash(node, up_ms, down_ms, 0.0)

    def _random_crash(self, node, up_ms, down_ms, now: float) -> None:
        at = now + up_ms()
        if at < self.duration_ms:
            self.calendar.schedule(at, self._random_fault, (node, up_ms, down_ms, "crash"))

    def _random_fault(self, now: float, job) -> None:
        node, up_ms, down_ms, action = job
        if action == "crash":
            self.crash(now, node, "random failure")
            self.calendar.schedule(now + down_ms(), self._random_fault, (node, up_ms, down_ms, "recover"))
        else:
            self.recover(now, node, "repaired")
            self._random_crash(node, up_ms, down_ms, now)

    def _scheduled_fault(self, now: float, fault) -> None:
        if fault.on_hosts:  # pauses, partitions inside the DC, slow hosts
            self.host_faults.apply(now, fault)
            return
        if fault.target.startswith("dc"):
            self.dcs.fault(now, fault.action, int(fault.target[2:]))
            return
        if fault.target.startswith("switch"):
            switch = self.switches[int(fault.target[6:])]
            switch.crash(now) if fault.action == "crash" else switch.recover(now)
            return
        node = self.leader if fault.target == "leader" else self.nodes[int(fault.target[4:])]
        if fault.action == "crash":
            self.crash(now, node, "scheduled")
        else:
            self.recover(now, node, "scheduled")

    def crash(self, now: float, node, why: str) -> None:
        """Crash a data node now (no effect if it is down already)."""
        if not node.up:
            return
        self.recorder.event(now, "crash", node.name, f"{node.role}; {why}")
        node.crash(now)
        self.controller.node_crashed(now, node)

    def recover(self, now: float, node, why: str) -> None:
        """Bring a data node back now (no effect if it is up)."""
        if node.up:
            return
        self.recorder.event(now, "recover", node.name, why)
        node.restart(now)
        self.controller.node_recovered(now, node)

    # the timeline ------------------------------------------------------------------------
    def _sample(self, now: float) -> None:
        interval = now - self._last_sample_ms
        divergent = self.replication.divergent_keys()
        for node in self.nodes:
            node._set_busy(now, node.busy)  # bring the busy-time integral up to now
            area = node.busy_area_ms - self._area_at_last_sample[node.index]
            self._area_at_last_sample[node.index] = node.busy_area_ms
            utilisation = area / (node.workers * interval) if interval > 0 else 0.0
            lag_ms, lag_writes = self.replication.lag(now, node)
            depth, upstream = self.replication.position(node)
            self.recorder.samples.append((now, node.index, node.role, node.up, depth,
                                          -1 if upstream is None else upstream.index,
                                          node.queue_length, utilisation, lag_ms, lag_writes, node.shipped,
                                          divergent, self.replication.memory_bytes(node)))
        self._last_sample_ms = now


def run(scenario: Scenario, progress: Callable[[float], None] | None = None, every_s: float = 0.1,
        force: bool = False):
    """Run one scenario to the end and return its Results.

    `progress(fraction)`, if given, is called at most every `every_s` seconds of wall time
    with the share of simulated time done (0 to 1); it does not change the results.
    A run larger than this machine can hold is refused before it starts (RunTooBig, naming
    the fields), unless `force=True`; one whose simulated time stops advancing is stopped
    (TimeStopped). Both are ScenarioErrors (replab.config.limits).
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"replab.run needs a Scenario, not {type(scenario).__name__}; "
                        "build one with Scenario.preset(name), Scenario.load(path) or Scenario(**fields)")
    check_size(scenario, force)
    model = ReplicationModel(scenario)
    try:
        if progress is None:
            model.run()
        else:
            last = time.perf_counter()
            while model.running:
                model.step()
                if time.perf_counter() - last >= every_s:
                    last = time.perf_counter()
                    progress(min(1.0, model.now / model.end_ms))
    except TimeStalled as stall:
        raise time_stopped(scenario, stall.at_ms, stall.events) from None
    return Results.from_recorder(scenario, model.recorder)
