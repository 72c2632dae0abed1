"""Same scenario and seed, same frames and summary, for every kind of run: random failures,
every replication strategy, redundant switch pairs, several data centres. (Sweeps give the
same rows on every engine and worker count: tests/test_sweep.py.)"""

import math

import pandas as pd
import pytest

import replab
from replab import Results, Scenario
from replab.analysis.results import FRAMES

RANDOM_FAILURES = {"faults.mttf_ms": 1_500.0, "faults.mttr_ms": 300.0}
SWITCH_FAULTS = [{"at_ms": 300.0, "action": "crash", "target": "switch0"},
                 {"at_ms": 500.0, "action": "crash", "target": "switch3"},
                 {"at_ms": 900.0, "action": "recover", "target": "switch0"}]
CASES = {
    "leader-follower": ("leader-follower", {"duration_ms": 2_000.0, **RANDOM_FAILURES}),
    "leader-leader": ("leader-leader", {"duration_ms": 2_000.0, "workload.keys": 20, **RANDOM_FAILURES}),
    "buddy": ("buddy", {"duration_ms": 2_000.0, "faults.events": [], "faults.mttf_ms": 1_000.0, "faults.mttr_ms": 200.0}),
    "pull from a peer": ("push-pull", {"duration_ms": 1_500.0, "cache.source": "peer", "faults.mttf_ms": 1_000.0,
                                       "faults.mttr_ms": 200.0}),
    "dual-attached switch pairs": ("leader-follower", {"duration_ms": 1_500.0, "topology.switches": 2,
                                                        "topology.switching": "pair-dual-attached",
                                                        "network.hop.dist": "lognormal", "faults.events": SWITCH_FAULTS}),
    "leaderless with hints and anti-entropy": (None, {
        "replication.kind": "leaderless", "duration_ms": 1_500.0, "quorum.anti_entropy_ms": 200.0,
        "faults.mttf_ms": 1_000.0, "faults.mttr_ms": 300.0, "quorum.legs.read.dist": "pareto-exponential",
        "quorum.legs.read.pareto_share": 0.5, "quorum.legs.read.mean_ms": 1.0}),
    "three data centres": ("three-dc", {"duration_ms": 3_000.0, "faults.events": [
        {"at_ms": 1_000.0, "action": "partition", "target": "dc1"}, {"at_ms": 2_000.0, "action": "heal", "target": "dc1"}]}),
}


def assert_same_results(a: Results, b: Results) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert list(a.tables) == list(b.tables)
    for name in a.tables:  # the tables a strategy records for itself
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    assert list(a.summary) == list(b.summary)
    assert all(x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
               for x, y in zip(a.summary.values(), b.summary.values()))


@pytest.mark.parametrize("case", CASES)
def test_same_scenario_and_seed_give_identical_frames(case):
    preset, fields = CASES[case]
    scenario = Scenario(**fields) if preset is None else Scenario.preset(preset).replace(**fields)
    first = replab.run(scenario)
    assert first.summary["operations"] > 0
    assert_same_results(first, replab.run(scenario))
