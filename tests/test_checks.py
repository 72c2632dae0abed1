"""The history checker and the summary count the same anomalies, on a history full of them."""

import pytest

from replab import Scenario, run
from replab.analysis.checks import check_history


def test_checker_and_summary_agree_on_a_history_full_of_anomalies():
    """Async followers under a failover, hot keys and closed-loop sessions: stale reads,
    read-your-writes and monotonic-read violations all happen, and both counts match."""
    scenario = Scenario.preset("failover").replace(**{
        "duration_ms": 8_000.0,
        "workload.arrival": "closed", "workload.sessions": 20, "workload.think_ms": 2.0,
        "workload.write_ratio": 0.4, "workload.popularity": "zipf", "workload.keys": 50,
        "replication.reads": "any", "service.apply.mean_ms": 2.0,
    })
    results = run(scenario)
    report = check_history(results.requests, results.writes)
    assert report.unfinished == 0
    assert report.acked_writes_not_accounted == 0
    for metric in ("stale_reads", "ryw_violations", "monotonic_read_violations"):
        assert getattr(report, metric) > 0, f"the story needs {metric}"
        assert getattr(report, metric) == results.summary[metric], metric
    per_session = results.sessions[["ryw_violations", "monotonic_read_violations"]].sum()
    assert per_session["ryw_violations"] == report.ryw_violations
    assert per_session["monotonic_read_violations"] == report.monotonic_read_violations


def test_reads_on_the_leader_are_never_stale():
    results = run(Scenario.preset("leader-follower").replace(**{
        "duration_ms": 2_000.0, "replication.reads": "leader", "workload.popularity": "zipf"}))
    report = check_history(results.requests, results.writes)
    assert (report.stale_reads, report.ryw_violations, report.monotonic_read_violations) == (0, 0, 0)


@pytest.mark.parametrize("group_scale, value_high", [(1, 6), (10**11, 10**8)])
def test_newest_before_is_the_brute_force_maximum(group_scale, value_high):
    """anomalies.newest_before (a running maximum per group over sorted int64 keys) against a
    search of every row; the second case has groups (sessions x keys) and values large enough
    that lifting a value by its group would overflow an int64 without the dense-group fallback."""
    import numpy as np

    from replab.analysis.anomalies import newest_before

    rng = np.random.default_rng(7)
    for _ in range(20):
        rows, reads = int(rng.integers(1, 300)), int(rng.integers(1, 100))
        group = rng.integers(0, 5, rows) * group_scale
        place = rng.integers(0, reads + 1, rows)
        value = rng.integers(-1, value_high, rows)
        read_group = rng.integers(0, 5, reads) * group_scale
        want = [max([v for g, p, v in zip(group, place, value) if g == read_group[i] and p <= i], default=0)
                for i in range(reads)]
        assert newest_before(place, group, value, read_group).tolist() == want
