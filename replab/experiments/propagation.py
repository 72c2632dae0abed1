"""Push vs pull, side by side on the same workload, as one tidy table.

    from replab.experiments.propagation import push_vs_pull
    table = push_vs_pull(Scenario.preset("push-pull"), ttls_ms=(100, 1_000, 5_000), zipf=(0.8, 1.2))

Push: the leader ships every write to every follower (replication.propagation = 'push').
Pull: followers receive nothing and read through on a miss, keeping each copy for
`cache.ttl_ms` (see `replab.replication.read_through`). Both runs share the scenario, seed
and workload; only the propagation (and, for pull, the TTL) differ. Push does not depend on
the TTL: its one run per popularity repeats on every TTL's row, so both draw as lines.

Both sides run with `failover.promote = false`: with pull no follower holds the data, so
none can be promoted, and push gets the same rule so that a fault means the same to both.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from replab.config.arguments import number_list
from replab.config.scenario import Scenario
from replab.sim.model import run

METRICS = ("hit_ratio", "cache_misses", "fetches", "stale_read_rate", "staleness_mean_ms", "staleness_max_ms",
           "origin_ops_per_s", "read_p50_ms", "read_p99_ms", "read_mean_ms", "messages", "availability")


def push_vs_pull(scenario: Scenario, ttls_ms: Iterable[float] = (100.0, 1_000.0, 10_000.0),
                 zipf: Iterable[float] | None = None, source: str = "origin") -> pd.DataFrame:
    """One row per (propagation, zipf_s, ttl_ms): the summary METRICS, plus `shipped`
    (entries the leader put on its replication link), `applies_per_s` (replicated writes
    the followers applied, per simulated second), `messages_per_op` and `origin_share`
    (origin operations per client operation).

    zipf: Zipf exponents to compare (None: the scenario's own key popularity; its
    zipf_s column is then NaN for uniform keys). source: cache.source of the pull runs.
    """
    base = scenario.replace(**{"failover.promote": False, "cache.source": source})
    if zipf is None:
        popularities = [(base.workload.zipf_s if base.workload.popularity == "zipf" else float("nan"), {})]
    else:
        popularities = [(s, {"workload.popularity": "zipf", "workload.zipf_s": s})
                        for s in number_list("zipf", zipf, 0.01, 5.0)]
    ttls = number_list("ttls_ms", ttls_ms, 0.0, 1e8)
    rows = []
    for zipf_s, keys in popularities:
        push = _measure(base.replace(**keys, **{"replication.propagation": "push"}))
        rows += [{"propagation": "push", "zipf_s": zipf_s, "ttl_ms": ttl, **push} for ttl in ttls]
        for ttl in ttls:
            pull = _measure(base.replace(**keys, **{"replication.propagation": "pull", "cache.ttl_ms": ttl}))
            rows.append({"propagation": "pull", "zipf_s": zipf_s, "ttl_ms": ttl, **pull})
    return pd.DataFrame(rows)


def _measure(scenario: Scenario) -> dict:
    results = run(scenario)
    summary = results.summary
    timeline = results.timeline
    last = timeline[timeline["t_ms"] == timeline["t_ms"].max()]
    operations = summary["operations"]
    row = {metric: summary[metric] for metric in METRICS}
    row["shipped"] = int(last.loc[last["depth"] == 0, "shipped"].sum())
    row["applies_per_s"] = len(results.applies) / (scenario.duration_ms / 1000.0)
    row["messages_per_op"] = summary["messages"] / operations if operations else float("nan")
    row["origin_share"] = summary["origin_ops_per_s"] * scenario.duration_ms / 1000.0 / operations if operations else float("nan")
    return row


__all__ = ["METRICS", "push_vs_pull"]
