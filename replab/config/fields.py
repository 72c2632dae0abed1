"""The scenario's fields: every setting's dotted name, kind, default and allowed values.

One table (FIELDS) validates TOML and JSON files, ``--set`` on the command line, Python
calls and the Lab's widgets, so they all reject the same values with the same message: a
ScenarioError naming the field, the value and what is allowed. Each replication strategy
declares the fields only it reads (`Strategy.fields`); they join the table after the
common replication fields. Rules that involve more than one field are in
replab.config.rules; the Scenario itself in replab.config.scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from replab.core.field import DISTRIBUTIONS, FAULT_ACTIONS, LIST_KINDS, Fault, Field, ScenarioError
from replab.replication import STRATEGIES
from replab.replication.promotion_settings import ACK_FIELDS, PROMOTION_FIELDS
from replab.topology.switching import SWITCHING


def _dist_fields(prefix: str, dist: str, mean_ms: float, what: str) -> list[Field]:
    return [
        Field(f"{prefix}.dist", "choice", dist, f"distribution of {what}", choices=DISTRIBUTIONS),
        Field(f"{prefix}.mean_ms", "float", mean_ms, f"mean {what}, ms", 0.0, 1e6, low_open=True),
        Field(f"{prefix}.sigma", "float", 1.0, f"lognormal shape of {what} (log-space std dev)", 0.0, 4.0),
    ]


FIELDS: tuple[Field, ...] = (
    Field("description", "str", "", "one line saying what the scenario shows"),
    Field("duration_ms", "float", 10_000.0, "simulated time during which clients start operations, ms", 0.0, 1e8, low_open=True),
    Field("seed", "int", 1, "seed of every random draw", 0, 2**63 - 1),
    Field("topology.leaders", "int", 1, "nodes that take writes (node0 up); more than one needs replication.kind = 'leader-leader'", 1, 8),
    Field("topology.followers", "int", 3, "followers of the leader (of every leader with leader-leader)", 0, 32),
    Field("topology.workers", "int", 4, "workers per data node (concurrent operations)", 1, 256),
    Field("topology.apply_concurrency", "int", 1, "workers a node may spend applying replicated writes (1 = single-threaded apply)", 1, 256),
    Field("topology.switches", "int", 1, "network switches (pairs of switches with a paired topology.switching); data nodes attach round-robin, clients and balancer to the first", 1, 16),
    Field("topology.app_servers", "int", 1, "application servers, each with its clients and its own DB load balancer; session s uses app s mod app_servers (a partition can split them: faults on 'appN')", 1, 8),
    Field("topology.switching", "choice", "single", "each switch alone; or a redundant pair (switch 2k and 2k+1) with every host cabled to one member, or to both (it uses the first live one)", choices=SWITCHING),
    Field("replication.kind", "choice", "leader-follower", "the replication strategy: " + "; ".join(f"{kind}: {s.about}" for kind, s in STRATEGIES.items()), choices=tuple(STRATEGIES)),
    Field("replication.ack", "choice", "async", "when the leader acknowledges a write (leader-leader sync: once every other live node has applied it; majority: once a majority of the nodes, the leader's own copy included, have received it)", choices=("async", "semi-sync", "sync", "majority")),
    Field("replication.semi_sync_k", "int", 1, "other nodes that must have received a write before a semi-sync ack", 1, 32),
    Field("replication.ship_ms", "float", 0.05, "leader's time to put one entry on the wire to one follower, ms; its outbound link is shared by all followers, so shipping costs grow with their number", 0.0, 1e4),
    Field("replication.reads", "choice", "followers", "which nodes serve reads (leader: every leader with leader-leader)", choices=("leader", "followers", "any")),
    *ACK_FIELDS,
    *(field for strategy in STRATEGIES.values() for field in strategy.fields),
    Field("balancer.policy", "choice", "round-robin", "how the DB load balancer picks a node (key-hash: always the same node for a key; sticky: a session stays on the node it was first sent to while that node is live)", choices=("round-robin", "random", "least-outstanding", "key-hash", "sticky")),
    Field("workload.sessions", "int", 100, "client sessions", 1, 100_000),
    Field("workload.arrival", "choice", "open", "open: Poisson arrivals at a total rate; closed: each session thinks, then sends", choices=("open", "closed")),
    Field("workload.rate_per_s", "float", 2_000.0, "total arrival rate of operations (open loop), per simulated second", 0.0, 1e7, low_open=True),
    Field("workload.think_ms", "float", 50.0, "mean think time between a reply and the next operation (closed loop), ms", 0.0, 1e7),
    Field("workload.write_ratio", "float", 0.2, "share of operations that are writes", 0.0, 1.0),
    Field("workload.keys", "int", 1_000, "distinct keys", 1, 1_000_000),
    Field("workload.popularity", "choice", "uniform", "how keys are chosen", choices=("uniform", "zipf")),
    Field("workload.zipf_s", "float", 1.1, "Zipf exponent (larger: a few hot keys)", 0.0, 5.0, low_open=True),
    Field("workload.timeout_ms", "float", 1_000.0, "a client gives up on an operation after this long, ms", 0.0, 1e7, low_open=True),
    *_dist_fields("service.read", "exponential", 1.0, "read service time"),
    *_dist_fields("service.write", "exponential", 2.0, "write service time"),
    *_dist_fields("service.apply", "exponential", 1.0, "time to apply one replicated write"),
    *_dist_fields("network.hop", "exponential", 0.1, "latency of one network hop"),
    Field("failover.promote", "bool", True, "promote a follower when the leader dies (false: stay read-only)"),
    Field("failover.detection_ms", "float", 500.0, "time from the leader's death to its detection, ms", 0.0, 1e7),
    Field("failover.promotion_ms", "float", 500.0, "time from detection to a promoted follower taking writes, ms", 0.0, 1e7),
    *PROMOTION_FIELDS,
    Field("faults.events", "faults", (), "scheduled faults: [[faults.events]] at_ms, action (crash/recover; partition/heal for a DC or for hosts; pause, isolate, slow), target (leader (node0 with leader-leader), nodeN, switchN, dcN; hosts joined by '+': nodeN, appN, controller, balancer, clients), duration_ms (pause; heal a host fault after), delay_ms (slow)"),
    Field("faults.mttf_ms", "float", 0.0, "mean time to failure of each data node, ms (0 = no random failures)", 0.0, 1e10),
    Field("faults.mttr_ms", "float", 1_000.0, "mean time to repair a randomly failed node, ms", 0.0, 1e10, low_open=True),
    Field("record.sample_ms", "float", 100.0, "interval between timeline samples, ms", 1.0, 1e7),
    # several data centres behind a global DNS load balancer (replab.topology.datacentres, replab.agents.dns)
    Field("dcs.count", "int", 1, "data centres (1 = one DC, no DNS); node i lives in DC i mod count, session s in region s mod count next to DC s mod count; each DC has topology.switches switches and its own DB load balancer", 1, 6),
    Field("dcs.placement", "choice", "leader-dc", "leader-dc: one leader (node0, in dc0), followers spread over the DCs; leader-per-dc: one leader per DC (replication.kind = 'leader-leader', topology.leaders = dcs.count)", choices=("leader-dc", "leader-per-dc")),
    Field("dcs.wan_ms", "float", 30.0, "mean one-way latency of the WAN link between two DCs, ms (dcs.wan_matrix_ms sets it per pair)", 0.0, 1e5, low_open=True),
    Field("dcs.wan_matrix_ms", "matrix", (), "mean one-way WAN latency per pair of DCs, ms: a symmetric dcs.count x dcs.count table, 0 on the diagonal (empty: dcs.wan_ms for every pair)", 0.0, 1e5),
    Field("dcs.wan_sigma", "float", 0.1, "lognormal shape of each WAN latency draw around its mean (0 = always the mean)", 0.0, 2.0),
    Field("dns.policy", "choice", "nearest", "how the global DNS load balancer picks a DC among those its health checks see up: the nearest to the session's region, by dns.weights, or the first of dns.failover_order", choices=("nearest", "weighted", "failover")),
    Field("dns.weights", "numbers", (), "weighted: relative share of answers per DC, one number per DC (empty: equal shares)", 0.0, 1e6),
    Field("dns.failover_order", "ints", (), "failover: DC numbers in order of preference, each DC once (empty: dc0, dc1, ...)", 0, 5),
    Field("dns.ttl_ms", "float", 2_000.0, "time-to-live of a DNS answer: a session re-resolves on its first operation after it expires, ms", 0.0, 1e8),
    Field("dns.lookup_ms", "float", 20.0, "round trip of a DNS lookup (session to resolver to the global balancer and back), ms", 0.0, 1e5),
    Field("dns.health_interval_ms", "float", 500.0, "interval between health checks of every DC, ms", 1.0, 1e7),
    Field("dns.health_threshold", "int", 3, "consecutive failed health checks before a DC is marked down (one answered check marks it up)", 1, 100),
    Field("dns.ignore_ttl_share", "float", 0.0, "share of sessions whose resolver ignores the TTL and keeps answers dns.ignore_ttl_extra_ms longer", 0.0, 1.0),
    Field("dns.ignore_ttl_extra_ms", "float", 10_000.0, "how much longer than the TTL a TTL-ignoring resolver keeps an answer, ms", 0.0, 1e8),
    Field("dns.warm_caches", "bool", True, "every session starts with an answer cached at a uniformly random age within its keep time, as in a steady state (false: empty caches, a lookup at each session's first operation)"),
    Field("sessions.sticky_dc", "bool", False, "a cookie pins each session to the DC it first used, while the DNS health checks see that DC up (false: every re-resolution may move it)"),
)
FIELDS_BY_PATH: Mapping[str, Field] = MappingProxyType({f.path: f for f in FIELDS})


__all__ = ["DISTRIBUTIONS", "FAULT_ACTIONS", "FIELDS", "FIELDS_BY_PATH", "LIST_KINDS", "Fault", "Field", "ScenarioError"]
