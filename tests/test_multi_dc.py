"""Several data centres behind a global DNS load balancer: stories, directions and validation.

The stories script one session's reads around a DC failure and assert the exact sequence:
health checks fail, the DNS marks the DC down, the session's cached answer expires, and
only then does the session move. Times are exact because every latency is constant.
"""

import math

import pytest

import replab
from replab import ReplicationModel, Results, Scenario, ScenarioError
from replab.viz import plots

# Two DCs, node0 (the leader) in dc0 and node1 in dc1; every latency constant; no workload
# of its own (a rate so low that its first arrival is far past the run): only scripted reads.
TWO_DCS = {
    "dcs.count": 2, "dcs.wan_ms": 10.0, "dcs.wan_sigma": 0.0,
    "topology.followers": 1, "replication.reads": "any",
    "network.hop.dist": "constant", "service.read.dist": "constant", "service.write.dist": "constant",
    "service.apply.dist": "constant",
    "workload.sessions": 2, "workload.rate_per_s": 1e-6, "duration_ms": 5_000.0,
    "dns.warm_caches": False, "dns.ttl_ms": 1_000.0, "dns.lookup_ms": 20.0,
    "dns.health_interval_ms": 200.0, "dns.health_threshold": 3,
}
DC1_FAILS_AT_1000_BACK_AT_3000 = [{"at_ms": 1_000.0, "action": "crash", "target": "dc1"},
                                  {"at_ms": 3_000.0, "action": "recover", "target": "dc1"}]


def run_reads(scenario: Scenario, session: int, times: list[float]) -> Results:
    model = ReplicationModel(scenario)
    for t in times:
        model.schedule_operation(t, session, False, 7)
    return Results.from_model(model.run())


def story(results: Results) -> list[tuple]:
    return [(e.t_ms, e.kind, e.target) for e in results.events.itertuples()]


def trips(results: Results) -> list[tuple]:
    """Each operation: when it started, which DC the DNS sent it to, whether it looked up first, the outcome."""
    return [(r.start_ms, r.dc, r.dns_lookup, r.outcome, r.reason) for r in results.requests.itertuples()]


def test_a_dc_fails_checks_fail_dns_stops_answering_it_caches_expire_then_the_session_moves():
    """Session 1 lives in region 1, next to dc1. dc1 dies at 1000 ms: three failed health
    checks (1000, 1200, 1400) mark it down; the session's answer from 900 ms is good until
    1900 ms, so at 1500 ms it still sends to the dead DC; at 2000 ms it looks up again and
    goes to dc0. dc1 answers the check at 3000 ms; at 4000 ms the session's answer from
    2000 ms has expired and the nearest DC, its own, is back."""
    scenario = Scenario(**TWO_DCS, **{"faults.events": DC1_FAILS_AT_1000_BACK_AT_3000})
    results = run_reads(scenario, session=1, times=[900.0, 1_100.0, 1_500.0, 2_000.0, 2_500.0, 4_000.0])
    assert story(results) == [
        (1_000.0, "crash", "dc1"), (1_000.0, "crash", "switch1"), (1_000.0, "crash", "node1"),
        (1_000.0, "health-check-failed", "dc1"), (1_200.0, "health-check-failed", "dc1"),
        (1_400.0, "health-check-failed", "dc1"), (1_400.0, "dns-down", "dc1"),
        (1_500.0, "detect", "node1"),
        (3_000.0, "recover", "dc1"), (3_000.0, "recover", "switch1"), (3_000.0, "recover", "node1"),
        (3_000.0, "dns-up", "dc1"),
    ]
    assert trips(results) == [
        (900.0, "dc1", True, "served", ""),
        (1_100.0, "dc1", False, "failed", "network"),  # cached answer, dead DC
        (1_500.0, "dc1", False, "failed", "network"),  # the DNS knows, the cache does not
        (2_000.0, "dc0", True, "served", ""),  # expired at 1900: looked up, moved
        (2_500.0, "dc0", False, "served", ""),
        (4_000.0, "dc1", True, "served", ""),  # expired at 3000, dc1 is up again: back home
    ]
    summary = results.summary
    assert summary["requests_to_dead_dc"] == 2
    assert (summary["dc_moves"], summary["dc_sessions_moved"]) == (2, 1)
    assert summary["dc_state_lost"] == 2
    assert summary["availability_region1"] == pytest.approx(4 / 6) and math.isnan(summary["availability_region0"])
    assert summary["traffic_moved_50_ms"] == 1_000.0  # its first operation elsewhere started at 2000 ms


def test_a_resolver_that_ignores_the_ttl_keeps_the_session_on_the_dead_dc_for_its_extra_time():
    """The same failure, but the session's resolver keeps answers 2000 ms past their TTL:
    the answer from 900 ms lives until 3900 ms, so the reads at 2000 and 2900 ms still go to
    the dead DC (back at 3000 ms), though the DNS has answered dc0 since 1400 ms. The next
    lookup comes at 4000 ms, when dc1 is up again."""
    scenario = Scenario(**TWO_DCS, **{"faults.events": DC1_FAILS_AT_1000_BACK_AT_3000,
                                      "dns.ignore_ttl_share": 1.0, "dns.ignore_ttl_extra_ms": 2_000.0})
    results = run_reads(scenario, session=1, times=[900.0, 2_000.0, 2_900.0, 4_000.0])
    assert trips(results) == [
        (900.0, "dc1", True, "served", ""),
        (2_000.0, "dc1", False, "failed", "network"),
        (2_900.0, "dc1", False, "failed", "network"),
        (4_000.0, "dc1", True, "served", ""),
    ]
    assert results.summary["requests_to_dead_dc"] == 2
    assert results.summary["dc_moves"] == 0  # it never left: it waited the outage out, failing


def test_a_partitioned_dc_serves_its_own_region_until_the_dns_sends_the_region_away():
    """dc1 is cut off from dc0 at 1000 ms. The DNS probes from outside every DC, so it marks
    dc1 down at 1400 ms. Session 1 (region 1) still reaches dc1 on its cached answer (1500 ms,
    served by node1); once that expires the DNS sends it to dc0, which region 1 cannot reach
    across the cut (2000 ms, failed). Session 0, in region 0, is served by dc0 throughout."""
    faults = [{"at_ms": 1_000.0, "action": "partition", "target": "dc1"}]
    model = ReplicationModel(Scenario(**TWO_DCS, **{"faults.events": faults}))
    for t, session in ((900.0, 1), (1_500.0, 1), (1_500.0, 0), (2_000.0, 1)):
        model.schedule_operation(t, session, False, 7)
    results = Results.from_model(model.run())
    assert story(results) == [(1_000.0, "partition", "dc1"), (1_000.0, "health-check-failed", "dc1"),
                              (1_200.0, "health-check-failed", "dc1"), (1_400.0, "health-check-failed", "dc1"),
                              (1_400.0, "dns-down", "dc1")]
    assert [(r.start_ms, r.session, r.dc, r.outcome, r.to_dead_dc) for r in results.requests.itertuples()] == [
        (900.0, 1, "dc1", "served", False), (1_500.0, 1, "dc1", "served", False),
        (1_500.0, 0, "dc0", "served", False), (2_000.0, 1, "dc0", "failed", True)]
    assert list(results.requests["node"].astype(str))[:3] == ["node1", "node1", "node0"]


def test_failover_policy_answers_the_first_live_dc_of_its_order():
    scenario = Scenario(**TWO_DCS, **{"dns.policy": "failover", "dns.failover_order": [1, 0],
                                      "faults.events": DC1_FAILS_AT_1000_BACK_AT_3000})
    results = run_reads(scenario, session=0, times=[500.0, 2_000.0])
    assert [(r.dc, r.outcome) for r in results.requests.itertuples()] == [("dc1", "served"), ("dc0", "served")]


def test_a_sticky_cookie_keeps_the_session_where_it_moved_when_its_dc_returns():
    """The first story with sessions.sticky_dc: the session is pinned to dc1 until the DNS
    marks dc1 down, then to dc0, where it stays after dc1 is back (one move, not two)."""
    scenario = Scenario(**TWO_DCS, **{"faults.events": DC1_FAILS_AT_1000_BACK_AT_3000, "sessions.sticky_dc": True})
    results = run_reads(scenario, session=1, times=[900.0, 1_500.0, 2_000.0, 4_000.0])
    assert [(r.start_ms, r.dc, r.outcome) for r in results.requests.itertuples()] == [
        (900.0, "dc1", "served"), (1_500.0, "dc1", "failed"), (2_000.0, "dc0", "served"), (4_000.0, "dc0", "served")]
    assert (results.summary["dc_moves"], results.summary["dc_state_lost"]) == (1, 1)


# stickiness: what breaks without it ------------------------------------------------------------

# One leader per DC, reads on the session's DC's leader, the DNS answering by equal weights
# with a TTL of 0: without a cookie every operation may land in another DC.
SPREAD = Scenario(**{"dcs.count": 3, "dcs.placement": "leader-per-dc", "replication.kind": "leader-leader",
                     "topology.leaders": 3, "topology.followers": 0, "replication.reads": "leader",
                     "dns.policy": "weighted", "dns.ttl_ms": 0.0, "dns.lookup_ms": 0.0, "dcs.wan_ms": 20.0,
                     "service.apply.mean_ms": 2.0, "workload.keys": 3, "workload.write_ratio": 0.5,
                     "workload.sessions": 6, "workload.rate_per_s": 1_000.0, "duration_ms": 3_000.0})


def test_without_a_dc_cookie_sessions_move_lose_state_and_miss_their_own_writes():
    loose, sticky = (replab.run(SPREAD.replace(**{"sessions.sticky_dc": on})).summary for on in (False, True))
    assert loose["dc_moves"] > 1_000 and loose["dc_sessions_moved"] == 6
    assert loose["dc_state_lost"] == loose["dc_moves"]  # every move leaves served state behind
    assert loose["ryw_after_move"] > 0 and loose["ryw_after_move"] <= loose["ryw_violations"]
    assert (sticky["dc_moves"], sticky["dc_state_lost"], sticky["ryw_violations"], sticky["monotonic_read_violations"]) == (0, 0, 0, 0)
    assert sticky["read_p50_ms"] < loose["read_p50_ms"] / 5  # and it stays near: no WAN on the way


def test_node_stickiness_ends_monotonic_read_violations_between_followers():
    """Two DCs, reads on followers: round-robin moves a session's reads between followers
    that lag differently; balancer.policy 'sticky' keeps each session on one."""
    scenario = Scenario(**{"dcs.count": 2, "topology.followers": 5, "replication.reads": "followers",
                           "workload.sessions": 6, "workload.keys": 3, "replication.ship_ms": 0.5, "duration_ms": 3_000.0})
    spread, pinned = (replab.run(scenario.replace(**{"balancer.policy": policy})).summary for policy in ("round-robin", "sticky"))
    assert spread["node_moves"] > 1_000 and spread["monotonic_read_violations"] > 0
    assert (pinned["node_moves"], pinned["monotonic_read_violations"]) == (0, 0)


# directions -----------------------------------------------------------------------------------

THREE_DCS = Scenario(**{"dcs.count": 3, "topology.followers": 5, "duration_ms": 12_000.0, "workload.rate_per_s": 1_000.0,
                        "faults.events": [{"at_ms": 3_000.0, "action": "crash", "target": "dc1"}]})


def test_a_longer_ttl_moves_traffic_later_and_sends_more_to_the_dead_dc():
    short, long = (replab.run(THREE_DCS.replace(**{"dns.ttl_ms": ttl})).summary for ttl in (500.0, 6_000.0))
    for x in (50, 90):
        assert long[f"traffic_moved_{x}_ms"] > short[f"traffic_moved_{x}_ms"] + 1_500.0
    assert long["requests_to_dead_dc"] > 2 * short["requests_to_dead_dc"]
    assert long["availability_region1"] < short["availability_region1"]


def test_resolvers_that_ignore_the_ttl_delay_the_last_of_the_traffic():
    honest, lax = (replab.run(THREE_DCS.replace(**{"dns.ttl_ms": 500.0, "dns.ignore_ttl_share": share,
                                                   "dns.ignore_ttl_extra_ms": 5_000.0})).summary
                   for share in (0.0, 0.3))
    assert lax["traffic_moved_99_ms"] > honest["traffic_moved_99_ms"] + 2_000.0
    assert lax["requests_to_dead_dc"] > honest["requests_to_dead_dc"]


def test_cross_dc_replication_lag_grows_with_wan_latency():
    near, far = (replab.run(THREE_DCS.replace(**{"dcs.wan_ms": wan, "faults.events": [], "duration_ms": 3_000.0})).summary
                 for wan in (5.0, 80.0))
    assert far["cross_dc_lag_mean_ms"] > near["cross_dc_lag_mean_ms"] + 60.0
    assert far["local_dc_lag_mean_ms"] < 20.0 and near["local_dc_lag_mean_ms"] < 20.0


# validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, message", [
    ({"dcs.count": 7}, "dcs.count = 7: must be an integer from 1 to 6"),
    ({"dcs.placement": "everywhere"}, "dcs.placement = 'everywhere': must be one of 'leader-dc', 'leader-per-dc'"),
    ({"dcs.wan_ms": 0}, "dcs.wan_ms = 0.0: must be a number above 0 to 100000"),
    ({"dcs.wan_sigma": 3}, "dcs.wan_sigma = 3.0: must be a number from 0 to 2"),
    ({"dcs.wan_matrix_ms": 5}, "dcs.wan_matrix_ms = 5: must be a list of lists (rows) of numbers from 0 to 100000"),
    ({"dcs.wan_matrix_ms": [[0, -1], [-1, 0]]}, "dcs.wan_matrix_ms = [[0, -1], [-1, 0]]: must be a list of lists"),
    ({"dcs.count": 2, "topology.followers": 1, "dcs.wan_matrix_ms": [[0, 5, 5], [5, 0, 5], [5, 5, 0]]},
     "dcs.wan_matrix_ms = [[0.0, 5.0, 5.0], [5.0, 0.0, 5.0], [5.0, 5.0, 0.0]]: must be 2 rows of 2 numbers (dcs.count = 2)"),
    ({"dcs.count": 2, "topology.followers": 1, "dcs.wan_matrix_ms": [[0, 5], [6, 0]]},
     "must be symmetric (dc1 to dc0 is 6, dc0 to dc1 is 5)"),
    ({"dcs.count": 2, "topology.followers": 1, "dcs.wan_matrix_ms": [[1, 5], [5, 0]]}, "must have 0 on the diagonal (row 0 has 1)"),
    ({"dcs.count": 2, "topology.followers": 1, "dcs.wan_matrix_ms": [[0, 0], [0, 0]]}, "must be above 0 between two DCs"),
    ({"dcs.count": 3, "topology.followers": 1}, "topology.followers = 1: too few: every data centre needs a node"),
    ({"dcs.count": 2, "dcs.placement": "leader-per-dc"}, "dcs.placement = 'leader-per-dc': needs replication.kind = 'leader-leader' and topology.leaders = dcs.count (2)"),
    ({"dcs.count": 2, "replication.kind": "leader-leader", "topology.leaders": 2}, "dcs.placement = 'leader-dc': has one leader"),
    ({"dcs.count": 2, "replication.kind": "buddy", "balancer.policy": "sticky"},
     "dcs.count = 2: must be 1 with replication.kind = 'buddy'"),
    ({"dns.policy": "closest"}, "dns.policy = 'closest': must be one of 'nearest', 'weighted', 'failover'"),
    ({"dns.weights": "heavy"}, "dns.weights = 'heavy': must be a list of numbers from 0 to 1e+06"),
    ({"dcs.count": 2, "dns.weights": [1, 2, 3]}, "dns.weights = [1.0, 2.0, 3.0]: must be 2 numbers (one per DC, dcs.count = 2), not all 0"),
    ({"dcs.count": 2, "dns.weights": [0, 0]}, "dns.weights = [0.0, 0.0]: must be 2 numbers"),
    ({"dns.failover_order": [0.5]}, "dns.failover_order = [0.5]: must be a list of integers from 0 to 5"),
    ({"dcs.count": 3, "dns.failover_order": [0, 0, 1]}, "dns.failover_order = [0, 0, 1]: must list every DC once: the numbers 0 to 2"),
    ({"dns.ttl_ms": -1}, "dns.ttl_ms = -1.0: must be a number from 0 to"),
    ({"dns.lookup_ms": "slow"}, "dns.lookup_ms = 'slow': must be a number from 0 to"),
    ({"dns.health_interval_ms": 0}, "dns.health_interval_ms = 0.0: must be a number from 1 to"),
    ({"dns.health_threshold": 0}, "dns.health_threshold = 0: must be an integer from 1 to 100"),
    ({"dns.ignore_ttl_share": 1.5}, "dns.ignore_ttl_share = 1.5: must be a number from 0 to 1"),
    ({"dns.ignore_ttl_extra_ms": -5}, "dns.ignore_ttl_extra_ms = -5.0: must be a number from 0 to"),
    ({"dns.warm_caches": "maybe"}, "dns.warm_caches = 'maybe': must be true or false"),
    ({"sessions.sticky_dc": 2}, "sessions.sticky_dc = 2: must be true or false"),
    ({"faults.events": [{"at_ms": 1, "action": "crash", "target": "dc1"}]}, "faults.events[0].target = 'dc1': needs dcs.count of 2 or more"),
    ({"dcs.count": 2, "faults.events": [{"at_ms": 1, "action": "crash", "target": "dc2"}]}, "faults.events[0].target = 'dc2': must name an existing data centre: dc0 to dc1"),
    ({"faults.events": [{"at_ms": 1, "action": "partition", "target": "switch1"}]}, "faults.events[0].action = 'partition': needs a data centre target ('dcN')"),
    ({"dcs.count": 2, "faults.events": [{"at_ms": 1, "action": "crash", "target": "switch6"}]}, "faults.events[0].target = 'switch6': must name an existing switch: switch0 to switch1"),
], ids=lambda x: x if isinstance(x, str) and len(x) < 30 else None)
def test_every_bad_value_names_its_field_and_what_is_allowed(fields, message):
    with pytest.raises(ScenarioError) as caught:
        Scenario(**fields)
    assert message in str(caught.value)


def test_list_fields_read_json_text_and_round_trip_through_files(tmp_path):
    scenario = Scenario(**{"dcs.count": 3, "topology.followers": 2, "dns.policy": "weighted",
                           "dcs.wan_matrix_ms": "[[0, 10, 80], [10, 0, 70], [80, 70, 0]]",
                           "dns.weights": "[2, 1, 1]", "dns.failover_order": [2, 0, 1]})
    assert scenario.dcs.wan_matrix_ms == ((0.0, 10.0, 80.0), (10.0, 0.0, 70.0), (80.0, 70.0, 0.0))
    assert scenario.dns.weights == (2.0, 1.0, 1.0) and scenario.dns.failover_order == (2, 0, 1)
    for name in ("s.toml", "s.json"):
        scenario.save(tmp_path / name)
        assert Scenario.load(tmp_path / name) == scenario


def test_one_dc_ignores_the_dc_fields_and_adds_no_columns():
    results = replab.run(Scenario(**{"duration_ms": 300.0, "dns.ttl_ms": 5.0, "dns.policy": "weighted"}))
    assert "dc" not in results.requests and "traffic_moved_50_ms" not in results.summary


# the traffic chart -------------------------------------------------------------------------------

def test_traffic_per_dc_counts_each_operation_once_and_shows_the_failed_dc_emptying():
    results = replab.run(THREE_DCS.replace(**{"dns.ttl_ms": 500.0}))
    bins = plots.traffic_bins(results, bin_ms=1_000.0)
    width_s = 1.0
    assert bins["sent_per_s"].sum() * width_s == len(results.requests)
    dc1 = bins[bins["dc"] == "dc1"].set_index("t_ms")["sent_per_s"]
    assert dc1[2_500.0] > 200 and dc1[6_500.0] == 0  # busy before the crash at 3000 ms, empty once moved
    fig = plots.dc_traffic(results)
    assert [t.name for t in fig.data][:6] == ["dc0 sent", "dc0 served", "dc1 sent", "dc1 served", "dc2 sent", "dc2 served"]
    lane = [t for t in fig.data if t.name in ("stretches", "events")]
    hover = " ".join(h for t in lane for h in (t.hovertext or ()) if h)
    assert "dc1 down from 3000" in hover and "DNS dc1 DNS: down from" in hover


# the Lab's DC buttons ------------------------------------------------------------------------------

def test_the_fail_dc_button_crashes_a_whole_dc_and_the_traffic_chart_shows_it_moving():
    from replab.lab import Lab

    scenario = THREE_DCS.replace(**{"faults.events": [], "duration_ms": 3_000.0, "dns.ttl_ms": 300.0})
    lab = Lab(scenario, controls=["dns.ttl_ms", "sessions.sticky_dc"], charts=["traffic"],
              faults=["fail-dc", "recover-dc", "clear"], summary=["traffic_moved_90_ms", "requests_to_dead_dc"], live=False)
    panel = lab.fault_panel
    assert list(panel.targets["fail-dc"].options) == ["dc0", "dc1", "dc2"]
    panel.times["fail-dc"].value = 1_000.0
    panel.targets["fail-dc"].value = "dc2"
    panel.buttons["fail-dc"].click()
    assert [f.to_dict() for f in lab.scenario.faults.events] == [{"at_ms": 1_000.0, "action": "crash", "target": "dc2"}]
    assert ("crash", "dc2") in set(zip(lab.results.events["kind"], lab.results.events["target"]))
    assert lab.results.summary["traffic_moved_90_ms"] > 0
    assert "dc2" in lab.figures["traffic"]["layout"]["yaxis3"]["ticktext"]  # the events lane has the DC's row
    assert "traffic_moved_90_ms" in lab.summary.value
