"""Buddy replication vs replicate-to-all, measured on the same workload and the same crashes.

    compare_layouts(base, layouts, crashes)    one row per (layout, crash story, replicate)

Each layout copies session state to a different set of nodes: a ring with k buddies, fixed
pairs, or every other node (replicate-to-all). Every layout runs the same workload with the
same seeds and the same crashes, so the rows differ only by where copies go. Numbers come
from each run's summary (see replab.analysis.summary.SUMMARY_DOC), never from the model's insides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from replab.config.arguments import choice_list, number, whole
from replab.config.scenario import Scenario, ScenarioError
from replab.experiments.sweep import derived_seed, sweep
from replab.replication.buddy import buddy_indices

LAYOUTS = (("ring", 1), ("ring", 2), ("pairs", 1), ("all", 1))
CRASH_STORIES = ("one node", "a node and its buddy")  # node1; node1 and its first buddy
MEASURES = ("state_copies", "state_copy_bytes", "copies_per_write", "state_bytes_per_node", "sessions_moved",
            "sessions_lost_state", "lost_acked_writes", "takeover_ms", "availability", "write_p99_ms")


def layout_name(layout: str, copies: int) -> str:
    return {"ring": f"ring, {copies} {'buddy' if copies == 1 else 'buddies'}", "pairs": "pairs",
            "all": "replicate to all"}[layout]


def crashed_nodes(story: str, nodes: int, layout: str, copies: int) -> list[str]:
    """The nodes a crash story brings down: node1, and with "a node and its buddy" also the
    first node holding node1's copies under this layout (node2 in a ring, node0 in pairs)."""
    if story == CRASH_STORIES[0]:
        return ["node1"]
    return ["node1", f"node{buddy_indices(1, nodes, layout, copies, list(range(nodes)))[0]}"]


def _layouts(layouts, nodes: int) -> list[tuple[str, int]]:
    """(buddy.layout, buddy.copies) pairs, each valid with `nodes` nodes."""
    allowed = "must be a list of (layout, copies) pairs, e.g. [('ring', 1), ('all', 1)]"
    if isinstance(layouts, (str, bytes)) or not isinstance(layouts, Iterable):
        raise ScenarioError("layouts", layouts, allowed)
    pairs = list(layouts)
    if not pairs or any(isinstance(p, (str, bytes)) or not isinstance(p, Iterable) or len(tuple(p)) != 2 for p in pairs):
        raise ScenarioError("layouts", layouts, allowed)
    for layout, copies in pairs:
        Scenario(**{"replication.kind": "buddy", "balancer.policy": "sticky", "buddy.nodes": nodes,
                    "buddy.layout": layout, "buddy.copies": copies})  # a bad one names its field
    return [tuple(p) for p in pairs]


def compare_layouts(base: Scenario, layouts: Iterable[tuple[str, int]] = LAYOUTS,
                    crashes: Iterable[str] = tuple(CRASH_STORIES), crash_ms: float | None = None,
                    replicates: int = 1, seed: int = 0, engine: str = "serial", workers: int | None = None,
                    progress: bool = False) -> pd.DataFrame:
    """Copies, bytes, memory, sessions that lost state and take-over time per buddy layout.

    `base` must be a buddy-replication scenario without faults of its own. Each crash story
    (one of CRASH_STORIES, see `crashed_nodes`) crashes its nodes at `crash_ms` (default: half-way through the
    run), at the same instant. One row per run: layout (readable), buddy.layout,
    buddy.copies, crashes, then MEASURES: copies sent and their bytes, copies_per_write
    (copies / writes acknowledged), mean session state a live node holds, sessions moved,
    sessions that lost state, lost acknowledged writes, take-over time, availability and
    write p99; replicate and seed.
    """
    if base.replication.kind != "buddy":
        raise ScenarioError("replication.kind", base.replication.kind, "must be 'buddy' to compare buddy layouts")
    if base.faults.events:
        raise ScenarioError("faults.events", len(base.faults.events), "must be empty: the crash stories add the faults")
    crashes = choice_list("crashes", crashes, CRASH_STORIES)
    layouts = _layouts(layouts, base.buddy.nodes)
    replicates = whole("replicates", replicates, 1, 1_000)
    at_ms = base.duration_ms / 2 if crash_ms is None else number("crash_ms", crash_ms, 0.0, base.duration_ms)
    seeds = [derived_seed(seed, f"replicate {r}") for r in range(replicates)]
    samples = [{"buddy.layout": layout, "buddy.copies": copies, "seed": run_seed,
                "faults.events": [{"at_ms": at_ms, "action": "crash", "target": node}
                                  for node in crashed_nodes(story, base.buddy.nodes, layout, copies)]}
               for layout, copies in layouts for story in crashes for run_seed in seeds]
    frame = sweep(base, samples=samples, engine=engine, workers=workers, progress=progress)
    failed = frame[frame["error"] != ""]
    if len(failed):
        raise RuntimeError(f"{len(failed)} of {len(frame)} runs failed; the first: {failed['error'].iloc[0]}")
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame["layout"] = [layout_name(layout, copies) for layout, copies in zip(frame["buddy.layout"], frame["buddy.copies"])]
    frame["crashes"] = [CRASH_STORIES[len(json.loads(faults)) - 1] for faults in frame["faults.events"]]
    frame["replicate"] = frame["seed"].map({s: r for r, s in enumerate(seeds)})
    frame["copies_per_write"] = frame["state_copies"] / frame["writes_acked"]
    return frame[["layout", "buddy.layout", "buddy.copies", "crashes", *MEASURES, "replicate", "seed"]]


__all__ = ["CRASH_STORIES", "LAYOUTS", "MEASURES", "compare_layouts", "crashed_nodes", "layout_name"]
