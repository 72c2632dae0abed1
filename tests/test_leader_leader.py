"""Leader-leader replication, told as stories and measured as directions.

The stories use constant service and network times so each instant is exact: one hop is
0.1 ms (a message crosses two hops: host to switch, switch to host), a write takes 2 ms, an
apply 1 ms, and a leader takes 0.05 ms to put an entry on the wire. The workload's own rate
is so low that nothing but the scripted operations happens.
"""

import pytest

import replab
from replab import ReplicationModel, Results, Scenario, ScenarioError

STORY = {
    "duration_ms": 100.0,
    "replication.kind": "leader-leader",
    "topology.leaders": 2,
    "topology.followers": 0,
    "replication.reads": "leader",
    "replication.write_routing": "session",  # session s writes to leader s mod 2
    "workload.rate_per_s": 0.001,
    "workload.sessions": 2,
    "service.read.dist": "constant", "service.read.mean_ms": 1.0,
    "service.write.dist": "constant", "service.write.mean_ms": 2.0,
    "service.apply.dist": "constant", "service.apply.mean_ms": 1.0,
    "network.hop.dist": "constant", "network.hop.mean_ms": 0.1,
    "replication.ship_ms": 0.05,
}


def story(writes, **fields) -> tuple[ReplicationModel, Results]:
    """Run the story scenario with scripted writes: (at_ms, session, key) each."""
    model = ReplicationModel(Scenario(**(STORY | fields)))
    for at_ms, session, key in writes:
        model.schedule_operation(at_ms, session, True, key)
    model.run()
    return model, Results.from_model(model)


def history(results: Results) -> list[tuple]:
    """Commits, acks, applies, conflicts and losses, in time order, times rounded to 1 µs."""
    rows = []
    for w in results.writes.itertuples():
        rows.append((w.commit_ms, "commit", w.write_id, w.leader))
        if w.acked:
            rows.append((w.ack_ms, "ack", w.write_id, w.leader))
        if w.lost:
            rows.append((w.lost_ms, "lost", w.write_id, w.lost_reason))
    for a in results.applies.itertuples():
        rows.append((a.applied_ms, "apply", a.write_id, a.node))
    for c in results.conflicts.itertuples():
        rows.append((c.t_ms, "conflict", c.incoming, f"{c.node}: {c.resolution} ({c.existing})"))
    order = {"commit": 0, "ack": 1, "apply": 2, "conflict": 3, "lost": 4}
    return [(round(t, 6), *rest) for t, *rest in sorted(rows, key=lambda r: (r[0], order[r[1]], r[2]))]


def test_two_leaders_writing_the_same_key_1_ms_apart_conflict_and_the_later_write_wins():
    """Session 0 writes key 7 on node0 at t=10, session 1 on node1 at t=11. Each write reaches
    its leader 0.4 ms later and commits 2 ms after that, before the other's copy has been
    applied there: the versions are concurrent. Each node resolves the conflict when the
    other's copy is applied; last-writer-wins keeps write 2 on both, and write 1, already
    acknowledged to its client, is a lost update."""
    model, results = story([(10.0, 0, 7), (11.0, 1, 7)])
    assert history(results) == [
        (12.4, "commit", 1, "node0"),
        (12.8, "ack", 1, "node0"),  # async: 0.4 ms back to the client through the balancer
        (13.4, "commit", 2, "node1"),
        (13.65, "apply", 1, "node1"),  # shipped at 12.45, arrived 12.65, applied 1 ms later
        (13.65, "conflict", 1, "node1: kept the existing version (2)"),
        (13.65, "lost", 1, "lost update (last writer wins)"),
        (13.8, "ack", 2, "node1"),
        (14.65, "apply", 2, "node0"),
        (14.65, "conflict", 2, "node0: took the incoming version (1)"),
    ]
    assert [n.store[7] for n in model.nodes] == [2, 2]
    assert results.summary["conflicts"] == 1
    assert results.summary["lost_updates"] == 1 == results.summary["lost_acked_writes"]
    assert results.summary["converge_ms"] == pytest.approx(14.65 - 13.4)
    assert results.writes["conflicted"].tolist() == [True, True]


def test_under_sync_the_losing_write_is_refused_to_its_client_instead_of_acknowledged():
    """The same two writes with sync acks. Both still commit locally and still conflict, but
    neither client has heard anything when node1 applies write 1 and sees it lose (13.65):
    its receipt tells node0 (13.85), which refuses write 1 to its client ("conflict").
    Write 2 is acknowledged once node0 has applied it and said so (14.85)."""
    model, results = story([(10.0, 0, 7), (11.0, 1, 7)], **{"replication.ack": "sync"})
    requests = results.requests.set_index("request_id")
    assert (requests.loc[1, "outcome"], requests.loc[1, "reason"]) == ("refused", "conflict")
    assert requests.loc[1, "end_ms"] == pytest.approx(13.85 + 0.4)
    assert (requests.loc[2, "outcome"], requests.loc[2, "end_ms"]) == ("served", pytest.approx(14.85 + 0.4))
    assert results.writes["lost"].tolist() == [True, False]
    assert results.summary["lost_updates"] == 0 and results.summary["lost_writes"] == 1
    assert [n.store[7] for n in model.nodes] == [2, 2]


def test_writes_far_enough_apart_do_not_conflict():
    """Write 2 starts after write 1 has been applied on node1 (at 13.65): it has seen it."""
    model, results = story([(10.0, 0, 7), (14.0, 1, 7)])
    assert results.summary["conflicts"] == 0 and not results.writes["lost"].any()
    assert [n.store[7] for n in model.nodes] == [2, 2]
    assert [n.vectors[7] for n in model.nodes] == [(1, 1), (1, 1)]


def test_keep_both_keeps_siblings_instead_of_losing_and_a_later_write_merges_them():
    """The same two writes under keep-both: both nodes keep both versions (a read returns
    the newest); session 0's next write on node0 has seen both, so it supersedes them."""
    model, results = story([(10.0, 0, 7), (11.0, 1, 7)], **{"replication.conflicts": "keep-both"})
    assert [[v.write_id for v in n.versions[7]] for n in model.nodes] == [[1, 2], [1, 2]]
    assert results.summary["siblings"] == 2 and results.summary["conflicts"] == 1
    assert results.summary["lost_updates"] == 0 and not results.writes["lost"].any()
    assert set(results.conflicts["resolution"]) == {"kept both as siblings"}

    model, results = story([(10.0, 0, 7), (11.0, 1, 7), (20.0, 0, 7)], **{"replication.conflicts": "keep-both"})
    assert [[v.write_id for v in n.versions[7]] for n in model.nodes] == [[3], [3]]
    assert results.summary["conflicts"] == 1


def test_a_read_returns_the_version_its_leader_holds_at_that_moment():
    """Session 0 reads key 7 on node0 (key-hash on the read pool: key 7 -> node1, so use key 8)
    between its own commit and the other leader's copy arriving: it sees its own write."""
    model = ReplicationModel(Scenario(**STORY))
    model.schedule_operation(10.0, 0, True, 8)
    model.schedule_operation(11.0, 1, True, 8)
    model.schedule_operation(13.0, 0, False, 8)  # reaches a leader at 13.4, read done at 14.4
    model.run()
    results = Results.from_model(model)
    read = results.requests[results.requests["op"] == "read"].iloc[0]
    holds = {"node0": 1, "node1": 2}  # at 14.4 node0 has not applied write 2 yet (14.65)
    assert read["version"] == holds[read["node"]]


def scenario(**fields) -> Scenario:
    return Scenario.preset("leader-leader").replace(**({"duration_ms": 3_000.0} | fields))


def test_with_one_leader_down_the_other_keeps_serving_reads_and_writes():
    """node0 crashes at 500 ms and is detected at 600; from then on every read and write
    goes to node1 and is served: no read-only mode, no promotion. Writes routed to node0
    before the detection fail. node0 returns at 1500, catches up, and the two converge."""
    faults = [{"at_ms": 500.0, "action": "crash", "target": "node0"},
              {"at_ms": 1500.0, "action": "recover", "target": "node0"}]
    model = ReplicationModel(scenario(**{"faults.events": faults, "failover.detection_ms": 100.0,
                                         "workload.write_ratio": 0.5})).run()
    results = Results.from_model(model)
    assert [(e.t_ms, e.kind, e.target) for e in results.events.itertuples()] == [
        (500.0, "crash", "node0"), (600.0, "detect", "node0"), (1500.0, "recover", "node0")]
    requests = results.requests
    meanwhile = requests[requests["start_ms"].between(601, 1499)]
    for op in ("read", "write"):
        ops = meanwhile[meanwhile["op"] == op]
        assert len(ops) > 100 and set(ops["outcome"]) == {"served"} and set(ops["node"]) == {"node1"}
    undetected = requests[requests["start_ms"].between(501, 599) & (requests["node"] == "node0")]
    assert set(undetected["outcome"]) == {"failed"}
    assert results.summary["refused"] == 0 and results.summary["read_only_ms"] == 0
    assert results.summary["stranded_writes"] == 0 and results.summary["lost_writes"] == results.summary["lost_updates"]
    assert model.nodes[0].store == model.nodes[1].store
    # node0 had ~900 writes to apply on one apply thread while new ones kept coming: it was
    # still catching up when writes stopped, and converged only ~0.1 s after the last commit
    behind = results.timeline[results.timeline["node"] == "node0"].set_index("t_ms")["lag_writes"]
    assert behind.loc[1600.0] > 800 and behind.loc[3000.0] > 0 and behind.iloc[-1] == 0
    assert 50 < results.summary["converge_ms"] < 1_000


def test_with_every_leader_down_writes_are_refused():
    faults = [{"at_ms": 500.0, "action": "crash", "target": "node0"},
              {"at_ms": 500.0, "action": "crash", "target": "node1"}]
    results = replab.run(scenario(**{"faults.events": faults, "topology.followers": 1, "replication.reads": "any"}))
    late = results.requests[results.requests["start_ms"] > 1_000]
    assert set(late.loc[late["op"] == "write", "reason"]) == {"read-only"}
    assert set(late.loc[late["op"] == "read", "outcome"]) == {"served"}  # the follower still reads
    assert results.summary["read_only_ms"] == pytest.approx(3_000.0 - 1_000.0)


def test_a_leader_that_dies_with_writes_in_its_send_queue_ships_them_when_it_returns():
    """Acknowledged writes that had not left node0 are stranded, not lost, while it is down."""
    faults = [{"at_ms": 500.0, "action": "crash", "target": "node0"}]
    busy = {"replication.ship_ms": 1.5, "workload.write_ratio": 1.0, "faults.events": faults}  # links saturated
    stranded = replab.run(scenario(**busy))
    assert stranded.summary["stranded_writes"] > 0 and stranded.summary["lost_writes"] == stranded.summary["lost_updates"]
    back = replab.run(scenario(**busy | {"faults.events": faults + [{"at_ms": 1_000.0, "action": "recover", "target": "node0"}]}))
    assert back.summary["stranded_writes"] == 0
    shipped_late = back.applies[(back.applies["node"] == "node1") & (back.applies["applied_ms"] > 1_000.0)]
    before_crash = back.writes[(back.writes["commit_ms"] < 500.0) & (back.writes["leader"] == "node0")]
    assert set(before_crash["write_id"]) <= set(back.applies.loc[back.applies["node"] == "node1", "write_id"])
    assert len(shipped_late) > 0


def test_sync_waits_for_the_other_leader_to_apply_a_round_trip_plus_an_apply_more_than_async():
    """With constant times an async write takes 0.4 + 2 + 0.4 ms; a sync write waits, after its
    commit, for the copy to leave (0.05), cross (0.2), be applied (1) and the receipt to come
    back (0.2): 1.45 ms more."""
    constant = {k: v for k, v in STORY.items() if k.startswith(("service.", "network.", "replication.ship"))}
    base = scenario(**constant | {"workload.rate_per_s": 50.0})
    latency = {ack: replab.run(base.replace(**{"replication.ack": ack})).summary["write_p50_ms"] for ack in ("async", "sync")}
    assert latency["async"] == pytest.approx(2.8)
    assert latency["sync"] == pytest.approx(2.8 + 0.05 + 0.2 + 1.0 + 0.2)


def test_sync_latency_grows_with_the_slowest_of_more_leaders():
    """Exponential hops: a sync write waits for the slowest of the other leaders, so more
    leaders mean a later ack; async does not wait for anyone."""
    base = scenario(**{"network.hop.mean_ms": 1.0, "workload.rate_per_s": 500.0})
    p50 = {(ack, n): replab.run(base.replace(**{"replication.ack": ack, "topology.leaders": n})).summary["write_p50_ms"]
           for ack in ("async", "sync") for n in (2, 6)}
    assert p50["sync", 2] > p50["async", 2] + 2.0
    assert p50["sync", 6] > p50["sync", 2] + 1.0
    assert p50["async", 6] == pytest.approx(p50["async", 2], rel=0.15)


def test_conflicts_grow_with_more_writers_and_with_more_latency():
    """Two writes of a key conflict when each starts before the other's copy has arrived:
    more leaders taking writes and a slower network both widen that window."""
    hot = scenario(**{"workload.keys": 20, "workload.write_ratio": 0.5, "balancer.policy": "random"})

    def conflicts(**fields) -> int:
        return replab.run(hot.replace(**fields)).summary["conflicts"]

    assert conflicts(**{"topology.leaders": 1}) == 0
    assert 0 < conflicts(**{"topology.leaders": 2}) < conflicts(**{"topology.leaders": 4}) < conflicts(**{"topology.leaders": 8})
    assert conflicts(**{"network.hop.mean_ms": 0.1}) < conflicts(**{"network.hop.mean_ms": 1.0}) < conflicts(**{"network.hop.mean_ms": 5.0})


def test_key_hash_routing_sends_each_key_to_one_leader_so_nothing_conflicts():
    results = replab.run(scenario(**{"workload.keys": 20, "workload.write_ratio": 0.5, "balancer.policy": "key-hash",
                                     "topology.leaders": 4}))
    assert results.summary["conflicts"] == 0
    writes = results.writes
    assert (writes.groupby("key")["leader"].nunique() == 1).all()
    assert set(writes["leader"]) == {"node0", "node1", "node2", "node3"}


def test_session_routing_pins_each_session_to_its_leader():
    results = replab.run(scenario(**{"replication.write_routing": "session", "topology.leaders": 3}))
    writes = results.requests[results.requests["op"] == "write"]
    assert (writes["node"].astype(str) == "node" + (writes["session"] % 3).astype(str)).all()


def test_divergence_is_sampled_and_settles_once_writes_stop():
    results = replab.run(scenario(**{"workload.keys": 20, "workload.write_ratio": 0.5, "network.hop.mean_ms": 2.0}))
    per_sample = results.timeline.groupby("t_ms")["divergent_keys"].first()
    assert per_sample.max() > 0 and per_sample.iloc[-1] == 0
    assert results.summary["max_divergent_keys"] == per_sample.max()
    assert 0 < results.summary["converge_ms"] < 100


def test_followers_of_every_leader_get_every_write():
    model = ReplicationModel(scenario(**{"topology.followers": 2, "replication.reads": "followers"})).run()
    results = Results.from_model(model)
    assert set(results.requests.loc[results.requests["op"] == "read", "node"]) == {"node2", "node3"}
    assert all(n.store == model.nodes[0].store for n in model.nodes)
    assert list(results.timeline.groupby("node", observed=True)["depth"].first()) == [0, 0, 1, 1]


# validation -------------------------------------------------------------------------------------

LL = {"replication.kind": "leader-leader", "topology.leaders": 2}


@pytest.mark.parametrize("fields, message", [
    ({"replication.kind": "multi-master"}, "replication.kind = 'multi-master': must be one of 'leader-follower', 'leader-leader'"),
    ({"topology.leaders": 0}, "topology.leaders = 0: must be an integer from 1 to 8"),
    ({"topology.leaders": 9}, "topology.leaders = 9: must be an integer from 1 to 8"),
    ({"topology.leaders": 2.5}, "topology.leaders = 2.5: must be an integer"),
    ({"replication.write_routing": "app"}, "replication.write_routing = 'app': must be one of 'balancer', 'session'"),
    ({"replication.conflicts": "merge"}, "replication.conflicts = 'merge': must be one of 'last-writer-wins', 'keep-both'"),
    ({"balancer.policy": "hash"}, "balancer.policy = 'hash': must be one of 'round-robin', 'random', 'least-outstanding', 'key-hash'"),
    ({"topology.leaders": 2}, "topology.leaders = 2: must be 1 with replication.kind = 'leader-follower'; set replication.kind = 'leader-leader' for more"),
    (LL | {"replication.fanout": 2}, "replication.fanout = 2: must be 0 with replication.kind = 'leader-leader'"),
    (LL | {"replication.ack": "semi-sync", "replication.semi_sync_k": 5},
     r"replication.semi_sync_k = 5: must be at most the other nodes \(topology.leaders - 1 \+ topology.followers = 4\)"),
    (LL | {"topology.leaders": 1, "topology.followers": 0, "replication.reads": "any", "replication.ack": "semi-sync"},
     "replication.ack = 'semi-sync': needs another node to receive writes"),
    (LL | {"topology.followers": 0}, "replication.reads = 'followers': needs at least one follower"),
    (LL | {"topology.followers": 0, "replication.reads": "any",
           "faults.events": [{"at_ms": 1.0, "action": "crash", "target": "node2"}]},
     r"faults.events\[0\].target = 'node2': must name an existing node \(node0 to node1\)"),
])
def test_every_new_field_and_combination_has_a_clear_error(fields, message):
    with pytest.raises(ScenarioError, match=message):
        Scenario(**fields)


def test_the_leader_leader_preset_and_a_file_round_trip(tmp_path):
    preset = Scenario.preset("leader-leader")
    assert (preset.replication.kind, preset.topology.leaders, preset.node_names) == ("leader-leader", 2, ["node0", "node1"])
    preset.save(tmp_path / "ll.toml")
    assert Scenario.load(tmp_path / "ll.toml") == preset
    with pytest.raises(ScenarioError, match="topology.leaders = 3: must be 1"):
        Scenario.preset("leader-follower").replace(**{"topology.leaders": 3})
