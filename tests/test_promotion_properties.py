"""Properties of the realistic failover model over random fault schedules: crashes, pauses,
partitions of any set of hosts, isolation, slow hosts and heals, at random times.

- Consensus with fencing and acks from a majority loses no acknowledged write, whatever happens.
- Every policy, fenced or not: at most one leader per term; every operation ends; every
  committed write is on the final leader's log or counted lost with a reason, and replaying
  every node's log from the frames (commits, receipts, discards) finds the same; the
  summary's split-brain figures are what a plain sweep of the history recounts.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import replab
from replab import ReplicationModel, Results, Scenario
from replab.analysis.checks import check_history
from replab.analysis.split_brain import check_promotion

AGREE = ("split_brain_ms", "split_brain_writes", "split_brain_lost_acked", "stale_reads_deposed", "lost_acked_writes")


@st.composite
def fault_schedules(draw, hosts: list[str], duration: float) -> list[dict]:
    def at():
        return draw(st.floats(0, duration))

    faults = []
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["crash", "recover", "pause", "partition", "isolate", "heal", "slow"]))
        nodes = [h for h in hosts if h.startswith("node")] + ["leader"]
        if action in ("crash", "recover", "pause"):
            fault = {"at_ms": at(), "action": action, "target": draw(st.sampled_from(nodes))}
            if action == "pause":
                fault["duration_ms"] = draw(st.sampled_from([50.0, 300.0, 900.0]))
        else:
            side = draw(st.lists(st.sampled_from(hosts), min_size=1, max_size=3, unique=True))
            fault = {"at_ms": at(), "action": action, "target": "+".join(side if action != "isolate" else side[:1])}
            if action == "slow":
                fault["delay_ms"] = draw(st.sampled_from([5.0, 60.0]))
            if action != "heal" and draw(st.booleans()):
                fault["duration_ms"] = draw(st.sampled_from([100.0, 500.0]))
        faults.append(fault)
    return faults


@st.composite
def realistic_scenarios(draw, policy=None, fencing=None, ack=None) -> Scenario:
    policy = policy or draw(st.sampled_from(["naive", "quorum", "consensus", "manual"]))
    followers = draw(st.integers(1, 4))
    apps = draw(st.integers(1, 2))
    duration = draw(st.sampled_from([800.0, 1_500.0]))
    hosts = [f"node{i}" for i in range(followers + 1)] + [f"app{a}" for a in range(apps)]
    hosts += ["controller"] if policy in ("naive", "manual") else []
    timeout = draw(st.sampled_from([60.0, 150.0]))
    return Scenario(**{
        "duration_ms": duration,
        "seed": draw(st.integers(0, 2**32)),
        "topology.followers": followers,
        "topology.app_servers": apps,
        "workload.rate_per_s": draw(st.sampled_from([300.0, 1_500.0])),
        "workload.write_ratio": draw(st.sampled_from([0.3, 0.8])),
        "workload.keys": draw(st.sampled_from([5, 500])),
        "workload.timeout_ms": draw(st.sampled_from([100.0, 400.0])),
        "replication.reads": draw(st.sampled_from(["followers", "any", "leader"])),
        "replication.ack": ack or draw(st.sampled_from(["async", "semi-sync", "sync", "majority"])),
        "replication.semi_sync_k": draw(st.integers(1, followers)),
        "replication.semi_sync_timeout_ms": 0.0 if ack else draw(st.sampled_from([0.0, 0.0, 30.0])),
        "replication.min_replicas": draw(st.sampled_from([0, 0, 1])),
        "replication.min_replicas_max_lag_ms": 100.0,
        "replication.ship_ms": draw(st.sampled_from([0.05, 0.5])),
        "network.hop.dist": draw(st.sampled_from(["constant", "exponential"])),
        "service.write.dist": draw(st.sampled_from(["constant", "exponential"])),
        "failover.policy": policy,
        "failover.fencing": fencing or draw(st.sampled_from(["terms", "none", "stonith"])),
        "failover.heartbeat_ms": draw(st.sampled_from([10.0, 30.0])),
        "failover.timeout_ms": timeout,
        "failover.lease_ms": draw(st.sampled_from([0.0, timeout * 0.75])),
        "failover.promotion_ms": draw(st.sampled_from([0.0, 50.0])),
        "failover.quorum": draw(st.integers(1, followers + 1)),
        "failover.operator_ms": 100.0,
        "failover.reboot_ms": draw(st.sampled_from([50.0, 400.0])),
        "faults.events": draw(fault_schedules(hosts, duration)),
    })


def assert_nothing_lost_silently(results) -> dict:
    history = check_history(results.requests, results.writes)
    assert history.unfinished == 0 and history.acked_writes_not_accounted == 0
    report = check_promotion(results).as_dict()
    assert report["terms_with_two_leaders"] == 0, "two leaders in one term"
    assert report["fate_mismatches"] == 0, "a write's fate differs from the replay of the logs"
    assert report["lost_without_reason"] == 0
    for key in AGREE:
        assert report[key] == pytest.approx(results.summary[key]), key
    return report


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(realistic_scenarios(policy="consensus", fencing="terms", ack="majority"))
def test_consensus_with_fencing_and_majority_acks_loses_no_acknowledged_write(scenario):
    results = replab.run(scenario)
    report = assert_nothing_lost_silently(results)
    assert report["lost_acked_writes"] == results.summary["lost_acked_writes"] == 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(realistic_scenarios())
def test_every_policy_loses_nothing_silently(scenario):
    model = ReplicationModel(scenario).run()
    results = Results.from_model(model)
    assert_nothing_lost_silently(results)
    kept = {e.write_id for e in model.leader.log}  # the history the system keeps: the newest term's leader's log
    assert kept == set(results.writes.loc[~results.writes["lost"], "write_id"])


def test_realistic_runs_repeat_exactly():
    scenario = Scenario.preset("split-brain")
    a, b = replab.run(scenario), replab.run(scenario)
    for name in ("requests", "writes", "events", "timeline"):
        assert getattr(a, name).equals(getattr(b, name)), name
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
