"""The workload draws what the scenario says, and the load balancer routes by its policy."""

import numpy as np
import pytest

from replab import Scenario, run

SHORT = {"duration_ms": 3_000.0}


def test_write_ratio_and_rate_are_what_was_asked():
    results = run(Scenario.preset("leader-follower").replace(**SHORT, **{"workload.write_ratio": 0.3}))
    requests = results.requests
    assert len(requests) == pytest.approx(2_000 * 3, rel=0.05)  # Poisson: sd ~ 1.3%
    assert (requests["op"] == "write").mean() == pytest.approx(0.3, abs=0.02)


def test_zipf_makes_key_one_the_hottest_with_the_expected_ratio():
    """With exponent s, key 1 is chosen 2**s times as often as key 2."""
    results = run(Scenario.preset("leader-follower").replace(**SHORT, **{
        "workload.popularity": "zipf", "workload.zipf_s": 1.0, "workload.rate_per_s": 10_000.0}))
    counts = results.requests["key"].value_counts()
    assert counts.index[0] == 1
    assert counts[1] / counts[2] == pytest.approx(2.0, rel=0.1)


def test_closed_loop_obeys_the_interactive_response_time_law():
    """N sessions that think Z ms between operations of response time R: X = N / (Z + R)."""
    results = run(Scenario.preset("leader-follower").replace(**{
        "duration_ms": 20_000.0, "workload.arrival": "closed", "workload.sessions": 20, "workload.think_ms": 10.0}))
    requests = results.requests
    window = requests[(requests["start_ms"] > 1_000) & (requests["start_ms"] < 19_000)]
    throughput_per_ms = len(window) / 18_000
    expected = 20 / (10.0 + window["latency_ms"].mean())
    assert throughput_per_ms == pytest.approx(expected, rel=0.03)


def test_round_robin_spreads_reads_evenly_over_the_followers():
    results = run(Scenario.preset("leader-follower").replace(**SHORT, **{"balancer.policy": "round-robin"}))
    reads = results.requests[results.requests["op"] == "read"]
    per_node = reads["node"].value_counts()
    assert set(per_node.index[per_node > 0]) == {"node1", "node2", "node3"}
    assert per_node.max() - per_node[per_node > 0].min() <= 1


def test_sticky_keeps_each_session_on_one_follower_until_that_follower_dies():
    """Sessions are pinned round-robin; when node1 dies and is detected, its sessions move
    once, to another follower, and stay there."""
    scenario = Scenario.preset("leader-follower").replace(**SHORT, **{
        "balancer.policy": "sticky", "faults.events": [{"at_ms": 1_000.0, "action": "crash", "target": "node1"}],
        "failover.detection_ms": 200.0})
    reads = run(scenario).requests.query("op == 'read' and outcome == 'served'")
    before, after = reads[reads["start_ms"] < 1_000], reads[reads["start_ms"] > 1_400]
    assert (before.groupby("session")["node"].nunique() == 1).all()
    assert (after.groupby("session")["node"].nunique() == 1).all()
    assert set(before["node"]) == {"node1", "node2", "node3"} and "node1" not in set(after["node"])
    moved = before.groupby("session")["node"].first() != after.groupby("session")["node"].first()
    assert set(before.groupby("session")["node"].first()[moved.index[moved]]) == {"node1"}


def test_least_outstanding_beats_random_routing_under_load():
    """Joining the shortest queue cuts the tail compared with picking a node at random."""
    busy = Scenario.preset("leader-follower").replace(**SHORT, **{
        "workload.write_ratio": 0.0, "workload.rate_per_s": 10_000.0, "topology.workers": 1,
        "replication.reads": "any", "topology.followers": 13})
    p95 = {policy: run(busy.replace(**{"balancer.policy": policy})).summary["read_p95_ms"]
           for policy in ("random", "least-outstanding")}
    assert p95["least-outstanding"] < 0.7 * p95["random"]


def test_reads_go_only_where_the_scenario_says():
    for reads, nodes in (("leader", {"node0"}), ("followers", {"node1", "node2", "node3"}),
                         ("any", {"node0", "node1", "node2", "node3"})):
        results = run(Scenario.preset("leader-follower").replace(**SHORT, **{"replication.reads": reads}))
        served = results.requests[results.requests["op"] == "read"]
        assert set(np.unique(served["node"].astype(str))) == nodes, reads
