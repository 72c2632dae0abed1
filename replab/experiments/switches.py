"""One switch's loss compared across the switch layouts (one switch, a pair with hosts on one
member, a pair with hosts on both), each run on the same workload.

    switch_loss_table(base, crash_at_ms, down_ms) one row per (layout, switch lost)

What a switch's loss did in one run is read from its frames by replab.analysis.outages.
Times are simulated ms.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from replab.config.arguments import choice_list, number
from replab.config.scenario import Scenario, ScenarioError
from replab.sim.model import run
from replab.topology.datacentres import cut_off
from replab.topology.switching import SWITCHING, switch_layout


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


__all__ = ["switch_loss_table"]
