"""What every replication strategy is: the hooks a model calls and what a strategy declares.

A strategy is one class. What it declares (class attributes, read before any model exists):

    kind           its name, the value of replication.kind
    about          one line for the replication.kind field's documentation
    fields         settings only it reads (replab.core.field.Field), added to the scenario's table
    summary_doc    summary keys it adds, each with what it means
    tables         recorded tables of its own (replab.core.recorder.Table), frames of the Results
    node_class     the agent class of its data nodes
    controller_class  the failure detector's agent class (the perfect one by default)
    has_leader     whether a fault may target 'leader'
    key_is_session a session's operations all touch one key: its session state (buddy)
    leader_per_dc  it can run one leader per data centre (dcs.placement = 'leader-per-dc')
    single_leader  one node leads at a time: a host fault on 'leader' finds it wherever it is
    pausable       its nodes can be paused (a GC pause: faults with action 'pause')
    lag_of_every_node  every live node's lag counts in the summary, not only the followers'

and, as class methods: `check(values)` (rules between fields, beyond each field's range),
`node_count(values)`, `balancer_reads(scenario)`, `clients_coordinate(scenario)`,
`copies_per_write(scenario)`, `replica_reads_per_read(scenario)` and
`timer_events(scenario, writes)` (what a run costs, for the size guard: replab.config.limits),
`summary(results)` (its summary keys, for a run of any kind, read from the Results alone) and
`lag_figures(timeline)`.

What a model calls, in simulated ms (every hook has a default that does nothing, or reports
nothing: no lag is NaN, no divergence NaN, no session state -1):

    attach()                       the model is built: give nodes their roles, pin sessions
    coordinate_at_client(now, op)  a client starts `op` and coordinates it itself (only where
                                   clients_coordinate: then no operation goes to the balancer)
    publish(now, live)             the failure detector's view of who is alive changed
    commit(now, node, op)          a node has executed a client's write
    on_applied(now, node, entry)   a node has applied a replicated write
    node_crashed(now, node)        a node died (nobody knows yet)
    node_detected_dead(now, node)  the failure detector declares it dead
    node_recovered(now, node)      it is back (before or after being declared dead)
    network_healed(now)            a switch or a WAN link is back: resend what was dropped
    lag(now, node), divergent_keys(), memory_bytes(node), position(node)   timeline samples
    close(now)                     the run is over: put end-of-run counts in recorder.totals

Shipping (`ship`) is here once: a sender has one outbound link shared by everything it
sends; putting one entry on the wire takes `replication.ship_ms`, so a busy sender builds a
queue, and what is still queued when it crashes never leaves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from replab.agents.controller import FailoverController
from replab.agents.node import DataNode
from replab.core.field import Field


class Strategy:
    """A replication strategy over one model's data nodes (see the module's docstring)."""

    kind: str = ""
    about: str = ""
    fields: tuple[Field, ...] = ()
    summary_doc: Mapping[str, str] = {}
    tables: tuple = ()
    node_class: type = DataNode
    controller_class: type = FailoverController  # the failure detector the model builds
    has_leader = True
    key_is_session = False
    leader_per_dc = False
    single_leader = False
    lag_of_every_node = False
    pausable = False

    def __init__(self, model):
        self.model = model
        self.ship_ms = model.scenario.replication.ship_ms

    # declarations --------------------------------------------------------------------------
    @classmethod
    def for_scenario(cls, scenario) -> type[Strategy]:
        """The class that runs `scenario`: this one, or one that runs some of its settings
        (leader-follower with a realistic failover policy: replab.replication.terms)."""
        return cls

    @classmethod
    def check(cls, values: Mapping[str, Any]) -> None:
        """Raise a ScenarioError for a combination of fields this strategy cannot run."""

    @classmethod
    def node_count(cls, values: Mapping[str, Any]) -> int:
        return values["topology.leaders"] + values["topology.followers"]

    @classmethod
    def balancer_reads(cls, scenario) -> str:
        """Which nodes the DB load balancer may send reads to (replication.reads by default)."""
        return scenario.replication.reads

    @classmethod
    def clients_coordinate(cls, scenario) -> bool:
        """True when clients send their operations to the data nodes themselves, not through
        the DB load balancer (`coordinate_at_client`): the requests frame's node is then empty,
        arrived_ms is when the client sent and answered_ms when it had its answer."""
        return False

    @classmethod
    def copies_per_write(cls, scenario) -> float:
        """How many nodes apply a copy of each write (for estimating a run's size)."""
        return len(scenario.node_names) - 1

    @classmethod
    def replica_reads_per_read(cls, scenario) -> float:
        """How many replicas a client read asks, each with a message, a read and a recorded
        answer of its own (leaderless quorum reads), for estimating a run's size; 0: the read
        is served where it lands, as by default."""
        return 0.0

    @classmethod
    def timer_events(cls, scenario, writes: float) -> tuple[float, str, str]:
        """The calendar's work for this strategy's own timers in a run (heartbeats, anti-entropy
        rounds), which tick whatever the workload does, in events of the default workload's
        cost: (events, the field to name, the fields that set it), for estimating a run's size
        (replab.config.limits). `writes`: the run's expected writes. None by default."""
        return 0.0, "", ""

    @classmethod
    def summary(cls, results) -> dict:
        """This strategy's summary keys (summary_doc) for `results`, a run of any kind."""
        return {}

    @classmethod
    def lag_figures(cls, timeline) -> tuple[float, float]:
        """(mean, max) replication lag over the timeline samples of the live nodes that
        replicate: the followers, or every node where `lag_of_every_node` (each replicates
        the others' writes)."""
        rows = timeline["up"] if cls.lag_of_every_node else (timeline["role"] == "follower") & timeline["up"]
        replicas = timeline[rows]
        if not len(replicas):
            return 0.0, 0.0
        return float(replicas["lag_ms"].mean()), float(replicas["lag_ms"].max())

    # a model's lifetime ----------------------------------------------------------------------
    def attach(self) -> None:
        pass

    def publish(self, now: float, live: list) -> None:
        pass

    def coordinate_at_client(self, now: float, op) -> None:
        raise NotImplementedError

    def commit(self, now: float, node, op) -> None:
        raise NotImplementedError

    def on_applied(self, now: float, node, entry) -> None:
        pass

    def node_crashed(self, now: float, node) -> None:
        pass

    def node_detected_dead(self, now: float, node) -> None:
        pass

    def node_recovered(self, now: float, node) -> None:
        pass

    def network_healed(self, now: float) -> None:
        pass

    def lag(self, now: float, node) -> tuple[float, float]:
        return math.nan, math.nan

    def divergent_keys(self) -> float:
        return math.nan

    def memory_bytes(self, node) -> int:
        return -1

    def position(self, node) -> tuple[int, Any]:
        """(depth in the replication topology, the node it replicates from); (-1, None): none."""
        return -1, None

    def close(self, now: float) -> None:
        pass

    # shipping --------------------------------------------------------------------------------
    def ship(self, now: float, sender, receiver, entry, deliver: Callable | None, extra: Any = None,
             arrival: Callable | None = None) -> None:
        """Queue `entry` on the sender's outbound link; once it has left it travels on the
        ordered channel to `receiver`, and `deliver(now, receiver, entry, sender, sent_ms, extra)`
        runs on arrival, unless the sender crashed before the entry left its queue.
        `arrival`: a handler of its own for the message, one that does what `arrive` and `deliver`
        would (a strategy's hot path fuses them: one call less per message); `deliver` is then
        unused (None)."""
        free_ms = sender.link_free_ms
        departs = (free_ms if free_ms > now else now) + self.ship_ms  # max(), written out: a slow call in Python 3.11
        sender.link_free_ms = departs
        sender.shipped += 1
        message = (deliver, receiver, entry, sender, sender.incarnation, departs, extra)
        self.model.network.send_ordered(departs, sender.host, receiver.host, arrival or arrive, message)

    def ship_each(self, now: float, sender, receivers, entry, deliver: Callable | None, extra: Any = None,
                  arrival: Callable | None = None) -> None:
        """`ship` `entry` to each of `receivers` in turn, in one call (a leader ships every write to
        every follower: the link's and the sender's attributes are read once, not per receiver)."""
        if not receivers:
            return
        send, ship_ms, handler = self.model.network.send_ordered, self.ship_ms, arrival or arrive
        host, incarnation = sender.host, sender.incarnation
        departs = sender.link_free_ms
        for receiver in receivers:
            departs = (departs if departs > now else now) + ship_ms  # as in ship: each leaves after the one before
            send(departs, host, receiver.host, handler, (deliver, receiver, entry, sender, incarnation, departs, extra))
        sender.link_free_ms = departs
        sender.shipped += len(receivers)


def arrive(now: float, message) -> None:
    """A shipped entry reaches its receiver, unless its sender crashed before it left."""
    deliver, receiver, entry, sender, incarnation, departs, extra = message
    if incarnation != sender.incarnation and sender.crash_times[incarnation] < departs:
        return  # the sender crashed before this entry left its send queue
    deliver(now, receiver, entry, sender, departs, extra)


def receipt_completes(entry, node_index: int) -> bool:
    """Count one node's receipt of an entry; True when the ack may go to the client.
    `waiting_for` is a count of receipts still needed (semi-sync) or a set of nodes (sync)."""
    if isinstance(entry.waiting_for, int):
        entry.waiting_for -= 1
        return entry.waiting_for <= 0
    entry.waiting_for.discard(node_index)
    return not entry.waiting_for


class Entry:
    """One committed write as replication carries it."""

    __slots__ = ("commit_ms", "index", "key", "op", "waiting_for", "write_id")

    def __init__(self, write_id: int, key: int, index: int, commit_ms: float):
        self.write_id = write_id
        self.key = key
        self.index = index  # its place in its log
        self.commit_ms = commit_ms
        self.op = None  # the client operation still waiting for its ack (semi-sync, sync)
        self.waiting_for = None  # semi-sync: receipts still needed; sync: set of node indices
