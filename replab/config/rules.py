"""Rules that involve more than one scenario field (one field's range is in replab.config.fields).

`check_combinations(values)` raises the first ScenarioError it finds, naming the field to
change and why, e.g. "replication.semi_sync_k = 4: must be at most topology.followers (3)".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replab.config.fields import ScenarioError
from replab.topology.switching import switch_count


def node_count(v: Mapping[str, Any]) -> int:
    """Data nodes in a scenario: leaders and followers, or buddy replication's app nodes."""
    if v["replication.kind"] == "buddy":
        return v["buddy.nodes"]
    return v["topology.leaders"] + v["topology.followers"]


def as_lists(value: tuple) -> list:
    """Tuples (a list field's value) back to lists, as files and messages show them."""
    return [as_lists(x) if isinstance(x, tuple) else x for x in value]


def check_combinations(v: Mapping[str, Any]) -> None:
    """Rules that involve more than one field."""
    followers, leaders = v["topology.followers"], v["topology.leaders"]
    if v["topology.apply_concurrency"] > v["topology.workers"]:
        raise ScenarioError("topology.apply_concurrency", v["topology.apply_concurrency"],
                            f"must be at most topology.workers ({v['topology.workers']})")
    if v["replication.kind"] == "leader-leader":
        if v["replication.fanout"]:
            raise ScenarioError("replication.fanout", v["replication.fanout"],
                                "must be 0 with replication.kind = 'leader-leader' (every leader ships to every other node)")
        others = leaders - 1 + followers
        if v["replication.ack"] == "semi-sync" and others == 0:
            raise ScenarioError("replication.ack", "semi-sync", "needs another node to receive writes "
                                "(topology.leaders - 1 + topology.followers is 0)")
        if v["replication.ack"] == "semi-sync" and v["replication.semi_sync_k"] > others:
            raise ScenarioError("replication.semi_sync_k", v["replication.semi_sync_k"],
                                f"must be at most the other nodes (topology.leaders - 1 + topology.followers = "
                                f"{others}) with semi-sync acks")
    elif v["replication.kind"] == "buddy":
        _check_buddies(v)
    elif leaders != 1:
        raise ScenarioError("topology.leaders", leaders, "must be 1 with replication.kind = 'leader-follower'; "
                            "set replication.kind = 'leader-leader' for more")
    elif v["replication.ack"] == "semi-sync":
        if followers == 0:
            raise ScenarioError("replication.ack", "semi-sync", "needs at least one follower (topology.followers is 0)")
        if v["replication.semi_sync_k"] > followers:
            raise ScenarioError("replication.semi_sync_k", v["replication.semi_sync_k"],
                                f"must be at most topology.followers ({followers}) with semi-sync acks")
    if v["replication.propagation"] == "pull":
        _check_pull(v)
    if v["replication.reads"] == "followers" and followers == 0 and v["replication.kind"] != "buddy":
        raise ScenarioError("replication.reads", "followers", "needs at least one follower (topology.followers is 0); use 'leader' or 'any'")
    _check_data_centres(v)
    last_node = node_count(v) - 1
    for i, fault in enumerate(v["faults.events"]):
        if fault.target == "leader" and v["replication.kind"] == "buddy":
            raise ScenarioError(f"faults.events[{i}].target", "leader", "must name a node (node0 to "
                                f"node{last_node}): buddy replication has no leader")
        if fault.target.startswith("node") and int(fault.target[4:]) > last_node:
            nodes = f"node0 to node{last_node}" if last_node else "node0"
            raise ScenarioError(f"faults.events[{i}].target", fault.target, f"must name an existing node ({nodes}) or 'leader'")
        switches = switch_count(v["topology.switches"], v["topology.switching"]) * v["dcs.count"]
        if fault.target.startswith("switch") and int(fault.target[6:]) >= switches:
            last = switches - 1
            per_dc = "" if v["dcs.count"] == 1 else f" in {v['dcs.count']} data centres"
            raise ScenarioError(f"faults.events[{i}].target", fault.target,
                                "must name an existing switch: " + (f"switch0 to switch{last}" if last else "switch0 (there is one)")
                                + ("" if v["topology.switching"] == "single" else
                                   f" ({v['topology.switches']} pair(s) with topology.switching = {v['topology.switching']!r}{per_dc})")
                                + ("" if v["topology.switching"] != "single" else per_dc))
        if fault.target.startswith("dc") and int(fault.target[2:]) >= v["dcs.count"] or fault.target.startswith("dc") and v["dcs.count"] == 1:
            raise ScenarioError(f"faults.events[{i}].target", fault.target,
                                f"must name an existing data centre: dc0 to dc{v['dcs.count'] - 1}" if v["dcs.count"] > 1
                                else "needs dcs.count of 2 or more (a whole-DC fault with one DC: crash its nodes or switches)")
        if fault.at_ms > v["duration_ms"]:
            raise ScenarioError(f"faults.events[{i}].at_ms", fault.at_ms,
                                f"must be within the run (duration_ms is {v['duration_ms']:g})")


def _check_data_centres(v: Mapping[str, Any]) -> None:
    """Rules of the dcs, dns and sessions sections (see replab.topology.datacentres)."""
    count = v["dcs.count"]
    if v["dcs.placement"] == "leader-per-dc":
        if v["replication.kind"] != "leader-leader" or v["topology.leaders"] != count:
            raise ScenarioError("dcs.placement", "leader-per-dc", f"needs replication.kind = 'leader-leader' and "
                                f"topology.leaders = dcs.count ({count})")
    elif count > 1 and v["replication.kind"] == "leader-leader":
        raise ScenarioError("dcs.placement", "leader-dc", "has one leader; use 'leader-per-dc' with replication.kind = 'leader-leader'")
    if count > 1 and v["replication.kind"] == "buddy":
        raise ScenarioError("dcs.count", count, "must be 1 with replication.kind = 'buddy' (buddies live in one DC)")
    nodes = node_count(v)
    if nodes < count:
        raise ScenarioError("topology.followers", v["topology.followers"], f"too few: every data centre needs a node "
                            f"(topology.leaders + topology.followers must be at least dcs.count = {count})")
    matrix = v["dcs.wan_matrix_ms"]
    if matrix:
        if len(matrix) != count or any(len(row) != count for row in matrix):
            raise ScenarioError("dcs.wan_matrix_ms", as_lists(matrix), f"must be {count} rows of {count} numbers (dcs.count = {count})")
        for a in range(count):
            if matrix[a][a] != 0:
                raise ScenarioError("dcs.wan_matrix_ms", as_lists(matrix), f"must have 0 on the diagonal (row {a} has {matrix[a][a]:g})")
            for b in range(a):
                if matrix[a][b] != matrix[b][a]:
                    raise ScenarioError("dcs.wan_matrix_ms", as_lists(matrix), f"must be symmetric (dc{a} to dc{b} is "
                                        f"{matrix[a][b]:g}, dc{b} to dc{a} is {matrix[b][a]:g})")
                if matrix[a][b] == 0:
                    raise ScenarioError("dcs.wan_matrix_ms", as_lists(matrix), f"must be above 0 between two DCs (dc{b} to dc{a} is 0)")
    weights = v["dns.weights"]
    if weights and (len(weights) != count or sum(weights) <= 0):
        raise ScenarioError("dns.weights", list(weights), f"must be {count} numbers (one per DC, dcs.count = {count}), not all 0")
    order = v["dns.failover_order"]
    if order and sorted(order) != list(range(count)):
        raise ScenarioError("dns.failover_order", list(order), f"must list every DC once: the numbers 0 to {count - 1} in some order")


def _check_pull(v: Mapping[str, Any]) -> None:
    """Pull (read-through caches) replaces shipping: refuse what needs shipped replicas."""
    pull = "with replication.propagation = 'pull'"
    if v["replication.kind"] != "leader-follower":
        raise ScenarioError("replication.kind", v["replication.kind"],
                            f"must be 'leader-follower' {pull} (one origin, followers that cache what they read)")
    if v["replication.ack"] != "async":
        raise ScenarioError("replication.ack", v["replication.ack"],
                            f"must be 'async' {pull}: followers receive no writes, so none can confirm one")
    if v["replication.fanout"]:
        raise ScenarioError("replication.fanout", v["replication.fanout"],
                            f"must be 0 {pull}: nothing is shipped, so nothing is relayed")
    if v["topology.followers"] == 0:
        raise ScenarioError("topology.followers", 0, f"must be at least 1 {pull} (the followers are the caches)")
    if v["dcs.count"] > 1:
        raise ScenarioError("dcs.count", v["dcs.count"], f"must be 1 {pull} (read-through caches across data "
                            "centres are not modelled)")
    if v["replication.reads"] == "leader":
        raise ScenarioError("replication.reads", "leader",
                            f"must be 'followers' or 'any' {pull}: with reads on the leader no cache is ever read")
    if v["failover.promote"]:
        raise ScenarioError("failover.promote", True,
                            f"must be false {pull}: followers hold only cached copies, none can take over the "
                            "writes (while the leader is down, writes are refused and misses fail)")


def _check_buddies(v: Mapping[str, Any]) -> None:
    nodes, layout, copies = v["buddy.nodes"], v["buddy.layout"], v["buddy.copies"]
    if v["balancer.policy"] != "sticky":
        raise ScenarioError("balancer.policy", v["balancer.policy"],
                            "must be 'sticky' with replication.kind = 'buddy' (a session's state lives on its node)")
    if v["replication.fanout"]:
        raise ScenarioError("replication.fanout", v["replication.fanout"], "must be 0 with replication.kind = 'buddy'")
    if layout == "ring" and copies > nodes - 1:
        raise ScenarioError("buddy.copies", copies, f"must be at most buddy.nodes - 1 ({nodes - 1}) in a ring")
    if layout == "pairs" and nodes % 2:
        raise ScenarioError("buddy.nodes", nodes, "must be even with buddy.layout = 'pairs'")
    buddies = {"ring": copies, "pairs": 1, "all": nodes - 1}[layout]
    if v["replication.ack"] == "semi-sync" and v["replication.semi_sync_k"] > buddies:
        raise ScenarioError("replication.semi_sync_k", v["replication.semi_sync_k"],
                            f"must be at most the buddies of a node ({buddies}) with semi-sync acks")


