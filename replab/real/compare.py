"""compare(real, simulated): the key figures of real runs beside simulated ones, one table.

Give one real and one simulated Results, or two equal-length lists of them paired in order
(say one pair per ack mode). Each figure gets a row per pair, labelled with that pair's
ack mode: real, simulated, difference (real - simulated) and ratio (real / simulated).
With `tolerances` ({figure: (kind, limit)}: kind 'ratio' means real/simulated within
[1/limit, limit], 'absolute' means |difference| <= limit), each row also says whether the
gap is within it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

FIGURES = {
    "read_p50_ms": "median latency of served reads, ms",
    "read_p95_ms": "95th percentile of served reads, ms",
    "read_p99_ms": "99th percentile of served reads, ms",
    "write_p50_ms": "median latency of acknowledged writes, ms",
    "write_p95_ms": "95th percentile of acknowledged writes, ms",
    "write_p99_ms": "99th percentile of acknowledged writes, ms",
    "mean_lag_ms": "mean replication lag of live followers, ms",
    "max_lag_ms": "largest replication lag sampled, ms",
    "lost_acked_per_crash": "acknowledged writes lost per crash of the primary",
    "refused_writes": "writes refused (read-only replica, too few replicas, no leader)",
    "failed": "operations that failed (time-out, connection lost)",
    "failover_ms": "from the primary's crash to a promotion, ms",
    "availability": "served / operations",
}


MILESTONES = ("crash", "recover", "partition", "isolate", "heal", "pause", "resume", "sleep", "promote", "+sdown",
              "+odown", "+switch-master", "+convert-to-slave")


def milestones(results):
    """The same Results with only the events that tell the story (faults, Sentinel's
    detections and promotions), so a throughput chart's event labels stay readable."""
    events = results.events
    return replace(results, events=events[events["kind"].isin(MILESTONES)].reset_index(drop=True))


def figures(results) -> dict[str, float]:
    """The figures compared, from one run's summary and frames."""
    s = results.summary
    events, requests = results.events, results.requests
    crashes = int(((events["kind"] == "crash") & events["detail"].astype(str).str.startswith("leader")).sum())
    refused_writes = int(((requests["op"] == "write") & (requests["outcome"] == "refused")).sum())
    picked = {key: s[key] for key in FIGURES if key in s}
    picked["lost_acked_per_crash"] = s["lost_acked_writes"] / crashes if crashes else math.nan
    picked["refused_writes"] = refused_writes
    return {key: float(picked[key]) for key in FIGURES}


def compare(real, simulated, tolerances: dict | None = None) -> pd.DataFrame:
    """One row per (figure, pair): figure, ack, real, simulated, difference, ratio, meaning
    (and tolerance, within when `tolerances` are given)."""
    reals, sims = _as_list(real), _as_list(simulated)
    if len(reals) != len(sims):
        raise ValueError(f"compare needs as many real runs as simulated ones ({len(reals)} real, {len(sims)} simulated)")
    rows = []
    for r, s in zip(reals, sims):
        ack = r.scenario.replication.ack
        mine, model = figures(r), figures(s)
        for key, meaning in FIGURES.items():
            a, b = mine[key], model[key]
            rows.append({"figure": key, "ack": ack, "real": a, "simulated": b, "difference": a - b,
                         "ratio": a / b if b != 0.0 and not math.isnan(b) else math.nan, "meaning": meaning})
    table = pd.DataFrame(rows)
    if tolerances:
        table["tolerance"] = [_describe(tolerances.get(f)) for f in table["figure"]]
        table["within"] = [_within(tolerances.get(f), a, b) for f, a, b in
                           zip(table["figure"], table["real"], table["simulated"])]
    return table.set_index(["figure", "ack"])


def _as_list(runs) -> list:
    return list(runs) if isinstance(runs, (list, tuple)) else [runs]


def _describe(rule) -> str:
    if rule is None:
        return ""
    kind, limit = rule
    return f"within x{limit:g}" if kind == "ratio" else f"within ±{limit:g}"


def _within(rule, real: float, simulated: float):
    """True / False, or None where no tolerance was set or a figure is missing on one side."""
    if rule is None:
        return None
    if math.isnan(real) and math.isnan(simulated):
        return True
    if math.isnan(real) or math.isnan(simulated):
        return False
    kind, limit = rule
    if kind == "absolute":
        return bool(abs(real - simulated) <= limit)
    if simulated == 0 or real == 0:
        return bool(real == simulated)
    return bool(1.0 / limit <= real / simulated <= limit)


__all__ = ["FIGURES", "MILESTONES", "compare", "figures", "milestones"]
