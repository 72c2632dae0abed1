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

from replab.analysis.anomalies import served
from replab.analysis.frames import codes
from replab.core.codes import READ, SERVED, WRITE

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
    requests["dc"] = codes(dc, names)
    requests["region"] = (requests["session"].to_numpy() % count).astype(np.int16)
    requests["dns_lookup"] = routes["lookup"].to_numpy()[ids].astype(bool) if len(ids) else []
    requests["to_dead_dc"] = routes["dead"].to_numpy()[ids].astype(bool) if len(ids) else []
    # by category codes in numpy, in each session's start order (-1: no DC / no node), where
    # sorting the frame and shifting within groups of sessions was ~a third of a multi-DC Results
    order = _by_session_start(requests)
    session = requests["session"].to_numpy()[order]
    first = _starts(session)
    dc = requests["dc"].cat.codes.to_numpy()[order]
    previous_dc = np.where(first, -1, np.roll(dc, 1))
    requests["dc_move"] = _unsorted(order, (previous_dc != -1) & (previous_dc != dc))
    served_reads = served(requests, READ)[order]
    served_session, node = session[served_reads], requests["node"].cat.codes.to_numpy()[order][served_reads]
    previous_node = np.where(_starts(served_session), -1, np.roll(node, 1))
    moved = np.zeros(len(order), dtype=bool)
    moved[served_reads] = (previous_node != -1) & (previous_node != node)
    requests["node_move"] = _unsorted(order, moved)


def dc_summary(results, anomalies: pd.DataFrame) -> dict:
    requests, writes, applies, events = results.requests, results.writes, results.applies, results.events
    count = results.scenario.dcs.count
    summary = _traffic_moved(requests, events)
    summary["requests_to_dead_dc"] = int(requests["to_dead_dc"].sum())
    was_served = requests["outcome"].cat.codes.to_numpy() == SERVED
    region = requests["region"].to_numpy()
    for r in range(count):
        mine = region == r
        summary[f"availability_region{r}"] = float(was_served[mine].mean()) if mine.any() else math.nan
    summary |= _lags(count, writes, applies)
    dc_move = requests["dc_move"].to_numpy(bool)
    summary["dns_lookups"] = int(requests["dns_lookup"].sum())
    summary["dc_moves"] = int(dc_move.sum())
    summary["dc_sessions_moved"] = len(np.unique(requests["session"].to_numpy()[dc_move]))
    summary["node_moves"] = int(requests["node_move"].sum())
    summary["dc_state_lost"] = _state_lost(requests)
    summary |= _violations_after_move(requests, anomalies)
    return summary


def _by_session_start(requests: pd.DataFrame) -> np.ndarray:
    """Row order by (session, start_ms, request_id), as a stable sort of the frame gives it."""
    return np.lexsort((requests["request_id"].to_numpy(), requests["start_ms"].to_numpy(),
                       requests["session"].to_numpy()))


def _starts(group: np.ndarray) -> np.ndarray:
    """Mask of the rows that begin a run of equal values."""
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return first


def _unsorted(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values in `order` put back in row order."""
    out = np.empty_like(values)
    out[order] = values
    return out


def _traffic_moved(requests: pd.DataFrame, events: pd.DataFrame) -> dict:
    failures = events[events["kind"].isin(["crash", "partition"]) & events["target"].str.startswith("dc")]
    out = {f"traffic_moved_{x}_ms": math.nan for x in MOVED_SHARES}
    if not len(failures):
        return out
    failed_at, dc = float(failures["t_ms"].iloc[0]), failures["target"].iloc[0]
    labels = list(requests["dc"].cat.categories)
    if dc not in labels:
        return out
    failed = labels.index(dc)
    session, start = requests["session"].to_numpy(), requests["start_ms"].to_numpy()
    dcs = requests["dc"].cat.codes.to_numpy()
    # each session's DC (its last operation with one) before the failure
    before = np.flatnonzero((start < failed_at) & (dcs != -1))
    before = before[np.argsort(start[before], kind="stable")][::-1]
    sessions, last = np.unique(session[before], return_index=True)
    on_failed = sessions[dcs[before[last]] == failed]
    if not len(on_failed):
        return out
    after = (start >= failed_at) & np.isin(session, on_failed) & (dcs != failed)
    # each moved session's first start after the failure
    first = np.full(int(session.max()) + 1, np.inf)
    np.minimum.at(first, session[after], start[after])
    moved = np.sort(first[np.isfinite(first)] - failed_at)
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
    # each apply's write by its id (row -1: not a write of the frame, so NaN commit and no DC);
    # the padding row at the end answers for -1
    row = _rows_of(writes["write_id"].to_numpy(), applies["write_id"].to_numpy())
    commit = np.append(writes["commit_ms"].to_numpy(), np.nan)[row]
    lag = applies["applied_ms"].to_numpy() - commit
    # DCs by node codes (-1: none, unequal to any, as NaN was)
    leader_dc = np.array([*dc_of.values(), -1])
    origin = np.append(leader_dc[writes["leader"].cat.codes.to_numpy()], -1)[row]
    node_dc = np.array([*(dc_of.get(name, -1) for name in applies["node"].cat.categories), -1])
    here = node_dc[applies["node"].cat.codes.to_numpy()]
    cross = (here == -1) | (origin == -1) | (here != origin)
    lag_cross, lag_local = lag[cross & ~np.isnan(lag)], lag[~cross & ~np.isnan(lag)]
    return {
        "cross_dc_lag_mean_ms": float(lag_cross.mean()) if len(lag_cross) else math.nan,
        "cross_dc_lag_p50_ms": float(np.median(lag_cross)) if len(lag_cross) else math.nan,
        "cross_dc_lag_p99_ms": float(np.percentile(lag_cross, 99)) if len(lag_cross) else math.nan,
        "local_dc_lag_mean_ms": float(lag_local.mean()) if len(lag_local) else math.nan,
    }


def _state_lost(requests: pd.DataFrame) -> int:
    """Moves to another DC by sessions that had been served in the DC they left."""
    if not len(requests):
        return 0
    order = _by_session_start(requests)
    moved = requests["dc_move"].to_numpy(bool)[order]
    stretch = np.flatnonzero(_starts(requests["session"].to_numpy()[order]) | moved)  # each session's stretches in one DC
    served = np.logical_or.reduceat(requests["outcome"].cat.codes.to_numpy()[order] == SERVED, stretch)
    ends_in_move = np.zeros(len(stretch), bool)
    ends_in_move[np.flatnonzero(moved[stretch]) - 1] = True  # the stretch before each move
    return int((served & ends_in_move).sum())


def _violations_after_move(requests: pd.DataFrame, anomalies: pd.DataFrame) -> dict:
    """Violations on reads served in another DC than the session's latest earlier write of
    the key (read-your-writes) or its latest earlier read of the key (monotonic reads)."""
    session, key = requests["session"].to_numpy(), requests["key"].to_numpy()
    order = np.lexsort((requests["request_id"].to_numpy(), requests["start_ms"].to_numpy(), key, session))
    first = _starts(session[order]) | _starts(key[order])
    dc = requests["dc"].cat.codes.to_numpy()[order]
    rows = np.arange(len(order))
    group_start = np.maximum.accumulate(np.where(first, rows, 0))

    def away_from_latest_earlier(mask: np.ndarray) -> np.ndarray:
        """Per row: in another DC than the latest earlier marked row of its (session, key), or none."""
        latest = np.maximum.accumulate(np.where(mask[order], rows, -1))
        earlier = np.empty_like(latest)
        earlier[:1] = -1
        earlier[1:] = latest[:-1]
        found = earlier >= group_start
        return _unsorted(order, ~found | (dc != dc[np.maximum(earlier, 0)]))

    away_from_write = away_from_latest_earlier(served(requests, WRITE))
    away_from_read = away_from_latest_earlier(served(requests, READ))
    flagged = _rows_of(requests["request_id"].to_numpy(), anomalies["request_id"].to_numpy())
    return {"ryw_after_move": int((anomalies["ryw"].to_numpy() & away_from_write[flagged]).sum()),
            "monotonic_after_move": int((anomalies["monotonic"].to_numpy() & away_from_read[flagged]).sum())}


def _rows_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The row of each wanted id among `ids` (ids unique), -1 where it is not there."""
    if not len(ids):
        return np.full(len(wanted), -1)
    by_id = np.argsort(ids, kind="stable")
    row = by_id[np.minimum(np.searchsorted(ids, wanted, sorter=by_id), len(ids) - 1)]
    return np.where(ids[row] == wanted, row, -1)
