"""Properties that hold for every valid scenario: determinism and conservation.

Conservation: every client operation ends as served, refused or failed; every
acknowledged write is on the final leader's log or counted as lost (leader-leader: once
replication has gone quiet, on every live node, counted lost, or stranded on a leader that
is down). The history checker (replab.analysis.checks) must agree with the summary on every anomaly
count.
"""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import replab
from replab import ReplicationModel, Results, Scenario
from replab.analysis.checks import check_history, check_leader_leader, replay_leader_leader
from replab.replication.leader_leader import covers
from replab.topology.switching import SWITCHING, switch_count

pytestmark = pytest.mark.slow  # hypothesis runs many scenarios


def test_a_finished_model_is_freed_once_nobody_holds_it():
    """Long sweeps run thousands of models in one process: none may stay alive after its run
    (Mesa's per-model agent-id counter used to keep every one, ~1.7 MB a run)."""
    import gc
    import weakref

    model = ReplicationModel(Scenario.preset("leader-follower").replace(duration_ms=200.0)).run()
    results, alive = Results.from_model(model), weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None and results.summary["operations"] > 0


def test_a_different_seed_gives_a_different_history():
    scenario = Scenario.preset("leader-follower").replace(duration_ms=1_000.0)
    a, b = replab.run(scenario), replab.run(scenario.replace(seed=2))
    assert not a.requests["start_ms"].equals(b.requests["start_ms"])


def common_fields(draw, nodes: int) -> dict:
    """What every kind of scenario draws alike: run length, seed, workers, workload,
    network, detection and random plus scheduled faults on its `nodes` nodes."""
    workers = draw(st.integers(1, 4))
    duration = draw(st.sampled_from([400.0, 800.0, 1_500.0]))
    switching = draw(st.sampled_from(SWITCHING))
    targets = ["leader"] + [f"node{i}" for i in range(nodes)] + [f"switch{i}" for i in range(switch_count(2, switching))]
    faults = draw(st.lists(st.fixed_dictionaries({
        "at_ms": st.floats(0, duration),
        "action": st.sampled_from(["crash", "recover"]),
        "target": st.sampled_from(targets),
    }), max_size=6))
    return {
        "duration_ms": duration,
        "seed": draw(st.integers(0, 2**32)),
        "topology.workers": workers,
        "topology.apply_concurrency": draw(st.integers(1, workers)),
        "topology.switches": 2,
        "topology.switching": switching,
        "replication.ship_ms": draw(st.sampled_from([0.0, 0.05, 0.5])),
        "workload.arrival": draw(st.sampled_from(["open", "closed"])),
        "workload.rate_per_s": draw(st.sampled_from([200.0, 2_000.0, 8_000.0])),
        "workload.think_ms": draw(st.sampled_from([0.0, 5.0, 50.0])),
        "workload.sessions": draw(st.integers(1, 30)),
        "workload.write_ratio": draw(st.sampled_from([0.0, 0.2, 0.5, 1.0])),
        "workload.keys": draw(st.sampled_from([1, 10, 1_000])),
        "workload.popularity": draw(st.sampled_from(["uniform", "zipf"])),
        "workload.timeout_ms": draw(st.sampled_from([20.0, 200.0])),
        "service.write.dist": draw(st.sampled_from(["constant", "exponential", "lognormal"])),
        "network.hop.dist": draw(st.sampled_from(["constant", "exponential", "lognormal"])),
        "failover.detection_ms": draw(st.sampled_from([0.0, 50.0, 300.0])),
        "faults.events": faults,
        "faults.mttf_ms": draw(st.sampled_from([0.0, 0.0, 300.0])),
        "faults.mttr_ms": 100.0,
    }


@st.composite
def scenarios(draw) -> Scenario:
    followers = draw(st.integers(0, 4))
    return Scenario(**{
        **common_fields(draw, followers + 1),
        "topology.followers": followers,
        "replication.ack": draw(st.sampled_from(["async", "sync"] + (["semi-sync"] if followers else []))),
        "replication.semi_sync_k": draw(st.integers(1, max(followers, 1))),
        "replication.reads": draw(st.sampled_from(["leader", "any"] + (["followers"] if followers else []))),
        "replication.fanout": draw(st.integers(0, 3)),
        "balancer.policy": draw(st.sampled_from(["round-robin", "random", "least-outstanding", "sticky"])),
        "failover.promote": draw(st.booleans()),
        "failover.promotion_ms": draw(st.sampled_from([0.0, 50.0, 300.0])),
    })


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_nothing_is_lost_silently(scenario):
    model = ReplicationModel(scenario).run()
    results = Results.from_model(model)
    writes = results.writes
    assert_every_operation_accounted_for(model, results)

    # every acknowledged write is on the final log at its index, or counted as lost
    log = model.replication.log
    for write_id, index, lost in zip(writes["write_id"], writes["log_index"], writes["lost"]):
        on_log = index < len(log) and log[index].write_id == write_id
        assert on_log != lost, f"write {write_id}: on the log={on_log}, counted lost={lost}"


def assert_every_operation_accounted_for(model, results) -> None:
    scenario, requests, writes = model.scenario, results.requests, results.writes
    # every operation started has exactly one row, with an outcome and a sane end
    assert list(requests["request_id"]) == list(range(1, model.workload.started + 1))
    assert requests["outcome"].notna().all()
    assert (requests["end_ms"] >= requests["start_ms"]).all()
    assert (requests["latency_ms"] <= scenario.workload.timeout_ms + 1e-9).all()
    assert not model.in_flight

    # a served write is exactly an acknowledged write
    served_writes = requests[(requests["op"] == "write") & (requests["outcome"] == "served")]
    acked = writes[writes["acked"]]
    assert sorted(served_writes["request_id"]) == sorted(acked["request_id"])
    assert (served_writes["version"].to_numpy() > 0).all()

    # the history checker agrees with the summary
    report = check_history(requests, writes)
    assert report.unfinished == 0 and report.acked_writes_not_accounted == 0
    for metric in ("stale_reads", "ryw_violations", "monotonic_read_violations", "lost_acked_writes"):
        assert getattr(report, metric) == results.summary[metric], metric
    assert results.summary["served"] + results.summary["refused"] + results.summary["failed"] == len(requests)
    assert_staleness_ages(requests, writes)


def assert_staleness_ages(requests, writes, most: int = 300) -> None:
    """Each served read's staleness_ms, recomputed plainly for up to `most` of them (the stale
    first): read start - the earliest ack of a newer write of its key acked before the start."""
    acked = writes[writes["acked"]]
    by_key = {key: (group["write_id"].to_numpy(), group["ack_ms"].to_numpy()) for key, group in acked.groupby("key")}
    reads = requests[(requests["op"] == "read") & (requests["outcome"] == "served")]
    assert reads["staleness_ms"].notna().all()
    assert requests.loc[requests.index.difference(reads.index), "staleness_ms"].isna().all()
    reads = reads.sort_values("staleness_ms", ascending=False, kind="stable").head(most)
    for key, version, start, age in zip(reads["key"], reads["version"], reads["start_ms"], reads["staleness_ms"]):
        ids, acks = by_key.get(key, (np.empty(0), np.empty(0)))
        superseded = acks[(ids > version) & (acks < start)]
        assert age == (start - superseded.min() if len(superseded) else 0.0), (key, version, start, age)


@st.composite
def leader_leader_scenarios(draw) -> Scenario:
    leaders = draw(st.integers(1, 4))
    followers = draw(st.integers(0, 2))
    others = leaders - 1 + followers
    return Scenario(**{
        **common_fields(draw, leaders + followers),
        "replication.kind": "leader-leader",
        "topology.leaders": leaders,
        "topology.followers": followers,
        "replication.ack": draw(st.sampled_from(["async", "sync"] + (["semi-sync"] if others else []))),
        "replication.semi_sync_k": draw(st.integers(1, max(others, 1))),
        "replication.reads": draw(st.sampled_from(["leader", "any"] + (["followers"] if followers else []))),
        "replication.write_routing": draw(st.sampled_from(["balancer", "session"])),
        "replication.conflicts": draw(st.sampled_from(["last-writer-wins", "keep-both"])),
        "balancer.policy": draw(st.sampled_from(["round-robin", "random", "least-outstanding", "key-hash", "sticky"])),
        "network.hop.mean_ms": draw(st.sampled_from([0.1, 2.0])),
    })


def count_divergent_keys(model) -> int:
    """Keys whose versions differ across the live nodes, by comparing every key."""
    live = [n for n in model.nodes if n.up]
    keys = set().union(*(n.versions for n in live)) if live else set()
    return sum(1 for k in keys if len({tuple(v.write_id for v in n.versions.get(k, ())) for n in live}) > 1)


# Found by chance in session 2: node0 goes down for good holding write 71, which node1 has
# and node2 lacks; write 69 lost to it on node1 but stays on node2 until node0 returns.
LOSER_KEPT_WHERE_THE_WINNER_IS_STRANDED = Scenario(**{
    "duration_ms": 400.0, "seed": 6660, "topology.leaders": 2, "topology.followers": 1, "topology.workers": 1,
    "topology.switches": 2, "replication.kind": "leader-leader", "replication.ship_ms": 0.0,
    "replication.reads": "leader", "workload.sessions": 1, "workload.think_ms": 0.0, "workload.keys": 1,
    "workload.timeout_ms": 20.0, "service.write.dist": "constant", "network.hop.dist": "constant",
    "failover.detection_ms": 0.0, "faults.mttf_ms": 300.0, "faults.mttr_ms": 100.0,
    "faults.events": [{"at_ms": 0.0, "action": "crash", "target": "leader"},
                      {"at_ms": 320.0, "action": "crash", "target": "leader"}]})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leader_leader_scenarios())
@example(LOSER_KEPT_WHERE_THE_WINNER_IS_STRANDED)
def test_leader_leader_loses_nothing_silently_and_converges(scenario):
    """Once the network is whole again and replication has gone quiet, the live nodes agree
    on every key, and every write is on all of them (applied, or superseded by a write that
    had seen it), or counted lost, or held only by a leader that is down (stranded: it ships
    them when it returns)."""
    model = ReplicationModel(scenario)
    while model.running:
        model.step()
        assert model.replication.divergent_keys() == count_divergent_keys(model)
    for switch in model.switches:
        switch.recover(model.end_ms)  # a node cut off by a dead switch cannot converge
    model.calendar.run_until(math.inf)  # no client starts anything more: let replication finish
    results = Results.from_model(model)
    writes = results.writes
    assert_every_operation_accounted_for(model, results)

    protocol = model.replication
    live = [n for n in model.nodes if n.up]
    stranded = set(protocol.stranded())
    entries = {e.write_id: e for log in protocol.logs for e in log}
    assert set(entries) == set(writes["write_id"])
    for write_id, lost in zip(writes["write_id"], writes["lost"]):
        entry = entries[write_id]
        for node in live:
            kept = {v.write_id for v in node.versions.get(entry.key, ())}
            seen = node.vectors.get(entry.key, protocol._zero)
            waiting_for_winner = any(entries[w].key == entry.key and not covers(seen, entries[w].vector)
                                     for w in stranded)
            if lost and not waiting_for_winner:  # else it goes when the stranded write beating it arrives
                assert write_id not in kept, f"write {write_id} counted lost but kept on {node.name}"
            elif write_id not in stranded:
                assert covers(node.vectors.get(entry.key, protocol._zero), entry.vector), \
                    f"write {write_id} neither on {node.name}, nor lost, nor stranded"
    if not stranded and live:
        for node in live[1:]:
            assert node.versions == live[0].versions, f"{node.name} disagrees with {live[0].name}"
            assert node.store == live[0].store
    if scenario.replication.conflicts == "keep-both":
        assert not writes["lost"].any()
    assert results.summary["lost_updates"] == int((writes["lost"] & writes["acked"]).sum())

    # the history checker, replaying the frames alone, reaches the same state (replication
    # went on after the summary was taken, so its end is compared with the model's)
    replay = replay_leader_leader(results)
    assert replay.vectors == {w: {f"node{i}": n for i, n in enumerate(e.vector) if n} for w, e in entries.items()}
    for node in model.nodes:
        assert replay.final[node.name] == {k: tuple(v.write_id for v in held) for k, held in node.versions.items()}
    assert replay.live_at_end == [n.name for n in live]
    assert replay.divergent_keys_at_end == count_divergent_keys(model)
    assert set(replay.stranded) == stranded
    converge_ms = protocol.converge_ms()
    assert replay.converge_ms == converge_ms or math.isnan(replay.converge_ms) and math.isnan(converge_ms)
    pd.testing.assert_frame_equal(replay.conflicts, results.conflicts)
    assert_checker_agrees_with_the_summary(results, ("stale_reads", "ryw_violations", "monotonic_read_violations",
                                                     "lost_acked_writes", "conflicts", "lost_updates", "lost_writes",
                                                     "siblings", "mean_divergent_keys", "max_divergent_keys"))


@st.composite
def buddy_scenarios(draw) -> Scenario:
    nodes = draw(st.integers(2, 5))
    layout = draw(st.sampled_from(["ring", "all"] + (["pairs"] if nodes % 2 == 0 else [])))
    copies = draw(st.integers(1, nodes - 1))
    buddies = {"ring": copies, "pairs": 1, "all": nodes - 1}[layout]
    fields = common_fields(draw, nodes)
    fields["faults.events"] = [f | {"target": "node0"} if f["target"] == "leader" else f for f in fields["faults.events"]]
    return Scenario(**{
        **fields,
        "replication.kind": "buddy",
        "balancer.policy": "sticky",
        "buddy.nodes": nodes,
        "buddy.layout": layout,
        "buddy.copies": copies,
        "replication.ack": draw(st.sampled_from(["async", "semi-sync", "sync"])),
        "replication.semi_sync_k": draw(st.integers(1, buddies)),
    })


@st.composite
def pull_scenarios(draw) -> Scenario:
    """Leader-follower with pull propagation: followers read through, copies live cache.ttl_ms."""
    followers = draw(st.integers(1, 4))
    return Scenario(**{
        **common_fields(draw, followers + 1),
        "topology.followers": followers,
        "replication.propagation": "pull",
        "cache.ttl_ms": draw(st.sampled_from([0.0, 5.0, 100.0, 5_000.0])),
        "cache.source": draw(st.sampled_from(["origin", "peer"])),
        "replication.reads": draw(st.sampled_from(["followers", "any"])),
        "balancer.policy": draw(st.sampled_from(["round-robin", "random", "least-outstanding", "key-hash"])),
        "failover.promote": False,
    })


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buddy_scenarios())
def test_buddy_replication_loses_no_session_state_silently(scenario):
    """Once every death has been noticed, each session's state on its node is its newest
    write not counted lost; a session whose node is down (no live node took it) has lost
    every write."""
    model = ReplicationModel(scenario)
    model.run()
    model.calendar.run_until(math.inf)  # let pending detections and take-overs happen
    results = Results.from_model(model)
    assert_every_operation_accounted_for(model, results)
    writes = results.writes
    kept = writes[~writes["lost"]].groupby("session")["write_id"].max()
    for session, owner in model.replication.owner.items():
        if owner.up:
            assert owner.store.get(session, 0) == kept.get(session, 0), f"session {session} on {owner.name}"
        else:
            assert session not in kept.index, f"session {session}: its node is down, its writes not counted lost"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_dual_attached_hosts_never_lose_a_message_to_one_switch_of_each_pair(scenario, data):
    """Whatever else happens, while no pair has lost both its switches, every host has a
    live switch: nothing is dropped and no operation fails for the network's sake."""
    faults = [f.to_dict() for f in scenario.faults.events if not f.target.startswith("switch")]
    faults += data.draw(st.lists(st.fixed_dictionaries({
        "at_ms": st.floats(0, scenario.duration_ms),
        "action": st.sampled_from(["crash", "recover"]),
        "target": st.sampled_from(["switch0", "switch2"]),  # one member of each of the two pairs
    }), max_size=4))
    scenario = scenario.replace(**{"topology.switching": "pair-dual-attached", "faults.events": faults})
    model = ReplicationModel(scenario).run()
    results = Results.from_model(model)
    assert_every_operation_accounted_for(model, results)
    assert results.summary["messages_dropped"] == 0
    assert results.summary["failed_network"] == 0


def assert_checker_agrees_with_the_summary(results, keys) -> None:
    report = check_leader_leader(results).as_dict()
    for key in keys:
        model_says, checker_says = results.summary[key], report[key]
        assert model_says == checker_says or math.isnan(model_says) and math.isnan(checker_says), key
    for must_be_0 in ("reads_not_held", "applies_not_received", "receipts_out_of_order", "refusals_not_lost"):
        assert report[must_be_0] == 0, must_be_0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leader_leader_scenarios())
def test_the_leader_leader_checker_agrees_with_the_summary(scenario):
    """Run as a user would (the summary is taken at the end of the run): the checker finds
    every leader-leader metric of the summary, convergence and stranded writes included."""
    results = replab.run(scenario)
    assert_checker_agrees_with_the_summary(results, ("stale_reads", "ryw_violations", "monotonic_read_violations",
                                                     "lost_acked_writes", "conflicts", "conflicts_per_s",
                                                     "lost_updates", "lost_writes", "siblings", "mean_divergent_keys",
                                                     "max_divergent_keys", "converge_ms", "stranded_writes"))


@st.composite
def multi_dc_scenarios(draw) -> Scenario:
    """2 to 4 data centres, one leader in dc0 or one per DC, DC crashes and partitions, every DNS policy."""
    count = draw(st.integers(2, 4))
    per_dc = draw(st.booleans())
    leaders = count if per_dc else 1
    followers = draw(st.integers(max(0, count - leaders), count + 1))
    fields = common_fields(draw, leaders + followers)
    duration = fields["duration_ms"]
    fields["faults.events"] = fields["faults.events"] + draw(st.lists(st.fixed_dictionaries({
        "at_ms": st.floats(0, duration),
        "action": st.sampled_from(["crash", "recover", "partition", "heal"]),
        "target": st.sampled_from([f"dc{d}" for d in range(count)]),
    }), max_size=4))
    return Scenario(**{
        **fields,
        "dcs.count": count,
        "dcs.placement": "leader-per-dc" if per_dc else "leader-dc",
        "replication.kind": "leader-leader" if per_dc else "leader-follower",
        "topology.leaders": leaders,
        "topology.followers": followers,
        "replication.reads": draw(st.sampled_from(["leader", "any"] + (["followers"] if followers else []))),
        "balancer.policy": draw(st.sampled_from(["round-robin", "least-outstanding", "sticky"])),
        "dcs.wan_ms": draw(st.sampled_from([1.0, 30.0])),
        "dcs.wan_sigma": draw(st.sampled_from([0.0, 0.3])),
        "dns.policy": draw(st.sampled_from(["nearest", "weighted", "failover"])),
        "dns.ttl_ms": draw(st.sampled_from([0.0, 100.0, 1_000.0])),
        "dns.lookup_ms": draw(st.sampled_from([0.0, 20.0])),
        "dns.health_interval_ms": draw(st.sampled_from([50.0, 200.0])),
        "dns.health_threshold": draw(st.integers(1, 3)),
        "dns.ignore_ttl_share": draw(st.sampled_from([0.0, 0.5])),
        "dns.ignore_ttl_extra_ms": 300.0,
        "dns.warm_caches": draw(st.booleans()),
        "sessions.sticky_dc": draw(st.booleans()),
    })


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(multi_dc_scenarios())
def test_several_data_centres_lose_nothing_silently_and_repeat_exactly(scenario):
    """Whatever fails (a DC, its WAN links, a node), every operation has one outcome and the
    DNS recorded where each went (determinism: tests/test_determinism.py)."""
    model = ReplicationModel(scenario).run()
    results = Results.from_model(model)
    assert_every_operation_accounted_for(model, results)
    requests = results.requests
    assert requests["dc"].notna().all()
    assert (requests["region"] == requests["session"] % scenario.dcs.count).all()
    assert not (requests["to_dead_dc"] & (requests["outcome"] == "served")).any()  # a dead DC serves nobody
    if scenario.replication.kind == "leader-follower":
        log = model.replication.log
        for write_id, index, lost in zip(results.writes["write_id"], results.writes["log_index"], results.writes["lost"]):
            assert (index < len(log) and log[index].write_id == write_id) != lost


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pull_scenarios())
def test_pull_loses_nothing_silently_ships_nothing_and_no_copy_outlives_its_ttl(scenario):
    """Every operation ends with an outcome; every write stays on the leader's log (nothing is
    promoted); nothing is shipped or applied; every follower's read is a hit or a miss and each
    miss sent a fetch; a stale read's age is below the TTL plus the longest trip a fetch's
    answer took (the copy left the origin no earlier than the newer write was acknowledged)."""
    model = ReplicationModel(scenario).run()
    results = Results.from_model(model)
    assert_every_operation_accounted_for(model, results)
    writes, requests, fetches = results.writes, results.requests, results.fetches
    assert not writes["lost"].any() and len(model.replication.log) == len(writes)
    assert results.applies.empty and all(node.shipped == 0 for node in model.nodes)

    looked_up = requests[requests["cache"] != ""]
    assert set(looked_up["op"]) <= {"read"} and set(looked_up["node"].astype(str)) <= {n.name for n in model.nodes[1:]}
    misses = set(looked_up.loc[looked_up["cache"] == "miss", "request_id"])
    assert set(fetches["request_id"]) == misses  # a miss fetched; a fetch was for a miss
    summary = results.summary
    assert summary["cache_hits"] + summary["cache_misses"] == summary["cache_lookups"] == len(looked_up)
    if scenario.cache.ttl_ms == 0:
        assert summary["cache_hits"] == 0

    served_reads = requests[(requests["op"] == "read") & (requests["outcome"] == "served")]
    assert served_reads["staleness_ms"].notna().all() and (served_reads["staleness_ms"] >= 0).all()
    trip = (fetches["received_ms"] - fetches["answered_ms"]).max() if len(fetches) else 0.0
    assert (served_reads["staleness_ms"] <= scenario.cache.ttl_ms + (0.0 if math.isnan(trip) else trip) + 1e-9).all()
    assert (served_reads["staleness_ms"] > 0).sum() == summary["stale_reads"]
