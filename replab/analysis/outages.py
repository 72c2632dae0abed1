"""What a switch's loss did, measured from a run's results.

    outage_windows(events, duration_ms)           [(from_ms, to_ms)] with some switch down
    outage_summary(results)                       the summary keys below (see SUMMARY_DOC)

One switch's loss compared across the switch layouts: replab.experiments.switches.

Times are simulated ms.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab.analysis.frames import is_label

OUTAGE_KEYS = ("failed_network", "messages_dropped", "switch_down_ms", "outage_operations",
               "outage_availability", "longest_gap_ms")


def outage_windows(events: pd.DataFrame, duration_ms: float) -> list[tuple[float, float]]:
    """Stretches of the run (clipped to 0..duration_ms) during which at least one switch was down."""
    down: set[str] = set()
    windows, since = [], None
    for t, kind, target in zip(events["t_ms"], events["kind"], events["target"]):
        if not str(target).startswith("switch") or kind not in ("crash", "recover"):
            continue
        was_down = bool(down)
        (down.add if kind == "crash" else down.discard)(target)
        if not was_down and down:
            since = t
        elif was_down and not down:
            windows.append((min(since, duration_ms), min(t, duration_ms)))
    if down:
        windows.append((min(since, duration_ms), duration_ms))
    return [(a, b) for a, b in windows if b > a]


def longest_gap_ms(served_end_ms: np.ndarray, duration_ms: float) -> float:
    """The longest stretch of 0..duration_ms in which no operation succeeded (no served
    operation ended), counting from the start and up to the end of the run."""
    ends = np.sort(served_end_ms[served_end_ms < duration_ms])
    points = np.concatenate(([0.0], ends, [duration_ms]))
    return float(np.diff(points).max())


def outage_summary(results) -> dict:
    """Failed operations for the network's sake, dropped messages, and availability while a switch was down."""
    requests, events = results.requests, results.events
    duration = results.scenario.duration_ms
    outcome = requests["outcome"]
    windows = outage_windows(events, duration)
    start = requests["start_ms"].to_numpy()
    during = np.zeros(len(requests), dtype=bool)
    for a, b in windows:
        during |= (start >= a) & (start < b)
    in_outage = int(during.sum())
    served = is_label(outcome, "served")
    return {
        "failed_network": int((is_label(outcome, "failed") & is_label(requests["reason"], "network")).sum()),
        "messages_dropped": int(results.totals.get("messages_dropped", 0)),
        "switch_down_ms": float(sum(b - a for a, b in windows)),
        "outage_operations": in_outage,
        "outage_availability": float((served & during).sum() / in_outage) if in_outage else math.nan,
        "longest_gap_ms": longest_gap_ms(requests["end_ms"].to_numpy()[served], duration),
    }


__all__ = ["OUTAGE_KEYS", "longest_gap_ms", "outage_summary", "outage_windows"]
