"""Where each thing is drawn: the system laid out by its kind, so its shape says how it replicates.

    place(scenario, upstream=None) -> Drawing

- one DC on one switch: the clients and the DB load balancer on top, the data nodes below,
  laid out by how they replicate: a star (the leader above a row of followers), a tree
  layered by depth (each relay centred over its followers), a chain as a snake of rows,
  leader-leader as a ring of leaders all joined to each other, buddy replication as a ring
  (buddies are neighbours on it);
- several switches or a redundant pair: the network itself, clients and balancer on top,
  the switches in a row (a pair's two side by side), the data nodes in a row below;
- several DCs: one box per DC holding its balancer and its nodes, the boxes joined by WAN
  links labelled with their one-way latency, each region's clients beside its DC.

`upstream` (node -> the node it replicates from, e.g. from a timeline sample) shapes trees
and chains; without it the scenario's fan-out is laid out as the model builds it.
A row holds at most `max_per_row(width_px)` nodes, so the labels under them never touch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from replab.topology.datacentres import cabling

_LABEL_PX = 48.0  # room one node's label needs ("node10" and a little air)


@dataclass
class Drawing:
    """Positions (x, y) of every host, in drawing units, and what frames them."""

    kind: str  # "replication", "network" or "datacentres"
    nodes: dict[str, tuple[float, float]]
    hosts: dict[str, tuple[float, float]]  # clients / balancer, or "regionN" / "dcN balancer"
    switches: dict[int, tuple[float, float]] = field(default_factory=dict)
    boxes: list[tuple[str, float, float, float, float]] = field(default_factory=list)  # name, x0, y0, x1, y1
    wan: list[tuple[int, int, float]] = field(default_factory=list)  # dc a, dc b, one-way mean ms
    text_position: dict[str, str] = field(default_factory=dict)  # a node's label: "bottom center", ...
    ring: tuple[float, float, float] | None = None  # centre x, y and radius of a ring layout

    def bounds(self, pad: float = 0.7) -> tuple[list[float], list[float]]:
        points = [*self.nodes.values(), *self.hosts.values(), *self.switches.values()]
        points += [(b[1], b[2]) for b in self.boxes] + [(b[3], b[4]) for b in self.boxes]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        below = 1.6 if self.kind == "network" else 0.0  # the replication arcs under the row of nodes
        return [min(xs) - pad, max(xs) + pad], [min(ys) - pad - below, max(ys) + pad]

    def position(self, name: str) -> tuple[float, float]:
        return self.nodes.get(name) or self.hosts[name]


def max_per_row(width_px: float) -> int:
    return max(3, int((width_px - 60) // _LABEL_PX))


def _row(names: list[str], y: float, centre: float, per_row: int, dy: float = 1.0) -> dict[str, tuple[float, float]]:
    """Names side by side, one unit apart, centred; a long row folds into rows `dy` below (labels fit between)."""
    out = {}
    for start in range(0, len(names), per_row):
        chunk = names[start:start + per_row]
        level = start // per_row
        for i, name in enumerate(chunk):
            out[name] = (centre + i - (len(chunk) - 1) / 2, y - level * dy)
    return out


def _children(names: list[str], upstream: dict[str, str | None]) -> dict[str, list[str]]:
    kids: dict[str, list[str]] = {n: [] for n in names}
    for name in names:
        parent = upstream.get(name)
        if parent in kids:
            kids[parent].append(name)
    return kids


def _tidy_tree(root: str, kids: dict[str, list[str]]) -> dict[str, tuple[float, float]]:
    """Leaves one unit apart in depth-first order, each parent centred over its children, rows by depth."""
    out: dict[str, tuple[float, float]] = {}
    next_leaf = [0.0]

    def walk(name: str, depth: int) -> float:
        if not kids[name]:
            x = next_leaf[0]
            next_leaf[0] += 1.0
        else:
            xs = [walk(k, depth + 1) for k in kids[name]]
            x = (xs[0] + xs[-1]) / 2
        out[name] = (x, -float(depth))
        return x

    walk(root, 0)
    return out


def _snake(chain: list[str], per_row: int) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """A chain read like text: left to right, then the next row right to left, labels above."""
    width = min(per_row, len(chain))
    out, side = {}, {}
    for i, name in enumerate(chain):
        row, col = divmod(i, width)
        x = col if row % 2 == 0 else width - 1 - col
        out[name] = (x - (width - 1) / 2, -0.9 * row)
        side[name] = "top center"
    return out, side


def _circle(names: list[str], centre: tuple[float, float], radius: float) -> tuple[dict, dict]:
    """Evenly round a circle from the top, clockwise; labels on the outside."""
    out, side = {}, {}
    for i, name in enumerate(names):
        angle = math.pi / 2 - 2 * math.pi * i / len(names)
        dx, dy = math.cos(angle), math.sin(angle)
        out[name] = (centre[0] + radius * dx, centre[1] + radius * dy)
        side[name] = ("top" if dy > 0.4 else "bottom" if dy < -0.4 else "middle") + " " + (
            "right" if dx > 0.4 else "left" if dx < -0.4 else "center")
    return out, side


def _fanout_upstream(names: list[str], leaders: int, fanout: int) -> dict[str, str | None]:
    """The tree the model builds at the start: followers filled breadth first under the leader."""
    up: dict[str, str | None] = {n: None for n in names[:leaders]}
    followers = names[leaders:]
    for i, name in enumerate(followers):
        up[name] = names[0] if fanout == 0 or i < fanout else followers[i // fanout - 1]
    return up


def place(scenario, upstream: dict[str, str | None] | None = None, width_px: float = 420.0) -> Drawing:
    """Where every host of `scenario` goes (see the module's docstring)."""
    names = list(scenario.node_names)
    per_row = max_per_row(width_px)
    if scenario.dcs.count > 1:
        return _datacentres(scenario, names, per_row)
    topology = scenario.topology
    if topology.switches > 1 or topology.switching != "single":
        return _network(scenario, names, per_row)
    kind = scenario.replication.kind
    if kind == "buddy" or (kind == "leader-leader" and topology.followers == 0 and topology.leaders > 2):
        radius = max(1.0, len(names) / (2 * math.pi) * 1.25)
        nodes, side = _circle(names, (0.0, -radius), radius)
        hosts = {"clients": (0.0, 1.85), "balancer": (0.0, 1.25)}  # above the top node's label
        return Drawing("replication", nodes, hosts, text_position=side, ring=(0.0, -radius, radius))
    if kind == "leader-leader":
        leaders = names[:topology.leaders]
        nodes = _row(leaders, 0.0, 0.0, per_row)
        nodes |= _row(names[topology.leaders:], -1.2, 0.0, per_row)
        return Drawing("replication", nodes, {"clients": (0.0, 1.7), "balancer": (0.0, 1.1)},
                       text_position={n: "bottom center" for n in names})
    up = dict(upstream) if upstream and any(upstream.values()) else _fanout_upstream(
        names, topology.leaders, scenario.replication.fanout)
    kids = _children(names, up)
    root = names[0] if up.get(names[0]) is None else next(n for n in names if up.get(n) is None)
    in_tree = _tidy_tree(root, kids)
    chain = len(in_tree) > 2 and all(len(k) <= 1 for k in kids.values())
    if chain:
        nodes, side = _snake(sorted(in_tree, key=lambda n: -in_tree[n][1]), per_row)
    elif max((len(k) for k in kids.values()), default=0) == len(in_tree) - 1:  # a star
        nodes = {root: (0.0, 0.0)} | _row(kids[root], -1.1, 0.0, per_row)
        side = {n: "bottom center" for n in nodes}
        side[root] = "middle right"
    else:
        xs = [p[0] for p in in_tree.values()]
        mid = (min(xs) + max(xs)) / 2
        nodes = {n: (x - mid, y * 1.1) for n, (x, y) in in_tree.items()}
        # an inner node's label goes on its outer side, away from the arrows in and out of it
        side = {n: "bottom center" if not kids[n] else
                "middle left" if nodes[n][0] < nodes[up[n]][0] else "middle right" for n in nodes if n != root}
        side[root] = "middle right"
    outside = [n for n in names if n not in nodes]  # out of the tree (down): beside the deepest row
    low = min((p[1] for p in nodes.values()), default=0.0)
    right = max((p[0] for p in nodes.values()), default=0.0)
    nodes |= {n: (right + 1.2 + i, low) for i, n in enumerate(outside)}
    side |= {n: "bottom center" for n in outside}
    # the balancer beside the top row, so its lines to the nodes below do not run through the leader
    top = max(p[1] for p in nodes.values())
    left = min(p[0] for p in nodes.values()) - 1.4
    return Drawing("replication", nodes, {"clients": (left, top + 0.9), "balancer": (left, top)},
                   text_position=side)


def _network(scenario, names: list[str], per_row: int) -> Drawing:
    """Clients and balancer, the switches (pairs side by side), the data nodes in a row."""
    layouts, node_switches, tops = cabling(scenario)
    nodes = _row(names, 0.0, 0.0, max(per_row, len(names)))
    span = max(len(names) - 1, 1)
    switches: dict[int, tuple[float, float]] = {}
    groups = layouts[0].groups
    for k, group in enumerate(groups):
        centre = -span / 2 + span * (k + 0.5) / len(groups) if len(groups) > 1 else 0.0
        for m, switch in enumerate(group):
            switches[switch] = (centre + (0.45 * (2 * m - 1) if len(group) == 2 else 0.0), 1.0)
    top_x = [-0.9, 0.9] if len(tops) == 2 else [0.0]
    hosts = {label: (x, 2.0) for x, (label, _s) in zip(top_x, tops)}
    return Drawing("network", nodes, hosts, switches, text_position={n: "bottom center" for n in names})


def _datacentres(scenario, names: list[str], per_row: int) -> Drawing:
    """One box per DC, side by side (balancer above its nodes), WAN links between them, regions above."""
    count = scenario.dcs.count
    members = [[n for i, n in enumerate(names) if i % count == d] for d in range(count)]
    across = max(2, min(max(len(m) for m in members), max(2, per_row // count)))
    width = across + 0.2
    gap = 1.1
    nodes, hosts, boxes, side = {}, {}, [], {}
    for d in range(count):
        cx = d * (width + gap)
        hosts[f"dc{d} balancer"] = (cx, 0.55)
        row = _row(members[d], -0.45, cx, across, dy=0.9)
        nodes |= row
        side |= {n: "bottom center" for n in row}
        low = min((p[1] for p in row.values()), default=-0.45)
        boxes.append((f"dc{d}", cx - width / 2, low - 0.6, cx + width / 2, 1.0))
        hosts[f"region{d}"] = (cx, 1.75)
    matrix = scenario.dcs.wan_matrix_ms or [[0.0 if a == b else scenario.dcs.wan_ms for b in range(count)]
                                            for a in range(count)]
    wan = [(a, b, float(matrix[a][b])) for a in range(count) for b in range(a + 1, count)]
    return Drawing("datacentres", nodes, hosts, boxes=boxes, wan=wan, text_position=side)


__all__ = ["Drawing", "max_per_row", "place"]
