"""Failover, told as stories: a leader dies at a known time and we check what happened, in order.

Every story uses constant service and network times so each instant is exact:
one hop is 0.1 ms, the leader takes 0.05 ms to put an entry on the wire per follower.
"""

import pandas as pd
import pytest

import replab
from replab import ReplicationModel, Results, Scenario

CRASH_MS = 100.0


def story(**fields) -> Scenario:
    base = {
        "duration_ms": 2_000.0,
        "topology.followers": 2,
        "workload.rate_per_s": 400.0,
        "workload.write_ratio": 0.5,
        "workload.sessions": 4,
        "service.read.dist": "constant",
        "service.write.dist": "constant",
        "service.apply.dist": "constant",
        "network.hop.dist": "constant",
        "network.hop.mean_ms": 0.1,
        "replication.ship_ms": 0.05,
        "failover.detection_ms": 500.0,
        "failover.promotion_ms": 500.0,
        "faults.events": [{"at_ms": CRASH_MS, "action": "crash", "target": "leader"}],
    }
    return Scenario(**(base | fields))


def event_log(results: Results) -> list[tuple]:
    return [(e.t_ms, e.kind, e.target) for e in results.events.itertuples()]


def test_leader_crash_detection_read_only_and_promotion_happen_in_order():
    results = replab.run(story())
    assert event_log(results) == [
        (100.0, "crash", "node0"),
        (600.0, "detect", "node0"),
        (600.0, "read-only", "balancer"),
        (1100.0, "promote", "node1"),
        (1100.0, "writable", "balancer"),
    ]
    assert results.summary["failovers"] == 1
    assert results.summary["failover_ms"] == pytest.approx(1000.0)
    assert results.summary["read_only_ms"] == pytest.approx(500.0)


def test_writes_fail_until_detection_are_refused_until_promotion_then_go_to_the_new_leader():
    results = replab.run(story())
    writes = results.requests[results.requests["op"] == "write"]
    # a write reaches the balancer 0.2 ms after it starts, and the leader 0.2 ms later
    before_crash = writes[writes["start_ms"] < CRASH_MS - 3]
    undetected = writes[writes["start_ms"].between(CRASH_MS + 1, 599)]
    read_only = writes[writes["start_ms"].between(601, 1099)]
    promoted = writes[writes["start_ms"] > 1101]
    assert set(before_crash["outcome"]) == {"served"}
    assert set(before_crash["node"]) == {"node0"}
    assert set(undetected["outcome"]) == {"failed"} and set(undetected["reason"]) == {"node down"}
    assert set(read_only["outcome"]) == {"refused"} and set(read_only["reason"]) == {"read-only"}
    assert set(promoted["outcome"]) == {"served"} and set(promoted["node"]) == {"node1"}


def test_reads_keep_being_served_by_followers_throughout():
    results = replab.run(story())
    reads = results.requests[results.requests["op"] == "read"]
    assert set(reads["outcome"]) == {"served"}


def test_async_loses_exactly_the_acknowledged_writes_that_never_left_the_leader():
    """The leader's outbound link sends each entry to node1, then node2, taking ship_ms
    each. node1, the most up-to-date follower, is promoted: whatever had not left the
    leader for node1 when it crashed is lost, acknowledged or not."""
    ship_ms = 0.2
    results = replab.run(story(**{"workload.rate_per_s": 2000.0, "workload.write_ratio": 1.0,
                                  "service.write.mean_ms": 0.01, "replication.ship_ms": ship_ms}))
    first_term = results.writes[results.writes["term"] == 1].sort_values("log_index")
    link_free, left_for_node1 = 0.0, []
    for commit_ms in first_term["commit_ms"]:
        to_node1 = max(commit_ms, link_free) + ship_ms
        link_free = to_node1 + ship_ms  # then the same entry to node2
        left_for_node1.append(to_node1 <= CRASH_MS)
    expected_lost = ~pd.Series(left_for_node1, index=first_term.index)
    assert expected_lost.sum() > 0, "the story needs writes in the send queue at the crash"
    assert (first_term["lost"] == expected_lost).all()
    assert not results.writes.loc[results.writes["term"] == 2, "lost"].any()
    assert set(first_term.loc[first_term["lost"], "lost_reason"]) == {"never left the failed leader"}
    assert results.summary["lost_acked_writes"] == int((first_term["lost"] & first_term["acked"]).sum()) > 0


def test_semi_sync_acknowledges_nothing_it_then_loses():
    results = replab.run(story(**{"workload.rate_per_s": 2000.0, "workload.write_ratio": 1.0,
                                  "service.write.mean_ms": 0.01, "replication.ship_ms": 0.2,
                                  "replication.ack": "semi-sync"}))
    assert results.summary["lost_writes"] > 0
    assert results.summary["lost_acked_writes"] == 0


def test_with_promotion_disabled_the_system_stays_read_only():
    results = replab.run(story(**{"failover.promote": False}))
    assert event_log(results) == [
        (100.0, "crash", "node0"),
        (600.0, "detect", "node0"),
        (600.0, "read-only", "balancer"),
    ]
    late_writes = results.requests[(results.requests["op"] == "write") & (results.requests["start_ms"] > 601)]
    assert set(late_writes["outcome"]) == {"refused"}
    assert results.summary["read_only_ms"] == pytest.approx(2_000.0 - 600.0)
    assert results.summary["failovers"] == 0


def test_leader_back_before_promotion_cancels_it_and_leaves_read_only():
    faults = [{"at_ms": CRASH_MS, "action": "crash", "target": "node0"},
              {"at_ms": 800.0, "action": "recover", "target": "node0"}]
    results = replab.run(story(**{"faults.events": faults}))
    assert event_log(results) == [
        (100.0, "crash", "node0"),
        (600.0, "detect", "node0"),
        (600.0, "read-only", "balancer"),
        (800.0, "recover", "node0"),
        (800.0, "writable", "balancer"),
    ]
    late_writes = results.requests[(results.requests["op"] == "write") & (results.requests["start_ms"] > 801)]
    assert set(late_writes["node"]) == {"node0"}


def test_old_leader_rejoins_as_a_follower_without_its_lost_writes():
    faults = [{"at_ms": CRASH_MS, "action": "crash", "target": "leader"},
              {"at_ms": 1500.0, "action": "recover", "target": "node0"}]
    scenario = story(**{"faults.events": faults, "workload.rate_per_s": 2000.0, "workload.write_ratio": 1.0,
                        "service.write.mean_ms": 0.01, "service.apply.mean_ms": 0.01,
                        "replication.ship_ms": 0.2, "workload.keys": 50})
    model = ReplicationModel(scenario).run()
    results = Results.from_model(model)
    old, new = model.nodes[0], model.nodes[1]
    assert (old.role, new.role) == ("follower", "leader")
    lost = set(results.writes.loc[results.writes["lost"], "write_id"])
    assert lost and not lost & set(old.store.values())
    # after the last write every live replica converges on the new leader's data
    assert all(node.store == new.store for node in model.nodes)


def test_a_follower_that_misses_writes_catches_up_when_it_returns():
    faults = [{"at_ms": 100.0, "action": "crash", "target": "node2"},
              {"at_ms": 900.0, "action": "recover", "target": "node2"}]
    model = ReplicationModel(story(**{"faults.events": faults})).run()
    results = Results.from_model(model)
    lag = results.timeline[results.timeline["node"] == "node2"].set_index("t_ms")["lag_writes"]
    assert lag.loc[800.0] > 0
    assert lag.iloc[-1] == 0
    assert model.nodes[2].store == model.nodes[0].store
    assert results.summary["lost_writes"] == 0


def test_followers_cut_off_by_a_switch_catch_up_when_it_returns():
    """node1 sits on switch1 (nodes attach round-robin). While switch1 is down its copies
    are dropped; when it returns, node1's upstream resends what it missed."""
    faults = [{"at_ms": 100.0, "action": "crash", "target": "switch1"},
              {"at_ms": 200.0, "action": "recover", "target": "switch1"}]
    model = ReplicationModel(story(**{"faults.events": faults, "topology.switches": 2})).run()
    results = Results.from_model(model)
    lag = results.timeline[results.timeline["node"] == "node1"].set_index("t_ms")["lag_writes"]
    assert lag.loc[200.0] > 0 and lag.iloc[-1] == 0
    assert all(node.store == model.nodes[0].store for node in model.nodes)
