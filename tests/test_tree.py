"""Tree replication: followers replicate from relays; a chain is a tree of fan-out 1.

A relay passes an entry on once it has applied it, so every level adds an apply time and
a hop; the leader ships only to its own children, so its outbound load falls with the
fan-out.
"""

import pytest

import replab
from replab import ReplicationModel, Results, Scenario


def chain(**fields) -> Scenario:
    base = {
        "duration_ms": 3_000.0,
        "topology.followers": 4,
        "replication.fanout": 1,
        "workload.rate_per_s": 1_000.0,
        "workload.write_ratio": 0.5,
        "service.apply.dist": "constant",
        "service.apply.mean_ms": 0.5,
        "network.hop.dist": "constant",
        "network.hop.mean_ms": 0.1,
        "replication.ship_ms": 0.05,
        "failover.detection_ms": 200.0,
    }
    return Scenario(**(base | fields))


def test_a_chain_places_each_follower_one_level_below_the_last():
    results = replab.run(chain())
    depth = results.timeline.groupby("node", observed=True)["depth"].last()
    assert depth.to_dict() == {"node0": 0, "node1": 1, "node2": 2, "node3": 3, "node4": 4}


def test_each_level_of_a_chain_applies_a_write_one_apply_and_one_hop_later():
    """Level d applies a write d x (ship + 2 hops + apply) after the leader commits it,
    when nothing queues: 0.05 + 0.2 + 0.5 = 0.75 ms a level."""
    results = replab.run(chain(**{"workload.rate_per_s": 20.0, "workload.write_ratio": 1.0}))
    applies = results.applies.merge(results.writes[["write_id", "commit_ms"]], on="write_id")
    delay = (applies["applied_ms"] - applies["commit_ms"]).groupby(applies["node"], observed=True).median()
    assert delay.to_dict() == pytest.approx({"node1": 0.75, "node2": 1.5, "node3": 2.25, "node4": 3.0})
    senders = applies.groupby("node", observed=True)["sender"].agg(lambda s: set(s.astype(str)))
    assert senders.to_dict() == {"node1": {"node0"}, "node2": {"node1"}, "node3": {"node2"}, "node4": {"node3"}}


def test_lag_grows_with_depth():
    results = replab.run(chain())
    followers = results.timeline[results.timeline["depth"] > 0]
    lag_by_depth = followers.groupby("depth")["lag_ms"].mean()
    assert list(lag_by_depth.index) == [1, 2, 3, 4]
    assert lag_by_depth.is_monotonic_increasing


def test_the_leader_ships_fanout_times_per_write_and_relays_carry_the_rest():
    """In a star the leader ships every write to each of the 4 followers; with fan-out 2
    it ships to 2 and node1 passes writes on to node3 and node4."""
    shipped = {}
    for fanout in (0, 2):
        model = ReplicationModel(chain(**{"replication.fanout": fanout})).run()
        writes = len(model.replication.log)
        shipped[fanout] = {node.name: node.shipped / writes for node in model.nodes}
    assert shipped[0] == {"node0": 4.0, "node1": 0.0, "node2": 0.0, "node3": 0.0, "node4": 0.0}
    assert shipped[2] == {"node0": 2.0, "node1": 2.0, "node2": 0.0, "node3": 0.0, "node4": 0.0}


def test_sync_acks_wait_for_the_last_replica_of_the_chain():
    quiet = {"workload.rate_per_s": 20.0, "workload.write_ratio": 1.0, "service.write.dist": "constant",
             "service.write.mean_ms": 1.0}
    chained = replab.run(chain(**quiet, **{"replication.ack": "sync"}))
    star = replab.run(chain(**quiet, **{"replication.ack": "sync", "replication.fanout": 0}))
    # request path 0.8 + write 1.0 + the last level's delay + its receipt's 2 hops back (0.2)
    assert chained.summary["write_p50_ms"] == pytest.approx(0.8 + 1.0 + 3.0 + 0.2)
    assert star.summary["write_p50_ms"] < chained.summary["write_p50_ms"]


def test_a_relay_dying_mid_chain_is_bypassed_and_its_follower_catches_up():
    """node2 relays for node3. It dies at 1000 ms; after detection node3 replicates from
    node1 and catches up; node2 returns at 2000 ms at the end of the chain."""
    faults = [{"at_ms": 1_000.0, "action": "crash", "target": "node2"},
              {"at_ms": 2_000.0, "action": "recover", "target": "node2"}]
    model = ReplicationModel(chain(**{"faults.events": faults, "topology.followers": 3})).run()
    results = Results.from_model(model)
    assert [(e.t_ms, e.kind, e.target) for e in results.events.itertuples()] == [
        (1000.0, "crash", "node2"), (1200.0, "detect", "node2"), (2000.0, "recover", "node2")]
    node3 = results.timeline[results.timeline["node"] == "node3"].set_index("t_ms")
    assert node3.loc[1100.0, "lag_writes"] > 0  # starved while its relay is dead, undetected
    assert node3.loc[1100.0, "depth"] == 3 and node3.loc[1300.0, "depth"] == 2
    assert node3.loc[1300.0, "lag_writes"] == 0  # caught up from node1
    late = results.applies[(results.applies["node"] == "node3") & (results.applies["received_ms"] > 1_200.0)]
    assert set(late["sender"].astype(str)) == {"node1"}
    depth = results.timeline[results.timeline["t_ms"] == 2_100.0].set_index("node")["depth"]
    assert depth.to_dict() == {"node0": 0, "node1": 1, "node2": 3, "node3": 2}
    assert all(node.store == model.nodes[0].store for node in model.nodes)
    assert results.summary["lost_writes"] == 0


def test_a_fanout_out_of_range_is_refused_with_what_is_allowed():
    with pytest.raises(replab.ScenarioError, match=r"replication\.fanout = 33: must be an integer from 0 to 32"):
        chain(**{"replication.fanout": 33})
    with pytest.raises(replab.ScenarioError, match=r"replication\.fanout = -1"):
        chain(**{"replication.fanout": -1})
