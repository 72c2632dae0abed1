"""The damage of a failover, counted from the history: split brain, discarded writes, false suspicions.

    promotion_summary(results)        the summary keys of PROMOTION_DOC, from the frames alone
    leading_intervals(results)        per node, the stretches it believed it led while running
    split_brain_intervals(results)    the stretches with two or more of them at once
    check_promotion(results)          the same damage recounted by one plain sweep of the
                                      history, and the logs replayed (PromotionReport)

A node *runs* while it is up and not paused; it *believes it leads* from a row of the
`leadership` table with leading = 1 until one with 0 (or a crash: a down node takes no
write). Two running nodes that believe they lead would each take a write that reached
them: that is split brain. A write or a read is a *deposed leader's* when a term newer
than its node's already had a leader at that instant. Runs of the perfect failover model
(and of the other strategies) have no leadership table: their split brain is 0.

Times are simulated ms; like read_only_ms, the stretches count within duration_ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from replab.analysis.frames import is_label
from replab.core.codes import LOST_REASONS, REASONS
from replab.replication.leadership import SPLIT_BRAIN, TOO_FEW_REPLICAS

DOWN, UP, STOP, GO = "crash", "recover", "pause", "resume"
PROMOTION_DOC = {
    "split_brain_ms": "time within the run with two or more running nodes believing they lead (each takes any write that reaches it)",
    "split_brain_writes": "writes committed by a deposed leader: a newer term already had a leader",
    "split_brain_lost_acked": "acknowledged writes lost because a deposed leader took them (discarded when it rejoined, or still only on it at the end)",
    "stale_reads_deposed": "stale reads served by a node that believed it led while a newer term already had a leader",
    "false_suspicions": "an observer's suspicions of a node that had not crashed (it was paused, cut off or slow)",
    "live_leader_failovers": "promotions while the leader they replaced had not crashed (it was paused, cut off or slow): needless when it was only paused",
    "detected_after_ms": "mean time from a leader's crash to the first suspicion, detection or election after it (NaN: no leader crashed)",
    "degraded_acks": "writes acknowledged without the replicas their ack mode waits for, after semi-sync timed out and fell back to async",
    "degraded_acks_lost": "of the degraded_acks, those lost",
    "refused_too_few_replicas": "writes refused because fewer than replication.min_replicas followers had answered lately",
    "leader_terms": "terms that had a leader (NaN with the perfect failover model, which keeps no leadership history)",
}


def _node_changes(events: pd.DataFrame) -> dict[str, list[tuple[float, str]]]:
    """Per node name, its crashes (and STONITH), recoveries, pauses and resumes, in time order."""
    kinds = {"crash": DOWN, "stonith": DOWN, "recover": UP, "pause": STOP, "resume": GO}
    rows = events[events["kind"].isin(kinds) & events["target"].str.startswith("node")]
    changes: dict[str, list] = {}
    for t, kind, target in zip(rows["t_ms"], rows["kind"], rows["target"]):
        changes.setdefault(target, []).append((float(t), kinds[kind]))
    return changes


def _running(changes: list[tuple[float, str]], end_ms: float) -> list[tuple[float, float]]:
    up, paused, since, spans = True, False, 0.0, []
    for t, change in changes:
        was = up and not paused
        up = {DOWN: False, UP: True}.get(change, up)
        paused = {STOP: True, GO: False, DOWN: False}.get(change, paused)
        now = up and not paused
        if was and not now:
            spans.append((since, t))
        elif now and not was:
            since = t
    if up and not paused:
        spans.append((since, end_ms))
    return spans


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for a0, a1 in a:
        for b0, b1 in b:
            lo, hi = max(a0, b0), min(a1, b1)
            if hi > lo:
                out.append((lo, hi))
    return out


def leadership_rows(results) -> pd.DataFrame | None:
    return results.tables.get("leadership") if results.tables else None


def leading_intervals(results) -> dict[str, list[tuple[float, float, int]]]:
    """Node name -> [(from_ms, to_ms, term)] while it believed it led and was running (within duration_ms)."""
    table = leadership_rows(results)
    if table is None or table.empty:
        return {}
    end = results.scenario.duration_ms
    changes = _node_changes(results.events)
    spans: dict[str, list] = {}
    for node, rows in table.groupby("node", observed=True, sort=False):
        name = str(node)
        running = _running(changes.get(name, []), end)
        since = term = None
        for t, leading, row_term in zip(rows["t_ms"], rows["leading"], rows["term"]):
            if leading and since is None:
                since, term = float(t), int(row_term)
            elif not leading and since is not None:
                spans.setdefault(name, []).extend((a, b, term) for a, b in _overlap([(since, float(t))], running))
                since = None
        if since is not None:
            spans.setdefault(name, []).extend((a, b, term) for a, b in _overlap([(since, end)], running))
        spans[name] = [(min(a, end), min(b, end), k) for a, b, k in spans.get(name, []) if min(a, end) < min(b, end)]
    return spans


def split_brain_intervals(results, leading: dict | None = None) -> list[tuple[float, float]]:
    """Stretches of the run with two or more running nodes that believed they led
    (`leading`: leading_intervals(results), if already at hand)."""
    leading = leading_intervals(results) if leading is None else leading
    edges = sorted((t, step) for spans in leading.values() for a, b, _ in spans
                   for t, step in ((a, 1), (b, -1)))
    out, count, since = [], 0, None
    for t, step in edges:  # at one instant the ends (-1) come before the starts (+1)
        count += step
        if count >= 2 and since is None:
            since = t
        elif count < 2 and since is not None:
            if t > since:
                out.append((since, t))
            since = None
    return out


def _term_starts(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(when each term first had a leader, the term), in time order."""
    first = table[table["leading"] == 1].groupby("term")["t_ms"].min().sort_values()
    return first.to_numpy(), first.index.to_numpy()


def _newest_term_at(starts: tuple[np.ndarray, np.ndarray], t_ms: np.ndarray) -> np.ndarray:
    times, terms = starts
    newest = np.maximum.accumulate(terms) if len(terms) else terms
    at = np.searchsorted(times, t_ms, side="right") - 1
    return np.where(at >= 0, newest[np.clip(at, 0, None)] if len(newest) else 0, 0)


def promotion_summary(results) -> dict:
    """The keys of PROMOTION_DOC for one run of any kind (0 or NaN where they do not apply)."""
    requests, writes, events = results.requests, results.writes, results.events
    table = leadership_rows(results)
    degraded = results.tables.get("degraded") if results.tables else None
    leading = leading_intervals(results)
    split = split_brain_intervals(results, leading)
    summary = {
        "split_brain_ms": float(sum(b - a for a, b in split)),
        "split_brain_writes": 0,
        "split_brain_lost_acked": int((is_label(writes["lost_reason"], LOST_REASONS[SPLIT_BRAIN]) & writes["acked"].to_numpy()).sum()),
        "stale_reads_deposed": 0,
    }
    if table is not None and len(table):
        starts = _term_starts(table)
        newest = _newest_term_at(starts, writes["commit_ms"].to_numpy())
        summary["split_brain_writes"] = int((writes["term"].to_numpy() < newest).sum())
        summary["stale_reads_deposed"] = _stale_reads_deposed(results, starts, leading)
    summary |= _detection(events)
    lost = set(writes.loc[writes["lost"], "write_id"])
    summary["degraded_acks"] = int(len(degraded)) if degraded is not None else 0
    summary["degraded_acks_lost"] = int(degraded["write_id"].isin(lost).sum()) if degraded is not None else 0
    summary["refused_too_few_replicas"] = int(is_label(requests["reason"], REASONS[TOO_FEW_REPLICAS]).sum())
    summary["leader_terms"] = float(table.loc[table["leading"] == 1, "term"].nunique()) if table is not None else math.nan
    return summary


def _stale_reads_deposed(results, starts, leading: dict) -> int:
    requests = results.requests
    stale = requests[(requests["staleness_ms"] > 0)]
    if stale.empty:
        return 0
    count = 0
    for node, spans in leading.items():
        mine = stale[stale["node"].astype(str) == node]
        answered = mine["answered_ms"].to_numpy()
        newest = _newest_term_at(starts, answered)
        for a, b, term in spans:
            count += int(((answered >= a) & (answered < b) & (newest > term)).sum())
    return count


def _detection(events: pd.DataFrame) -> dict:
    """False suspicions, failovers of a leader still alive, and the time from a leader's crash to its detection."""
    down_at: dict[str, list] = {}  # crashes and recoveries only: a leader powered off by STONITH was alive until then
    for t, kind, target in zip(events["t_ms"], events["kind"], events["target"]):
        if kind in ("crash", "recover") and str(target).startswith("node"):
            down_at.setdefault(target, []).append((t, DOWN if kind == "crash" else UP))

    def crashed(name: str, t: float) -> bool:
        state = False
        for at, change in down_at.get(name, []):
            if at > t:
                break
            state = change == DOWN
        return state

    kinds, targets, times, details = (events[c].tolist() for c in ("kind", "target", "t_ms", "detail"))
    false_suspicions = sum(1 for k, target, t in zip(kinds, targets, times) if k == "suspect" and not crashed(target, t))
    live_replaced, leader = 0, "node0"
    detected, crash_at = [], None
    for kind, target, t, detail in zip(kinds, targets, times, details):
        if kind == "promote":
            live_replaced += not crashed(leader, t)
            leader = target
        elif kind == "crash" and target == leader and crash_at is None and str(detail).startswith("leader"):
            crash_at = t
        elif crash_at is not None and (kind in ("detect", "suspect") and target == leader or kind == "election"):
            detected.append(t - crash_at)
            crash_at = None
        elif kind == "recover" and target == leader:
            crash_at = None
    return {"false_suspicions": false_suspicions, "live_leader_failovers": live_replaced,
            "detected_after_ms": float(np.mean(detected)) if detected else math.nan}


# the independent recount ----------------------------------------------------------------------

@dataclass(frozen=True)
class PromotionReport:
    """The damage recounted by one sweep of the history; fields named like summary keys mean the same."""

    terms_with_two_leaders: int  # terms in which two different nodes began to lead (must be 0)
    split_brain_ms: float
    split_brain_writes: int
    split_brain_lost_acked: int
    stale_reads_deposed: int
    lost_acked_writes: int  # acknowledged writes the final leader's log lacks, replayed from commits, receipts and discards
    fate_mismatches: int  # writes whose replayed fate differs from the writes frame's `lost` (must be 0)
    lost_without_reason: int  # lost writes with no reason, or a reason without the loss (must be 0)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def check_promotion(results) -> PromotionReport:
    """Recount the damage of a realistic failover run from its frames, by a time-ordered sweep."""
    table = leadership_rows(results)
    writes, requests, events = results.writes, results.requests, results.events
    end = results.scenario.duration_ms
    two = int((table[table["leading"] == 1].groupby("term")["node"].nunique() > 1).sum()) if table is not None else 0
    sweep = []  # (t, order, what, node, value)
    for t, kind, target in zip(events["t_ms"], events["kind"], events["target"]):
        if kind in ("crash", "stonith", "recover", "pause", "resume") and str(target).startswith("node"):
            sweep.append((float(t), 0, kind, str(target), 0))
    if table is not None:
        for t, node, term, leading in zip(table["t_ms"], table["node"], table["term"], table["leading"]):
            sweep.append((float(t), 0, "lead" if leading else "unlead", str(node), int(term)))
    for t, node, term in zip(writes["commit_ms"], writes["leader"], writes["term"]):
        sweep.append((float(t), 1, "commit", str(node), int(term)))
    stale = requests[requests["staleness_ms"] > 0]
    for t, node in zip(stale["answered_ms"], stale["node"]):
        sweep.append((float(t), 1, "read", str(node), 0))
    sweep.sort(key=lambda row: (row[0], row[1]))
    up, paused, leads = {}, {}, {}  # node -> bool, bool, term it leads (absent: not leading)
    newest, split_ms, since, deposed_writes, deposed_reads = 0, 0.0, None, 0, 0
    for t, _order, what, node, term in sweep:
        if what in ("crash", "stonith"):
            up[node], paused[node] = False, False
        elif what == "recover":
            up[node] = True
        elif what in ("pause", "resume"):
            paused[node] = what == "pause"
        elif what == "lead":
            leads[node] = term
            newest = max(newest, term)
        elif what == "unlead":
            leads.pop(node, None)
        elif what == "commit":
            deposed_writes += term < newest
        elif node in leads and up.get(node, True) and not paused.get(node, False):
            deposed_reads += leads[node] < newest
        running = sum(1 for n in leads if up.get(n, True) and not paused.get(n, False))
        if running >= 2 and since is None:
            since = t
        elif running < 2 and since is not None:
            split_ms += max(0.0, min(t, end) - min(since, end))
            since = None
    if since is not None:
        split_ms += max(0.0, end - min(since, end))
    lost_replayed = _replay_logs(results, table)
    acked = dict(zip(writes["write_id"], writes["acked"]))
    recorded = set(writes.loc[writes["lost"], "write_id"])
    no_reason = int(((writes["lost_reason"] == "") == writes["lost"]).sum())
    split_label = LOST_REASONS[SPLIT_BRAIN]
    return PromotionReport(
        terms_with_two_leaders=two,
        split_brain_ms=split_ms,
        split_brain_writes=deposed_writes,
        split_brain_lost_acked=int(((writes["lost_reason"] == split_label) & writes["acked"]).sum()),
        stale_reads_deposed=deposed_reads,
        lost_acked_writes=sum(1 for w in lost_replayed if acked[w]),
        fate_mismatches=len(lost_replayed ^ recorded),
        lost_without_reason=no_reason,
    )


def _replay_logs(results, table) -> set[int]:
    """The writes the final leader's log lacks at the end: every node's log replayed from its
    commits, receipts and discards (the final leader: the one that began the newest term)."""
    writes = results.writes
    if table is None or table.empty:
        return set(writes.loc[writes["lost"], "write_id"])
    final = table[table["leading"] == 1].sort_values(["term", "t_ms"]).iloc[-1]["node"]
    receipts, discards = results.receipts, results.tables["discards"]
    steps = [(t, -1.0, w, True) for t, w, n in zip(writes["commit_ms"], writes["write_id"], writes["leader"]) if n == final]
    steps += [(t, float(i), w, True) for i, (t, w, n) in enumerate(zip(receipts["received_ms"], receipts["write_id"],
                                                                        receipts["node"])) if n == final]
    steps += [(t, b - 0.5, w, False) for t, w, n, b in zip(discards["t_ms"], discards["write_id"], discards["node"],
                                                           discards["receipts_before"]) if n == final]
    held: dict[int, bool] = {}
    for _t, _order, write, holds in sorted(steps, key=lambda s: (s[0], s[1])):
        held[write] = holds
    return {w for w in writes["write_id"] if not held.get(w, False)}


__all__ = ["PROMOTION_DOC", "PromotionReport", "check_promotion", "leading_intervals", "promotion_summary",
           "split_brain_intervals"]
