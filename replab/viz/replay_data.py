"""What a replay shows, frame by frame, taken from a run's recorded history (never from a second model).

    replay_data(results, frames=150, messages_ms=None) -> dict (plain JSON: lists, numbers, strings)

Frames are instants spread over the workload (0 to `scenario.duration_ms`), at most `frames`
of them and never closer than the timeline's own samples: a frame is a sample, not an event.
For each frame:

- each node's role, up/down, queue length and replication lag (the timeline sample at or
  before it), how many writes it has applied (the applies frame) or, for a leader,
  committed (the writes frame), and whom it replicates from;
- traffic in the window since the previous frame, as (kind, from, to, messages per
  second): reads and writes from the clients through the load balancer to a node, replies,
  refusals and requests that never arrived, replication entries from sender to replica
  (the applies frame's sender, sent_ms and received_ms), fetches of a pull cache; where
  clients coordinate (leaderless, quorum.coordinator = 'client') no operation passes the
  balancer: the clients send versions to the replicas (the applies frame, an empty sender)
  and read requests (the responses frame: asked_ms to read_ms, and the answer back);
- with several DCs: where each region's operations went (the DNS's answers as they were
  used), and sessions that moved to another DC;
- switches and DCs down, the balancer read-only, and the run's events up to it.

Individual messages, with the two recorded ends of each (sent and received), are listed
for a window of `messages_ms` = (from, to), or for the whole run when it is short (the
scripted stories): the replay then moves each one along its cable in slow motion. The
messages themselves are read from the history by replab.viz.replay_messages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from replab.analysis.frames import rows_by_category
from replab.analysis.results import Results
from replab.topology.datacentres import cabling
from replab.viz.layout import place
from replab.viz.replay_messages import KINDS, _hosts, _legs, messages_in
from replab.viz.topology_chart import cable_segments, replication_edges, upstream_of, wan_links

ROLES = ("leader", "follower", "server")
SHORT_RUN_MESSAGES = 4000  # a run with fewer messages than this is replayed message by message


def _frame_times(results: Results, frames: int) -> np.ndarray:
    """The timeline's samples within the workload, every k-th so at most `frames`; a short run
    (fewer than 20 samples) gets `frames` evenly spaced instants instead."""
    duration = results.scenario.duration_ms
    samples = np.unique(results.timeline["t_ms"].to_numpy())
    samples = samples[samples <= duration]
    if len(samples) < 20:  # a short run, or one still going: evenly up to what has been simulated
        end = min(duration, float(results.timeline["t_ms"].max()))
        return np.linspace(end / frames, end, frames)
    every = int(np.ceil(len(samples) / frames))
    return samples[::-1][::every][::-1]


def _flows(legs: dict[str, np.ndarray], times: np.ndarray) -> list[list]:
    """Per frame: [kind, src, via, dst, messages per second] for the messages sent in its window."""
    edges = np.concatenate([[0.0], times])
    frame = np.searchsorted(edges, legs["sent_ms"], side="left") - 1
    keep = (frame >= 0) & (frame < len(times))
    span = 64  # more hosts than any scenario has (a key packs frame, kind, src, via + 1, dst)
    key = (((frame[keep] * 8 + legs["kind"][keep]) * span + legs["src"][keep]) * span + legs["via"][keep] + 1) * span \
        + legs["dst"][keep]
    keys, counts = np.unique(key, return_counts=True)
    rest, dst = np.divmod(keys, span)  # unpacked as whole arrays: a Python loop over each key cost ~10 ms
    rest, via = np.divmod(rest, span)
    rest, src = np.divmod(rest, span)
    frame_of, kind = np.divmod(rest, 8)
    rate = np.round(counts / (np.diff(edges) / 1000.0)[frame_of], 1)
    out: list[list] = [[] for _ in times]
    for f, *flow in zip(frame_of.tolist(), kind.tolist(), src.tolist(), (via - 1).tolist(), dst.tolist(), rate.tolist()):
        out[f].append(flow)
    return out


def _per_node(results: Results, times: np.ndarray, names: list[str]) -> dict:
    """Role, up, queue, lag, replication streams and applied position of every node at every frame.

    The timeline holds one row per node per sample, in node order, so its columns fold into
    (sample, node) arrays; a frame takes the last sample at or before it.
    """
    timeline = results.timeline
    n = len(names)
    sample_times = timeline["t_ms"].to_numpy()[::n]
    rows = np.clip(np.searchsorted(sample_times, times, side="right") - 1, 0, len(sample_times) - 1)

    def folded(column: str) -> np.ndarray:
        return timeline[column].to_numpy().reshape(-1, n)[rows]

    role_codes = np.array([ROLES.index(r) if r in ROLES else 1 for r in timeline["role"].cat.categories] + [1])
    role = role_codes[timeline["role"].cat.codes.to_numpy()].reshape(-1, n)[rows]
    lag_ms, lag_writes = folded("lag_ms").astype(float), folded("lag_writes").astype(float)
    index = {name: i for i, name in enumerate(names)}
    applied = np.zeros((len(times), n), dtype=np.int64)
    for frame, node_column, at_column in ((results.applies, "node", "applied_ms"), (results.writes, "leader", "commit_ms")):
        at = frame[at_column].to_numpy()
        for name, mine in rows_by_category(frame[node_column]):
            applied[:, index[name]] += np.searchsorted(np.sort(at[mine]), times, side="right")
    edges, known = [], {}
    upstream = timeline["upstream"].cat.codes.to_numpy().reshape(-1, n)
    ups = timeline["up"].to_numpy().reshape(-1, n)
    raw_role = timeline["role"].cat.codes.to_numpy().reshape(-1, n)
    for r in rows:  # the streams change rarely: work each distinct state out once
        key = (upstream[r].tobytes(), ups[r].tobytes(), raw_role[r].tobytes())
        if key not in known:
            state = timeline.iloc[r * n:(r + 1) * n]
            count = results.scenario.dcs.count  # across DCs the traffic on the WAN links shows it
            known[key] = [[index[a], index[b]] for a, b in replication_edges(results, state)
                          if index[a] % count == index[b] % count]
        edges.append(known[key])

    def listed(values: np.ndarray, digits: int | None) -> list:
        # over Python floats (tolist) rather than numpy scalars, ~4x faster; v != v: NaN
        return [[None if v != v else (round(v, digits) if digits else int(v)) for v in row] for row in values.tolist()]

    return {"role": role.tolist(), "up": folded("up").astype(int).tolist(), "queue": folded("queue").astype(int).tolist(),
            "lag_ms": listed(lag_ms, 2), "lag_writes": listed(lag_writes, None), "edges": edges,
            "applied": applied.tolist()}


def _down(results: Results, times: np.ndarray) -> dict:
    """Per frame: the switches and DCs down, the DCs the DNS has marked down, and whether writes are refused."""
    events = results.events
    out = {"down": [], "dns_down": [], "read_only": []}
    down, dns_down, read_only = set(), set(), False
    pending = sorted(zip(events["t_ms"].tolist(), events["kind"].tolist(), map(str, events["target"].tolist())),
                     key=lambda e: e[0])[::-1]  # a stable sort by time, in Python: the frame has a handful of rows
    for t in times:
        while pending and pending[-1][0] <= t:
            _at, kind, target = pending.pop()
            if target.startswith(("switch", "dc")) and kind in ("crash", "partition"):
                down.add(target)
            elif target.startswith(("switch", "dc")) and kind in ("recover", "heal"):
                down.discard(target)
            elif kind == "dns-down":
                dns_down.add(target)
            elif kind == "dns-up":
                dns_down.discard(target)
            elif kind in ("read-only", "writable"):
                read_only = kind == "read-only"
        out["down"].append(sorted(down))
        out["dns_down"].append(sorted(dns_down))
        out["read_only"].append(read_only)
    return out


def _regions(results: Results, times: np.ndarray) -> dict:
    """With several DCs, per frame and region: the share of its operations sent to each DC, and moves."""
    req = results.requests
    if "dc" not in req:
        return {}
    count = results.scenario.dcs.count
    edges = np.concatenate([[0.0], times])
    frame = np.searchsorted(edges, req["start_ms"].to_numpy(), side="left") - 1
    keep = (frame >= 0) & (frame < len(times))
    # counted in arrays, (frame, region, DC) as one index: a crosstab and a loop over its rows cost ~20 ms
    cell = (frame[keep] * count + req["region"].to_numpy()[keep]) * count + req["dc"].cat.codes.to_numpy()[keep]
    sent = np.bincount(cell, minlength=len(times) * count * count).reshape(len(times), count, count)
    total = sent.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # a region that sent nothing in a frame: 0
        share = np.where(total > 0, sent / total, 0.0)
    moved = np.bincount(frame[keep & req["dc_move"].to_numpy(bool)], minlength=len(times))
    return {"dns_share": np.round(share, 3).tolist(), "moves": np.cumsum(moved).tolist()}


def _routes(results: Results, hosts: list[str], drawing, links: list) -> dict[str, list]:
    """Ways between hosts in different DCs: out of the sender's box along the WAN link and into the other."""
    count = results.scenario.dcs.count
    if count == 1:
        return {}

    def dc_of(host: str) -> int | None:
        if host.startswith("node"):
            return int(host[4:]) % count
        return int(host[2:].split()[0]) if host.startswith("dc") else None

    by_pair = {}
    for a, b, _ms, pieces, _label in links:
        points = [pieces[0][0]] + [p[1] for p in pieces]
        by_pair[(a, b)], by_pair[(b, a)] = points, points[::-1]
    routes = {}
    for i, src in enumerate(hosts):
        for j, dst in enumerate(hosts):
            a, b = dc_of(src), dc_of(dst)
            if a is not None and b is not None and a != b:
                routes[f"{i}/{j}"] = [drawing.position(src), *by_pair[(a, b)], drawing.position(dst)]
    return routes


def _static(results: Results, drawing, hosts: list[str]) -> dict:
    """What does not move: positions, labels, DC boxes, WAN links with their labels, the network's cables, routes."""
    links = wan_links(drawing) if drawing.wan else []
    wan = [{"dcs": [f"dc{a}", f"dc{b}"], "ms": ms, "points": [pieces[0][0]] + [p[1] for p in pieces], "label": label}
           for a, b, ms, pieces, label in links]
    cables = [{"kind": kind, "points": [a, b], "switches": [f"switch{s}" for s in switches]}
              for kind, a, b, switches in cable_segments(results.scenario, drawing)] if drawing.kind == "network" else []
    attach = {}
    if drawing.kind == "network":  # each host's switches, primary first: the replay routes through the live one
        _layouts, node_switches, tops = cabling(results.scenario)
        attach = {f"node{i}": [f"switch{s}" for s in sw] for i, sw in enumerate(node_switches)}
        attach |= {label: [f"switch{s}" for s in sw] for label, sw in tops}
    rows: dict[float, int] = {}
    for _x, y in drawing.nodes.values():
        rows[round(y, 2)] = rows.get(round(y, 2), 0) + 1
    roomy = {n: drawing.kind != "datacentres" and rows[round(y, 2)] <= 5 for n, (_x, y) in drawing.nodes.items()}
    return {"kind": drawing.kind, "nodes": drawing.nodes, "hosts": drawing.hosts,
            "switches": {f"switch{s}": p for s, p in drawing.switches.items()}, "text_position": drawing.text_position,
            "with_role": roomy, "boxes": drawing.boxes, "wan": wan, "cables": cables, "bounds": drawing.bounds(0.9),
            "routes": _routes(results, hosts, drawing, links), "attach": attach or None}


def moment_ms(results: Results, messages: list[list]) -> float:
    """An instant worth showing first: the middle of the read-only window, a DC's traffic moving,
    just after the first fault; message by message, the first stale answer or conflict."""
    duration = results.scenario.duration_ms
    if messages:
        stale = [m for m in messages if KINDS[m[0]] == "stale reply"]
        if stale:
            return float(stale[0][4])
        conflicts = results.conflicts
        if conflicts is not None and len(conflicts):  # just after the first node met the two versions
            return float(conflicts["t_ms"].min()) + 0.05
        return float(messages[0][4])
    events = [(t, kind) for t, kind in zip(results.events["t_ms"].tolist(), results.events["kind"].tolist()) if t <= duration]
    times = {k: [t for t, kind in events if kind == k] for k in ("read-only", "writable", "dns-down", "take-over")}
    if times["read-only"]:
        start = times["read-only"][0]
        end = next((t for t in times["writable"] if t >= start), duration)
        return min((start + end) / 2, duration)
    if times["dns-down"]:
        return min(times["dns-down"][0] + 0.25 * max(results.scenario.dns.ttl_ms, 500.0), duration)
    if times["take-over"]:
        return min(times["take-over"][0] + 0.05 * duration, duration)
    if events:
        return min(float(events[0][0]) + 0.1 * duration, duration)
    return duration / 2


def replay_data(results: Results, frames: int = 150, messages_ms: tuple[float, float] | None = None,
                slow_motion: bool | None = None) -> dict:
    """Everything a replay draws, as plain JSON (see the module's docstring). `slow_motion` False: never
    message by message; None: for short runs."""
    scenario = results.scenario
    names = list(scenario.node_names)
    times = _frame_times(results, frames)
    first = results.timeline[results.timeline["t_ms"] == results.timeline["t_ms"].min()].sort_values("node")
    drawing = place(scenario, upstream_of(first))
    hosts = _hosts(results)
    legs = _legs(results, hosts)
    if messages_ms is None and (slow_motion or slow_motion is None and len(legs["kind"]) <= SHORT_RUN_MESSAGES):
        messages_ms = (0.0, scenario.duration_ms)
    events = results.events[results.events["t_ms"] <= scenario.duration_ms][["t_ms", "kind", "target", "detail"]]
    conflicts = results.conflicts
    if conflicts is not None and len(conflicts):  # leader-leader: who met which two versions, and what it kept
        kept = {"kept the existing version": "kept the one it held", "took the incoming version": "took the new one",
                "kept both as siblings": "kept both"}
        said = conflicts.assign(kind="conflict", target=conflicts["node"].astype(str), detail=[
            f"key {k}: write {i} arrived, write {e} held; {kept.get(r, r)}" for k, i, e, r in
            zip(conflicts["key"], conflicts["incoming"], conflicts["existing"], conflicts["resolution"].astype(str))])
        events = pd.concat([events, said[["t_ms", "kind", "target", "detail"]]]).sort_values("t_ms", kind="stable")
    data = {
        "duration_ms": scenario.duration_ms,
        "kind": scenario.replication.kind,
        "nodes": names,
        "hosts": hosts,
        "message_kinds": list(KINDS),
        "times": [round(float(t), 3) for t in times],
        "drawing": _static(results, drawing, hosts),
        "flows": _flows(legs, times),
        "events": [[round(float(t), 3), str(k), str(g), str(d)] for t, k, g, d in
                   events.itertuples(index=False)],
        "messages": (messages := messages_in(results, *messages_ms, legs=legs) if messages_ms else []),
        "moment_ms": round(moment_ms(results, messages), 3),
        "messages_ms": list(messages_ms) if messages_ms else None,
    }
    data |= _per_node(results, times, names) | _down(results, times) | _regions(results, times)
    return data


__all__ = ["KINDS", "ROLES", "messages_in", "replay_data"]
