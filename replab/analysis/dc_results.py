"""What several data centres add to the results: where each request went and what moving cost.

Columns added to `requests` (multi-DC runs only): `dc` (the DC the DNS answer sent it to),
`region` (its session's region), `dns_lookup` (it paid a lookup first), `to_dead_dc` (it left
for a DC whose network was down or cut off from its region at that moment), `dc_move` (its session's
previous operation went to another DC), `node_move` (a served read on another node than
the session's previous served read).

Summary keys are in DC_SUMMARY_DOC; the traffic-moved times follow the first DC failure of
the run (a crash or a partition of a DC): of the sessions whose last operation before it
went to the failed DC, the time until x% have sent an operation to another DC.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MOVED_SHARES = (50, 90, 99)

DC_SUMMARY_DOC = {
    "traffic_moved_50_ms": "multi-DC: from the first DC failure until 50% of the sessions that were using that DC have sent to another DC (NaN: not within the run)",
    "traffic_moved_90_ms": "multi-DC: the same until 90% have moved",
    "traffic_moved_99_ms": "multi-DC: the same until 99% have moved",
    "requests_to_dead_dc": "multi-DC: operations sent to a DC that was down (every switch) or cut off from the session's region when they left",
    "availability_regionN": "multi-DC: served / operations of the sessions of region N (one key per region)",
    "cross_dc_lag_mean_ms": "multi-DC: mean time from a write's commit to its apply on a node in another DC (catching up after an outage included)",
    "cross_dc_lag_p50_ms": "multi-DC: median of that cross-DC replication lag",
    "cross_dc_lag_p99_ms": "multi-DC: 99th percentile of that cross-DC replication lag",
    "local_dc_lag_mean_ms": "multi-DC: mean time from a write's commit to its apply on a node in the same DC",
    "dns_lookups": "multi-DC: operations that paid a DNS lookup first (no valid cached answer)",
    "dc_moves": "multi-DC: operations sent to another DC than the session's previous operation",
    "dc_sessions_moved": "multi-DC: sessions that changed DC at least once",
    "node_moves": "multi-DC: served reads on another node than the session's previous served read",
    "dc_state_lost": "multi-DC: DC-local session state lost: moves of a session to another DC after it had been served where it was",
    "ryw_after_move": "multi-DC: read-your-writes violations on reads served in another DC than the session's latest earlier write of that key",
    "monotonic_after_move": "multi-DC: monotonic-read violations on reads served in another DC than the session's latest earlier read of that key",
}


def add_dc_columns(scenario, requests: pd.DataFrame, routes: pd.DataFrame) -> None:
    """Put the DNS's record of each request (`routes`, by request_id) into the requests frame."""
    count = scenario.dcs.count
    ids = requests["request_id"].to_numpy() - 1
    names = [f"dc{d}" for d in range(count)]
    dc = routes["dc"].to_numpy()[ids] if len(ids) else np.empty(0, np.int8)
    requests["dc"] = pd.Categorical.from_codes(dc.astype(np.int16), categories=names)
    requests["region"] = (requests["session"].to_numpy() % count).astype(np.int16)
    requests["dns_lookup"] = routes["lookup"].to_numpy()[ids].astype(bool) if len(ids) else []
    requests["to_dead_dc"] = routes["dead"].to_numpy()[ids].astype(bool) if len(ids) else []
    by_start = requests.sort_values(["session", "start_ms", "request_id"], kind="stable")
    previous_dc = by_start.groupby("session", sort=False)["dc"].shift(1)
    requests["dc_move"] = (previous_dc.notna() & (previous_dc != by_start["dc"])).reindex(requests.index)
    served = by_start[(by_start["outcome"] == "served") & (by_start["op"] == "read")]
    previous_node = served.groupby("session", sort=False)["node"].shift(1)
    node_move = previous_node.notna() & (previous_node.astype(object) != served["node"].astype(object))
    requests["node_move"] = node_move.reindex(requests.index, fill_value=False)


def dc_summary(results, anomalies: pd.DataFrame) -> dict:
    requests, writes, applies, events = results.requests, results.writes, results.applies, results.events
    count = results.scenario.dcs.count
    summary = _traffic_moved(requests, events)
    summary["requests_to_dead_dc"] = int(requests["to_dead_dc"].sum())
    served = requests["outcome"] == "served"
    for region in range(count):
        mine = requests["region"] == region
        summary[f"availability_region{region}"] = float(served[mine].mean()) if mine.any() else math.nan
    summary |= _lags(count, writes, applies)
    summary["dns_lookups"] = int(requests["dns_lookup"].sum())
    summary["dc_moves"] = int(requests["dc_move"].sum())
    summary["dc_sessions_moved"] = int(requests.loc[requests["dc_move"], "session"].nunique())
    summary["node_moves"] = int(requests["node_move"].sum())
    summary["dc_state_lost"] = _state_lost(requests)
    summary |= _violations_after_move(requests, anomalies)
    return summary


def _traffic_moved(requests: pd.DataFrame, events: pd.DataFrame) -> dict:
    failures = events[events["kind"].isin(["crash", "partition"]) & events["target"].str.startswith("dc")]
    out = {f"traffic_moved_{x}_ms": math.nan for x in MOVED_SHARES}
    if not len(failures):
        return out
    failed_at, dc = float(failures["t_ms"].iloc[0]), failures["target"].iloc[0]
    before = requests[requests["start_ms"] < failed_at].sort_values("start_ms", kind="stable")
    last = before.groupby("session")["dc"].last()
    on_failed = last.index[last.astype(object) == dc]
    if not len(on_failed):
        return out
    after = requests[(requests["start_ms"] >= failed_at) & requests["session"].isin(on_failed)
                     & (requests["dc"].astype(object) != dc)]
    moved = np.sort(after.groupby("session")["start_ms"].min().to_numpy() - failed_at)
    for x in MOVED_SHARES:
        needed = math.ceil(x / 100 * len(on_failed))
        if needed <= len(moved):
            out[f"traffic_moved_{x}_ms"] = float(moved[needed - 1])
    return out


def _lags(count: int, writes: pd.DataFrame, applies: pd.DataFrame) -> dict:
    if not len(applies):
        return {"cross_dc_lag_mean_ms": math.nan, "cross_dc_lag_p50_ms": math.nan, "cross_dc_lag_p99_ms": math.nan,
                "local_dc_lag_mean_ms": math.nan}
    dc_of = {name: i % count for i, name in enumerate(writes["leader"].cat.categories)}  # node i lives in DC i mod count
    commit = writes.set_index("write_id")["commit_ms"]
    origin = writes.set_index("write_id")["leader"].astype(object).map(dc_of)
    lag = applies["applied_ms"].to_numpy() - commit.reindex(applies["write_id"]).to_numpy()
    here = applies["node"].astype(object).map(dc_of).to_numpy()
    cross = here != origin.reindex(applies["write_id"]).to_numpy()
    lag_cross, lag_local = lag[cross & ~np.isnan(lag)], lag[~cross & ~np.isnan(lag)]
    return {
        "cross_dc_lag_mean_ms": float(lag_cross.mean()) if len(lag_cross) else math.nan,
        "cross_dc_lag_p50_ms": float(np.median(lag_cross)) if len(lag_cross) else math.nan,
        "cross_dc_lag_p99_ms": float(np.percentile(lag_cross, 99)) if len(lag_cross) else math.nan,
        "local_dc_lag_mean_ms": float(lag_local.mean()) if len(lag_local) else math.nan,
    }


def _state_lost(requests: pd.DataFrame) -> int:
    """Moves to another DC by sessions that had been served in the DC they left."""
    by_start = requests.sort_values(["session", "start_ms", "request_id"], kind="stable")
    session = by_start["session"].to_numpy()
    new_session = np.r_[True, session[1:] != session[:-1]]
    moved = by_start["dc_move"].to_numpy(bool)
    stay = np.cumsum(new_session | moved)  # one number per stretch of a session in one DC
    served = pd.Series(by_start["outcome"].to_numpy() == "served").groupby(stay).any().to_numpy()
    ends_in_move = np.zeros(len(served), bool)
    ends_in_move[stay[moved] - 2] = True  # the stretch before each move
    return int((served & ends_in_move).sum())


def _violations_after_move(requests: pd.DataFrame, anomalies: pd.DataFrame) -> dict:
    """Violations on reads served in another DC than the session's latest earlier write of
    the key (read-your-writes) or its latest earlier read of the key (monotonic reads)."""
    ops = requests.sort_values(["session", "key", "start_ms", "request_id"], kind="stable")
    group = (ops["session"].astype(np.int64) * (int(ops["key"].max()) + 1 if len(ops) else 1) + ops["key"]).to_numpy()
    served = (ops["outcome"] == "served").to_numpy()
    is_write = (ops["op"] == "write").to_numpy()
    dc = ops["dc"].cat.codes.to_numpy().astype(float)

    def dc_of_latest_earlier(mask: np.ndarray) -> np.ndarray:
        marked = pd.Series(np.where(mask, dc, np.nan))
        return marked.groupby(group).ffill().groupby(group).shift(1).to_numpy()

    flags = ops[["request_id"]].assign(
        away_from_write=dc != dc_of_latest_earlier(served & is_write),
        away_from_read=dc != dc_of_latest_earlier(served & ~is_write))
    flags = anomalies[["request_id", "ryw", "monotonic"]].merge(flags, on="request_id")
    return {"ryw_after_move": int((flags["ryw"] & flags["away_from_write"]).sum()),
            "monotonic_after_move": int((flags["monotonic"] & flags["away_from_read"]).sum())}
