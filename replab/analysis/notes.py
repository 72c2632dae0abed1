"""What a run says that its summary and charts do not: a few sentences when something looks off.

    notes(results) -> list[Note]       Note(headline, text), plain text; empty when there is nothing to explain

The Lab shows them under its controls, `replab run` under the summary. Read from the
Results only. Two notes:
- overload: when the nodes are busy nearly all the time and many operations time out, a
  student moving a rate slider sees a cliff (everything fails) and deserves the reason: a
  queue fed faster than it drains grows without bound, so every operation waits longer
  than the client's time-out;
- lost updates: when last-writer-wins has thrown away many acknowledged writes, the summary
  shows a large lost_acked_writes that looks like a bug; it is what concurrent versions and
  a timestamp tie-break do (with clients coordinating leaderless writes, most overwrites by
  different sessions are concurrent).
"""

from __future__ import annotations

from typing import NamedTuple

from replab.analysis.results import Results
from replab.replication import STRATEGIES

BUSY = 0.9  # mean utilisation of the busiest node above which a queue has (nearly) no slack
TIMED_OUT = 0.05  # share of operations that timed out before overload is worth a word
LOST_UPDATES = 0.05  # share of acknowledged writes lost to last-writer-wins before it is worth a word


class Note(NamedTuple):
    headline: str  # a word or two: "Overloaded."
    text: str  # why, and what to change


def _overload(results: Results) -> Note | None:
    requests, timeline, scenario = results.requests, results.timeline, results.scenario
    if not len(requests):
        return None
    timed_out = float((requests["reason"] == "timeout").mean())
    during = timeline[(timeline["t_ms"] <= scenario.duration_ms) & timeline["up"]]
    if not len(during) or timed_out < TIMED_OUT:
        return None
    busy = during.groupby("node", observed=True)["utilisation"].mean()
    busiest, share = str(busy.idxmax()), float(busy.max())
    if share < BUSY:
        return None
    offered = len(requests) / (scenario.duration_ms / 1000)
    served = int((requests["outcome"] == "served").sum()) / (scenario.duration_ms / 1000)
    return Note("Overloaded.", f"{busiest} was busy {share:.0%} of the time: the clients asked for about "
                f"{offered:,.0f} operations a second and only {served:,.0f} a second were served. A queue fed "
                f"faster than it drains grows without bound, so operations waited longer than the client's "
                f"time-out (workload.timeout_ms = {scenario.workload.timeout_ms:g} ms) and failed: "
                f"{timed_out:.0%} of them. Past capacity a system does not slow down gently, it falls off a cliff.")


def _lost_updates(results: Results) -> Note | None:
    summary, scenario = results.summary, results.scenario
    acked, lost = summary["writes_acked"], summary["lost_updates"]
    if not acked or lost < LOST_UPDATES * acked:
        return None
    said = (f"{lost:,} of {acked:,} acknowledged writes ({lost / acked:.0%}) were thrown away: "
            f"each met a concurrent version (neither had seen the other) with a later timestamp, and "
            f"last-writer-wins kept that one. ")
    if STRATEGIES[scenario.replication.kind].clients_coordinate(scenario):
        said += ("Here the clients coordinate, and a session's vector clock counts only its own writes: a write "
                 "is concurrent with every write of another session that it has not read, so most overwrites "
                 "are conflicts. Keep both as siblings (quorum.conflicts), or let a home replica order each "
                 "key's writes (quorum.coordinator = replica).")
    else:
        said += "Keeping both versions (the conflicts setting) loses none; the reader then has to merge them."
    return Note("Lost updates.", said)


def notes(results: Results) -> list[Note]:
    return [note for note in (_overload(results), _lost_updates(results)) if note]


__all__ = ["Note", "notes"]
