"""The Lab drives the realistic failover model: its fault buttons pause, cut off, slow and heal
hosts, its controls switch policy and fencing, and the leadership chart shows two leaders."""

import plotly.graph_objects as go
import pytest

from replab import Scenario
from replab.lab import Lab
from replab.viz.leadership_chart import leadership_timeline

SHORT = Scenario.preset("split-brain").replace(duration_ms=3_000.0, **{"workload.rate_per_s": 300.0, "faults.events": []})


@pytest.fixture(scope="module")
def lab():
    return Lab(SHORT, controls=["failover.policy", "failover.fencing", "replication.ack"], charts=["leadership", "semi-sync"],
               faults=["pause-leader", "cut-off", "heal", "slow-node", "clear"], live=False)


def test_the_host_fault_buttons_schedule_what_they_say(lab):
    panel = lab.fault_panel
    assert "leader+app1" in panel.targets["cut-off"].options and "controller" in panel.targets["cut-off"].options
    panel.times["cut-off"].value, panel.targets["cut-off"].value = 1_000.0, "leader+app1"
    panel.extras["cut-off"]["duration_ms"].value = 0.0  # until healed
    panel.click("cut-off")
    panel.times["heal"].value = 2_500.0
    panel.click("heal")
    panel.times["pause-leader"].value, panel.extras["pause-leader"]["duration_ms"].value = 200.0, 300.0
    panel.click("pause-leader")
    panel.times["slow-node"].value, panel.targets["slow-node"].value = 100.0, "node2"
    panel.click("slow-node")
    assert lab.error is None
    assert [f.to_dict() for f in lab.scenario.faults.events] == [
        {"at_ms": 100.0, "action": "slow", "target": "node2", "duration_ms": 600.0, "delay_ms": 50.0},
        {"at_ms": 200.0, "action": "pause", "target": "leader", "duration_ms": 300.0},
        {"at_ms": 1_000.0, "action": "partition", "target": "leader+app1"},
        {"at_ms": 2_500.0, "action": "heal", "target": "all"},
    ]
    kinds = list(lab.results.events["kind"])
    assert kinds[:2] == ["slow", "pause"] and {"partition", "heal", "promote", "step-down"} <= set(kinds)
    assert "pause leader at 200 ms for 300 ms" in panel.listing.value


def test_the_leadership_chart_shades_the_split_and_a_consensus_run_has_none(lab):
    # its own faults, not the previous test's (under xdist the tests of this file may run apart)
    lab.clear_faults().add_fault(at_ms=1_000.0, action="partition", target="leader+app1")
    lab.add_fault(at_ms=2_500.0, action="heal", target="all")
    lab.set("failover.policy", "naive")
    lab.set("replication.ack", "async")
    lab.run()
    fig = go.Figure(lab.figures["leadership"])
    assert [s.type for s in fig.layout.shapes] == ["rect"]  # one stretch of two leaders
    assert any(t.name.startswith("writes acknowledged, then thrown away") and len(t.x) for t in fig.data)
    lab.set("failover.policy", "consensus")
    lab.set("replication.ack", "majority")
    lab.run()
    assert lab.error is None and lab.results.summary["split_brain_ms"] == 0.0
    fig = go.Figure(lab.figures["leadership"])
    assert len(fig.layout.shapes) == 0 and lab.results.summary["lost_acked_writes"] == 0


def test_the_chart_draws_the_perfect_model_too():
    from replab import run

    fig = leadership_timeline(run(Scenario.preset("failover").replace(duration_ms=8_000.0)))
    bars = [t for t in fig.data if t.name.startswith("leads") and len(t.x)]
    assert [t.name for t in bars] == ["leads, term 1", "leads, term 2"]


def test_a_heal_of_every_host_ends_the_cut_off_stretch_on_the_charts():
    """The Lab's "heal hosts" button heals 'all': the stretch of the partition it ends stops there."""
    from replab import run
    from replab.viz.events import stretches_and_instants
    from replab.viz.leadership_chart import node_states

    results = run(SHORT.replace(**{"faults.events": [{"at_ms": 1_000.0, "action": "partition", "target": "leader+app1"},
                                                      {"at_ms": 2_000.0, "action": "heal", "target": "all"}]}))
    stretches, _ = stretches_and_instants(results)
    cut = stretches[stretches["what"] == "cut off"]
    assert cut[["row", "from_ms", "to_ms"]].values.tolist() == [["node0+app1", 1_000.0, 2_000.0]]
    assert node_states(results)["node0"]["cut off"] == [(1_000.0, 2_000.0)]
