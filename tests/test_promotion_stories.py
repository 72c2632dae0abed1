"""Promotion as it really is, told as stories: a fault at a known time, then what happened, in order.

Every story runs the realistic failover model with constant service and network times, so
each instant is exact: one hop is 0.1 ms (host to switch, switch to host: 0.2 ms between
two hosts), a write takes 2 ms, observers ping every 50 ms and suspect a node unheard of
for 200 ms, a promotion follows its decision by 100 ms.
"""

import pytest

import replab
from replab import Scenario, ScenarioError
from replab.analysis.split_brain import check_promotion, split_brain_intervals

SPLIT = "accepted by a deposed leader (split brain)"
NEVER_LEFT = "never left the failed leader"


def story(**fields) -> Scenario:
    base = {
        "duration_ms": 3_000.0,
        "topology.followers": 2,
        "workload.rate_per_s": 400.0,
        "workload.write_ratio": 0.5,
        "workload.sessions": 4,
        "workload.timeout_ms": 2_000.0,
        "service.read.dist": "constant",
        "service.write.dist": "constant",
        "service.apply.dist": "constant",
        "network.hop.dist": "constant",
        "network.hop.mean_ms": 0.1,
        "replication.ship_ms": 0.05,
        "failover.policy": "naive",
        "failover.heartbeat_ms": 50.0,
        "failover.timeout_ms": 200.0,
        "failover.promotion_ms": 100.0,
        "failover.lease_ms": 150.0,
    }
    return Scenario(**(base | fields))


def partition_of_node0_and_app1(**fields) -> Scenario:
    """node0 (the leader) and app server 1 (half the clients) are cut off from 1000 to 2000 ms."""
    split = [{"at_ms": 1000.0, "action": "partition", "target": "node0+app1", "duration_ms": 1000.0}]
    return story(**{"topology.app_servers": 2, "faults.events": split} | fields)


def event_log(results, quiet=("suspect", "trust")) -> list[tuple]:
    return [(pytest.approx(e.t_ms), e.kind, e.target) for e in results.events.itertuples() if e.kind not in quiet]


def lost_by_reason(results) -> dict:
    writes = results.writes
    return writes[writes["lost"]].groupby("lost_reason", observed=True)["acked"].agg(["size", "sum"]).to_dict("index")


def test_a_gc_pause_makes_the_controller_replace_a_leader_that_never_died():
    """node0 stops for a second. The controller cannot tell a pause from a death: it promotes
    node1. node0 wakes with its old beliefs: the writes it was executing when it stopped
    commit and are acknowledged, then node1's heartbeat (term 2) makes it step down and cut
    them from its log: acknowledged, and lost, though nothing ever crashed."""
    pause = [{"at_ms": 100.0, "action": "pause", "target": "leader", "duration_ms": 1000.0}]
    results = replab.run(story(**{"faults.events": pause, "duration_ms": 2_000.0}))
    assert event_log(results, quiet=("trust",)) == [
        (100.0, "pause", "node0"),
        (300.0, "suspect", "node0"),  # last heard at 50.4 ms; at the tick of 300 ms it is 249.6 ms silent
        (300.0, "read-only", "balancer"),
        (400.0, "writable", "balancer"),
        (400.2, "promote", "node1"),
        (1100.0, "resume", "node0"),
        (1100.0, "step-down", "node0"),
    ]
    writes = results.writes
    lost = writes[writes["lost"]]
    assert len(lost) == 2 and set(lost["commit_ms"]) == {1100.0}  # the two writes in service at the pause
    assert set(lost["leader"]) == {"node0"} and set(lost["term"]) == {1} and lost["acked"].all()
    assert set(lost["lost_reason"]) == {SPLIT}
    summary = results.summary
    assert (summary["false_suspicions"], summary["live_leader_failovers"], summary["failovers"]) == (1, 1, 1)
    assert summary["split_brain_ms"] == 0.0  # node0 never ran as a leader beside node1: it stepped down as it woke


def test_naive_promotion_in_a_partition_lets_two_leaders_take_writes_and_throws_one_side_away():
    """app1's clients keep writing to node0, app0's to node1, promoted at 1300 ms: two leaders
    until the partition heals at 2000 ms and node1's heartbeat makes node0 step down. Every
    write node0 took after 1300 ms was acknowledged and is discarded; so are those it took
    between the partition and the promotion, which never left it."""
    results = replab.run(partition_of_node0_and_app1())
    assert event_log(results) == [
        (1000.0, "partition", "node0+app1"),
        (1200.0, "read-only", "balancer"),
        (1300.0, "writable", "balancer"),
        (1300.2, "promote", "node1"),
        (2000.0, "heal", "node0+app1"),
        (2000.2, "step-down", "node0"),
    ]
    assert split_brain_intervals(results) == [(pytest.approx(1300.2), pytest.approx(2000.2))]
    writes = results.writes
    deposed = writes[(writes["leader"] == "node0") & (writes["commit_ms"] > 1300.2)]
    assert len(deposed) > 0 and deposed["lost"].all() and deposed["acked"].all()
    on_node1 = writes[writes["term"] == 2]
    assert len(on_node1) > 0 and not on_node1["lost"].any()
    assert lost_by_reason(results) == {NEVER_LEFT: {"size": 36, "sum": 36}, SPLIT: {"size": 62, "sum": 62}}
    assert results.summary["split_brain_lost_acked"] == results.summary["split_brain_writes"] == len(deposed) == 62
    discards = results.tables["discards"]
    assert set(discards["node"]) == {"node0"} and list(discards["t_ms"].unique()) == [pytest.approx(2000.2)]


def test_without_fencing_nothing_tells_the_old_leader_and_split_brain_outlives_the_partition():
    results = replab.run(partition_of_node0_and_app1(**{"failover.fencing": "none"}))
    assert "step-down" not in set(results.events["kind"])
    assert split_brain_intervals(results) == [(pytest.approx(1300.2), 3000.0)]  # to the end of the run
    assert results.summary["split_brain_lost_acked"] == 62


def test_stonith_powers_the_old_leader_off_so_it_takes_no_write_as_a_deposed_leader():
    results = replab.run(partition_of_node0_and_app1(**{"failover.fencing": "stonith", "failover.reboot_ms": 500.0}))
    assert event_log(results) == [
        (1000.0, "partition", "node0+app1"),
        (1200.0, "read-only", "balancer"),
        (1300.0, "stonith", "node0"),
        (1300.0, "writable", "balancer"),
        (1300.2, "promote", "node1"),
        (1800.0, "recover", "node0"),
        (1800.0, "step-down", "node0"),  # it boots as a follower
        (2000.0, "heal", "node0+app1"),
    ]
    assert results.summary["split_brain_ms"] == 0.0
    assert lost_by_reason(results) == {NEVER_LEFT: {"size": 36, "sum": 36}}


def test_consensus_with_a_lease_steps_the_old_leader_down_before_electing_and_majority_acks_lose_nothing():
    """node0 hears no majority after the partition: its lease (150 ms after the last heartbeat a
    majority answered) runs out and it steps down; only then does a follower's election
    time-out (200 to 400 ms) pass. Its writes since the partition never got a majority's
    receipts: lost, but none acknowledged."""
    results = replab.run(partition_of_node0_and_app1(**{"failover.policy": "consensus", "replication.ack": "majority"}))
    kinds = [(e.kind, e.target) for e in results.events.itertuples()]
    assert kinds == [("partition", "node0+app1"), ("step-down", "node0"), ("election", "node2"), ("promote", "node2"),
                     ("heal", "node0+app1")]
    step_down, election = results.events["t_ms"].iloc[1:3]
    assert 1000.0 + 100.0 < step_down <= 1000.0 + 150.0 < election
    assert results.summary["split_brain_ms"] == 0.0
    assert results.summary["lost_writes"] > 0 and results.summary["lost_acked_writes"] == 0


def test_a_two_node_system_cannot_fail_over_safely():
    """Cut node0 (the leader, with its sentinel) and app1 off. The naive controller, beside
    app0, promotes node1: split brain, acknowledged writes thrown away. With a sentinel per
    node, node1's sentinel alone is no majority of two: nobody is promoted, app0's writes
    fail for as long as the partition lasts, and nothing acknowledged is lost."""
    two = {"topology.followers": 1}
    naive = replab.run(partition_of_node0_and_app1(**two))
    assert naive.summary["failovers"] == 1 and naive.summary["split_brain_lost_acked"] > 0
    quorum = replab.run(partition_of_node0_and_app1(**two, **{"failover.policy": "quorum", "failover.quorum": 1}))
    assert quorum.summary["failovers"] == 0 and "election" in set(quorum.events["kind"])
    assert quorum.summary["lost_acked_writes"] == 0
    app0_writes = quorum.requests[(quorum.requests["op"] == "write") & (quorum.requests["session"] % 2 == 0)
                                  & quorum.requests["start_ms"].between(1001, 1999)]
    assert set(app0_writes["outcome"]) == {"failed"}


def test_semi_sync_falls_back_to_async_under_a_slow_replica_and_those_acks_can_be_lost():
    """node1, the only follower, answers 30 ms late: the first write waits 20 ms, is acknowledged
    anyway, and the leader runs async. When it crashes, the writes that had not yet left it for
    node1 were acknowledged and are lost."""
    faults = [{"at_ms": 1000.0, "action": "slow", "target": "node1", "delay_ms": 30.0, "duration_ms": 1000.0},
              {"at_ms": 1500.0, "action": "crash", "target": "leader"}]
    results = replab.run(story(**{"faults.events": faults, "topology.followers": 1, "replication.ack": "semi-sync",
                                  "replication.semi_sync_timeout_ms": 20.0}))
    off = results.events[results.events["kind"] == "semi-sync-off"]
    assert off["target"].iloc[0] == "node0" and 1020.0 < off["t_ms"].iloc[0] < 1040.0
    degraded = results.tables["degraded"]
    lost = results.writes[results.writes["lost"]]
    assert len(lost) > 0 and lost["acked"].all() and set(lost["write_id"]) <= set(degraded["write_id"])
    assert set(lost["commit_ms"].between(1500.0 - 30.0, 1500.0)) == {True}  # still queued for the slow link
    assert results.summary["degraded_acks_lost"] == len(lost) == results.summary["lost_acked_writes"]
    waiting = replab.run(results.scenario.replace(**{"replication.semi_sync_timeout_ms": 0.0}))
    assert waiting.summary["degraded_acks"] == 0 and waiting.summary["lost_acked_writes"] == 0


def test_min_replicas_bounds_what_a_cut_off_leader_takes():
    """Redis' min-replicas-to-write: node0 refuses writes once no follower has answered it for
    150 ms, so its side loses at most the writes of that window."""
    results = replab.run(partition_of_node0_and_app1(**{"replication.min_replicas": 1,
                                                       "replication.min_replicas_max_lag_ms": 150.0}))
    refused = results.requests[results.requests["reason"] == "too few replicas"]
    assert len(refused) == results.summary["refused_too_few_replicas"] > 0
    assert set(refused["node"]) == {"node0"} and refused["start_ms"].min() > 1000.0 + 100.0
    lost = results.writes[results.writes["lost"]]
    assert lost["commit_ms"].max() < 1000.0 + 150.0 and results.summary["split_brain_writes"] == 0


def test_an_operator_provisions_a_new_leader_in_time_that_grows_with_the_data():
    crash = [{"at_ms": 1000.0, "action": "crash", "target": "leader"}]
    results = replab.run(story(**{"faults.events": crash, "failover.policy": "manual", "failover.operator_ms": 300.0,
                                  "failover.copy_ms_per_key": 0.5, "workload.keys": 100}))
    assert event_log(results) == [
        (1000.0, "crash", "node0"),
        (1200.0, "read-only", "balancer"),
        (1200.0, "page", "operator"),
        (1500.0, "provision", "node1"),
        (1542.5, "writable", "balancer"),  # 85 keys copied at 0.5 ms each
        (1542.7, "promote", "node1"),
    ]


@pytest.mark.parametrize("policy", ["naive", "quorum", "consensus", "manual"])
def test_the_checker_recounts_the_damage_the_summary_reports(policy):
    results = replab.run(partition_of_node0_and_app1(**{"failover.policy": policy, "replication.reads": "any",
                                                       "failover.operator_ms": 100.0}))
    report = check_promotion(results).as_dict()
    for key in ("split_brain_ms", "split_brain_writes", "split_brain_lost_acked", "stale_reads_deposed",
                "lost_acked_writes"):
        assert report[key] == pytest.approx(results.summary[key]), key
    assert (report["terms_with_two_leaders"], report["fate_mismatches"], report["lost_without_reason"]) == (0, 0, 0)


def test_a_slow_node_that_recovers_stays_cut_off_while_its_partition_lasts():
    """node1 is slow for 300 ms and cut off for 1000 ms: the end of its slowness is not a heal."""
    faults = [{"at_ms": 1000.0, "action": "slow", "target": "node1", "delay_ms": 5.0, "duration_ms": 300.0},
              {"at_ms": 1000.0, "action": "partition", "target": "node1", "duration_ms": 1000.0}]
    results = replab.run(story(**{"faults.events": faults}))
    log = [(t, kind, target) for t, kind, target in event_log(results) if kind in ("slow", "slow-end", "partition", "heal")]
    assert log == [(1000.0, "slow", "node1"), (1000.0, "partition", "node1"), (1300.0, "slow-end", "node1"),
                   (2000.0, "heal", "node1")]


def test_a_consensus_leader_alone_in_its_cluster_keeps_its_lease():
    """With no follower there is no majority to renew a lease from: the lone leader holds it for ever."""
    results = replab.run(Scenario.preset("consensus").replace(**{
        "topology.followers": 0, "replication.reads": "leader", "failover.lease_ms": 150.0,
        "failover.timeout_ms": 200.0, "duration_ms": 1_000.0, "faults.events": []}))
    assert "step-down" not in set(results.events["kind"])
    assert results.summary["availability"] == 1.0


def test_a_pause_names_one_data_node():
    with pytest.raises(ScenarioError, match="must be one data node"):
        story(**{"faults.events": [{"at_ms": 100.0, "action": "pause", "target": "node0+node1", "duration_ms": 50.0}]})
