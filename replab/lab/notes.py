"""What a run says that its charts do not: a sentence under the Lab's controls when something is off.

    notes(results) -> list[str]        HTML sentences, empty when there is nothing to explain

Read from the Results only. Today one note: overload. When the nodes are busy nearly all the
time and many operations time out, a student moving a rate slider sees a cliff (everything
fails) and deserves the reason: a queue fed faster than it drains grows without bound, so
every operation waits longer than the client's time-out.
"""

from __future__ import annotations

from replab.analysis.results import Results

BUSY = 0.9  # mean utilisation of the busiest node above which a queue has (nearly) no slack
TIMED_OUT = 0.05  # share of operations that timed out before overload is worth a word


def _overload(results: Results) -> str | None:
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
    return (f"<b>Overloaded.</b> {busiest} was busy {share:.0%} of the time: the clients asked for about "
            f"{offered:,.0f} operations a second and only {served:,.0f} a second were served. A queue fed faster "
            f"than it drains grows without bound, so operations waited longer than the client's time-out "
            f"(workload.timeout_ms = {scenario.workload.timeout_ms:g} ms) and failed: {timed_out:.0%} of them. "
            f"Past capacity a system does not slow down gently, it falls off a cliff.")


def notes(results: Results) -> list[str]:
    return [note for note in (_overload(results),) if note]


__all__ = ["notes"]
