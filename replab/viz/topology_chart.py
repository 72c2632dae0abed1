"""The topology chart: nodes, switches (lone or pairs), cables, roles, up/down and replication.

Drawn from a run's Results only (the timeline, events and scenario), at any instant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from replab.analysis.results import Results
from replab.replication.buddy import buddy_indices
from replab.topology.datacentres import cabling
from replab.topology.datacentres import cut_off as hosts_cut_off
from replab.topology.switching import switch_count
from replab.viz.style import ROLE_COLOURS, fill


def _state_at(results: Results, t_ms: float | None) -> pd.DataFrame:
    """One timeline sample per node: the last one at or before t_ms (the first one if none)."""
    timeline = results.timeline
    times = timeline["t_ms"].to_numpy()
    if t_ms is None:
        at = times.max()
    else:
        before = times[times <= t_ms]
        at = before.max() if len(before) else times.min()
    return timeline[timeline["t_ms"] == at].sort_values("node")


def _switches_up(results: Results, t_ms: float | None) -> list[bool]:
    topology = results.scenario.topology
    up = [True] * (switch_count(topology.switches, topology.switching) * results.scenario.dcs.count)
    events = results.events
    for t, kind, target in zip(events["t_ms"], events["kind"], events["target"]):
        if str(target).startswith("switch") and (t_ms is None or t <= t_ms) and kind in ("crash", "recover"):
            up[int(target[6:])] = kind == "recover"
    return up


def _switch_positions(layouts, spans: list[tuple[float, float]]) -> dict[int, float]:
    """x of each switch: each DC's switches spread over its nodes' width, a pair's members side by side."""
    x = {}
    for layout, (low, high) in zip(layouts, spans):
        groups, width = layout.groups, high - low + 1
        for k, group in enumerate(groups):
            centre = low - 0.5 + width * (k + 0.5) / len(groups)
            offset = min(0.35, width / (4 * len(groups)))
            for m, switch in enumerate(group):
                x[switch] = centre + (offset * (2 * m - 1) if len(group) == 2 else 0.0)
    return x


def topology(results: Results, t_ms: float | None = None, fig=None):
    """Clients, balancer, switches and data nodes with their roles and up/down state at t_ms.

    The state is the last timeline sample at or before `t_ms` (the end of the run if None).
    Grey lines are network links as `topology.switching` lays them out (replab.topology.switching):
    to each host's primary switch solid ("links"), to its second one (dual-attached)
    dashed ("second links"), the link joining a redundant pair thick ("pair link"); links to
    a switch that is down are drawn over in red dots, and a node with no live switch left
    reads "cut off". With several data centres each DC's nodes stand side by side under
    its own switches and balancer (clients, in their regions, are not drawn). Arcs below
    the nodes are replication:
    each node from its recorded upstream (leader or relay), between leaders when several
    lead, and from the leader to every other node while no tree is recorded (dotted when
    either end is down).
    """
    state = _state_at(results, t_ms)
    names = [str(n) for n in state["node"]]
    scenario = results.scenario
    layouts, node_switches, tops = cabling(scenario)
    dc_of = [i % scenario.dcs.count for i in range(len(names))]
    switch_up = _switches_up(results, t_ms)
    span = max(len(names) - 1, 1)
    order = sorted(range(len(names)), key=lambda i: (dc_of[i], i))  # the nodes of each DC side by side
    node_x = {names[i]: float(x) for x, i in enumerate(order)}
    spans = [(min(x for x, i in enumerate(order) if dc_of[i] == d), max(x for x, i in enumerate(order) if dc_of[i] == d))
             if d in dc_of else (0, span) for d in range(len(layouts))]
    switch_x = _switch_positions(layouts, spans)
    if len(tops) == 2 and len(layouts) == 1:
        top_x = [span / 2 - 0.6, span / 2 + 0.6]
    else:
        top_x = [(low + high) / 2 for low, high in spans]
    partner = {s: layout.partner(s) for layout in layouts for s in layout.switches}

    cables = {"primary": ([], []), "second": ([], []), "dead": ([], []), "pair": ([], [])}

    def cable(x: float, y: float, switch: int, kind: str) -> None:
        for drawn in (kind, "dead") if not switch_up[switch] else (kind,):  # dead ones overdrawn in red
            xs, ys = cables[drawn]
            xs += [x, switch_x[switch], None]
            ys += [y, 1.0, None]

    hosts = [(node_x[name], 0.0, node_switches[i]) for i, name in enumerate(names)]
    hosts += [(x, 2.0, switches) for x, (_label, switches) in zip(top_x, tops)]
    for x, y, switches in hosts:
        for m, switch in enumerate(switches):
            cable(x, y, switch, "primary" if m == 0 else "second")
    for group in (g for layout in layouts for g in layout.groups):
        if len(group) == 2:
            for drawn in ("pair",) if all(switch_up[s] for s in group) else ("pair", "dead"):
                xs, ys = cables[drawn]
                xs += [switch_x[group[0]], switch_x[group[1]], None]
                ys += [1.0, 1.0, None]
    cut_off = set(hosts_cut_off(scenario, {s for s, up in enumerate(switch_up) if not up}))

    roles, ups = state["role"].astype(str).tolist(), state["up"].tolist()
    is_up = dict(zip(names, ups))
    leaders = [n for n, r in zip(names, roles) if r == "leader"]
    upstreams = [(None if pd.isna(u) else str(u)) for u in state["upstream"]] if "upstream" in state else []
    if results.scenario.replication.kind == "buddy":  # each node to the buddies holding its sessions
        b = results.scenario.buddy
        live = [i for i, u in enumerate(ups) if u]
        edges = [(names[i], names[j]) for i in live for j in buddy_indices(i, len(names), b.layout, b.copies, live)]
    elif any(upstreams):  # who replicates from whom, as recorded (a star, a chain or a tree)
        edges = [(u, n) for n, u in zip(names, upstreams) if u]
    elif len(leaders) > 1:  # leaders replicate to each other
        edges = [(a, b) for i, a in enumerate(leaders) for b in leaders[i + 1:]]
    else:  # no tree recorded (the leader is down): draw what would be shipped
        edges = [(leaders[0], n) for n in names if n != leaders[0]] if leaders else []
    live, dead = [], []
    for source, target in edges:
        x0, x1 = node_x[source], node_x[target]
        depth = 0.25 + 0.12 * abs(x1 - x0)
        xs = [x0 + (x1 - x0) * s for s in np.linspace(0, 1, 13)]
        ys = [-4 * depth * s * (1 - s) for s in np.linspace(0, 1, 13)]
        (live if is_up[source] and is_up[target] else dead).append((xs, ys))

    def arcs(curves, colour, dash, label):
        x, y, sizes = [], [], []
        for xs, ys in curves:
            x += xs + [None]
            y += ys + [None]
            sizes += [0] * (len(xs) - 1) + [10, 0]
        return dict(name=label, x=x, y=y, mode="lines+markers", hoverinfo="skip",
                    line=dict(color=colour, dash=dash, width=2),
                    marker=dict(symbol="arrow", angleref="previous", size=sizes, color=colour, line=dict(width=0)))

    colours = [ROLE_COLOURS[r] if u else ROLE_COLOURS["down"] for r, u in zip(roles, ups)]
    symbols = ["circle" if u else "x" for u in ups]
    hover = [f"{n}: {r}, {'up' if u else 'DOWN'}<br>queue {q}, utilisation {ut:.0%}<br>lag {lag:.1f} ms ({lw} writes)"
             for n, r, u, q, ut, lag, lw in zip(names, roles, ups, state["queue"], state["utilisation"],
                                                state["lag_ms"], state["lag_writes"])]
    traces = [
        dict(name="links", x=cables["primary"][0], y=cables["primary"][1], mode="lines",
             line=dict(color="#bbbbbb", width=1), hoverinfo="skip", showlegend=False),
        dict(name="second links", x=cables["second"][0], y=cables["second"][1], mode="lines",
             line=dict(color="#bbbbbb", width=1, dash="dash"), hoverinfo="skip", showlegend=False),
        dict(name="pair link", x=cables["pair"][0], y=cables["pair"][1], mode="lines",
             line=dict(color="#888888", width=4), hoverinfo="skip", showlegend=False),
        dict(name="links to a dead switch", x=cables["dead"][0], y=cables["dead"][1], mode="lines",
             line=dict(color="#d62728", width=1.5, dash="dot"), hoverinfo="skip", showlegend=False),
        arcs(live, "#4682b4", "solid", "replication"),
        arcs(dead, "#b0b0b0", "dot", "replication (down)"),
        dict(name="switches", x=[switch_x[s] for s in range(len(switch_up))], y=[1.0] * len(switch_up),
             mode="markers+text", text=[f"switch{s}" + ("" if u else " DOWN") for s, u in enumerate(switch_up)],
             textposition=["middle left" if partner[s] == s + 1 else "middle right" for s in range(len(switch_up))],
             marker=dict(symbol="square", size=16, color=["#888888" if u else "#d62728" for u in switch_up])),
        dict(name="clients & balancer", x=top_x, y=[2.0] * len(top_x), mode="markers+text",
             text=[f"{scenario.workload.sessions} clients" if label == "clients" else label for label, _ in tops],
             textposition="top center",
             marker=dict(symbol="diamond", size=16, color="#666666"), showlegend=False),
        dict(name="nodes", x=[node_x[n] for n in names], y=[0.0] * len(names), mode="markers+text",
             text=[(f"{n}<br>{r}" if u else f"{n}<br>DOWN") + ("<br>cut off" if n in cut_off else "")
                   for n, r, u in zip(names, roles, ups)],
             textposition="top center", hovertext=hover, hoverinfo="text",
             marker=dict(size=26, color=colours, symbol=symbols, line=dict(color="#333333", width=1))),
    ]
    when = f"t = {state['t_ms'].iloc[0]:g} ms"
    layout = dict(title=dict(text=f"Topology at {when}"), showlegend=True,
                  xaxis=dict(visible=False, range=[-0.8, span + 0.8]),
                  yaxis=dict(visible=False, range=[-0.4 - 0.5 - 0.12 * span, 2.5]))
    return fill(fig, traces, layout)
