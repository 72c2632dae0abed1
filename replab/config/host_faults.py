"""Rules of the faults that act on hosts inside one data centre: pause, partition, isolate, slow, heal.

A host is a data node (`nodeN`, or `leader`: whichever node leads when the fault happens),
an application server (`appN`: its clients and its DB load balancer; with one of them also
`clients` and `balancer` apart), or the failover `controller` of the policies that have one.
A data node's name also stands for the monitor running beside it on the same machine (the
quorum policy's sentinel). Which exist depends on the scenario, so the field table checks
only the names' shape (replab.core.field) and this module checks the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replab.core.field import ScenarioError
from replab.replication import STRATEGIES

CONTROLLED = ("naive", "manual")  # the failover policies that run a controller on a host of its own


def check_host_fault(i: int, fault, v: Mapping[str, Any], last_node: int) -> None:
    """Raise a ScenarioError naming faults.events[i] if its hosts do not exist in this scenario."""
    where = f"faults.events[{i}]"
    if v["dcs.count"] > 1:
        raise ScenarioError(f"{where}.action", fault.action, "acts on hosts inside one data centre: it needs dcs.count = 1 "
                            "(with several DCs, partition or crash a whole DC: target 'dcN')")
    strategy = STRATEGIES[v["replication.kind"]]
    if fault.action == "pause" and not strategy.pausable:
        kinds = " or ".join(repr(k) for k, s in STRATEGIES.items() if s.pausable)
        raise ScenarioError(f"{where}.action", "pause", f"needs replication.kind = {kinds} (the pauses of the "
                            "other strategies' nodes are not modelled)")
    apps = v["topology.app_servers"]
    for host in fault.hosts:
        if host.startswith("node") and int(host[4:]) > last_node:
            nodes = f"node0 to node{last_node}" if last_node else "node0"
            raise ScenarioError(f"{where}.target", fault.target, f"names {host}: must name existing nodes ({nodes}) or 'leader'")
        if host == "leader" and not strategy.single_leader:
            raise ScenarioError(f"{where}.target", fault.target, f"names the leader: {v['replication.kind']} replication "
                                "has no single leader; name a node")
        if host.startswith("app") and int(host[3:]) >= apps:
            raise ScenarioError(f"{where}.target", fault.target, f"names {host}: topology.app_servers is {apps} "
                                f"(app0{' to app' + str(apps - 1) if apps > 1 else ''})")
        if host in ("balancer", "clients") and apps > 1:
            raise ScenarioError(f"{where}.target", fault.target, f"names the {host}: with {apps} application servers "
                                "name one of them (appN: its clients and its balancer)")
        if host == "controller" and v.get("failover.policy", "perfect") not in CONTROLLED:
            raise ScenarioError(f"{where}.target", fault.target, "names the controller: only failover.policy "
                                + " or ".join(repr(p) for p in CONTROLLED) + " runs one on a host of its own")
