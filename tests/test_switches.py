"""Replicated switches, told as stories: a switch dies at a known time, and what it took
with it depends on the layout (topology.switching).

Every story uses constant service and network times so each instant is exact: one hop is
0.1 ms, so a message between two hosts on the same switch takes 0.2 ms (host -> switch ->
host); a write takes 2 ms on the leader, a read 1 ms, an apply 1 ms. One leader, three
followers; with a pair, the nodes alternate between its two switches (node0 and node2 on
switch0, node1 and node3 on switch1) and the balancer and clients are on switch0.
"""

import math

import pytest

import replab
from replab import ReplicationModel, Results, Scenario
from replab.analysis.outages import longest_gap_ms, outage_windows
from replab.experiments.switches import switch_loss_table
from replab.topology.switching import SWITCHING, switch_layout, switch_names

CRASH_MS, BACK_MS = 100.0, 600.0
TIMEOUT_MS = 1_000.0
SWITCH0_OUTAGE = [{"at_ms": CRASH_MS, "action": "crash", "target": "switch0"},
                  {"at_ms": BACK_MS, "action": "recover", "target": "switch0"}]


def story(**fields) -> Scenario:
    base = {
        "duration_ms": 1_000.0,
        "topology.followers": 3,
        "workload.rate_per_s": 400.0,
        "workload.write_ratio": 0.5,
        "workload.sessions": 4,
        "workload.timeout_ms": TIMEOUT_MS,
        "service.read.dist": "constant",
        "service.write.dist": "constant",
        "service.apply.dist": "constant",
        "network.hop.dist": "constant",
        "network.hop.mean_ms": 0.1,
        "replication.ship_ms": 0.05,
        "faults.events": SWITCH0_OUTAGE,
    }
    return Scenario(**(base | fields))


def scripted(scenario: Scenario, operations) -> Results:
    """Run `scenario` with (at_ms, session, is_write, key) operations and (almost) no workload
    of its own: at 10^-6 operations a second the first random one comes long after the end."""
    model = ReplicationModel(scenario.replace(**{"workload.rate_per_s": 1e-6}))
    for at_ms, session, is_write, key in operations:
        model.schedule_operation(at_ms, session, is_write, key)
    return Results.from_model(model.run())


def event_log(results: Results) -> list[tuple]:
    return [(e.t_ms, e.kind, e.target, e.detail) for e in results.events.itertuples()]


# the layouts --------------------------------------------------------------------------------
def test_the_layouts_say_which_switches_each_host_is_cabled_to():
    single, pair, dual = (switch_layout(story(**{"topology.switching": s}).topology) for s in SWITCHING)
    assert single.switches == (0,) and [single.node(i) for i in range(4)] == [(0,)] * 4
    assert pair.switches == (0, 1) and [pair.node(i) for i in range(4)] == [(0,), (1,), (0,), (1,)]
    assert pair.balancer == pair.clients == (0,)
    assert [dual.node(i) for i in range(4)] == [(0, 1), (1, 0), (0, 1), (1, 0)]
    assert dual.balancer == dual.clients == (0, 1)
    assert (single.partner(0), dual.partner(0), dual.partner(1)) == (None, 1, 0)


def test_a_layout_numbered_from_a_first_switch_is_the_same_layout_in_another_data_centre():
    """Two positions of pairs in a second DC whose switches start at 4: pairs (4, 5) and (6, 7)."""
    topology = story(**{"topology.switches": 2, "topology.switching": "pair-dual-attached"}).topology
    layout = switch_layout(topology, first_switch=4)
    assert layout.groups == ((4, 5), (6, 7))
    assert [layout.node(i) for i in range(4)] == [(4, 5), (6, 7), (5, 4), (7, 6)]
    assert switch_names(topology) == ["switch0", "switch1", "switch2", "switch3"]


# one switch ----------------------------------------------------------------------------------
def test_a_lone_switch_dies_operations_in_flight_and_after_fail_until_it_returns():
    """A write starting at 99.7 ms reaches the leader at 100.1 ms (its messages left before
    the crash), commits at 102.1 ms, but its answer finds no switch: it fails for the
    network's sake and its client gives up at its time-out. A read at 300 ms cannot even
    leave its client. After the switch returns at 600 ms the followers are resent the
    write they missed, and a write at 700 ms is served."""
    results = scripted(story(), [(50.0, 0, True, 7), (99.7, 1, True, 8), (300.0, 2, False, 7), (700.0, 3, True, 9)])
    assert event_log(results) == [(100.0, "crash", "switch0", ""), (600.0, "recover", "switch0", "")]
    requests = results.requests.set_index("start_ms")
    assert requests.loc[50.0, "outcome"] == "served"
    assert (requests.loc[99.7, "outcome"], requests.loc[99.7, "reason"]) == ("failed", "network")
    assert requests.loc[99.7, "end_ms"] == pytest.approx(99.7 + TIMEOUT_MS)
    assert math.isnan(requests.loc[300.0, "arrived_ms"])  # it never reached the balancer
    assert (requests.loc[300.0, "outcome"], requests.loc[300.0, "reason"]) == ("failed", "network")
    assert requests.loc[700.0, "outcome"] == "served"

    writes = results.writes.set_index("request_id")
    committed_in_outage = writes.loc[2]
    assert committed_in_outage["commit_ms"] == pytest.approx(102.1) and not committed_in_outage["acked"]
    applies = results.applies[results.applies["write_id"] == committed_in_outage.name]
    resent = applies.sort_values("node")
    assert list(resent["node"]) == ["node1", "node2", "node3"]
    assert (resent["received_ms"] > BACK_MS).all(), "shipped before the return were dropped; resent after it"

    summary = results.summary
    assert summary["failed"] == summary["failed_network"] == 2
    assert summary["switch_down_ms"] == BACK_MS - CRASH_MS
    assert (summary["outage_operations"], summary["outage_availability"]) == (1, 0.0)
    assert summary["messages_dropped"] == 5  # the answer to 99.7, its three shipments, the read's request


def test_with_a_lone_switch_nothing_is_served_while_it_is_down():
    results = replab.run(story())
    requests = results.requests
    during = requests[requests["start_ms"].between(CRASH_MS, BACK_MS, inclusive="left")]
    assert len(during) > 100 and set(during["outcome"]) == {"failed"} and set(during["reason"]) == {"network"}
    after = requests[requests["start_ms"] > BACK_MS]
    assert set(after["outcome"]) == {"served"}
    assert results.summary["outage_availability"] == 0.0
    # nothing succeeds from just after the crash until the first operation after the return
    assert BACK_MS - CRASH_MS < results.summary["longest_gap_ms"] < BACK_MS - CRASH_MS + 20


# a redundant pair, hosts on both switches -----------------------------------------------------
def test_a_dual_attached_pair_loses_one_switch_and_nobody_notices():
    """switch0 carries the balancer's, the clients' and node0's primary cable: they all move
    to switch1. Not one operation fails and the followers keep applying throughout."""
    results = replab.run(story(**{"topology.switching": "pair-dual-attached"}))
    assert event_log(results) == [(100.0, "crash", "switch0", "cut off: none"),
                                  (600.0, "recover", "switch0", "cut off: none")]
    summary = results.summary
    assert summary["outage_operations"] > 100
    assert summary["failed"] == summary["messages_dropped"] == 0
    assert summary["availability"] == summary["outage_availability"] == 1.0
    applies = results.applies
    during = applies[applies["received_ms"].between(CRASH_MS, BACK_MS)]
    assert set(during["node"].astype(str)) == {"node1", "node2", "node3"}
    # with constant hops nothing differs from a run without the fault, to the last request
    calm = replab.run(story(**{"topology.switching": "pair-dual-attached", "faults.events": []}))
    assert results.requests.equals(calm.requests)
    assert summary["longest_gap_ms"] == calm.summary["longest_gap_ms"]


def test_a_dual_attached_pair_can_lose_either_switch_but_not_both():
    both_down = [{"at_ms": CRASH_MS, "action": "crash", "target": "switch1"},
                 {"at_ms": 300.0, "action": "crash", "target": "switch0"},
                 {"at_ms": 400.0, "action": "recover", "target": "switch0"}]
    results = replab.run(story(**{"topology.switching": "pair-dual-attached", "faults.events": both_down}))
    assert event_log(results) == [
        (100.0, "crash", "switch1", "cut off: none"),
        (300.0, "crash", "switch0", "cut off: node0, node1, node2, node3, balancer, clients"),
        (400.0, "recover", "switch0", "cut off: none"),
    ]
    requests = results.requests
    assert set(requests.loc[requests["outcome"] == "failed", "start_ms"].between(300.0 - TIMEOUT_MS, 400.0)) == {True}
    assert set(requests.loc[requests["start_ms"].between(301.0, 399.0), "outcome"]) == {"failed"}


# a redundant pair, each host on one switch ----------------------------------------------------
def test_a_single_attached_pair_loses_switch1_only_its_hosts_are_cut_off():
    """node1 and node3 are cabled to switch1 alone. Reads the balancer sends them fail (it
    is not told they are unreachable); node0 and node2 serve as before. node1 and node3
    receive nothing while cut off and are resent what they missed when switch1 returns."""
    faults = [{"at_ms": CRASH_MS, "action": "crash", "target": "switch1"},
              {"at_ms": BACK_MS, "action": "recover", "target": "switch1"}]
    results = replab.run(story(**{"topology.switching": "pair-single-attached", "faults.events": faults}))
    assert event_log(results) == [(100.0, "crash", "switch1", "cut off: node1, node3"),
                                  (600.0, "recover", "switch1", "cut off: none")]
    requests = results.requests
    during = requests[requests["start_ms"].between(CRASH_MS, BACK_MS, inclusive="left")]
    failed = during[during["outcome"] == "failed"]
    assert len(failed) > 50 and set(failed["reason"]) == {"network"}
    assert set(failed["node"].astype(str)) == {"node1", "node3"}
    assert set(during.loc[during["node"].isin(["node0", "node2"]), "outcome"]) == {"served"}
    assert set(requests.loc[requests["start_ms"] > BACK_MS, "outcome"]) == {"served"}

    applies = results.applies
    for node, cut_off in (("node1", True), ("node2", False), ("node3", True)):
        mine = applies[applies["node"] == node]
        received_in_outage = mine["received_ms"].between(CRASH_MS + 1, BACK_MS).any()
        assert received_in_outage != cut_off, node
    writes_in_outage = results.writes[results.writes["commit_ms"].between(CRASH_MS, BACK_MS)]
    caught_up = applies[applies["write_id"].isin(writes_in_outage["write_id"]) & (applies["node"] == "node1")]
    assert len(caught_up) == len(writes_in_outage) > 0 and (caught_up["received_ms"] >= BACK_MS).all()


def test_a_single_attached_pair_loses_switch0_and_with_it_the_balancer():
    results = replab.run(story(**{"topology.switching": "pair-single-attached"}))
    assert event_log(results)[0] == (100.0, "crash", "switch0", "cut off: node0, node2, balancer, clients")
    assert results.summary["outage_availability"] == 0.0


# one switch's loss across the layouts --------------------------------------------------------
def test_a_redundant_pair_takes_one_switch_loss_with_dual_cables_and_half_of_it_with_single():
    """The leader-follower preset (3 followers serve reads round-robin, 20% writes to the
    leader on switch0). Losing switch1 of a single-attached pair cuts off node1 and node3:
    two of every three reads fail, so the outage availability is 1 - 0.8 x 2/3 = 0.47."""
    base = Scenario.preset("leader-follower").replace(duration_ms=2_000.0)
    table = switch_loss_table(base).set_index(["switching", "switch"])
    assert list(table.index) == [("single", "switch0"), ("pair-single-attached", "switch0"),
                                 ("pair-single-attached", "switch1"), ("pair-dual-attached", "switch0"),
                                 ("pair-dual-attached", "switch1")]
    assert table.loc[("single", "switch0"), "outage_availability"] == 0.0
    assert table.loc[("pair-single-attached", "switch0"), "outage_availability"] == 0.0
    assert table.loc[("pair-single-attached", "switch1"), "outage_availability"] == pytest.approx(1 - 0.8 * 2 / 3, abs=0.03)
    assert table.loc[("pair-single-attached", "switch1"), "cut_off"] == "node1, node3"
    dual = table.loc["pair-dual-attached"]
    assert (dual["outage_availability"] == 1.0).all() and (dual["failed"] == 0).all()
    assert (dual["messages_dropped"] == 0).all() and (dual["cut_off"] == "").all()
    # the outage (30% of the run) is the longest gap when everything is cut off; a few ms otherwise
    assert table.loc[("single", "switch0"), "longest_gap_ms"] == pytest.approx(600.0, abs=10)
    assert (table.loc[[("pair-single-attached", "switch1"), ("pair-dual-attached", "switch0")], "longest_gap_ms"] < 20).all()


def test_outage_windows_merge_overlapping_switch_outages_and_clip_to_the_run():
    import pandas as pd

    events = pd.DataFrame({"t_ms": [10.0, 20.0, 30.0, 40.0, 90.0, 95.0],
                           "kind": ["crash", "crash", "recover", "recover", "crash", "crash"],
                           "target": ["switch0", "switch1", "switch0", "switch1", "node1", "switch1"]})
    assert outage_windows(events, 100.0) == [(10.0, 40.0), (95.0, 100.0)]
    assert longest_gap_ms(__import__("numpy").array([5.0, 12.0, 60.0, 150.0]), 100.0) == 48.0


# the Lab and the chart (the fields' validation: tests/test_scenario.py) ----------------------
def test_the_lab_offers_every_switch_of_the_layout_to_crash():
    from replab.lab import Lab

    lab = Lab(story(**{"topology.switching": "pair-dual-attached", "topology.switches": 2}), controls=[],
              charts=[], faults=["crash-switch"], live=False, run=False)
    assert list(lab.fault_panel.targets["crash-switch"].options) == ["switch0", "switch1", "switch2", "switch3"]


def test_the_topology_chart_draws_both_cables_of_a_dual_attached_host_and_the_pair_link():
    from replab.viz import plots

    results = replab.run(story(**{"topology.switching": "pair-dual-attached", "duration_ms": 300.0,
                                  "faults.events": SWITCH0_OUTAGE[:1]}))
    fig = plots.topology(results)
    names = {t.name: t for t in fig.data}
    switches = names["switches"]
    assert list(switches.text) == ["switch0 DOWN", "switch1"]
    # six hosts (4 nodes, clients, balancer), one primary and one second cable each
    assert len(names["links"].x) == len(names["second links"].x) == 6 * 3
    assert list(names["pair link"].x) == [switches.x[0], switches.x[1], None]
    # every cable to switch0 is overdrawn as dead: six hosts and the pair link
    assert len(names["links to a dead switch"].x) == 7 * 3
    assert not any("cut off" in t for t in names["nodes"].text)
