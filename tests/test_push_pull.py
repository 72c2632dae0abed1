"""Push vs pull: the leader ships every write, or followers read through and keep copies for a TTL.

The stories use constant service and network times so each instant is exact: a message
crosses two hops of 0.1 ms (0.2 ms), a read takes 1 ms, a write 2 ms. A client's operation
reaches its node 0.4 ms after it starts (client, balancer, node) and its answer takes 0.4 ms
back. The workload's own rate is so low that nothing but the scripted operations happens.
"""

import math

import pandas as pd
import pytest

import replab
from replab import ReplicationModel, Results, Scenario, ScenarioError
from replab.experiments.propagation import push_vs_pull

KEY = 7
STORY = {
    "duration_ms": 200.0,
    "topology.followers": 1,
    "replication.propagation": "pull",
    "cache.ttl_ms": 100.0,
    "failover.promote": False,
    "workload.rate_per_s": 0.001,
    "workload.sessions": 1,
    "service.read.dist": "constant", "service.read.mean_ms": 1.0,
    "service.write.dist": "constant", "service.write.mean_ms": 2.0,
    "network.hop.dist": "constant", "network.hop.mean_ms": 0.1,
}


def story(operations, **fields) -> tuple[ReplicationModel, Results]:
    """Run the story scenario with scripted operations: (at_ms, "read" or "write") of KEY."""
    model = ReplicationModel(Scenario(**(STORY | fields)))
    for at_ms, op in operations:
        model.schedule_operation(at_ms, 0, op == "write", KEY)
    model.run()
    return model, Results.from_model(model)


def history(results: Results) -> list[tuple]:
    """Commits, acks, cache hits and misses, fetches and what each read returned, in time order."""
    rows = []
    for w in results.writes.itertuples():
        rows += [(w.commit_ms, "commit", w.write_id), (w.ack_ms, "ack", w.write_id)]
    for f in results.fetches.itertuples():
        rows.append((f.sent_ms, "miss: fetch", f"{f.node} asks {f.source}"))
        rows.append((f.answered_ms, "source answers", f"{f.source}: version {f.version}" + (" from its copy" if f.from_cache else "")))
        rows.append((f.received_ms, "copy kept", f"{f.node}: version {f.version} until {f.expires_ms:g}"))
    for r in results.requests[results.requests["op"] == "read"].itertuples():
        if r.cache == "hit":
            rows.append((r.answered_ms, "hit", f"{r.node}: version {r.version}"))
        rows.append((r.end_ms, "read returns", f"version {r.version}, {r.staleness_ms:g} ms stale"))
    order = {"commit": 0, "ack": 1, "miss: fetch": 2, "copy kept": 3, "source answers": 4, "hit": 5, "read returns": 6}
    return [(round(t, 6), *rest) for t, *rest in sorted(rows, key=lambda r: (r[0], order[r[1]]))]


def test_a_miss_fetches_hits_serve_the_copy_until_it_expires_even_when_stale_then_a_refetch_sees_the_new_write():
    """Write 1 at t=10; a read at 20 misses and fetches it (copy until 22.8 + 100); a read at 50
    hits; write 2 at 60 is acknowledged at 62.8, yet the read at 80 still hits the old copy:
    stale by 80 - 62.8 = 17.2 ms. The copy has expired by 130: that read fetches version 2."""
    _, results = story([(10.0, "write"), (20.0, "read"), (50.0, "read"), (60.0, "write"), (80.0, "read"),
                        (130.0, "read")])
    assert history(results) == [
        (12.4, "commit", 1), (12.8, "ack", 1),
        (21.4, "miss: fetch", "node1 asks node0"),
        (22.6, "source answers", "node0: version 1"),
        (22.8, "copy kept", "node1: version 1 until 122.8"),
        (23.2, "read returns", "version 1, 0 ms stale"),
        (51.4, "hit", "node1: version 1"),
        (51.8, "read returns", "version 1, 0 ms stale"),
        (62.4, "commit", 2), (62.8, "ack", 2),
        (81.4, "hit", "node1: version 1"),
        (81.8, "read returns", "version 1, 17.2 ms stale"),
        (131.4, "miss: fetch", "node1 asks node0"),
        (132.6, "source answers", "node0: version 2"),
        (132.8, "copy kept", "node1: version 2 until 232.8"),
        (133.2, "read returns", "version 2, 0 ms stale"),
    ]
    s = results.summary
    assert (s["cache_lookups"], s["cache_hits"], s["cache_misses"], s["fetches"]) == (4, 2, 2, 2)
    assert s["hit_ratio"] == 0.5 and s["stale_reads"] == 1 and s["stale_read_rate"] == 0.25
    assert s["staleness_mean_ms"] == pytest.approx(17.2) and s["staleness_max_ms"] == pytest.approx(17.2)
    # the origin did 2 writes and 2 fetches, within a run of 0.2 s
    assert s["origin_ops_per_s"] == pytest.approx(4 / 0.2)
    assert results.applies.empty and math.isnan(s["mean_lag_ms"])


def test_the_same_story_pushed_ships_both_writes_and_every_read_is_fresh():
    """Push: the follower applies each write 0.05 + 0.2 + 1 ms after its commit, long before
    the next read; nothing is looked up or fetched."""
    model, results = story([(10.0, "write"), (20.0, "read"), (50.0, "read"), (60.0, "write"), (80.0, "read"),
                            (130.0, "read")], **{"replication.propagation": "push", "service.apply.dist": "constant"})
    reads = results.requests[results.requests["op"] == "read"]
    assert list(reads["version"]) == [1, 1, 2, 2] and set(reads["cache"]) == {""}
    assert list(reads["staleness_ms"]) == [0.0] * 4
    assert list(results.applies["applied_ms"]) == pytest.approx([12.4 + 1.25, 62.4 + 1.25])
    assert results.fetches.empty and model.nodes[0].shipped == 2


def test_a_peer_answers_from_its_own_copy_and_the_asker_keeps_it_only_as_long_as_the_peer_does():
    """Two followers; key 7's home is node2 (7 mod 2 = 1). Round-robin sends the first read to
    node2, which fetches from the origin; the second to node1, which asks node2: node2 answers
    from its copy, and node1 keeps it until node2's copy expires (122.8), not 100 ms on."""
    _, results = story([(10.0, "write"), (20.0, "read"), (30.0, "read"), (40.0, "read"), (50.0, "read")],
                       **{"topology.followers": 2, "cache.source": "peer"})
    assert history(results) == [
        (12.4, "commit", 1), (12.8, "ack", 1),
        (21.4, "miss: fetch", "node2 asks node0"),
        (22.6, "source answers", "node0: version 1"),
        (22.8, "copy kept", "node2: version 1 until 122.8"),
        (23.2, "read returns", "version 1, 0 ms stale"),
        (31.4, "miss: fetch", "node1 asks node2"),
        (32.6, "source answers", "node2: version 1 from its copy"),
        (32.8, "copy kept", "node1: version 1 until 122.8"),
        (33.2, "read returns", "version 1, 0 ms stale"),
        (41.4, "hit", "node2: version 1"),
        (41.8, "read returns", "version 1, 0 ms stale"),
        (51.4, "hit", "node1: version 1"),
        (51.8, "read returns", "version 1, 0 ms stale"),
    ]
    assert results.summary["peer_fetches"] == 1
    assert results.summary["origin_ops_per_s"] == pytest.approx(2 / 0.2)  # one write, one fetch


def test_a_peer_without_a_copy_fetches_from_the_origin_first_and_both_keep_it():
    """Key 8's home is node1 (8 mod 2 = 0). The read lands on node2 (round-robin), misses and
    asks node1, which has nothing either: node1 reads through from the origin, keeps the copy
    and answers node2 with it. One client read, two fetches, two reads on the way."""
    model = ReplicationModel(Scenario(**(STORY | {"topology.followers": 2, "cache.source": "peer"})))
    model.schedule_operation(10.0, 0, True, 8)
    model.schedule_operation(20.0, 0, False, 8)
    results = Results.from_model(model.run())
    assert history(results) == [
        (12.4, "commit", 1), (12.8, "ack", 1),
        (21.4, "miss: fetch", "node2 asks node1"),
        (22.6, "miss: fetch", "node1 asks node0"),
        (23.8, "source answers", "node0: version 1"),
        (24.0, "copy kept", "node1: version 1 until 124"),
        (24.0, "source answers", "node1: version 1"),
        (24.2, "copy kept", "node2: version 1 until 124"),
        (24.6, "read returns", "version 1, 0 ms stale"),
    ]
    assert set(results.fetches["request_id"]) == {2}
    assert results.summary["fetches"] == 2 and results.summary["peer_fetches"] == 1


def test_ttl_zero_keeps_nothing_every_read_fetches_and_every_read_is_fresh():
    _, results = story([(10.0, "write"), (20.0, "read"), (21.0, "read"), (60.0, "write"), (80.0, "read")],
                       **{"cache.ttl_ms": 0.0})
    assert results.summary["hit_ratio"] == 0.0 and results.summary["fetches"] == 3
    assert results.summary["stale_reads"] == 0


def test_with_the_leader_down_hits_are_served_misses_fail_and_writes_are_refused():
    """The origin dies at 30 and is detected at 80. node1 still holds key 7 (until 122.8): the
    read at 50 hits. Key 8 was never fetched: its read misses and its fetch meets a dead
    origin. The write at 100 is refused (read-only); after the copy expires, key 7 fails too."""
    model = ReplicationModel(Scenario(**(STORY | {
        "failover.detection_ms": 50.0, "faults.events": [{"at_ms": 30.0, "action": "crash", "target": "leader"}]})))
    for at_ms, is_write, key in [(10.0, True, 7), (20.0, False, 7), (50.0, False, 7), (60.0, False, 8),
                                 (100.0, True, 7), (150.0, False, 7)]:
        model.schedule_operation(at_ms, 0, is_write, key)
    results = Results.from_model(model.run())
    outcomes = [(r.start_ms, r.op, r.cache, r.outcome, r.reason) for r in results.requests.itertuples()]
    assert outcomes == [
        (10.0, "write", "", "served", ""),
        (20.0, "read", "miss", "served", ""),
        (50.0, "read", "hit", "served", ""),
        (60.0, "read", "miss", "failed", "node down"),
        (100.0, "write", "", "refused", "read-only"),
        (150.0, "read", "miss", "failed", "node down"),
    ]
    assert [(e.t_ms, e.kind) for e in results.events.itertuples()] == [
        (30.0, "crash"), (80.0, "detect"), (80.0, "read-only")]
    assert results.summary["failovers"] == 0 and results.summary["lost_writes"] == 0


def test_a_follower_that_crashes_loses_its_cache():
    model = ReplicationModel(Scenario(**(STORY | {"faults.events": [
        {"at_ms": 30.0, "action": "crash", "target": "node1"}, {"at_ms": 40.0, "action": "recover", "target": "node1"}]})))
    for at_ms in (20.0, 50.0):
        model.schedule_operation(at_ms, 0, False, KEY)
    results = Results.from_model(model.run())
    assert list(results.requests["cache"]) == ["miss", "miss"]


# directions and magnitudes ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def side_by_side() -> pd.DataFrame:
    scenario = Scenario.preset("push-pull").replace(duration_ms=2_000.0)
    return push_vs_pull(scenario, ttls_ms=(10.0, 100.0, 1_000.0), zipf=(0.6, 1.4))


def pulled(table: pd.DataFrame, zipf_s: float) -> pd.DataFrame:
    return table[(table["propagation"] == "pull") & (table["zipf_s"] == zipf_s)].set_index("ttl_ms")


def test_a_longer_ttl_hits_more_loads_the_origin_less_and_serves_more_and_older_stale_reads(side_by_side):
    for zipf_s in (0.6, 1.4):
        pull = pulled(side_by_side, zipf_s)
        assert pull["hit_ratio"].is_monotonic_increasing
        assert pull["origin_ops_per_s"].is_monotonic_decreasing
        assert pull["stale_read_rate"].is_monotonic_increasing
        assert pull["staleness_mean_ms"].fillna(0.0).is_monotonic_increasing  # NaN: no stale read
        # a copy is never older than its TTL (plus the few ms its fetch took)
        assert (pull["staleness_max_ms"] < pull.index + 10.0).all()
        # from 10 ms to 1 s the hit ratio grows by at least a third of all lookups
        assert pull.loc[1_000.0, "hit_ratio"] - pull.loc[10.0, "hit_ratio"] > 0.3


def test_more_skewed_popularity_hits_more(side_by_side):
    flat, skewed = pulled(side_by_side, 0.6), pulled(side_by_side, 1.4)
    assert (skewed["hit_ratio"] > flat["hit_ratio"] + 0.1).all()


def test_push_never_misses_and_ships_every_write_to_every_follower(side_by_side):
    push = side_by_side[side_by_side["propagation"] == "push"]
    assert (push["fetches"] == 0).all() and (push["cache_misses"] == 0).all() and push["hit_ratio"].isna().all()
    pull = side_by_side[side_by_side["propagation"] == "pull"]
    assert (pull["shipped"] == 0).all()
    results = replab.run(Scenario.preset("push-pull").replace(**{
        "duration_ms": 1_000.0, "replication.propagation": "push"}))
    shipped = results.timeline.loc[results.timeline["node"] == "node0", "shipped"].iloc[-1]
    assert shipped == len(results.writes) * 3
    assert results.applies.groupby("node", observed=True).size().to_dict() == {
        "node1": len(results.writes), "node2": len(results.writes), "node3": len(results.writes)}


def test_push_keeps_reads_fresher_than_pull_at_any_ttl_but_pull_saves_work_at_low_write_rates(side_by_side):
    push = side_by_side[(side_by_side["propagation"] == "push") & (side_by_side["zipf_s"] == 1.4)].set_index("ttl_ms")
    pull = pulled(side_by_side, 1.4)
    assert (push["stale_read_rate"] < pull["stale_read_rate"]).all()
    assert (push["staleness_max_ms"] < pull["staleness_max_ms"]).all()
    # every pull read that misses costs the origin a read: pull loads the origin more
    assert (push["origin_ops_per_s"] < pull["origin_ops_per_s"]).all()


def test_asking_a_peer_first_takes_load_off_the_origin():
    scenario = Scenario.preset("push-pull").replace(duration_ms=2_000.0)
    origin = push_vs_pull(scenario, ttls_ms=(1_000.0,), source="origin")
    peer = push_vs_pull(scenario, ttls_ms=(1_000.0,), source="peer")
    at = {"propagation": "pull"}
    o, p = (t[t["propagation"] == at["propagation"]].iloc[0] for t in (origin, peer))
    assert p["origin_ops_per_s"] < 0.85 * o["origin_ops_per_s"]
    assert p["hit_ratio"] == pytest.approx(o["hit_ratio"], abs=0.05)  # the caches themselves behave alike


# validation -------------------------------------------------------------------------------------

PULL = {"replication.propagation": "pull", "failover.promote": False}


@pytest.mark.parametrize("fields, message", [
    ({"replication.propagation": "gossip"}, "replication.propagation = 'gossip': must be one of 'push', 'pull'"),
    ({"cache.ttl_ms": -1.0}, r"cache.ttl_ms = -1.0: must be a number from 0 to 1e\+08"),
    ({"cache.ttl_ms": "long"}, "cache.ttl_ms = 'long': must be a number"),
    ({"cache.source": "neighbour"}, "cache.source = 'neighbour': must be one of 'origin', 'peer'"),
    ({"replication.propagation": "pull"},
     r"failover.promote = True: must be false with replication.propagation = 'pull': followers hold only cached copies"),
    (PULL | {"replication.kind": "leader-leader", "topology.leaders": 2},
     "replication.propagation = 'pull': is a setting of replication.kind = 'leader-follower' "
     r"\(this scenario is 'leader-leader'\)"),
    (PULL | {"replication.ack": "semi-sync"}, "replication.ack = 'semi-sync': must be 'async' with replication.propagation = 'pull'"),
    (PULL | {"replication.ack": "sync"}, "replication.ack = 'sync': must be 'async' with replication.propagation = 'pull'"),
    (PULL | {"replication.fanout": 1}, "replication.fanout = 1: must be 0 with replication.propagation = 'pull'"),
    (PULL | {"topology.followers": 0, "replication.reads": "any"},
     "topology.followers = 0: must be at least 1 with replication.propagation = 'pull'"),
    (PULL | {"replication.reads": "leader"},
     "replication.reads = 'leader': must be 'followers' or 'any' with replication.propagation = 'pull'"),
    (PULL | {"dcs.count": 2}, "dcs.count = 2: must be 1 with replication.propagation = 'pull'"),
])
def test_every_new_field_and_combination_has_a_clear_error(fields, message):
    with pytest.raises(ScenarioError, match=message):
        Scenario(**fields)


def test_the_push_pull_preset_round_trips_and_push_is_the_default(tmp_path):
    preset = Scenario.preset("push-pull")
    assert (preset.replication.propagation, preset.cache.ttl_ms, preset.cache.source) == ("pull", 1_000.0, "origin")
    preset.save(tmp_path / "pp.toml")
    assert Scenario.load(tmp_path / "pp.toml") == preset
    assert Scenario().replication.propagation == "push"
