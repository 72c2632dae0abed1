"""What a switch's loss did, measured from a run's results; and one switch's loss compared
across the switch layouts (one switch, a pair with hosts on one member, a pair with hosts
on both).

    outage_windows(events, duration_ms)           [(from_ms, to_ms)] with some switch down
    outage_summary(model, requests, events)       the summary keys below (see SUMMARY_DOC)
    switch_loss_table(base, crash_at_ms, down_ms) one row per (layout, switch lost)

Times are simulated ms.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd

from replab.arguments import choice_list, number
from replab.datacentres import cabling
from replab.scenario import Scenario, ScenarioError
from replab.switching import SWITCHING, switch_layout

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


def outage_summary(model, requests: pd.DataFrame, events: pd.DataFrame) -> dict:
    """Failed operations for the network's sake, dropped messages, and availability while a switch was down."""
    duration = model.duration_ms
    outcome = requests["outcome"]
    windows = outage_windows(events, duration)
    start = requests["start_ms"].to_numpy()
    during = np.zeros(len(requests), dtype=bool)
    for a, b in windows:
        during |= (start >= a) & (start < b)
    in_outage = int(during.sum())
    served = (outcome == "served").to_numpy()
    return {
        "failed_network": int(((outcome == "failed") & (requests["reason"] == "network")).sum()),
        "messages_dropped": int(model.network.messages_dropped),
        "switch_down_ms": float(sum(b - a for a, b in windows)),
        "outage_operations": in_outage,
        "outage_availability": float((served & during).sum() / in_outage) if in_outage else math.nan,
        "longest_gap_ms": longest_gap_ms(requests["end_ms"].to_numpy()[served], duration),
    }


def cut_off(scenario: Scenario, down: set[int]) -> list[str]:
    """The hosts (data nodes, balancers, clients) all of whose switches are in `down`."""
    _layouts, node_switches, others = cabling(scenario)
    hosts = [(f"node{i}", switches) for i, switches in enumerate(node_switches)] + others
    return [name for name, switches in hosts if set(switches) <= down]


def switch_loss_table(base: Scenario, crash_at_ms: float | None = None, down_ms: float | None = None,
                      switchings: Iterable[str] = SWITCHING) -> pd.DataFrame:
    """One switch lost for `down_ms` from `crash_at_ms`, in each layout, for each switch of the first position.

    With "single" that is switch0 (everything's switch when topology.switches is 1); with a
    pair it is switch0 (the balancer's and the clients' primary, node0's) and then switch1
    (the partner). Defaults: the crash at 30% of the run, back at 60%. Every run is `base`
    with only topology.switching and faults.events changed, so the layouts see the same
    workload.

    One row per run: switching, switch, cut_off (the hosts left with no live switch),
    operations, availability, outage_operations (started while the switch
    was down), outage_availability, failed, failed_network, messages_dropped,
    longest_gap_ms, max_lag_ms.
    """
    from replab.model import run

    if base.dcs.count > 1:
        raise ScenarioError("dcs.count", base.dcs.count, "must be 1: switch_loss_table compares one DC's switch layouts")
    duration = base.duration_ms
    crash_at_ms = 0.3 * duration if crash_at_ms is None else number("crash_at_ms", crash_at_ms, 0.0, duration)
    down_ms = 0.3 * duration if down_ms is None else number("down_ms", down_ms)
    rows = []
    for switching in choice_list("switchings", switchings, SWITCHING):
        scenario = base.replace(**{"topology.switching": switching})
        for switch in switch_layout(scenario.topology).groups[0]:
            target = f"switch{switch}"
            faults = [{"at_ms": crash_at_ms, "action": "crash", "target": target},
                      {"at_ms": min(crash_at_ms + down_ms, duration), "action": "recover", "target": target}]
            summary = run(scenario.replace(**{"faults.events": faults})).summary
            rows.append({"switching": switching, "switch": target, "cut_off": ", ".join(cut_off(scenario, {switch})),
                         **{k: summary[k] for k in ("operations", "availability", "outage_operations",
                                                    "outage_availability", "failed", "failed_network",
                                                    "messages_dropped", "longest_gap_ms", "max_lag_ms")}})
    return pd.DataFrame(rows)


__all__ = ["OUTAGE_KEYS", "cut_off", "longest_gap_ms", "outage_summary", "outage_windows", "switch_loss_table"]
