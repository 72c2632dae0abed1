"""The topology chart: the system drawn by its kind (replab.viz.layout), at one instant of a run.

Drawn from a run's Results only (the timeline, events and scenario): who leads, who is up,
who replicates from whom, which switch or DC is down, who is cut off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from replab.analysis.results import Results
from replab.replication.buddy import buddy_indices
from replab.topology.datacentres import cabling
from replab.topology.datacentres import cut_off as hosts_cut_off
from replab.topology.switching import switch_count
from replab.viz.layout import Drawing, place
from replab.viz.style import BLUE, GREY, LIGHT_GREY, ROLE_COLOURS, VERMILLION, fill

NODE_SIZE = 24


def state_at(results: Results, t_ms: float | None) -> pd.DataFrame:
    """One timeline sample per node: the last one at or before t_ms (default: the workload's end)."""
    timeline = results.timeline
    times = timeline["t_ms"].to_numpy()
    limit = results.scenario.duration_ms if t_ms is None else t_ms
    before = times[times <= limit]
    at = before.max() if len(before) else times.min()
    return timeline[timeline["t_ms"] == at].sort_values("node")


def upstream_of(state: pd.DataFrame) -> dict[str, str | None]:
    """node -> the node it replicates from in this sample (None for leaders and nodes out of the tree)."""
    # tolist: a categorical column iterated value by value costs ~20 µs a value
    return {str(n): (None if pd.isna(u) else str(u)) for n, u in zip(state["node"].tolist(), state["upstream"].tolist())}


def down_at(results: Results, t_ms: float | None) -> set[str]:
    """Switches ('switchN') and DCs ('dcN') down at t_ms, from the events."""
    down: set[str] = set()
    limit = results.scenario.duration_ms if t_ms is None else t_ms
    for t, kind, target in zip(*(results.events[c].tolist() for c in ("t_ms", "kind", "target"))):
        if t <= limit and str(target).startswith(("switch", "dc")) and kind in ("crash", "recover", "partition", "heal"):
            (down.add if kind in ("crash", "partition") else down.discard)(str(target))
    return down


def replication_edges(results: Results, state: pd.DataFrame) -> list[tuple[str, str]]:
    """(from, to) for each replication stream at this instant, as recorded (buddy: from the layout)."""
    names = [str(n) for n in state["node"].tolist()]
    ups = state["up"].tolist()
    scenario = results.scenario
    if scenario.replication.kind == "buddy":  # each node to the buddies holding its sessions
        b = scenario.buddy
        live = [i for i, u in enumerate(ups) if u]
        return [(names[i], names[j]) for i in live for j in buddy_indices(i, len(names), b.layout, b.copies, live)]
    leaders = [n for n, r in zip(names, state["role"].tolist()) if r == "leader"]
    if scenario.replication.kind == "leader-leader":
        edges = [(a, b) for a in leaders for b in leaders if a != b]  # each ships to every other
        return edges + [(leaders[0], n) for n in names if n not in leaders] if leaders else edges
    if scenario.replication.propagation == "pull":
        return []  # caches follow no stream: each fetches what it is asked for (the replay shows the fetches)
    recorded = [(u, n) for n, u in upstream_of(state).items() if u]
    if recorded:
        return recorded
    return [(leaders[0], n) for n in names if n != leaders[0]] if leaders else []  # the leader is down


def _shortened(a: tuple[float, float], b: tuple[float, float], by: float) -> tuple[tuple, tuple]:
    """The segment a-b pulled in by `by` at both ends, so arrows stop at the markers' edges."""
    (x0, y0), (x1, y1) = a, b
    length = max(np.hypot(x1 - x0, y1 - y0), 1e-9)
    k = min(by / length, 0.45)
    return (x0 + (x1 - x0) * k, y0 + (y1 - y0) * k), (x1 - (x1 - x0) * k, y1 - (y1 - y0) * k)


def _box_edge(box: tuple, towards: tuple[float, float]) -> tuple[float, float]:
    """Where the line from a box's centre towards a point leaves the box."""
    _name, x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = towards[0] - cx, towards[1] - cy
    scale = min(((x1 - x0) / 2) / abs(dx) if dx else np.inf, ((y1 - y0) / 2) / abs(dy) if dy else np.inf)
    return cx + dx * scale, cy + dy * scale


def wan_links(drawing: Drawing):
    """Per WAN link: (dc a, dc b, ms, its line pieces, where its label goes). Neighbouring boxes are
    joined straight across the gap; boxes further apart by an arc under the boxes between them."""
    boxes = {b[0]: b for b in drawing.boxes}
    bottom = min(b[2] for b in drawing.boxes)
    out = []
    for a, b, ms in drawing.wan:
        _, ax0, ay0, ax1, ay1 = boxes[f"dc{a}"]
        _, bx0, by0, bx1, by1 = boxes[f"dc{b}"]
        if b == a + 1:
            y = (max(ay0, by0) + min(ay1, by1)) / 2 - 0.1
            out.append((a, b, ms, [((ax1, y), (bx0, y))], ((ax1 + bx0) / 2, y + 0.3)))
        else:
            start, end = ((ax0 + ax1) / 2, ay0), ((bx0 + bx1) / 2, by0)
            bow = 0.35 + 0.1 * (b - a)
            out.append((a, b, ms, _curved(start, end, bow), ((start[0] + end[0]) / 2, bottom - bow)))
    return out


def _lines(segments, name, colour, width=1.0, dash="solid", arrows=False, hover=None) -> dict:
    x, y, sizes = [], [], []
    for a, b in segments:
        x += [a[0], b[0], None]
        y += [a[1], b[1], None]
        sizes += [0, 10 if arrows else 0, 0]
    spec = dict(name=name, x=x, y=y, mode="lines+markers" if arrows else "lines", showlegend=False,
                line=dict(color=colour, width=width, dash=dash), hoverinfo="skip")
    if arrows:
        spec["marker"] = dict(symbol="arrow", angleref="previous", size=sizes, color=colour, line=dict(width=0))
    return spec


def _curved(a, b, bow: float, steps: int = 12):
    """An arc from a to b bowing downwards by `bow` (in drawing units), as line pieces."""
    s = np.linspace(0, 1, steps + 1)
    xs = a[0] + (b[0] - a[0]) * s
    ys = a[1] + (b[1] - a[1]) * s - 4 * bow * s * (1 - s)
    return list(zip(zip(xs[:-1], ys[:-1]), zip(xs[1:], ys[1:])))


def topology(results: Results, t_ms: float | None = None, fig=None):
    """The system at `t_ms` (the last timeline sample at or before it; default the workload's end).

    Nodes are coloured by role (a cross when down) and laid out by how they replicate
    (replab.viz.layout); blue arrows are replication streams as recorded (buddy: each node
    to the buddies holding its sessions), grey lines the network's cables where there are
    several switches (dashed: a host's second cable; thick: a pair's own link; red dots: to
    a dead switch); with several DCs, boxes joined by WAN links labelled with their latency.
    """
    state = state_at(results, t_ms)
    scenario = results.scenario
    names = [str(n) for n in state["node"]]
    roles, ups = state["role"].astype(str).tolist(), state["up"].tolist()
    is_up = dict(zip(names, ups))
    drawing: Drawing = place(scenario, upstream_of(state))
    down = down_at(results, t_ms)
    traces: list[dict] = []
    annotations: list[dict] = []
    shapes = [dict(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=VERMILLION if name in down else GREY,
                                                                       width=1.5, dash="dot" if name in down else "solid"),
                   fillcolor="#FBE3D6" if name in down else "#F4F4F4", layer="below")
              for name, x0, y0, x1, y1 in drawing.boxes]
    for name, x0, _y0, _x1, y1 in drawing.boxes:
        annotations.append(dict(x=x0, y=y1, xanchor="left", yanchor="bottom", text=f"<b>{name}</b>" + (
            " DOWN" if name in down else ""), showarrow=False, font=dict(size=10)))
    if drawing.wan:
        alive, cut = [], []
        for a, b, ms, segments, (lx, ly) in wan_links(drawing):
            (cut if {f"dc{a}", f"dc{b}"} & down else alive).extend(segments)
            annotations.append(dict(x=lx, y=ly, text=f"{ms:g} ms", showarrow=False, font=dict(size=10),
                                    bgcolor="white", hovertext=f"dc{a}-dc{b}: {ms:g} ms one way"))
        traces.append(_lines(alive, "WAN links", GREY, width=3))
        traces.append(_lines(cut, "WAN links (down)", VERMILLION, width=2, dash="dot"))
    if drawing.kind == "network":
        traces += _cables(results, drawing, down)
    streams: dict[bool, tuple[list, list]] = {True: ([], []), False: ([], [])}  # both ends up? -> (pieces, heads)
    dc_of = {n: i % scenario.dcs.count for i, n in enumerate(names)}
    for source, target in replication_edges(results, state):
        if dc_of[source] != dc_of[target]:
            continue  # across the WAN: the link and the nodes' hover say it; arrows would cross the boxes
        a, b = drawing.nodes[source], drawing.nodes[target]
        pieces, heads = streams[bool(is_up[source] and is_up[target])]
        if drawing.kind == "network":  # nodes in one row under their cables: arcs below, under the labels
            a, b = (a[0], a[1] - 0.95), (b[0], b[1] - 0.95)
            arc = _curved(a, b, 0.2 + 0.1 * abs(b[0] - a[0]))
            pieces += arc[:-1]
            heads.append(arc[-1])
        else:
            heads.append(_shortened(a, b, 0.3))
    for up, colour, dash, label in ((True, BLUE, "solid", "replication"), (False, LIGHT_GREY, "dot", "replication (down)")):
        pieces, heads = streams[up]
        spec = _lines(pieces + heads, label, colour, width=2, dash=dash, arrows=True)
        spec["marker"]["size"] = [0] * (3 * len(pieces)) + spec["marker"]["size"][3 * len(pieces):]
        traces.append(spec)
    traces += _hosts(results, drawing, down)
    cut_off = set(hosts_cut_off(scenario, {int(s[6:]) for s in down if s.startswith("switch")})) \
        if drawing.kind == "network" else set()
    per_row = {}
    for n in names:
        per_row.setdefault(round(drawing.nodes[n][1], 2), []).append(n)
    roomy = {n for row in per_row.values() if len(row) <= 5 for n in row} if drawing.kind != "datacentres" else set()
    text = [n + (f"<br>{r if u else 'DOWN'}" if n in roomy else "") + ("<br>cut off" if n in cut_off else "")
            for n, r, u in zip(names, roles, ups)]
    upstream = upstream_of(state)
    hover = [f"{n}: {r}, {'up' if u else 'DOWN'}" + (f", replicates from {upstream[n]}" if upstream[n] else "")
             + f"<br>queue {q}, utilisation {ut:.0%}<br>lag {lag:.1f} ms ({lw} writes)"
             for n, r, u, q, ut, lag, lw in zip(names, roles, ups, state["queue"], state["utilisation"],
                                                state["lag_ms"], state["lag_writes"])]
    for role in ("leader", "follower", "server", "down"):  # the legend: what each colour means (always 4 traces)
        traces.append(dict(name=role, x=[None], y=[None], mode="markers",
                           showlegend=role in roles or (role == "down" and not all(ups)),
                           marker=dict(size=11, color=ROLE_COLOURS[role], symbol="x" if role == "down" else "circle")))
    traces.append(dict(name="load balancer", x=[None], y=[None], mode="markers", showlegend=drawing.kind == "datacentres",
                       marker=dict(size=11, color="#666666", symbol="diamond")))
    traces.append(dict(name="nodes", x=[drawing.nodes[n][0] for n in names], y=[drawing.nodes[n][1] for n in names],
                       mode="markers+text", text=text, textfont=dict(size=10), showlegend=False,
                       textposition=[drawing.text_position.get(n, "bottom center") for n in names],
                       hovertext=hover, hoverinfo="text",
                       marker=dict(size=NODE_SIZE, color=[ROLE_COLOURS[r] if u else ROLE_COLOURS["down"]
                                                          for r, u in zip(roles, ups)],
                                   symbol=["circle" if u else "x" for u in ups], line=dict(color="#333333", width=1))))
    x_range, y_range = drawing.bounds()
    y_range = [y_range[0] - 0.25, y_range[1] + 0.1]
    layout = dict(title=dict(text=f"Topology at t = {state['t_ms'].iloc[0]:g} ms"), showlegend=True,
                  xaxis=dict(visible=False, range=x_range), yaxis=dict(visible=False, range=y_range),
                  shapes=shapes, annotations=annotations, hovermode="closest")
    return fill(fig, traces, layout)


def _hosts(results: Results, drawing: Drawing, down: set[str]) -> list[dict]:
    """Clients, balancers and switches: diamonds and squares with their names."""
    scenario = results.scenario
    labels = {"clients": f"{scenario.workload.sessions} clients", "balancer": "load balancer"}
    names = list(drawing.hosts)
    text = [labels.get(n, n.replace("region", "region ") if n.startswith("region") else "") for n in names]
    traces = [dict(name="clients & balancer", x=[drawing.hosts[n][0] for n in names],
                   y=[drawing.hosts[n][1] for n in names], mode="markers+text", text=text, showlegend=False,
                   textposition=["middle left" if n == "clients" and drawing.kind == "network" else "middle right"
                                 if drawing.kind == "network" else "bottom center" if n == "balancer" else "top center"
                                 for n in names],
                   textfont=dict(size=10), hovertext=[n.replace("region", "clients of region ") if n.startswith("region")
                                                      else n.replace("balancer", "load balancer") for n in names],
                   hoverinfo="text",
                   marker=dict(symbol=["circle-open" if n.startswith(("clients", "region")) else "diamond" for n in names],
                               size=14, color="#666666"))]
    if drawing.kind == "network":
        topology = scenario.topology
        count = switch_count(topology.switches, topology.switching)
        up = [f"switch{s}" not in down for s in range(count)]
        partner = {s: next((g[1 - g.index(s)] for g in cabling(scenario)[0][0].groups if s in g and len(g) == 2), None)
                   for s in range(count)}
        traces.append(dict(name="switches", x=[drawing.switches[s][0] for s in range(count)],
                           y=[drawing.switches[s][1] for s in range(count)], mode="markers+text", showlegend=False,
                           text=[f"switch{s}" + ("" if u else " DOWN") for s, u in enumerate(up)],
                           textposition=["middle left" if partner[s] == s + 1 else "middle right" for s in range(count)],
                           textfont=dict(size=10),
                           marker=dict(symbol="square", size=16, color=[GREY if u else VERMILLION for u in up])))
    return traces


def cable_segments(scenario, drawing: Drawing) -> list[tuple[str, tuple, tuple, tuple[int, ...]]]:
    """The network's cables as (kind, from, to, switches it depends on): a host's "primary" and
    "second" cable to a switch, and each redundant pair's own "pair" link."""
    layouts, node_switches, tops = cabling(scenario)
    out = []
    hosts = [(drawing.nodes[f"node{i}"], s) for i, s in enumerate(node_switches)]
    hosts += [(drawing.hosts[label], s) for label, s in tops]
    for at, switches in hosts:
        for m, switch in enumerate(switches):
            out.append(("primary" if m == 0 else "second", at, drawing.switches[switch], (switch,)))
    for group in (g for layout in layouts for g in layout.groups if len(g) == 2):
        out.append(("pair", drawing.switches[group[0]], drawing.switches[group[1]], tuple(group)))
    return out


def _cables(results: Results, drawing: Drawing, down: set[str]) -> list[dict]:
    """The network's cables: primary solid, second dashed, a pair's link thick, to a dead switch red dots."""
    cables: dict[str, list] = {"primary": [], "second": [], "dead": [], "pair": []}
    for kind, a, b, switches in cable_segments(results.scenario, drawing):
        cables[kind].append((a, b))
        if any(f"switch{s}" in down for s in switches):
            cables["dead"].append((a, b))
    return [_lines(cables["primary"], "links", "#BBBBBB"), _lines(cables["second"], "second links", "#BBBBBB", dash="dash"),
            _lines(cables["pair"], "pair link", "#888888", width=4),
            _lines(cables["dead"], "links to a dead switch", VERMILLION, width=1.5, dash="dot")]


__all__ = ["cable_segments", "down_at", "replication_edges", "state_at", "topology", "upstream_of", "wan_links"]
