"""The leader-leader history checker rebuilds every node's version vectors from the frames
alone and must reach the model's own account: the same conflicts, row for row, the same
lost updates, siblings, divergence, convergence and stranded writes. A frame tampered with
afterwards makes them disagree, so the checker is not echoing the model.
"""

import dataclasses
import math

import pandas as pd
import pytest
from test_leader_leader import STORY, story

import replab
from replab import ReplicationModel, Results, Scenario
from replab.analysis.checks import check_leader_leader, replay_leader_leader

# the summary keys the checker recomputes, under the same names
SHARED = ("stale_reads", "ryw_violations", "monotonic_read_violations", "lost_acked_writes", "conflicts",
          "conflicts_per_s", "lost_updates", "lost_writes", "siblings", "mean_divergent_keys",
          "max_divergent_keys", "converge_ms", "stranded_writes")
# what the history itself must satisfy
INTEGRITY = ("unfinished", "acked_writes_not_accounted", "reads_not_held", "applies_not_received",
             "receipts_out_of_order", "refusals_not_lost")


def disagreements(results: Results) -> dict:
    """Summary keys where the checker differs from the model: {key: (model, checker)}."""
    report = check_leader_leader(results).as_dict()
    pairs = {k: (results.summary[k], report[k]) for k in SHARED}
    return {k: (a, b) for k, (a, b) in pairs.items() if a != b and not (math.isnan(a) and math.isnan(b))}


def assert_checker_agrees(model: ReplicationModel, results: Results) -> None:
    assert disagreements(results) == {}
    report = check_leader_leader(results).as_dict()
    assert {k: report[k] for k in INTEGRITY} == dict.fromkeys(INTEGRITY, 0)
    replay = replay_leader_leader(results)
    pd.testing.assert_frame_equal(replay.conflicts, results.conflicts)
    lost = results.writes[results.writes["lost"]]
    assert replay.lost_ms == dict(zip(lost["write_id"], lost["lost_ms"]))
    for log in model.replication.logs:
        for entry in log:
            assert replay.vectors[entry.write_id] == {f"node{i}": n for i, n in enumerate(entry.vector) if n}
    for node in model.nodes:
        assert replay.final[node.name] == {k: tuple(v.write_id for v in held) for k, held in node.versions.items()}
    per_sample = results.timeline.groupby("t_ms")["divergent_keys"].first()
    assert replay.divergent_keys.tolist() == per_sample.tolist()


# the two-writes story, 1 ms apart --------------------------------------------------------------

@pytest.mark.parametrize("fields", [{}, {"replication.ack": "sync"}, {"replication.conflicts": "keep-both"}],
                         ids=["last-writer-wins", "sync", "keep-both"])
def test_two_writes_1_ms_apart_replay_to_the_models_conflict(fields):
    """Each write's vector counts only its own leader: neither has seen the other, so each
    node meets a conflict when the other's copy is applied (13.65 on node1, 14.65 on node0)."""
    model, results = story([(10.0, 0, 7), (11.0, 1, 7)], **fields)
    assert_checker_agrees(model, results)
    replay = replay_leader_leader(results)
    assert replay.vectors == {1: {"node0": 1}, 2: {"node1": 1}}
    assert [(c.t_ms, c.node, c.incoming, c.existing) for c in replay.conflicts.itertuples()] == [
        (pytest.approx(13.65), "node1", 1, 2), (pytest.approx(14.65), "node0", 2, 1)]
    report = check_leader_leader(results)
    assert (report.conflicts, report.converge_ms) == (1, pytest.approx(1.25))
    if fields == {"replication.conflicts": "keep-both"}:
        assert replay.final == {"node0": {7: (1, 2)}, "node1": {7: (1, 2)}} and report.siblings == 2
    else:
        assert replay.final == {"node0": {7: (2,)}, "node1": {7: (2,)}}
        assert replay.lost_ms == {1: pytest.approx(13.65)}
        assert report.lost_updates == (0 if fields else 1)  # under sync write 1 is refused, never acknowledged


def test_a_later_write_that_has_seen_both_siblings_has_both_leaders_in_its_vector():
    model, results = story([(10.0, 0, 7), (11.0, 1, 7), (20.0, 0, 7)], **{"replication.conflicts": "keep-both"})
    assert_checker_agrees(model, results)
    replay = replay_leader_leader(results)
    assert replay.vectors[3] == {"node0": 2, "node1": 1}
    assert replay.final == {"node0": {7: (3,)}, "node1": {7: (3,)}}


@pytest.mark.parametrize("fields, second_write_at, conflicts", [
    ({}, 11.3125, 1),  # write 2 commits first at 13.8125, then write 1 is applied: concurrent
    ({"service.write.mean_ms": 1.0, "service.apply.mean_ms": 2.0}, 12.3125, 0),  # applied first: seen
], ids=["commit-then-apply", "apply-then-commit"])
def test_a_commit_and_an_apply_at_the_same_instant_are_ordered_by_applies_before(fields, second_write_at, conflicts):
    """Times exact in binary: node1 commits write 2 and applies write 1 both at t = 13.8125.
    Which came first decides whether write 2 had seen write 1; the times cannot say, the
    writes frame's applies_before can (0: before node1's apply of write 1; 1: after it)."""
    exact = {"network.hop.mean_ms": 0.125, "replication.ship_ms": 0.0625}
    model, results = story([(10.0, 0, 7), (second_write_at, 1, 7)], **exact | fields)
    apply_1 = results.applies[(results.applies["write_id"] == 1) & (results.applies["node"] == "node1")]
    assert results.writes.loc[1, "commit_ms"] == apply_1["applied_ms"].item() == 13.8125
    assert results.writes.loc[1, "applies_before"] == 1 - conflicts
    assert check_leader_leader(results).conflicts == conflicts
    assert_checker_agrees(model, results)


def test_a_read_is_checked_against_what_its_node_held_at_that_instant():
    """The read of the story at 14.4 on node0 or node1 returns that node's own write: both
    held it then, and the checker finds no read of a version its node did not hold."""
    model = ReplicationModel(Scenario(**STORY))
    for at_ms, session, is_write, key in [(10.0, 0, True, 8), (11.0, 1, True, 8), (13.0, 0, False, 8)]:
        model.schedule_operation(at_ms, session, is_write, key)
    model.run()
    results = Results.from_model(model)
    assert_checker_agrees(model, results)
    assert check_leader_leader(results).reads_not_held == 0


# whole runs: every ack mode and conflict policy, with a leader crashing and returning --------------

def busy(**fields) -> Scenario:
    return Scenario.preset("leader-leader").replace(**{
        "duration_ms": 2_000.0, "topology.leaders": 3, "topology.followers": 1, "replication.reads": "any",
        "workload.keys": 30, "workload.write_ratio": 0.5, "network.hop.mean_ms": 1.0,
        "faults.events": [{"at_ms": 600.0, "action": "crash", "target": "node1"},
                          {"at_ms": 1_200.0, "action": "recover", "target": "node1"}]} | fields)


@pytest.mark.parametrize("ack", ["async", "semi-sync", "sync"])
@pytest.mark.parametrize("conflicts", ["last-writer-wins", "keep-both"])
def test_the_checker_agrees_with_the_model_on_every_ack_mode_and_policy(ack, conflicts):
    model = ReplicationModel(busy(**{"replication.ack": ack, "replication.conflicts": conflicts})).run()
    results = Results.from_model(model)
    assert results.summary["conflicts"] > 100 and results.summary["stale_reads"] > 0, "the story needs them"
    assert results.summary["siblings" if conflicts == "keep-both" else "lost_writes"] > 0
    assert_checker_agrees(model, results)


@pytest.mark.slow
def test_writes_stranded_on_a_leader_that_is_down_are_found_from_the_receipts():
    """node0 dies with a full send queue: what no live node received from it is stranded
    while it stays down, and nothing is once it has returned and shipped them."""
    crash = [{"at_ms": 500.0, "action": "crash", "target": "node0"}]
    fields = {"topology.leaders": 2, "topology.followers": 0, "replication.ship_ms": 1.5,
              "workload.write_ratio": 1.0, "faults.events": crash}
    model = ReplicationModel(busy(**fields)).run()
    results = Results.from_model(model)
    report = check_leader_leader(results)
    assert report.stranded_writes > 0 and report.stranded_writes == results.summary["stranded_writes"]
    assert_checker_agrees(model, results)

    back = {"faults.events": crash + [{"at_ms": 1_000.0, "action": "recover", "target": "node0"}]}
    model = ReplicationModel(busy(**fields | back)).run()
    results = Results.from_model(model)
    assert check_leader_leader(results).stranded_writes == 0
    assert_checker_agrees(model, results)


def test_a_leader_follower_run_is_not_a_leader_leader_history():
    results = replab.run(Scenario.preset("leader-follower").replace(duration_ms=200.0))
    with pytest.raises(ValueError, match="needs a leader-leader run"):
        check_leader_leader(results)


# a tampered history is caught ------------------------------------------------------------------

def test_a_dropped_apply_row_is_detected():
    """Remove node1's apply of write 1 from the story: the replay has node1 never meet the
    conflict, so its conflicts, the loss's time and convergence no longer match the model's,
    and node1 received a write it never applied."""
    model, results = story([(10.0, 0, 7), (11.0, 1, 7)])
    applies = results.applies
    dropped = applies[(applies["write_id"] == 1) & (applies["node"] == "node1")].index
    tampered = dataclasses.replace(results, applies=applies.drop(dropped))
    replay = replay_leader_leader(tampered)
    assert [(c.node, c.incoming) for c in replay.conflicts.itertuples()] == [("node0", 2)]  # model: two rows
    assert replay.lost_ms == {1: pytest.approx(14.65)}  # model: 13.65
    model_says, checker_says = disagreements(tampered).pop("converge_ms")
    assert model_says == pytest.approx(1.25) and math.isnan(checker_says)  # node1 lacks write 1
    assert disagreements(tampered) == {"converge_ms": (model_says, checker_says)}


def test_a_read_of_a_version_its_node_never_held_is_detected():
    model = ReplicationModel(busy()).run()
    results = Results.from_model(model)
    requests = results.requests.copy()
    served_reads = requests.index[(requests["op"] == "read") & (requests["outcome"] == "served")
                                  & (requests["version"] > 0)]
    requests.loc[served_reads[10], "version"] = len(results.writes) + 1  # a write nobody committed
    assert check_leader_leader(dataclasses.replace(results, requests=requests)).reads_not_held == 1


def test_receipts_out_of_their_leaders_log_order_are_detected():
    """The follower node3 takes node0's writes 0 and 1 (log indices) the wrong way round:
    index 1 arrives where 0 was due, then 0 where 2 was due."""
    model = ReplicationModel(busy()).run()
    results = Results.from_model(model)
    receipts = results.receipts
    from_node0 = results.writes.loc[results.writes["leader"] == "node0", "write_id"]
    first, second = receipts.index[(receipts["node"] == "node3") & receipts["write_id"].isin(from_node0)][:2]
    order = list(receipts.index)
    i, j = order.index(first), order.index(second)
    order[i], order[j] = second, first
    report = check_leader_leader(dataclasses.replace(results, receipts=receipts.loc[order]))
    assert report.receipts_out_of_order == 2
