"""The same fault under every failover policy and fencing: one table of the damage.

    compare_policies(base="split-brain", policies=POLICIES, fencings=FENCING, acks=("async",), **changes)

runs the scenario once per (policy, fencing, ack) with its own seed (paired: every row sees
the same clients and the same fault) and returns one row each: how long two leaders took
writes, how many writes a deposed leader took, and how many acknowledged writes were lost,
for split brain and in all. From the shell:

    python -c "from replab.experiments.promotion import compare_policies; print(compare_policies().to_string())"
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from replab.config.scenario import Scenario
from replab.replication.promotion_settings import FENCING
from replab.sim.model import run

REALISTIC = ("naive", "quorum", "consensus", "manual")
COLUMNS = ("split_brain_ms", "split_brain_writes", "split_brain_lost_acked", "lost_acked_writes", "writes_acked",
           "failovers", "availability")


def compare_policies(base: str | Scenario = "split-brain", policies: Iterable[str] = REALISTIC,
                     fencings: Iterable[str] = FENCING, acks: Iterable[str] = ("async",), **changes) -> pd.DataFrame:
    """One row per (policy, fencing, ack) of `base` (a preset name or a Scenario), with `changes`
    (dotted fields) applied to all; columns: COLUMNS of each run's summary."""
    scenario = Scenario.preset(base) if isinstance(base, str) else base
    if changes:
        scenario = scenario.replace(**changes)
    rows = []
    for ack in acks:
        for policy in policies:
            for fencing in fencings:
                summary = run(scenario.replace(**{"failover.policy": policy, "failover.fencing": fencing,
                                                  "replication.ack": ack})).summary
                rows.append({"policy": policy, "fencing": fencing, "ack": ack} | {c: summary[c] for c in COLUMNS})
    return pd.DataFrame(rows)


__all__ = ["COLUMNS", "REALISTIC", "compare_policies"]
