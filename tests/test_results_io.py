"""Results saved and loaded: one Parquet file per frame plus the scenario, and the summary,
a function of the Results alone, is the same key for key on a loaded run as on a fresh one."""

import math

import pandas as pd
import pytest

import replab
from replab import Results, Scenario
from replab.analysis.results import FRAMES
from replab.analysis.summary import summarise

KINDS = {
    "leader-follower with a failover": ("failover", {"duration_ms": 2_500.0, "faults.events": [
        {"at_ms": 1_000.0, "action": "crash", "target": "leader"}]}),
    "leader-leader": ("leader-leader", {"duration_ms": 1_500.0}),
    "buddy with a crash": ("buddy", {"duration_ms": 2_500.0, "faults.events": [
        {"at_ms": 1_000.0, "action": "crash", "target": "node1"}]}),
    "pull": ("push-pull", {"duration_ms": 1_500.0}),
    "three data centres": ("three-dc", {"duration_ms": 3_000.0, "faults.events": [
        {"at_ms": 1_000.0, "action": "crash", "target": "dc1"}]}),
}


def same_summary(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a.values(), b.values()))


@pytest.mark.parametrize("name", KINDS)
def test_a_saved_run_loads_with_the_same_frames_and_summary(name, tmp_path):
    preset, fields = KINDS[name]
    fresh = replab.run(Scenario.preset(preset).replace(**fields))
    loaded = Results.load(fresh.save(tmp_path / "run"))
    assert loaded.scenario == fresh.scenario
    for frame in FRAMES:
        pd.testing.assert_frame_equal(getattr(loaded, frame), getattr(fresh, frame), check_categorical=True)
    assert same_summary(loaded.summary, fresh.summary)
    assert same_summary(summarise(fresh), fresh.summary)


def test_the_summary_reads_the_frames_so_a_changed_frame_changes_it():
    """Nothing is taken from the live model: drop the lost writes from the frame and the
    summary no longer counts them."""
    results = replab.run(Scenario.preset("failover").replace(**{"replication.ship_ms": 0.5}))
    assert results.summary["lost_acked_writes"] > 0
    results.writes = results.writes[~results.writes["lost"]]
    assert summarise(results)["lost_acked_writes"] == 0
