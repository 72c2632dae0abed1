"""Rules that involve more than one scenario field (one field's range is in replab.config.fields).

`check_combinations(values)` raises the first ScenarioError it finds, naming the field to
change and why, e.g. "replication.semi_sync_k = 4: must be at most topology.followers (3)".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replab.config.fields import FIELDS_BY_PATH, ScenarioError
from replab.config.host_faults import check_host_fault
from replab.replication import STRATEGIES
from replab.replication.promotion_settings import check_scope
from replab.topology.switching import switch_count


def node_count(v: Mapping[str, Any]) -> int:
    """Data nodes in a scenario, as its replication strategy counts them."""
    return STRATEGIES[v["replication.kind"]].node_count(v)


def as_lists(value: tuple) -> list:
    """Tuples (a list field's value) back to lists, as files and messages show them."""
    return [as_lists(x) if isinstance(x, tuple) else x for x in value]


def check_combinations(v: Mapping[str, Any]) -> None:
    """Rules that involve more than one field."""
    kind = v["replication.kind"]
    strategy = STRATEGIES[kind]
    if v["topology.apply_concurrency"] > v["topology.workers"]:
        raise ScenarioError("topology.apply_concurrency", v["topology.apply_concurrency"],
                            f"must be at most topology.workers ({v['topology.workers']})")
    _check_other_strategies_choices(v)
    check_scope(v)
    strategy.check(v)
    _check_data_centres(v)
    last_node = node_count(v) - 1
    switches = switch_count(v["topology.switches"], v["topology.switching"]) * v["dcs.count"]
    for i, fault in enumerate(v["faults.events"]):
        if fault.on_hosts:  # pauses, host partitions and slow hosts: replab.config.host_faults
            check_host_fault(i, fault, v, last_node)
        elif fault.target == "leader" and not strategy.has_leader:
            raise ScenarioError(f"faults.events[{i}].target", "leader", "must name a node (node0 to "
                                f"node{last_node}): {kind} replication has no leader")
        elif fault.target.startswith("node") and int(fault.target[4:]) > last_node:
            nodes = f"node0 to node{last_node}" if last_node else "node0"
            raise ScenarioError(f"faults.events[{i}].target", fault.target, f"must name an existing node ({nodes}) or 'leader'")
        elif fault.target.startswith("switch") and int(fault.target[6:]) >= switches:
            last = switches - 1
            per_dc = "" if v["dcs.count"] == 1 else f" in {v['dcs.count']} data centres"
            raise ScenarioError(f"faults.events[{i}].target", fault.target,
                                "must name an existing switch: " + (f"switch0 to switch{last}" if last else "switch0 (there is one)")
                                + ("" if v["topology.switching"] == "single" else
                                   f" ({v['topology.switches']} pair(s) with topology.switching = {v['topology.switching']!r}{per_dc})")
                                + ("" if v["topology.switching"] != "single" else per_dc))
        elif fault.target.startswith("dc") and int(fault.target[2:]) >= v["dcs.count"] or fault.target.startswith("dc") and v["dcs.count"] == 1:
            raise ScenarioError(f"faults.events[{i}].target", fault.target,
                                f"must name an existing data centre: dc0 to dc{v['dcs.count'] - 1}" if v["dcs.count"] > 1
                                else "needs dcs.count of 2 or more (a whole-DC fault with one DC: crash its nodes or switches)")
        if fault.at_ms > v["duration_ms"]:
            raise ScenarioError(f"faults.events[{i}].at_ms", fault.at_ms,
                                f"must be within the run (duration_ms is {v['duration_ms']:g})")


def _check_data_centres(v: Mapping[str, Any]) -> None:
    """Rules of the dcs, dns and sessions sections (see replab.topology.datacentres)."""
    count = v["dcs.count"]
    if v["dcs.placement"] == "leader-per-dc" and (not STRATEGIES[v["replication.kind"]].leader_per_dc
                                                  or v["topology.leaders"] != count):
        kinds = " or ".join(repr(k) for k, s in STRATEGIES.items() if s.leader_per_dc)
        raise ScenarioError("dcs.placement", "leader-per-dc", f"needs replication.kind = {kinds} and "
                            f"topology.leaders = dcs.count ({count})")
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


def _check_other_strategies_choices(v: Mapping[str, Any]) -> None:
    """A choice that belongs to another strategy (replication.propagation = 'pull' with
    leader-leader, say) would be silently ignored: refuse it instead."""
    kind = v["replication.kind"]
    for other, strategy in STRATEGIES.items():
        for field in strategy.fields:
            if other != kind and field.kind == "choice" and v[field.path] != FIELDS_BY_PATH[field.path].default:
                raise ScenarioError(field.path, v[field.path], f"is a setting of replication.kind = {other!r} "
                                    f"(this scenario is {kind!r}); leave it at {field.default!r}")
