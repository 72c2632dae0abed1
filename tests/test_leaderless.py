"""Leaderless replication: N replicas of each key on a hash ring, W write acks, R read replies.

The stories use three nodes that all hold key 1 (its preference list is node1, node0, node2),
constant times (a hop 0.1 ms, so node to node is 0.2 ms and client to node 0.4 ms; a replica
reads its store in 0.5 ms and applies a version in 1 ms), failures detected at once, and no
operations besides the scripted ones. node1 is down from 5 to 20 ms; session 0 writes key 1
at 10 ms and session 1 reads it at 30 ms.
"""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import assert_every_operation_accounted_for, common_fields

import replab
from replab import ReplicationModel, Results, Scenario, ScenarioError
from replab.analysis.pbs import k_staleness_bound, scenario_t_visibility
from replab.analysis.staleness import k_staleness, read_staleness, staleness_summary, t_visibility
from replab.replication.ring import Ring
from replab.replication.versions import covers

STORY = {
    "duration_ms": 100.0,
    "replication.kind": "leaderless",
    "quorum.nodes": 3, "quorum.n": 3, "quorum.w": 2, "quorum.r": 1,
    "quorum.sloppy": False,
    "balancer.policy": "key-hash",
    "workload.rate_per_s": 0.001,  # no operations besides the scripted ones
    "workload.sessions": 2,
    "service.read.dist": "constant", "service.read.mean_ms": 0.5,
    "service.apply.dist": "constant", "service.apply.mean_ms": 1.0,
    "network.hop.dist": "constant", "network.hop.mean_ms": 0.1,
    "failover.detection_ms": 0.0,
    "faults.events": [{"at_ms": 5.0, "action": "crash", "target": "node1"},
                      {"at_ms": 20.0, "action": "recover", "target": "node1"}],
}


def story(operations=((10.0, 0, True, 1), (30.0, 1, False, 1)), **fields) -> Results:
    model = ReplicationModel(Scenario(**(STORY | fields)))
    for at_ms, session, is_write, key in operations:
        model.schedule_operation(at_ms, session, is_write, key)
    return Results.from_model(model.run())


def rows(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """The columns as rows, times rounded to the µs (so 10.4 reads as 10.4, not 10.399999999999999)."""
    return [[round(x, 6) if isinstance(x, float) else x for x in row] for row in frame[columns].astype(object).values.tolist()]


def test_the_node_that_missed_a_write_answers_a_read_first_and_is_read_repaired():
    """R = 1: the read's coordinator is node1, which missed the write while it was down; its
    own answer needs no network, so it comes first and the client gets version 0 although
    write 1 had committed 18 ms earlier. The others' answers show node1 is stale: read repair."""
    assert Ring(3, 8).replicas(1, 3) == (1, 0, 2)
    results = story()
    # node1 is down: the balancer picks node2, which forwards the write to node0 (the first live
    # home replica); node0 commits once it and node2 have applied it (W = 2)
    assert rows(results.requests.iloc[:1], ["node", "arrived_ms", "answered_ms", "end_ms"]) == [["node2", 10.4, 12.0, 12.4]]
    assert rows(results.writes, ["write_id", "leader", "commit_ms", "ack_ms"]) == [[1, "node0", 10.6, 12.4]]
    assert rows(results.requests.iloc[1:], ["node", "arrived_ms", "end_ms", "version"]) == [["node1", 30.4, 31.3, 0]]
    assert rows(results.responses, ["replica", "asked_ms", "read_ms", "version", "arrived_ms", "counted"]) == [
        ["node1", 30.4, 30.9, 0, 30.9, 1],  # its own store, no network: first, and stale
        ["node0", 30.4, 31.1, 1, 31.3, 0],
        ["node2", 30.4, 31.1, 1, 31.3, 0],
    ]
    assert rows(results.deliveries, ["kind", "sender", "receiver", "sent_ms", "applied_ms", "new"]) == [
        ["write", "node0", "node0", 10.6, 11.6, 1],
        ["write", "node0", "node2", 10.6, 11.8, 1],  # node1 known down: not sent (strict quorum)
        ["read repair", "node1", "node1", 31.3, 32.3, 1],
    ]
    summary = results.summary
    assert (summary["missed_commit_reads"], summary["max_versions_behind"], summary["read_repairs"]) == (1, 1, 1)
    assert summary["stale_reads"] == 1  # the client's view agrees: the write was acknowledged at 12.4


def test_when_r_plus_w_exceeds_n_the_read_quorum_overlaps_the_write_quorum():
    """R = 2: node1's stale answer and node0's fresh one: the newest wins."""
    results = story(**{"quorum.r": 2})
    assert results.requests["version"].tolist() == [1, 1]
    assert results.responses["counted"].tolist() == [1, 1, 0]
    assert results.summary["missed_commit_reads"] == 0 and results.summary["read_repairs"] == 1


def test_a_strict_quorum_refuses_what_a_sloppy_quorum_hands_off_later():
    """Four nodes, N = W = 3: key 1 lives on node3, node1 and node0; node2 is its first fallback.
    node1 is down at 10 ms: a strict quorum refuses the write; a sloppy one sends node1's share to
    node2 with a hint, and node2 hands it back as soon as node1 returns at 20 ms, then drops its copy."""
    four = {"quorum.nodes": 4, "quorum.w": 3, "quorum.r": 3}
    assert Ring(4, 8).walk(1) == (3, 1, 0, 2)
    strict = story(**four)
    assert rows(strict.requests, ["op", "outcome", "reason"]) == [["write", "refused", "too few replicas"],
                                                                  ["read", "served", ""]]
    model = ReplicationModel(Scenario(**(STORY | four | {"quorum.sloppy": True})))
    model.schedule_operation(10.0, 0, True, 1)
    results = Results.from_model(model.run())
    # the balancer picks node2, which forwards to node3 (the first live home replica)
    assert rows(results.requests, ["op", "node", "outcome", "answered_ms"]) == [["write", "node2", "served", 12.0]]
    assert rows(results.deliveries, ["kind", "sender", "receiver", "home", "sent_ms", "applied_ms", "acked_ms"]) == [
        ["write", "node3", "node3", "node3", 10.6, 11.6, 11.6],
        ["hinted write", "node3", "node2", "node1", 10.6, 11.8, 12.0],
        ["write", "node3", "node0", "node0", 10.6, 11.8, 12.0],
        ["hinted handoff", "node2", "node1", "node1", 20.0, 21.2, 21.4],
    ]
    summary = results.summary
    assert (summary["hinted_writes"], summary["hints_handed_off"], summary["hints_pending"]) == (1, 1, 0)
    assert summary["handoff_mean_ms"] == pytest.approx(21.2 - 11.8)
    assert [node.store for node in model.nodes] == [{1: 1}, {1: 1}, {}, {1: 1}]  # the guest's copy went home
    assert summary["not_everywhere"] == 0 and summary["everywhere_p50_ms"] == pytest.approx(21.2 - 10.6)


def test_a_replica_that_missed_a_write_converges_by_anti_entropy_or_not_at_all():
    """No read comes to repair node1: without anti-entropy it never gets write 1. With a round
    every 25 ms, at 25 ms node1 sends node2 its digest and node0 sends node1 its own: node2 sees
    node1 lacks write 1 and sends it (25.2 ms); node1's digest back to node0 makes node0 send it
    too (25.4 ms), which node1 then already has."""
    write_only = ((10.0, 0, True, 1),)
    alone = story(write_only)
    assert alone.summary["not_everywhere"] == 1 and alone.summary["anti_entropy_repairs"] == 0
    assert alone.timeline.groupby("t_ms")["divergent_keys"].first().iloc[-1] == 1
    repaired = story(write_only, **{"quorum.anti_entropy_ms": 25.0})
    sent = repaired.deliveries[repaired.deliveries["kind"] == "anti-entropy"]
    assert rows(sent, ["sender", "receiver", "sent_ms", "applied_ms", "new"]) == [["node2", "node1", 25.2, 26.4, 1],
                                                                                  ["node0", "node1", 25.4, 27.4, 0]]
    assert repaired.summary["not_everywhere"] == 0
    assert repaired.summary["everywhere_p50_ms"] == pytest.approx(26.4 - 10.6)
    assert repaired.timeline.groupby("t_ms")["divergent_keys"].first().iloc[-1] == 0


def test_bad_quorums_are_refused_with_the_field_to_change():
    for fields, words in [({"quorum.n": 6}, r"quorum.n = 6: must be at most quorum.nodes \(5\)"),
                          ({"quorum.r": 4}, r"quorum.r = 4: must be at most quorum.n \(3\)"),
                          ({"replication.ack": "sync"}, "replication.ack = 'sync': must be 'async'"),
                          ({"quorum.legs.read.dist": "lognormal"}, "quorum.legs.read.mean_ms = 0.0: must be above 0"),
                          ({"faults.events": [{"at_ms": 1.0, "action": "crash", "target": "leader"}]}, "has no leader")]:
        with pytest.raises(ScenarioError, match=words):
            Scenario(**{"replication.kind": "leaderless"} | fields)
    with pytest.raises(ScenarioError, match="quorum.conflicts = 'siblings': is a setting of replication.kind = 'leaderless'"):
        Scenario(**{"quorum.conflicts": "siblings"})


# staleness against theory ---------------------------------------------------------------------

def quiet_ring(**fields) -> dict:
    """Legs and services so short (a few µs) that a write is everywhere it will ever be long
    before the next operation of its key, unless a leg says otherwise."""
    return {"replication.kind": "leaderless", "quorum.read_repair": False, "workload.rate_per_s": 1e-6,
            "network.hop.dist": "constant", "network.hop.mean_ms": 0.0001,
            "service.read.dist": "constant", "service.read.mean_ms": 0.001,
            "service.apply.dist": "constant", "service.apply.mean_ms": 0.001} | fields


@pytest.mark.parametrize("n, r, w, coordinator", [(3, 1, 1, "replica"), (5, 2, 2, "replica"), (5, 2, 2, "client")])
def test_k_staleness_matches_the_closed_form(n, r, w, coordinator):
    """PBS: with each write on W random replicas and each read asking R random ones (and no
    repair), a read misses the last k versions with probability (C(N-W, R) / C(N, R))^k.
    Each of 2,000 keys gets 4 writes 1 ms apart and one read 1 ms after the last, so the reads
    are independent; tolerance: 4 standard errors of a binomial share of 2,000 (0.03 to 0.04).
    A client coordinating its operations sends them along the same legs: the same law."""
    keys, writes_per_key = 2_000, 4
    model = ReplicationModel(Scenario(**quiet_ring(**{
        "quorum.nodes": n, "quorum.n": n, "quorum.r": r, "quorum.w": w, "quorum.write_to": "w", "quorum.read_from": "r",
        "quorum.coordinator": coordinator, "workload.keys": keys, "duration_ms": 6.0 * keys})))
    for key in range(1, keys + 1):
        for i in range(writes_per_key + 1):
            model.schedule_operation(6.0 * key + i, key % 100, i < writes_per_key, key)
    results = Results.from_model(model.run())
    assert (results.requests["outcome"] == "served").all()
    reads = results.requests[results.requests["op"] == "read"]
    newer = results.writes.merge(reads[["key", "version"]], on="key")
    behind = newer[newer["write_id"] > newer["version"]].groupby("key").size().reindex(reads["key"], fill_value=0)
    measured = k_staleness(read_staleness(results.requests, results.writes), writes_per_key)
    for k in range(1, writes_per_key + 1):
        p = k_staleness_bound(n, r, w, k)
        share = float((behind.to_numpy() >= k).mean())
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / keys), (k, share, p)
        assert measured.loc[k - 1, "probability"] == share and measured.loc[k - 1, "reads"] == keys


def wars_monte_carlo(n: int, r: int, w: int, means: dict, t_ms, trials: int, rng) -> np.ndarray:
    """The WARS model of PBS, written here from the paper alone: each replica draws exponential
    W, A, R, S delays; the write commits at the w-th smallest W + A; a read sent t after the
    commit reaches replica i at commit + t + R_i, which has the write if W_i is no later; the
    read takes the r fastest responses (R_i + S_i) and is consistent if one of them had it."""
    W, A, R, S = (rng.exponential(means[leg], (trials, n)) for leg in ("write", "ack", "read", "response"))
    commit = np.sort(W + A, axis=1)[:, w - 1]
    fastest = np.argsort(R + S, axis=1)[:, :r]
    out = []
    for t in t_ms:
        had = (commit + t)[:, None] + R >= W
        out.append(np.take_along_axis(had, fastest, axis=1).any(axis=1).mean())
    return np.array(out)


def test_t_visibility_matches_a_monte_carlo_of_the_wars_model():
    """N = 3, R = W = 1, exponential legs (write 4 ms; ack, read and response 1 ms). Each of
    2,000 keys is written once and read 4 times at uniformly random delays of up to 24 ms, so
    a read's delay t after the commit (up to 10 ms is kept) is independent of the legs unless
    the commit took over 14 ms (probability ~1e-4). Hops and services add ~3 µs, far below
    the resolution. Tolerances, with the reads of a key counted as one sample (they share its
    write's legs): the mean of (consistent - Monte Carlo at the read's t) over all reads within
    4 standard errors, and each 2 ms bin within 4.5 of its own."""
    means = {"write": 4.0, "ack": 1.0, "read": 1.0, "response": 1.0}
    keys, reads_per_key, horizon_ms, kept_ms = 2_000, 4, 24.0, 10.0
    legs = {f"quorum.legs.{leg}.{what}": value for leg, mean in means.items()
            for what, value in (("dist", "exponential"), ("mean_ms", mean))}
    scenario = Scenario(**quiet_ring(**legs, **{"quorum.nodes": 3, "quorum.n": 3, "quorum.r": 1, "quorum.w": 1,
                                                "workload.keys": keys, "duration_ms": 4.0 * keys + horizon_ms}))
    model = ReplicationModel(scenario)
    delays = np.random.default_rng(7).uniform(0.0, horizon_ms, (keys, reads_per_key))
    for key in range(1, keys + 1):  # keys overlap in time; they share nothing but idle nodes
        model.schedule_operation(4.0 * key, 0, True, key)
        for delay in delays[key - 1]:
            model.schedule_operation(4.0 * key + delay, 1, False, key)
    results = Results.from_model(model.run())
    requests = results.requests
    assert (requests["outcome"] == "served").all()
    commits = requests[requests["op"] == "write"].set_index("key")["answered_ms"]
    reads = requests[requests["op"] == "read"]
    t = reads["arrived_ms"].to_numpy() - commits.reindex(reads["key"]).to_numpy()
    kept = (t >= 0) & (t < kept_ms)
    t, consistent, key = t[kept], (reads["version"].to_numpy() > 0)[kept], reads["key"].to_numpy()[kept]
    grid = np.linspace(0.0, kept_ms, 41)
    expected = np.interp(t, grid, wars_monte_carlo(3, 1, 1, means, grid, 200_000, np.random.default_rng(11)))

    def within(mask, standard_errors: float) -> None:
        residual = pd.Series(consistent[mask] - expected[mask]).groupby(key[mask]).sum()  # one sample a key
        error = math.sqrt((residual**2).sum()) / mask.sum()
        assert abs(residual.sum() / mask.sum()) < standard_errors * error, (residual.sum() / mask.sum(), error)

    within(np.ones(len(t), dtype=bool), 4.0)
    for lo in np.arange(0.0, kept_ms, 2.0):
        within((t >= lo) & (t < lo + 2.0), 4.5)
    assert consistent[t < 1].mean() < 0.6 < 0.9 < consistent[t > 8].mean()  # the curve has somewhere to go
    # the library's t-visibility and its WARS prediction (replab.analysis.pbs) say the same
    table = t_visibility(read_staleness(requests, results.writes), bin_ms=2.0, max_ms=kept_ms)
    for row in table.itertuples():
        inside = (t >= row.t_from_ms) & (t < row.t_to_ms)
        assert row.reads == inside.sum() and row.consistent == pytest.approx(consistent[inside].mean())
    wars = wars_monte_carlo(3, 1, 1, means, grid, 200_000, np.random.default_rng(11))
    assert np.abs(scenario_t_visibility(scenario, grid, trials=40_000) - wars).max() < 0.02


# properties -------------------------------------------------------------------------------

@st.composite
def leaderless_scenarios(draw, faults: bool = True) -> Scenario:
    nodes = draw(st.integers(1, 6))
    n = draw(st.integers(1, nodes))
    fields = common_fields(draw, nodes)
    # a few hundred operations: enough to meet every case, cheap to check
    duration = draw(st.sampled_from([300.0, 600.0]))
    fields |= {"duration_ms": duration, "workload.rate_per_s": draw(st.sampled_from([300.0, 1_500.0]))}
    fields["faults.events"] = [f | {"target": "node0"} if f["target"] == "leader" else f for f in fields["faults.events"]
                               if f["at_ms"] <= duration]
    if not faults:
        fields |= {"faults.events": [], "faults.mttf_ms": 0.0}
    dist = draw(st.sampled_from(["constant", "exponential", "pareto-exponential"]))
    return Scenario(**{
        **fields,
        "replication.kind": "leaderless",
        "quorum.nodes": nodes, "quorum.n": n,
        "quorum.r": draw(st.integers(1, n)), "quorum.w": draw(st.integers(1, n)),
        "quorum.coordinator": draw(st.sampled_from(["replica", "any", "client"])),
        "quorum.read_from": draw(st.sampled_from(["all", "r"])),
        "quorum.write_to": draw(st.sampled_from(["all", "w"])),
        "quorum.conflicts": draw(st.sampled_from(["last-writer-wins", "siblings"])),
        "quorum.sloppy": draw(st.booleans()),
        "quorum.read_repair": draw(st.booleans()),
        "quorum.anti_entropy_ms": draw(st.sampled_from([0.0, 30.0])),
        "quorum.vnodes": draw(st.sampled_from([1, 8])),
        "quorum.legs.write.dist": dist, "quorum.legs.write.mean_ms": draw(st.sampled_from([0.0, 2.0])),
        "quorum.legs.write.pareto_share": 0.3, "quorum.legs.write.pareto_alpha": 1.5,
        "quorum.legs.response.dist": "exponential", "quorum.legs.response.mean_ms": draw(st.sampled_from([0.0, 1.0])),
        "balancer.policy": draw(st.sampled_from(["round-robin", "random", "least-outstanding", "key-hash", "sticky"])),
    })


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaderless_scenarios(faults=False))
def test_with_r_plus_w_above_n_and_no_failures_no_read_misses_a_committed_write(scenario):
    """Every read quorum overlaps every write quorum, and the W replicas that acknowledged a
    write had applied it before it committed, so a read started after the commit asks at least
    one replica that holds it (or something newer): checked read by read, plainly."""
    q = scenario.quorum
    if q.r + q.w <= q.n:
        scenario = scenario.replace(**{"quorum.w": q.n - q.r + 1})
    results = replab.run(scenario)
    requests, writes = results.requests, results.writes
    acked = writes[writes["acked"]].merge(requests[["request_id", "answered_ms"]], on="request_id")
    acked = acked.sort_values("key", kind="stable")
    keys, answered, write_ids = (acked[c].to_numpy() for c in ("key", "answered_ms", "write_id"))
    reads = requests[(requests["op"] == "read") & (requests["outcome"] == "served")]
    for key, version, start in zip(reads["key"], reads["version"], reads["arrived_ms"]):
        mine = slice(np.searchsorted(keys, key), np.searchsorted(keys, key, side="right"))
        assert (write_ids[mine][answered[mine] < start] <= version).all(), (key, version, start)
    assert results.summary["missed_commit_reads"] == 0



def count_keys_behind(model) -> int:
    """Keys on which some home replica holds an older version than the newest any node holds."""
    protocol = model.replication
    newest: dict[int, int] = {}
    for node in model.nodes:
        for key, write_id in node.store.items():
            newest[key] = max(newest.get(key, 0), write_id)
    return sum(1 for key, top in newest.items()
               if any(model.nodes[h].store.get(key, 0) < top for h in protocol.ring.replicas(key, protocol.n)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaderless_scenarios())
def test_leaderless_loses_nothing_silently(scenario):
    """Every operation ends served, refused or failed; every acknowledged write is held at the
    end by some node (it, or a version that has seen it), or counted lost (last writer wins);
    the divergence the timeline samples is the plain count of keys some home replica lags on."""
    model = ReplicationModel(scenario)
    while model.running:
        model.step()
        assert model.replication.divergent_keys() == count_keys_behind(model)
    results = Results.from_model(model)
    assert_every_operation_accounted_for(model, results)
    writes = results.writes
    protocol = model.replication
    assert [v.write_id for v in protocol.issued] == writes["write_id"].tolist()
    # a write is accounted for if some node holds it, or it is counted lost, or a later write
    # that had seen it (and overwrote it) is accounted for
    accounted: dict[int, bool] = {}
    for version, lost in zip(reversed(protocol.issued), reversed(writes["lost"].tolist())):
        held = any(v is version for node in model.nodes for v in node.versions.get(version.key, ()))
        successors = [w for w in protocol.issued[version.write_id:] if w.key == version.key and covers(w.vector, version.vector)]
        accounted[version.write_id] = held or lost or any(accounted[w.write_id] for w in successors)
    for write_id, acked in zip(writes["write_id"], writes["acked"]):
        assert accounted[write_id] or not acked, f"acknowledged write {write_id} is nowhere and not counted lost"
    if scenario.quorum.conflicts == "siblings":
        assert not writes["lost"].any()
    d = results.deliveries
    assert (d["arrived_ms"] >= d["sent_ms"]).where(d["arrived_ms"].notna(), True).all()
    assert (d["applied_ms"] >= d["arrived_ms"]).where(d["applied_ms"].notna(), True).all()
    assert (d["acked_ms"] >= d["applied_ms"]).where(d["acked_ms"].notna(), True).all()
    assert d["applied_ms"].notna().sum() >= len(results.applies)  # an apply row for each new version taken


def test_a_saved_run_reads_back_with_its_tables_and_the_same_summary(tmp_path):
    results = replab.run(Scenario.preset("leaderless-partition").replace(duration_ms=900.0, **{"faults.events": [
        {"at_ms": 300.0, "action": "crash", "target": "switch1"}, {"at_ms": 600.0, "action": "recover", "target": "switch1"}]}))
    assert results.summary["hinted_writes"] > 0 and results.summary["hints_handed_off"] > 0
    loaded = Results.load(results.save(tmp_path / "run"))
    for name in ("deliveries", "responses"):
        pd.testing.assert_frame_equal(loaded.tables[name], results.tables[name])
    assert all(loaded.summary[k] == v or v != v for k, v in results.summary.items())


@pytest.mark.parametrize("preset", ["push-pull", "random-failures", "leaderless-partition", "split-brain"])
def test_the_summarys_staleness_counts_are_those_of_the_per_read_frame(preset):
    """The summary counts missed commits without read_staleness's frame of every read (to keep
    a run's peak memory down); on histories with hundreds to thousands of misses both agree."""
    results = replab.run(Scenario.preset(preset))
    frame = read_staleness(results.requests, results.writes)
    missed = int((~frame["consistent"]).sum())
    assert missed > 0
    assert staleness_summary(results) == {"missed_commit_reads": missed, "missed_commit_rate": missed / len(frame),
                                          "max_versions_behind": int(frame["versions_behind"].max())}
