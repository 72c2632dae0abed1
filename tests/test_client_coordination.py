"""Leaderless replication with the client as coordinator (quorum.coordinator = 'client').

The stories are test_leaderless's: three nodes that all hold key 1, one switch and constant
times (a hop 0.1 ms, so every path between two hosts, client to node included, is 0.2 ms; a
replica reads its store in 0.5 ms and applies a version in 1 ms), failures detected at once.
"""

import pytest
from test_leaderless import STORY, rows, story

import replab
from replab import ReplicationModel, Results, Scenario, ScenarioError
from replab.viz.plots import FIGURES
from replab.viz.quorum_story import quorum_story
from replab.viz.replay_data import KINDS, replay_data
from replab.viz.spacetime import spacetime_messages

CLIENT = {"quorum.coordinator": "client"}
QUIET = {"faults.events": [], "quorum.w": 3, "quorum.r": 3}  # no crash; every replica's answer counts
ONE_BY_ONE = tuple((10.0 * i, i % 2, i % 2 == 1, key) for i, key in enumerate((1, 1, 2, 2, 3, 3), start=1))


def test_the_client_answers_sooner_by_the_hops_it_saves():
    """Each operation alone on idle nodes, N = R = W = 3. Through the balancer an operation
    crosses four paths a client coordinator does not: client -> balancer -> node and back,
    4 x 0.2 = 0.8 ms; a write the picked node forwards to a home replica one more (0.2 ms).
    The replicas' part is the same: 0.2 + 1 (apply) + 0.2 ms for a write, 0.2 + 0.5 + 0.2 for
    a read. Times are constant, so the saving is exact (to float rounding, 1e-9 ms)."""
    latency = {c: story(ONE_BY_ONE, **QUIET, **{"quorum.coordinator": c}).requests
               for c in ("replica", "any", "client")}
    at_client = latency["client"]
    assert at_client["latency_ms"].round(9).tolist() == [1.4, 0.9] * 3
    assert ((latency["any"]["latency_ms"] - at_client["latency_ms"]).round(9) == 0.8).all()
    # "replica": the balancer's key-hash pick is not key 2's first home replica, so it forwards
    saved = (latency["replica"]["latency_ms"] - at_client["latency_ms"]).round(9)
    assert saved.tolist() == [0.8, 0.8, 1.0, 0.8, 0.8, 0.8]
    # nothing went through the balancer: no node was routed to, and the client sent at once
    assert at_client["node"].isna().all() and (at_client["arrived_ms"] == at_client["start_ms"]).all()
    assert (at_client["answered_ms"] == at_client["end_ms"]).all()


def test_the_client_sends_the_write_to_every_replica_and_commits_with_the_wth_ack():
    """node1 is down from 5 to 20 ms (a strict quorum, W = 2): the client sends write 1 to
    node0 and node2 at 10 ms, both apply it at 11.2 and their acks reach the client at 11.4:
    committed and answered at once. No node coordinated it: the writes frame's leader is
    empty and the deliveries frame's sender is "client"."""
    results = story(((10.0, 0, True, 1),), **CLIENT)
    assert rows(results.requests, ["op", "outcome", "arrived_ms", "answered_ms", "end_ms"]) == [
        ["write", "served", 10.0, 11.4, 11.4]]
    assert rows(results.deliveries, ["kind", "sender", "receiver", "sent_ms", "applied_ms", "acked_ms"]) == [
        ["write", "client", "node0", 10.0, 11.2, 11.4],
        ["write", "client", "node2", 10.0, 11.2, 11.4],
    ]
    assert results.writes["leader"].isna().all() and results.applies["sender"].isna().all()


def test_a_clients_sloppy_quorum_leaves_a_hint_that_goes_home_node_to_node():
    """Four nodes, N = W = 3: key 1 lives on node3, node1 and node0; node2 is its first fallback.
    node1 is down at 10 ms: the client, seeing the failure detector's view, sends node1's share
    to node2 with a hint. node2 hands it to node1 itself when node1 returns at 20 ms."""
    sloppy = {"quorum.nodes": 4, "quorum.w": 3, "quorum.r": 3, "quorum.sloppy": True} | CLIENT
    results = story(((10.0, 0, True, 1),), **sloppy)
    assert rows(results.requests, ["op", "outcome", "end_ms"]) == [["write", "served", 11.4]]
    assert rows(results.deliveries, ["kind", "sender", "receiver", "home", "sent_ms", "applied_ms", "acked_ms"]) == [
        ["write", "client", "node3", "node3", 10.0, 11.2, 11.4],
        ["hinted write", "client", "node2", "node1", 10.0, 11.2, 11.4],
        ["write", "client", "node0", "node0", 10.0, 11.2, 11.4],
        ["hinted handoff", "node2", "node1", "node1", 20.0, 21.2, 21.4],
    ]
    summary = results.summary
    assert (summary["hinted_writes"], summary["hints_handed_off"], summary["hints_pending"]) == (1, 1, 0)
    assert summary["handoff_mean_ms"] == pytest.approx(21.2 - 11.2)


def test_a_client_read_is_repaired_from_the_client():
    """R = 1, node1 missed write 1 while down: at 30 ms the client asks all three; node1's
    stale answer is not first any more (it crosses the network like the others), but it
    is older than what the client heard from node0, so the client repairs node1."""
    results = story(**CLIENT)
    repairs = results.deliveries[results.deliveries["kind"] == "read repair"]
    assert rows(repairs, ["sender", "receiver", "write_id"]) == [["client", "node1", 1]]
    assert results.summary["read_repairs"] == 1


@pytest.mark.parametrize("read_first, siblings_left", [(False, [2, 3]), (True, [3])])
def test_two_sessions_writing_blind_make_siblings_a_read_modify_write_does_not(read_first, siblings_left):
    """Siblings: session 0 writes key 1 at 10 ms and session 1 at 10.5 ms, neither having read
    it: concurrent, every replica keeps both. At 40 ms session 0 writes again. Blind, its clock
    has seen only its own write 1 ({0: 2}), so write 3 sits beside write 2. Having read the key
    at 30 ms (the client got both siblings), its clock has seen both ({0: 2, 1: 1}): write 3
    replaces them."""
    operations = [(10.0, 0, True, 1), (10.5, 1, True, 1), (40.0, 0, True, 1)]
    if read_first:
        operations.insert(2, (30.0, 0, False, 1))
    model = ReplicationModel(Scenario(**(STORY | CLIENT | {"faults.events": [], "quorum.conflicts": "siblings"})))
    for operation in operations:
        model.schedule_operation(*operation)
    results = Results.from_model(model.run())
    assert [v.vector for v in model.replication.issued][:2] == [{0: 1}, {1: 1}]
    assert model.replication.issued[2].vector == ({0: 2, 1: 1} if read_first else {0: 2})
    assert [[v.write_id for v in node.versions[1]] for node in model.nodes] == [siblings_left] * 3
    conflicts = results.conflicts
    assert set(zip(conflicts["incoming"], conflicts["existing"])) == ({(2, 1)} if read_first else {(2, 1), (3, 2)})
    assert not results.writes["lost"].any()


def test_with_last_writer_wins_a_blind_write_of_another_session_is_a_lost_update():
    """The same blind writes with last-writer-wins: write 2 had not seen write 1, and has the
    later timestamp: the replicas keep it, and write 1, acknowledged, is counted lost."""
    results = story(((10.0, 0, True, 1), (10.5, 1, True, 1)), **CLIENT, **{"faults.events": []})
    assert rows(results.writes, ["write_id", "acked", "lost_reason"]) == [[1, True, "lost update (last writer wins)"],
                                                                         [2, True, ""]]


def test_a_client_coordinator_is_a_choice_of_quorum_coordinator():
    with pytest.raises(ScenarioError, match=r"quorum.coordinator = 'server': .*'replica', 'any', 'client'"):
        Scenario(**{"replication.kind": "leaderless", "quorum.coordinator": "server"})


def test_the_charts_draw_the_client_where_it_coordinated():
    """The story of test_a_client_read_is_repaired_from_the_client, drawn: the quorum story has
    a client lane from which the write, the read and the repair leave; the replay shows no
    operation at the balancer, only the client's messages to the replicas and their answers;
    the space-time diagram has no balancer column and the write leaves from session 0's."""
    results = story(**CLIENT)
    fig = quorum_story(results)
    lanes = list(fig.layout.yaxis.ticktext)
    assert lanes == ["node0", "node1", "node2", "client"]
    for name in ("write 1 → replica", "read of key 1", "read repair"):
        assert {lanes[y] for y in next(t for t in fig.data if t.name == name).y[::3]} == {"client"}, name
    data = replay_data(results)
    said = [(KINDS[m[0]], data["hosts"][m[1]], data["hosts"][m[3]], m[6]) for m in data["messages"]]
    assert said == [("replicate", "clients", "node0", "write 1"), ("replicate", "clients", "node2", "write 1"),
                    *[("read", "clients", node, "read key 1") for node in ("node1", "node0", "node2")],
                    ("reply", "node1", "clients", "v0 from node1"), ("reply", "node0", "clients", "v1 from node0"),
                    ("reply", "node2", "clients", "v1 from node2"), ("replicate", "clients", "node1", "write 1")]
    columns, messages = spacetime_messages(results)
    assert columns == ["s0", "s1", "node0", "node1", "node2"]
    assert rows(messages, ["kind", "src", "dst", "send_ms", "recv_ms"]) == [["apply", "s0", "node0", 10.0, 10.2],
                                                                            ["apply", "s0", "node2", 10.0, 10.2]]


def test_every_chart_draws_a_run_its_clients_coordinated():
    """No node took the writes, so the leadership chart marks none of them under a node's row;
    it and every other chart draw the run without failing."""
    results = replab.run(Scenario.preset("leaderless").replace(**{"quorum.coordinator": "client", "duration_ms": 1_000.0}))
    for name, chart in FIGURES.items():
        figure = chart(results)
        assert figure is not None, name
    leadership = FIGURES["leadership"](results)
    assert all(len(trace.x) == 0 for trace in leadership.data if trace.name.startswith("writes"))
