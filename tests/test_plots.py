"""Plots are checked by their data: every number on a chart is recomputed here from the frames."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from replab import Scenario, run
from replab.viz import plots


@pytest.fixture(scope="module")
def calm():
    """Leader and three followers, 1.5 s, no faults."""
    return run(Scenario.preset("leader-follower").replace(duration_ms=1500.0))


@pytest.fixture(scope="module")
def failover():
    """The leader crashes at 1000 ms; detected at 1200, a follower promoted at 1400."""
    return run(Scenario.preset("leader-follower").replace(**{
        "duration_ms": 2000.0, "failover.detection_ms": 200.0, "failover.promotion_ms": 200.0,
        "faults.events": [{"at_ms": 1000.0, "action": "crash", "target": "leader"}]}))


def by_name(fig, name):
    (trace,) = [t for t in fig.data if t.name == name]
    return trace


def test_latency_cdf_is_the_empirical_cdf_of_served_latencies(calm):
    fig = plots.latency_cdf(calm, max_points=10**9)
    served = calm.requests[calm.requests["outcome"] == "served"]
    reads = np.sort(served.loc[served["op"] == "read", "latency_ms"].to_numpy())
    curve = fig.data[0]
    assert curve.name.startswith("read")
    np.testing.assert_allclose(curve.x, reads)
    np.testing.assert_allclose(curve.y, np.arange(1, len(reads) + 1) / len(reads))
    marks = fig.data[1]
    np.testing.assert_allclose(marks.x, [calm.summary["read_p50_ms"], calm.summary["read_p95_ms"],
                                         calm.summary["read_p99_ms"]])
    assert list(marks.y) == [0.5, 0.95, 0.99]
    np.testing.assert_allclose(fig.data[3].x, [calm.summary[f"write_{p}_ms"] for p in ("p50", "p95", "p99")])


def test_latency_cdf_thins_to_max_points_but_keeps_exact_points(calm):
    fig = plots.latency_cdf(calm, max_points=50)
    served = calm.requests[calm.requests["outcome"] == "served"]
    reads = np.sort(served.loc[served["op"] == "read", "latency_ms"].to_numpy())
    x, y = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    assert len(x) == 50 and x[0] == reads[0] and x[-1] == reads[-1] and y[-1] == 1.0
    ranks = np.rint(y * len(reads)).astype(int) - 1  # every point is (sorted[k], (k + 1) / n)
    np.testing.assert_allclose(x, reads[ranks])


def test_throughput_counts_each_operation_once_in_its_start_bin(failover):
    fig = plots.throughput_timeline(failover, bin_ms=100.0)
    req = failover.requests
    for outcome in ("served", "refused", "failed"):
        starts = req.loc[req["outcome"] == outcome, "start_ms"].to_numpy()
        expected = np.bincount((starts // 100).astype(int), minlength=20)[:20] / 0.1  # per second
        np.testing.assert_allclose(by_name(fig, outcome).y, expected)
    assert sum(by_name(fig, o).y.sum() * 0.1 for o in ("served", "refused", "failed")) == pytest.approx(len(req))
    np.testing.assert_allclose(by_name(fig, "served").x, np.arange(50.0, 2000.0, 100.0))
    # availability dips after the crash and is whole again once the promoted leader takes writes
    availability = np.array(by_name(fig, "share served").y, dtype=float)
    assert availability[:10].min() > 0.95 > availability[10:14].min()
    assert availability[-3:].min() > 0.95


def test_the_events_lane_shows_what_was_down_and_when_things_happened(failover):
    """node0 down from its crash at 1000 ms to the end, the balancer read-only from 1200 to 1400 ms,
    the detection and the promotion as markers: each on its own row, with hover text."""
    from replab.viz.events import stretches_and_instants

    stretches, instants = stretches_and_instants(failover)
    assert [(s.row, s.what, s.from_ms, s.to_ms) for s in stretches.itertuples()] == [
        ("balancer", "read-only", 1200.0, 1400.0), ("node0", "down", 1000.0, 2000.0)]
    assert [(p.row, p.what, p.t_ms) for p in instants.itertuples()] == [
        ("node0", "detected", 1200.0), ("node1", "promoted", 1400.0)]
    fig = plots.throughput_timeline(failover)
    assert fig.layout.yaxis3.ticktext == ("node0", "balancer", "node1")
    labels = by_name(fig, "event labels")
    assert "read-only" in labels.text and "down" in labels.text
    assert [s.x0 for s in fig.layout.shapes] == [1200.0, 1000.0]  # the chart below is shaded alike
    assert fig.layout.xaxis.range == (0, 2000.0)  # the workload's time, not the drain after it


def test_lag_is_each_followers_sampled_lag_with_gaps_while_leader_or_down(failover):
    fig = plots.replication_lag(failover)
    timeline = failover.timeline
    timeline = timeline[timeline["t_ms"] <= 2000.0]  # the drain after the last arrival is not drawn
    # node0 leads until it crashes and is down to the end: never a follower, so not listed
    assert [t.name for t in fig.data][:3] == ["node1", "node2", "node3"] and "node0" not in [t.name for t in fig.data]
    for trace in fig.data[:3]:
        rows = timeline[timeline["node"] == trace.name]
        np.testing.assert_allclose(trace.x, rows["t_ms"])
        shown = (rows["role"] == "follower") & rows["up"]
        expected = [v if s else None for v, s in zip(rows["lag_ms"], shown)]
        assert list(trace.y) == expected
    node1 = by_name(fig, "node1")  # a follower until promoted at 1400 ms, then the leader
    t = np.asarray(node1.x)
    assert all(v is not None for v in np.asarray(node1.y, dtype=object)[t < 1400])
    assert all(v is None for v in np.asarray(node1.y, dtype=object)[t > 1400])


def arrows(fig, name="replication"):
    """The (from, to) points of each arrow of a topology chart's trace."""
    trace = by_name(fig, name)
    points = list(zip(trace.x, trace.y))
    return [(points[i - 1], points[i]) for i, size in enumerate(trace.marker.size) if size]


def test_topology_shows_roles_and_up_down_at_a_given_time(failover):
    before = plots.topology(failover, t_ms=900.0)
    nodes = by_name(before, "nodes")
    assert list(nodes.text) == ["node0<br>leader", "node1<br>follower", "node2<br>follower", "node3<br>follower"]
    at = dict(zip(["node0", "node1", "node2", "node3"], zip(nodes.x, nodes.y)))
    assert at["node0"][1] > at["node1"][1] == at["node2"][1] == at["node3"][1]  # a star: the leader above its followers
    assert len(arrows(before)) == 3
    after = plots.topology(failover, t_ms=1500.0)
    nodes = by_name(after, "nodes")
    assert list(nodes.text)[:2] == ["node0<br>DOWN", "node1<br>leader"]
    assert nodes.marker.symbol[0] == "x" and nodes.marker.color[0] == plots.ROLE_COLOURS["down"]
    assert len(arrows(after)) == 2  # the dead node0 is out of the tree; node1 ships to the other two
    assert after.layout.title.text == "Topology at t = 1500 ms"
    assert plots.topology(failover).layout.title.text == "Topology at t = 2000 ms"  # the workload's end


def test_topology_lays_a_tree_out_by_depth_and_a_chain_as_a_row():
    """Fan-out 2 with six followers: three rows (leader, two relays, four leaves). A chain: one row, each node
    shipping to its right-hand neighbour."""
    tree = run(Scenario.preset("tree").replace(duration_ms=300.0))
    nodes = by_name(plots.topology(tree), "nodes")
    rows = sorted({round(y, 2) for y in nodes.y}, reverse=True)
    assert [sum(round(y, 2) == r for y in nodes.y) for r in rows] == [1, 2, 4]
    chain = run(Scenario.preset("leader-follower").replace(**{"duration_ms": 300.0, "replication.fanout": 1}))
    fig = plots.topology(chain)
    nodes = by_name(fig, "nodes")
    assert len(set(nodes.y)) == 1 and list(nodes.x) == sorted(nodes.x)
    assert all(b[0] > a[0] for a, b in arrows(fig))


def test_topology_draws_every_switch_and_a_crashed_one_as_down():
    results = run(Scenario.preset("leader-follower").replace(**{
        "duration_ms": 1000.0, "topology.switches": 2,
        "faults.events": [{"at_ms": 500.0, "action": "crash", "target": "switch1"}]}))
    switches = by_name(plots.topology(results), "switches")
    assert list(switches.text) == ["switch0", "switch1 DOWN"]
    links = by_name(plots.topology(results), "links")
    pairs = [(links.x[i], links.x[i + 1]) for i in range(0, 12, 3)]  # node0..3 -> switch 0,1,0,1
    assert [p[1] for p in pairs] == [switches.x[0], switches.x[1], switches.x[0], switches.x[1]]


def test_topology_of_several_dcs_is_boxes_joined_by_labelled_wan_links():
    results = run(Scenario.preset("three-dc").replace(**{"duration_ms": 600.0, "faults.events": [
        {"at_ms": 300.0, "action": "crash", "target": "dc1"}]}))
    fig = plots.topology(results)
    assert [s.type for s in fig.layout.shapes] == ["rect"] * 3
    texts = [a.text for a in fig.layout.annotations]
    assert texts[:3] == ["<b>dc0</b>", "<b>dc1</b> DOWN", "<b>dc2</b>"]
    assert sorted(texts[3:]) == ["35 ms", "40 ms", "70 ms"]


def test_spacetime_draws_one_arrow_per_message_with_recorded_times(calm):
    columns, messages = plots.spacetime_messages(calm, max_requests=8)
    chosen = calm.requests.sort_values("start_ms").head(8).set_index("request_id")
    assert columns[-5:] == ["balancer", "node0", "node1", "node2", "node3"]
    requests = messages[messages["kind"] == "request"].set_index("request_id")
    assert list(requests.index) == list(chosen.index)
    np.testing.assert_allclose(requests["send_ms"], chosen["start_ms"])
    np.testing.assert_allclose(requests["recv_ms"], chosen["arrived_ms"])
    assert list(requests["dst"]) == [str(n) for n in chosen["node"]]
    replies = messages[messages["kind"] == "reply"].set_index("request_id")
    np.testing.assert_allclose(replies["send_ms"], chosen.loc[replies.index, "answered_ms"])
    np.testing.assert_allclose(replies["recv_ms"], chosen.loc[replies.index, "end_ms"])
    writes = calm.writes[calm.writes["request_id"].isin(chosen.index)]
    applies = calm.applies[calm.applies["write_id"].isin(writes["write_id"])]
    drawn = messages[messages["kind"] == "apply"]
    assert len(drawn) == len(applies) > 0
    assert sorted(drawn["recv_ms"]) == sorted(applies["received_ms"])
    assert set(drawn["src"]) == {"node0"}
    assert messages["exact"].all()
    assert (messages["recv_ms"] >= messages["send_ms"]).all()  # time runs forward along every arrow

    fig = plots.spacetime(calm, max_requests=8)
    assert list(fig.layout.xaxis.ticktext) == columns
    arrows = by_name(fig, "apply")
    assert [y for y, s in zip(arrows.y, arrows.marker.size) if s] == list(drawn["recv_ms"])
    assert fig.layout.yaxis.autorange == "reversed"


def test_spacetime_of_a_failover_shows_the_crash_refusals_and_lost_requests(failover):
    columns, messages = plots.spacetime_messages(failover, start_ms=1250.0, max_requests=40)
    refused = messages[(messages["dst"] == "balancer")]
    assert len(refused) > 0  # writes turned away at the balancer while read-only
    fig = plots.spacetime(failover, start_ms=990.0, max_ms=20.0, max_requests=40)
    events = by_name(fig, "events")
    ticks = list(fig.layout.xaxis.ticktext)
    assert list(events.text)[0] == "crash" and events.y[0] == 1000.0 and events.x[0] == ticks.index("node0")
    # writes sent to the dead leader never arrive: drawn as lost stubs, with no reply
    _, messages = plots.spacetime_messages(failover, start_ms=1001.0, max_ms=20.0, max_requests=40)
    lost = messages[messages["kind"] == "lost"]
    assert len(lost) and set(lost["dst"]) == {"node0"} and not lost["exact"].any()
    assert not messages[messages["kind"] == "reply"]["request_id"].isin(lost["request_id"]).any()


def test_plots_fill_an_existing_figure_in_place(calm, failover):
    for name, plot in plots.FIGURES.items():
        if name == "replay":  # a widget of its own (tests/test_replay.py)
            continue
        fig = go.FigureWidget()
        assert plot(calm, fig=fig) is fig
        traces = list(fig.data)
        plot(failover, fig=fig)
        assert list(fig.data) == traces or name == "spacetime" and len(fig.data) == len(traces), name
        fresh = plot(failover)
        for mine, theirs in zip(fig.data, fresh.data):
            assert mine.name == theirs.name
            assert _same(mine.x, theirs.x) and _same(mine.y, theirs.y), name


def _same(a, b) -> bool:
    a, b = list(a if a is not None else []), list(b if b is not None else [])
    return len(a) == len(b) and all(x == y or (x is None and y is None) or
                                    (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b))


def test_house_puts_a_notebooks_own_chart_in_words_and_the_palette():
    import pandas as pd
    import plotly.express as px

    from replab.viz import house
    from replab.viz.style import PALETTE

    frame = pd.DataFrame({"followers": [1, 2, 1, 2], "mean_lag_ms": [1.0, 2.0, 3.0, 4.0], "ack": ["a", "a", "b", "b"]})
    fig = house(px.line(frame, x="followers", y="mean_lag_ms", color="ack", facet_col="ack"))
    assert fig.layout.yaxis.title.text == "mean replication lag, ms"
    assert [a.text for a in fig.layout.annotations] == ["a", "b"]  # not "ack=a"
    assert [t.line.color for t in fig.data] == list(PALETTE[:2])
    assert fig.layout.legend.title.text == "acknowledgement"


def test_tables_write_counts_as_whole_numbers():
    import pandas as pd

    from replab.viz import tables

    assert [tables.number(v) for v in (4065, 4065.0, 0.012345, 1234.5678, float("nan"))] == [
        "4,065", "4,065", "0.0123", "1,235", "–"]
    shown = tables.readable(pd.DataFrame({"served": [4065.0], "availability": [0.99912]}))
    assert shown.iloc[0].tolist() == ["4,065", "0.999"]
