"""The settings of failure detection, promotion, fencing and acknowledgement as real systems do them.

`failover.policy` chooses who decides that the leader is gone and who takes over:

    perfect    a controller that learns of a crash exactly failover.detection_ms later and is
               never fooled (the simple case, taught first; replab.replication.failover)
    naive      one controller watches the nodes by heartbeats and promotes on its own suspicion
    quorum     a monitor (sentinel) beside every node; failover.quorum of them must suspect the
               leader, and a majority of all of them must elect one of them to do the failover
               (Redis Sentinel)
    consensus  the data nodes elect a leader by term and majority vote; a leader that cannot
               reach a majority for failover.lease_ms steps down (Raft with a leader lease)
    manual     the controller pages an operator, who provisions a new leader from the most
               up-to-date follower: copying its data, then replaying the log it has not applied

Every policy but perfect detects by heartbeats (failover.heartbeat_ms, failover.timeout_ms):
detection time and false suspicions become measured outcomes. Fencing (failover.fencing)
says what stops a deposed leader; replication.semi_sync_timeout_ms and replication.min_replicas
are MySQL's and Redis' answers to a replica that is slow or gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replab.core.field import Field, ScenarioError

POLICIES = ("perfect", "naive", "quorum", "consensus", "manual")
FENCING = ("terms", "none", "stonith")

PROMOTION_FIELDS: tuple[Field, ...] = (
    Field("failover.policy", "choice", "perfect", "who decides the leader is gone and who takes over: perfect (a controller "
          "told of every crash detection_ms later, never fooled), naive (one controller, heartbeats), quorum (a sentinel per "
          "node: quorum suspect, a majority authorise), consensus (the nodes elect by term and majority, leaders hold a lease), "
          "manual (an operator provisions a new leader)", choices=POLICIES),
    Field("failover.heartbeat_ms", "float", 100.0, "not perfect: interval between heartbeats (observer to node, leader to "
          "followers), ms", 1.0, 1e6),
    Field("failover.timeout_ms", "float", 500.0, "not perfect: a node unheard of for this long is suspected; consensus: "
          "the shortest election time-out (each follower draws one from timeout_ms to twice that), ms", 1.0, 1e7),
    Field("failover.quorum", "int", 2, "quorum: sentinels that must suspect the leader before a failover is attempted "
          "(a majority of all sentinels must still authorise it)", 1, 33),
    Field("failover.lease_ms", "float", 400.0, "consensus: a leader unheard by a majority for this long steps down "
          "(at most timeout_ms: never two leaders serving at once; 0 = no lease)", 0.0, 1e7),
    Field("failover.fencing", "choice", "terms", "not perfect: terms (every message carries its leader's term; a node "
          "refuses older terms and a deposed leader that hears a newer one steps down), none (nothing tells a deposed "
          "leader: it leads until it crashes), stonith (the old leader is powered off at the promotion)",
          choices=FENCING),
    Field("failover.reboot_ms", "float", 5_000.0, "stonith: a node powered off by the promotion boots again after this "
          "long, as a follower, ms", 0.0, 1e8),
    Field("failover.operator_ms", "float", 5_000.0, "manual: time from the page to the operator starting to provision a "
          "new leader, ms", 0.0, 1e8),
    Field("failover.copy_ms_per_key", "float", 1.0, "manual: time to copy one stored key to the new leader, ms (the "
          "provisioning grows with the data)", 0.0, 1e5),
)

ACK_FIELDS: tuple[Field, ...] = (
    Field("replication.semi_sync_timeout_ms", "float", 0.0, "semi-sync and majority, not perfect: a write waiting this "
          "long for its receipts is acknowledged without them and the leader falls back to async until a replica catches "
          "up (MySQL's rpl_semi_sync_master_timeout), ms; 0 = wait for ever", 0.0, 1e8),
    Field("replication.min_replicas", "int", 0, "not perfect: the leader refuses writes while fewer followers than this "
          "have answered it within replication.min_replicas_max_lag_ms (Redis' min-replicas-to-write)", 0, 32),
    Field("replication.min_replicas_max_lag_ms", "float", 1_000.0, "with min_replicas: how recently a follower must "
          "have answered to count, ms", 1.0, 1e8),
)


def check_promotion(v: Mapping[str, Any]) -> None:
    """Rules between the promotion settings and the rest of a leader-follower scenario."""
    policy = v["failover.policy"]
    if policy == "perfect":
        for path in ("replication.semi_sync_timeout_ms", "replication.min_replicas"):
            if v[path]:
                raise ScenarioError(path, v[path], "needs a failover.policy with heartbeats ('naive', 'quorum', "
                                    "'consensus' or 'manual'): the perfect failover model knows no time-outs")
        return
    why = f"with failover.policy = {policy!r} (the realistic failover model)"
    if not v["failover.promote"]:
        raise ScenarioError("failover.promote", False, f"must be true {why}; for no promotion at all use policy 'perfect'")
    if v["dcs.count"] > 1:
        raise ScenarioError("dcs.count", v["dcs.count"], f"must be 1 {why}: it models one data centre")
    if v["replication.propagation"] != "push":
        raise ScenarioError("replication.propagation", v["replication.propagation"], f"must be 'push' {why}")
    if v["replication.fanout"]:
        raise ScenarioError("replication.fanout", v["replication.fanout"], f"must be 0 {why}: every follower "
                            "replicates from the leader")
    nodes = v["topology.followers"] + 1
    if policy == "quorum" and v["failover.quorum"] > nodes:
        raise ScenarioError("failover.quorum", v["failover.quorum"], f"must be at most the number of sentinels, one per "
                            f"node ({nodes})")
    if v["replication.min_replicas"] > v["topology.followers"]:
        raise ScenarioError("replication.min_replicas", v["replication.min_replicas"],
                            f"must be at most topology.followers ({v['topology.followers']})")


def check_scope(v: Mapping[str, Any]) -> None:
    """Settings only leader-follower reads, refused for the other kinds rather than ignored."""
    kind = v["replication.kind"]
    if kind != "leader-follower":
        for path, default in (("failover.policy", "perfect"), ("replication.ack", None),
                              ("replication.semi_sync_timeout_ms", 0.0), ("replication.min_replicas", 0)):
            value = v[path]
            if (value == "majority") if default is None else value != default:
                raise ScenarioError(path, value, f"is a setting of replication.kind = 'leader-follower' (this "
                                    f"scenario is {kind!r})")
    if v["topology.app_servers"] > 1 and v["dcs.count"] > 1:
        raise ScenarioError("topology.app_servers", v["topology.app_servers"], "must be 1 with dcs.count > 1 (each DC "
                            "has its own balancer and its region's clients)")


def majority_followers(nodes: int) -> int:
    """Followers whose receipt makes a majority of `nodes` with the leader's own copy."""
    return nodes // 2
