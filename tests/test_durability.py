"""Every acknowledged write is present at the end of a run or counted lost, with a reason,
however the faults fall (crashes just before the end included); checked by the independent
checker (replab.analysis.durability), which reads only the frames, for leader-follower (push
and pull) and buddy. For leader-leader it says None (not checked): the leader-leader replay
(tests/test_leader_leader_checks.py) reads that history.
"""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import replab
from replab import Scenario
from replab.analysis.checks import check_run

KINDS = ("leader-follower", "leader-leader", "buddy", "pull")


@st.composite
def runs_with_late_crashes(draw) -> Scenario:
    """Short runs of any kind, crashes anywhere and especially in the last 10 % of the run,
    failure detection that may come after the run has ended."""
    kind = draw(st.sampled_from(KINDS))
    duration = draw(st.sampled_from([300.0, 600.0]))
    nodes = 4
    targets = [f"node{i}" for i in range(nodes)] + ([] if kind == "buddy" else ["leader"])
    when = st.one_of(st.floats(0.9 * duration, duration), st.floats(0, duration))
    faults = draw(st.lists(st.fixed_dictionaries({
        "at_ms": when, "action": st.sampled_from(["crash", "crash", "recover"]), "target": st.sampled_from(targets),
    }), min_size=1, max_size=5))
    fields = {
        "duration_ms": duration,
        "seed": draw(st.integers(0, 2**32)),
        "workload.rate_per_s": 2_000.0,
        "workload.sessions": draw(st.integers(1, 20)),
        "workload.write_ratio": draw(st.sampled_from([0.2, 0.8])),
        "workload.keys": draw(st.sampled_from([1, 10, 1_000])),
        "workload.timeout_ms": draw(st.sampled_from([20.0, 200.0])),
        "replication.ship_ms": draw(st.sampled_from([0.0, 0.5, 3.5])),
        "failover.detection_ms": draw(st.sampled_from([0.0, 50.0, 2_000.0])),
        "failover.promotion_ms": draw(st.sampled_from([0.0, 50.0])),
        "faults.events": faults,
        "faults.mttf_ms": draw(st.sampled_from([0.0, 0.0, 200.0])),
        "faults.mttr_ms": 50.0,
    }
    if kind == "buddy":
        fields |= {"replication.kind": "buddy", "balancer.policy": "sticky", "buddy.nodes": nodes,
                   "buddy.layout": draw(st.sampled_from(["ring", "pairs", "all"])),
                   "replication.ack": draw(st.sampled_from(["async", "semi-sync", "sync"]))}
    elif kind == "leader-leader":
        fields |= {"replication.kind": "leader-leader", "topology.leaders": 2, "topology.followers": 2,
                   "replication.ack": draw(st.sampled_from(["async", "semi-sync", "sync"]))}
    elif kind == "pull":
        fields |= {"replication.propagation": "pull", "failover.promote": False}
    else:
        fields |= {"replication.ack": draw(st.sampled_from(["async", "semi-sync", "sync"])),
                   "replication.fanout": draw(st.sampled_from([0, 1])),
                   "failover.promote": draw(st.booleans())}
    return Scenario(**fields)


# The reporter's case (issue 11): node2 crashes 10 ms before the end, its death would be
# noticed 2 s later; copies leave every 3.5 ms, so its newest writes are on no live node.
BUDDY_CRASH_AT_THE_END = Scenario.preset("buddy").replace(**{
    "duration_ms": 600.0, "failover.detection_ms": 2000.0, "replication.ship_ms": 3.5,
    "faults.events": [{"at_ms": 590.0, "action": "crash", "target": "node2"}]})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs_with_late_crashes())
@example(BUDDY_CRASH_AT_THE_END)
def test_every_acknowledged_write_is_present_or_counted_lost(scenario):
    results = replab.run(scenario)
    report = check_run(results)
    checked = scenario.replication.kind != "leader-leader"
    assert report.acked_writes_held_nowhere == (0 if checked else None)
    assert report.acked_writes_not_accounted == 0 and report.unfinished == 0
    assert report.lost_acked_writes == results.summary["lost_acked_writes"]
    lost = results.writes[results.writes["lost"]]
    assert (lost["lost_reason"] != "").all() and lost["lost_ms"].notna().all()


def test_a_buddy_crash_just_before_the_end_counts_the_uncopied_writes_lost():
    """node2 dies 10 ms before the end; its death would be noticed 2 s later, so nobody takes
    its sessions over. Its writes not yet copied to its buddy are on no live node: lost."""
    results = replab.run(BUDDY_CRASH_AT_THE_END)

    lost = results.writes[results.writes["lost"]]
    assert len(lost) > 0 and results.summary["lost_acked_writes"] == len(lost[lost["acked"]])
    assert set(lost["leader"].astype(str)) == {"node2"}
    assert (lost["lost_reason"] == "on no live node when the run ended (its node was down, the death not yet "
                                   "detected)").all()
    assert (lost["lost_ms"] == BUDDY_CRASH_AT_THE_END.duration_ms + BUDDY_CRASH_AT_THE_END.workload.timeout_ms).all()


def test_the_checker_finds_acknowledged_writes_a_model_forgot_to_count_lost():
    """The checker reads only the frames: hide the losses from them (as the model did before
    issue 11) and it finds every one."""
    results = replab.run(BUDDY_CRASH_AT_THE_END)
    lost = results.writes["lost"] & results.writes["acked"]
    results.writes.loc[results.writes["lost"], "lost"] = False

    report = check_run(results)

    assert report.acked_writes_held_nowhere == int(lost.sum()) > 0
