"""Buddy replication: a session's state lives on its sticky node and is copied to that node's buddies.

The stories use four nodes, four sessions (session s lives on node s) and constant times:
a hop is 0.1 ms (client -> balancer -> node is 0.4 ms), a write takes 2 ms, and a node puts
one copy on its outbound link in 1 ms. Session 1 writes at 10 ms (committed 12.4, its copy
leaves node1 at 13.4 and reaches node2 at 13.6) and at 20 ms (committed 22.4, its copy
would leave at 23.4); node1 dies at 23.0, in between. Deaths are detected 50 ms later.
"""

import pytest

import replab
from replab import ReplicationModel, Results, Scenario, ScenarioError
from replab.experiments.buddies import compare_layouts

STORY = {
    "duration_ms": 200.0,
    "replication.kind": "buddy",
    "balancer.policy": "sticky",
    "buddy.nodes": 4,
    "workload.sessions": 4,
    "workload.rate_per_s": 0.001,  # no operations besides the scripted ones
    "service.read.dist": "constant", "service.read.mean_ms": 1.0,
    "service.write.dist": "constant", "service.write.mean_ms": 2.0,
    "network.hop.dist": "constant", "network.hop.mean_ms": 0.1,
    "replication.ship_ms": 1.0,
    "failover.detection_ms": 50.0,
}


def story(crashes, **fields) -> tuple[ReplicationModel, Results]:
    """Session 1 writes at 10 and 20 ms and reads at 150 ms; `crashes` = [(at_ms, node), ...]."""
    faults = [{"at_ms": at, "action": "crash", "target": node} for at, node in crashes]
    model = ReplicationModel(Scenario(**({**STORY, "faults.events": faults} | fields)))
    model.schedule_operation(10.0, 1, True, 1)
    model.schedule_operation(20.0, 1, True, 1)
    model.schedule_operation(150.0, 1, False, 1)
    return model, Results.from_model(model.run())


def event_log(results: Results) -> list[tuple]:
    return [(e.t_ms, e.kind, e.target, e.detail) for e in results.events.itertuples()]


def test_a_dead_nodes_sessions_go_on_at_its_buddy_with_what_was_copied():
    """Write 1 reached node2; write 2 had not left node1: it is lost, and the session reads write 1."""
    model, results = story([(23.0, "node1")])
    assert event_log(results) == [
        (23.0, "crash", "node1", "server; scheduled"),
        (73.0, "detect", "node1", "down for 50 ms"),
        (73.0, "take-over", "node1", "1 sessions moved to node2; 1 lost state"),
    ]
    writes = results.writes.set_index("write_id")
    assert list(writes["ack_ms"]) == pytest.approx([12.8, 22.8])
    assert list(writes["lost_reason"]) == ["", "session state not yet copied to a buddy"]
    read = results.requests.iloc[-1]
    assert (read["op"], read["node"], read["version"]) == ("read", "node2", 1)
    copies = results.applies
    assert copies[["write_id", "node", "sender", "sent_ms", "applied_ms"]].values.tolist() == [
        [1, "node2", "node1", pytest.approx(13.4), pytest.approx(13.6)],
        [1, "node3", "node2", pytest.approx(74.0), pytest.approx(74.2)],  # the new owner copies it to its own buddy
    ]
    assert results.summary["sessions_moved"] == 1 and results.summary["sessions_lost_state"] == 1
    assert results.summary["takeover_ms"] == 50.0


def test_when_a_node_and_its_buddy_both_die_the_session_starts_over_empty():
    """node2 held write 1 but dies too. At node1's detection node2 is not yet known dead, but a
    dead node cannot take a session over (the hand-over needs it to answer): the session goes
    to node3, the nearest live node, which never had a copy. Both writes are lost and the
    session reads the initial version; it moved once, and counts once."""
    model, results = story([(23.0, "node1"), (23.5, "node2")])
    assert event_log(results) == [
        (23.0, "crash", "node1", "server; scheduled"),
        (23.5, "crash", "node2", "server; scheduled"),
        (73.0, "detect", "node1", "down for 50 ms"),
        (73.0, "take-over", "node1", "1 sessions moved to node3; 1 lost state"),
        (73.5, "detect", "node2", "down for 50 ms"),
        (73.5, "take-over", "node2", "1 sessions moved to node3; 0 lost state"),
    ]
    reasons = results.writes["lost_reason"].astype(str).tolist()
    assert reasons == ["the session's node and every node with a copy were down"] * 2
    assert results.summary["lost_acked_writes"] == 2
    assert results.summary["sessions_moved"] == 2  # session 1, and node2's own session 2
    read = results.requests.iloc[-1]
    assert (read["node"], read["version"]) == ("node3", 0)


def test_sessions_move_only_to_live_nodes_and_each_counts_once():
    """Six nodes in a ring with one buddy each; node2 and node3 die at the same instant. Every
    session of node2 and node3 (20 of 60) moves once, to a live node, never to node3."""
    scenario = Scenario.preset("buddy").replace(**{
        "buddy.nodes": 6, "buddy.layout": "ring", "buddy.copies": 1, "workload.sessions": 60, "duration_ms": 3_000.0,
        "faults.events": [{"at_ms": 1_000.0, "action": "crash", "target": "node2"},
                          {"at_ms": 1_000.0, "action": "crash", "target": "node3"}]})
    results = replab.run(scenario)
    takeovers = results.events[results.events["kind"] == "take-over"]
    assert not takeovers["detail"].str.contains("node3;|node2;|node2,|node3,").any(), takeovers["detail"].tolist()
    assert results.summary["sessions_moved"] == 20


def test_a_second_buddy_keeps_the_state_when_the_first_dies_with_the_node():
    """With two buddies write 1 was copied to node2 and node3 (its second copy left at 14.4)."""
    model, results = story([(23.0, "node1"), (23.5, "node2")], **{"buddy.copies": 2})
    assert ("take-over", "node1", "1 sessions moved to node3; 1 lost state") in [e[1:] for e in event_log(results)]
    assert results.writes["lost_reason"].astype(str).tolist() == ["", "session state not yet copied to a buddy"]
    read = results.requests.iloc[-1]
    assert (read["node"], read["version"]) == ("node3", 1)


def test_sync_copies_mean_the_uncopied_write_was_never_acknowledged():
    """Under sync the ack waits for node2's copy: write 1 is acknowledged when it arrives
    (13.6 + 0.4 back to the client); write 2's client hears nothing and times out."""
    model, results = story([(23.0, "node1")], **{"replication.ack": "sync"})
    writes = results.writes
    assert writes["ack_ms"].iloc[0] == pytest.approx(14.0) and not writes["acked"].iloc[1]
    assert results.summary["lost_writes"] == 1 and results.summary["lost_acked_writes"] == 0
    second = results.requests.iloc[1]
    assert (second["outcome"], second["reason"]) == ("failed", "node down")


def test_a_node_back_before_its_death_was_noticed_takes_its_state_from_its_buddy():
    """node1 restarts at 30 ms, before detection: its memory is empty, so session 1 takes
    node2's copy (write 1) and moves there."""
    model, results = story([], **{"faults.events": [
        {"at_ms": 23.0, "action": "crash", "target": "node1"}, {"at_ms": 30.0, "action": "recover", "target": "node1"}]})
    assert event_log(results)[-1] == (30.0, "take-over", "node1", "1 sessions moved to node2; 1 lost state")
    assert results.requests.iloc[-1]["node"] == "node2"


def test_a_write_routed_before_its_session_moved_is_refused_not_kept():
    """Session 1 writes at 29.7: the balancer still sends it to node1 (29.9), which is back at
    30.0 and has by then handed the session to node2. node1 must not commit it as the
    session's new state: it refuses it ('session moved') and the client can retry."""
    faults = [{"at_ms": 23.0, "action": "crash", "target": "node1"}, {"at_ms": 30.0, "action": "recover", "target": "node1"}]
    model = ReplicationModel(Scenario(**{**STORY, "faults.events": faults}))
    for at_ms in (10.0, 20.0, 29.7):
        model.schedule_operation(at_ms, 1, True, 1)
    results = Results.from_model(model.run())
    late = results.requests.iloc[-1]
    assert (late["start_ms"], late["node"], late["outcome"], late["reason"]) == (29.7, "node1", "refused", "session moved")
    assert len(results.writes) == 2 and model.nodes[2].store[1] == 1


@pytest.mark.slow
def test_layouts_trade_copies_and_memory_for_surviving_two_deaths():
    """Copies per write: k in a ring, 1 in pairs, n - 1 to all (the crash halves the copies of
    a dead node's partner in pairs). Memory follows. Only one buddy loses state when a node
    and that buddy die together."""
    base = Scenario.preset("buddy").replace(**{"duration_ms": 3_000.0, "faults.events": []})
    frame = compare_layouts(base).set_index(["layout", "crashes"])
    one = frame.xs("one node", level="crashes")
    assert one.loc["ring, 1 buddy", "copies_per_write"] == pytest.approx(1.0, abs=0.05)
    assert one.loc["ring, 2 buddies", "copies_per_write"] == pytest.approx(2.0, abs=0.1)
    assert one.loc["replicate to all", "copies_per_write"] == pytest.approx(3.0, rel=0.15)
    bytes_ = one["state_copy_bytes"]
    assert bytes_["ring, 1 buddy"] < bytes_["ring, 2 buddies"] < bytes_["replicate to all"]
    memory = one["state_bytes_per_node"]
    assert memory["ring, 1 buddy"] < memory["ring, 2 buddies"] < memory["replicate to all"]
    # Every one of node1's 50 sessions loses its state with one buddy (pairs: node0's too);
    # with more copies only the few whose last write had not been copied yet.
    two = frame.xs("a node and its buddy", level="crashes")["sessions_lost_state"]
    assert two["ring, 1 buddy"] >= 50 and two["pairs"] >= 100
    assert two["ring, 2 buddies"] <= 3 and two["replicate to all"] <= 3


def test_each_node_holds_its_own_sessions_and_one_copy_per_buddy_relationship():
    """200 sessions on 4 nodes: a node keeps its 50 and a copy of 50 per node it is buddy to."""
    for copies in (1, 2, 3):
        scenario = Scenario.preset("buddy").replace(**{"duration_ms": 3_000.0, "faults.events": [],
                                                       "buddy.copies": copies})
        timeline = replab.run(scenario).timeline
        last = timeline[timeline["t_ms"] == timeline["t_ms"].max()]
        assert set(last["state_bytes"]) == {(1 + copies) * 50 * 4096}


@pytest.mark.parametrize("fields, message", [
    ({"buddy.nodes": 1}, "buddy.nodes = 1: must be an integer from 2 to 32"),
    ({"buddy.layout": "star"}, "buddy.layout = 'star': must be one of 'ring', 'pairs', 'all'"),
    ({"buddy.copies": 0}, "buddy.copies = 0: must be an integer from 1 to 31"),
    ({"buddy.state_bytes": 0}, "buddy.state_bytes = 0: must be an integer from 1 to 1000000000"),
    ({"balancer.policy": "round-robin"}, "balancer.policy = 'round-robin': must be 'sticky' with replication.kind = 'buddy'"),
    ({"buddy.copies": 4}, "buddy.copies = 4: must be at most buddy.nodes - 1 (3) in a ring"),
    ({"buddy.layout": "pairs", "buddy.nodes": 5}, "buddy.nodes = 5: must be even with buddy.layout = 'pairs'"),
    ({"replication.ack": "semi-sync", "replication.semi_sync_k": 2},
     "replication.semi_sync_k = 2: must be at most the buddies of a node (1) with semi-sync acks"),
    ({"replication.fanout": 2}, "replication.fanout = 2: must be 0 with replication.kind = 'buddy'"),
    ({"faults.events": [{"at_ms": 1.0, "action": "crash", "target": "node4"}]},
     "faults.events[0].target = 'node4': must name an existing node (node0 to node3)"),
    ({"faults.events": [{"at_ms": 1.0, "action": "crash", "target": "leader"}]},
     "faults.events[0].target = 'leader': must name a node (node0 to node3): buddy replication has no leader"),
    ({"faults.events": [{"at_ms": 1.0, "action": "crash", "target": "node\u00b2"}]},
     "faults.events[0].target = 'node²': must be 'leader', 'nodeN' or 'switchN', or 'dcN'"),
])
def test_bad_buddy_settings_are_refused_with_the_field_and_what_is_allowed(fields, message):
    with pytest.raises(ScenarioError) as error:
        Scenario(**({"replication.kind": "buddy", "balancer.policy": "sticky"} | fields))
    assert message in str(error.value)
