"""Data centres: which switches and nodes each DC holds, the WAN between them, and whole-DC faults.

With `dcs.count` = N > 1, DC d has the switches `topology.switching` lays out (its LAN), its own DB
load balancer and the data nodes i with i mod N = d (node0, the leader of leader-dc
placement, in dc0; with leader-per-dc, leader d in DC d). Sessions live in regions: session
s in region s mod N, whose clients sit on an access switch of their own next to DC s mod N
(same DC number, so they reach it over local hops and the other DCs over the WAN).

Whole-DC faults: `crash` takes down every switch and node of the DC (`recover` brings them
back); `partition` cuts the DC's WAN links to every other DC (its own region's clients
still reach it, and it alone), `heal` restores them. The global DNS balancer's health
checks stand outside every DC: a DC answers them when it is not partitioned, one of its
switches is up and one of its nodes is up.
"""

from __future__ import annotations

from collections.abc import Callable

from replab.core.randomness import BLOCK, buffered, stream
from replab.topology.switching import switch_count, switch_layout


def dc_layout(scenario) -> tuple[list, list[int], list[tuple[int, ...]], list[tuple[int, ...]], list[int]]:
    """Where everything attaches, in one place: (each DC's switch layout, switch_dc, switches
    of each data node by node, switches of each DC's balancer by DC, access switch of each region).

    Every DC has the switch layout `topology.switches` and `topology.switching` describe
    (replab.topology.switching), DC d's switches numbered from d x its switch count (the numbers
    fault targets use); then one access switch per region. Node i is DC (i mod N)'s
    (i // N)-th node, cabled as that layout cables it.
    """
    count, topology = scenario.dcs.count, scenario.topology
    per_dc = switch_count(topology.switches, topology.switching)
    layouts = [switch_layout(topology, d * per_dc) for d in range(count)]
    switch_dc = [d for d in range(count) for _ in range(per_dc)] + list(range(count))
    nodes = topology.leaders + topology.followers
    node_switches = [layouts[i % count].node(i // count) for i in range(nodes)]
    balancer_switches = [layouts[d].balancer for d in range(count)]
    region_switch = [count * per_dc + r for r in range(count)]
    return layouts, switch_dc, node_switches, balancer_switches, region_switch


def cabling(scenario) -> tuple[list, list[tuple[int, ...]], list[tuple[str, tuple[int, ...]]]]:
    """The network as a drawing or a what-if sees it: each DC's switch layout, the switches
    each data node is cabled to, and the other hosts on the DCs' switches as (name, switches):
    the clients and the balancer of the one DC, or each DC's balancer (clients of several DCs
    are on their regions' own access switches)."""
    if scenario.dcs.count == 1:
        layout = switch_layout(scenario.topology)
        nodes = [layout.node(i) for i in range(len(scenario.node_names))]
        return [layout], nodes, [("clients", layout.clients), ("balancer", layout.balancer)]
    layouts, _, node_switches, balancer_switches, _ = dc_layout(scenario)
    return layouts, node_switches, [(f"dc{d} balancer", s) for d, s in enumerate(balancer_switches)]


def cut_off(scenario, down: set[int]) -> list[str]:
    """The hosts (data nodes, balancers, clients) all of whose switches are in `down`."""
    _layouts, node_switches, others = cabling(scenario)
    hosts = [(f"node{i}", switches) for i, switches in enumerate(node_switches)] + others
    return [name for name, switches in hosts if set(switches) <= down]


class DataCentres:
    """The DCs of one model: the WAN latency draws, reachability and whole-DC faults."""

    def __init__(self, scenario):
        dcs = scenario.dcs
        self.count = dcs.count
        self.layouts, self.switch_dc, self.node_switches, self.balancer_switches, self.region_switch = \
            dc_layout(scenario)
        self.switches_of = [list(layout.switches) for layout in self.layouts]
        matrix = dcs.wan_matrix_ms or tuple(tuple(0.0 if a == b else dcs.wan_ms for b in range(self.count))
                                            for a in range(self.count))
        self.wan_mean_ms = [list(row) for row in matrix]
        self.wan_ms = _wan_sampler(self.wan_mean_ms, dcs.wan_sigma, stream(scenario.seed, "wan"))
        self.partitioned: set[int] = set()
        self.reach_now: list[list[bool]] | None = None  # reach(), while it holds; None: to work out again
        self.model = None
        self.nodes_of: list[list] = [[] for _ in range(self.count)]

    def dc_of_node(self, index: int) -> int:
        return index % self.count

    def bind(self, model) -> None:
        """Know the model's nodes and network (once they exist)."""
        self.model = model
        model.network.switch_up.listeners.append(self.forget_reach)  # a switch down or back changes reach
        for node in model.nodes:
            node.dc = self.dc_of_node(node.index)
            self.nodes_of[node.dc].append(node)

    # what a DC can do now ----------------------------------------------------------------
    def switch_up(self, dc: int) -> bool:
        up = self.model.network.switch_up
        for switch in self.switches_of[dc]:  # noqa: SIM110 (any() as a loop: asked on every operation, and a generator costs more)
            if up[switch]:
                return True
        return False

    def answers_health_check(self, dc: int) -> bool:
        """The DC answers a probe from outside: not cut off, a switch up, a node up."""
        return dc not in self.partitioned and self.switch_up(dc) and any(n.up for n in self.nodes_of[dc])

    def reachable(self, region: int, dc: int) -> bool:
        """Clients of `region` can reach `dc`'s load balancer now (else the DC is dead to them;
        a DC whose own nodes are all down but whose network is up forwards over the WAN)."""
        if region != dc and (dc in self.partitioned or region in self.partitioned):
            return False
        return self.switch_up(dc)

    def reach(self) -> list[list[bool]]:
        """`reachable(region, dc)` for every pair now, as reach()[region][dc]. For speed: the DNS
        asks on every operation, and the answers change only when a switch or a WAN partition
        does, so the table is kept in `reach_now` until then (`forget_reach`)."""
        table = self.reach_now
        if table is None:
            table = self.reach_now = [[self.reachable(region, dc) for dc in range(self.count)]
                                      for region in range(self.count)]
        return table

    def forget_reach(self) -> None:
        """A switch went down or came back (Network.switch_up tells), or a partition began or
        healed: work `reach` out again."""
        self.reach_now = None

    # whole-DC faults -------------------------------------------------------------------------
    def fault(self, now: float, action: str, dc: int) -> None:
        model = self.model
        name = f"dc{dc}"
        network = model.network
        if action in ("crash", "recover"):
            up = action == "recover"
            model.recorder.event(now, action, name, "every switch and node")
            for s in self.switches_of[dc]:  # as switch events, so outages and charts see them
                if up:
                    model.switches[s].recover(now, heal=False)
                else:
                    model.switches[s].crash(now)
            for node in self.nodes_of[dc]:
                if up:
                    model.recover(now, node, f"{name} back")
                else:
                    model.crash(now, node, f"{name} down")
            if up:
                model.replication.network_healed(now)
        elif action == "partition":
            if dc in self.partitioned:
                return
            self.partitioned.add(dc)
            self.forget_reach()
            model.recorder.event(now, "partition", name, "WAN links to the other DCs cut")
            for other in range(self.count):
                if other != dc:
                    network.cut_wan(dc, other)
        elif action == "heal":
            if dc not in self.partitioned:
                return
            self.partitioned.discard(dc)
            self.forget_reach()
            model.recorder.event(now, "heal", name, "WAN links restored")
            for other in range(self.count):
                if other != dc and other not in self.partitioned:
                    network.restore_wan(dc, other)
            model.replication.network_healed(now)


def _wan_sampler(mean_ms: list[list[float]], sigma: float, rng) -> Callable[[int, int], float]:
    """wan_ms(a, b): one draw of the WAN latency between DCs a and b, lognormal around the pair's mean."""
    if sigma == 0:
        return lambda a, b: mean_ms[a][b]
    mu = -sigma * sigma / 2  # a factor of mean 1
    factor = buffered(lambda: rng.lognormal(mu, sigma, BLOCK))
    return lambda a, b: mean_ms[a][b] * factor()


def nearest_order(wan_mean_ms: list[list[float]], region: int) -> list[int]:
    """DC numbers by WAN distance from `region` (its own DC first, ties to the lower number)."""
    return sorted(range(len(wan_mean_ms)), key=lambda d: (0.0 if d == region else wan_mean_ms[region][d], d))

