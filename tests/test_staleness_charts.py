"""The staleness charts show what the frames say: the stale read of the leaderless story
(tests/test_leaderless.py), hints held and handed back, t-visibility and k-staleness beside
their theory, and the price of consistency."""

import numpy as np
import pandas as pd
import pytest
from test_leaderless import STORY, story

from replab import ReplicationModel, Results, Scenario, run
from replab.analysis.pbs import k_staleness_bound, scenario_t_visibility
from replab.analysis.staleness import read_staleness, t_visibility
from replab.lab import Lab
from replab.viz import plots
from replab.viz.quorum_story import pick_story, quorum_story
from replab.viz.staleness import consistency_price_chart, hints_held, k_staleness_chart, t_visibility_chart


def trace(fig, name: str):
    (found,) = [t for t in fig.data if t.name == name]
    return found


def test_the_story_chart_shows_who_had_the_write_when_the_read_asked():
    """node1 missed write 1 and answered first: an open red circle on its lane, v0; node0 and
    node2 had it (filled, v1); the client got v0."""
    results = story()
    assert pick_story(results) == (2, 1)
    fig = quorum_story(results)
    lanes = list(fig.layout.yaxis.ticktext)
    lacked, had = trace(fig, "lacked it"), trace(fig, "had it when it read")
    assert [lanes[int(y)] for y in lacked.y] == ["node1"] and list(lacked.text) == ["v0"]
    assert sorted(lanes[int(y)] for y in had.y) == ["node0", "node2"] and list(had.text) == ["v1", "v1"]
    assert trace(fig, "the client's answer").text == ("client gets v0",)
    assert "stale: it missed the write" in fig.layout.title.text
    assert "saw the write" in quorum_story(story(**{"quorum.r": 2})).layout.title.text


def test_hints_held_rise_when_a_fallback_takes_a_write_and_fall_when_it_is_home():
    model = ReplicationModel(Scenario(**(STORY | {"quorum.nodes": 4, "quorum.w": 3, "quorum.r": 3, "quorum.sloppy": True})))
    model.schedule_operation(10.0, 0, True, 1)
    results = Results.from_model(model.run())
    held = hints_held(results)
    assert held["hints"].tolist() == [0, 1, 0]
    assert held["t_ms"].tolist() == pytest.approx([0.0, 11.8, 21.4])


@pytest.fixture(scope="module")
def cheap_quorum():
    """R = W = 1 on PBS's legs, 50 hot keys: many reads soon after a commit, some of them stale."""
    return run(Scenario.preset("leaderless").replace(duration_ms=1_500.0, **{
        "workload.keys": 50, "quorum.r": 1, "quorum.w": 1}))


def test_t_visibility_chart_draws_the_measured_share_and_the_wars_prediction(cheap_quorum):
    fig = t_visibility_chart(cheap_quorum, bin_ms=2.0, max_ms=20.0)
    table = t_visibility(read_staleness(cheap_quorum.requests, cheap_quorum.writes), 2.0, 20.0)
    measured = trace(fig, "measured")
    shown = table[table["reads"] > 0]
    assert list(measured.x) == pytest.approx(shown["t_ms"].tolist()) and list(measured.y) == pytest.approx(shown["consistent"].tolist())
    wars = trace(fig, "WARS model (no queueing)")
    assert wars.y[0] < 0.8 < 0.97 < wars.y[-1]  # stale at first, then seen: "eventually" is milliseconds


@pytest.mark.parametrize("policy, rises", [({}, True), ({"quorum.read_from": "r"}, True),
                                           # written to W only: both hold it at the commit and the third never
                                           # will, so a read of one replica sees it 2 times in 3, always
                                           ({"quorum.write_to": "w"}, False),
                                           ({"quorum.read_from": "r", "quorum.write_to": "w"}, False)])
def test_the_wars_prediction_never_falls_as_a_read_comes_later(policy, rises):
    """A read sent later can only be likelier to see the write: the model's trials are the same
    for every t (common random numbers), so the curve rises or stays, whichever replicas the
    read and the write go to (R = 1, W = 2 of N = 3)."""
    scenario = Scenario.preset("leaderless").replace(**{"quorum.r": 1, "quorum.w": 2, **policy})
    curve = scenario_t_visibility(scenario, np.linspace(0.0, 30.0, 61))
    assert (np.diff(curve) >= 0).all()
    assert (curve[0] < curve[-1] - 0.1) if rises else curve[0] == pytest.approx(2 / 3, abs=0.01)


def test_the_charts_of_a_run_share_one_staleness_table(cheap_quorum):
    """Three of the leaderless charts read each served read's staleness: it is worked out once
    per Results, and it is the module's own function's answer."""
    first = cheap_quorum.read_staleness
    assert cheap_quorum.read_staleness is first
    pd.testing.assert_frame_equal(first, read_staleness(cheap_quorum.requests, cheap_quorum.writes))


def test_k_staleness_chart_sets_the_closed_form_beside_the_measurement(cheap_quorum):
    fig = k_staleness_chart(cheap_quorum, k_max=3)
    bound = [t for t in fig.data if t.name.startswith("PBS closed form")][0]
    assert list(bound.y) == pytest.approx([k_staleness_bound(3, 1, 1, k) for k in (1, 2, 3)])
    assert "a bound" in bound.name  # writes go to all N here: fresher than the formula
    assert 0 < trace(fig, "measured").y[0] < bound.y[0]


def test_the_price_chart_separates_overlapping_quorums_from_the_rest():
    rows = pd.DataFrame({"quorum.n": 3, "quorum.r": [1, 2, 1], "quorum.w": [1, 2, 2], "read_p99_ms": [3.0, 5.0, 3.0],
                         "write_p99_ms": [9.0, 17.0, 15.0], "missed_commit_rate": [0.03, 0.0, 0.01]})
    fig = consistency_price_chart(rows)
    loose, strict = fig.data
    assert list(loose.text) == ["R1 W1", "R1 W2"] and list(loose.x) == [12.0, 18.0]
    assert list(strict.text) == ["R2 W2"] and list(strict.y) == [0.0]


def test_a_lab_draws_the_leaderless_charts():
    lab = Lab(Scenario.preset("leaderless").replace(duration_ms=500.0, **{"workload.keys": 20}),
              controls=["quorum.n", "quorum.r", "quorum.w"], charts=["t-visibility", "k-staleness", "quorum-story", "divergence"],
              summary=["missed_commit_rate", "everywhere_p99_ms"], live=False)
    assert lab.error is None and all(len(fig["data"]) for fig in lab.figures.values())
    assert set(plots.FIGURES) >= {"t-visibility", "k-staleness", "quorum-story", "divergence"}
    lab.set("quorum.r", 1).set("quorum.w", 1).run()
    assert lab.error is None and lab.results.scenario.quorum.r == 1
