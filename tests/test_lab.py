"""The Lab, headless: controls follow the Scenario's rules, changes re-run, bad values are shown, not raised.

Charts are plotly Figures shown through Output widgets; without a kernel a widget's comm is a
dummy, so all of this runs in plain pytest. `lab.wait()` is the documented hook that does a pending live re-run now.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import threading
import time

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import pytest

from replab import Scenario, ScenarioError
from replab.config.limits import RunTooBig
from replab.lab import TEACHING_RANGES, Lab, control_for, teaching_range
from replab.lab.running import Debouncer, ProgressiveRun

SHORT = Scenario.preset("leader-follower").replace(duration_ms=1500.0)


@pytest.fixture
def lab():
    return Lab(SHORT, faults=True)


def test_controls_are_built_from_the_field_rules(lab):
    followers, write_ratio, ack = (lab.controls[p] for p in ("topology.followers", "workload.write_ratio",
                                                             "replication.ack"))
    assert isinstance(followers, widgets.IntSlider) and (followers.max, followers.value) == (12, 3)
    assert followers.min == 1  # reads go to followers in this preset, so 0 followers is refused
    assert isinstance(write_ratio, widgets.FloatSlider)
    assert (write_ratio.min, write_ratio.max, write_ratio.value) == (0.0, 1.0, 0.2)
    assert isinstance(ack, widgets.Dropdown) and list(ack.options) == ["async", "semi-sync", "sync", "majority"]
    assert "followers of the leader" in followers.tooltip and "from 0 to 32" in followers.tooltip


def test_every_kind_of_field_gets_its_widget():
    field = Scenario.field
    assert isinstance(control_for(field("failover.promote"), True), widgets.Checkbox)
    assert isinstance(control_for(field("seed"), 7), widgets.BoundedIntText)
    rate = control_for(field("workload.rate_per_s"), 2000.0)
    assert (rate.min, rate.max, rate.step) == (100.0, 20_000.0, 100.0)  # not up to the 1e7 the model allows
    dist = control_for(field("service.read.dist"), "exponential")
    assert list(dist.options) == ["constant", "exponential", "lognormal"]
    wide = control_for(field("topology.followers"), 20)  # a valid value beyond the teaching range
    assert wide.max == 20 and wide.value == 20
    with pytest.raises(ScenarioError, match="fault buttons"):
        control_for(field("faults.events"), ())


def test_every_slider_range_is_inside_the_validation_range():
    numeric = [f for f in Scenario.fields() if f.kind in ("int", "float")]
    assert set(TEACHING_RANGES) <= {f.path for f in numeric}
    for field in numeric:
        low, high, step = teaching_range(field)
        assert field.coerce(low) == low and field.coerce(high) == high, field.path
        assert 0 < step <= high - low, field.path


def test_a_slider_without_a_chosen_range_moves_in_round_notches():
    """A field with no range of its own gets one from its bounds and default: its step is 1, 2
    or 5 times a power of ten and its notches are multiples of it (chapter 09's health-check
    interval once moved from 1.0 in steps of 49.99 ms; chapter 13's Pareto alpha by 0.199)."""
    for field in Scenario.fields():
        if field.kind != "float" or field.path in TEACHING_RANGES:
            continue
        low, high, step = teaching_range(field)
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 9) in (1, 2, 5), (field.path, step)
        assert abs(low / step - round(low / step)) < 1e-9, (field.path, low, step)
    assert teaching_range(Scenario.field("dns.health_interval_ms"))[2] == 50.0
    assert teaching_range(Scenario.field("quorum.legs.write.pareto_alpha")) == (0.5, 10.0, 0.01)


def test_cross_field_rules_narrow_the_controls():
    lab = Lab(SHORT.replace(**{"replication.reads": "any", "topology.followers": 0}),
              controls=["topology.followers", "replication.ack", "replication.reads"], charts=[], live=False, run=False)
    assert lab.controls["topology.followers"].min == 0
    assert list(lab.controls["replication.ack"].options) == ["async", "sync", "majority"]  # semi-sync needs a follower
    assert list(lab.controls["replication.reads"].options) == ["leader", "any"]
    lab.set("topology.followers", 2)
    assert list(lab.controls["replication.ack"].options) == ["async", "semi-sync", "sync", "majority"]
    lab.set("replication.ack", "semi-sync")
    assert lab.controls["topology.followers"].min == 1 and lab.error is None


def test_setting_a_choice_the_rules_took_off_the_dropdown_shows_why():
    lab = Lab(SHORT.replace(**{"replication.reads": "any", "topology.followers": 0}),
              controls=["replication.ack"], charts=[], live=False, run=False)
    lab.set("replication.ack", "semi-sync")
    assert lab.error == "replication.ack = 'semi-sync': needs at least one follower (topology.followers is 0)"
    assert lab.scenario.replication.ack == "async" and lab.controls["replication.ack"].value == "async"


def chart(lab, name) -> go.Figure:
    """A Lab chart as a plotly graph object, to look into (the Lab keeps it as plain data)."""
    return go.Figure(lab.figures[name])


def test_changing_a_control_reruns_and_redraws_in_place(lab):
    traces_before = len(chart(lab, "lag").data)
    x_before = np.array(chart(lab, "latency").data[0].x)
    shown = lab._outputs["latency"]
    lab.controls["topology.followers"].value = 5  # what a student's slider does
    assert lab.results.scenario.topology.followers == 3  # the old result stays until the new one is ready
    results = lab.wait()
    assert results.scenario.topology.followers == 5 and lab.scenario == results.scenario
    assert len(chart(lab, "lag").data) == traces_before + 2  # two more followers, two more lag curves
    assert not np.array_equal(np.array(chart(lab, "latency").data[0].x), x_before)
    assert lab._outputs["latency"] is shown  # the same Output on screen, showing the new drawing
    plotted = shown.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert plotted["layout"]["title"]["text"] == "How long served operations took" and plotted["layout"]["width"] == 420
    assert ">operations</td>" in lab.summary.value
    assert lab.previous.scenario.topology.followers == 3


def test_live_off_waits_for_an_explicit_run():
    lab = Lab(SHORT, live=False, charts=["throughput"])
    first = lab.results
    lab.set("workload.write_ratio", 0.5)
    assert lab.wait() is first  # nothing pending: not live
    results = lab.run()
    assert results.scenario.workload.write_ratio == 0.5
    assert chart(lab, "throughput").data[0].y is not None


def test_a_forced_bad_value_is_shown_not_raised(lab):
    lab.set("topology.followers", 99)
    assert lab.error == "topology.followers = 99: must be an integer from 0 to 32"
    assert "must be an integer from 0 to 32" in lab.message.value
    assert lab.scenario.topology.followers == 3
    slider = lab.controls["workload.write_ratio"]
    slider.max = 2.0  # someone widens the widget by hand, then pushes it past what the model allows
    slider.value = 1.5
    assert lab.error == "workload.write_ratio = 1.5: must be a number from 0 to 1"
    assert lab.scenario.workload.write_ratio == 0.2
    lab.set("replication.ack", "quorum")
    assert "must be one of 'async', 'semi-sync', 'sync'" in lab.error
    lab.set("workload.write_ratio", 0.3)
    assert lab.error is None and lab.message.value == ""


def test_a_run_too_big_for_the_machine_is_refused_as_replab_run_refuses_it(no_hang):
    """A Lab ran whatever it was given: a Lab of a 1e8 ms run, or a slider pushed to the
    field's end, kept a kernel simulating for hours while its memory grew."""
    with pytest.raises(RunTooBig, match=r"^duration_ms = 100000000.0: the run would"), no_hang(60):
        Lab(SHORT.replace(duration_ms=1e8))
    lab = Lab(SHORT, controls=["duration_ms"], live=False, charts=["throughput"])

    with no_hang(60):
        lab.set("duration_ms", 1e8)
        lab.run()

    assert lab.error.startswith("duration_ms = 100000000.0: the run would") and "200,000,000 requests" in lab.error
    assert lab.scenario.duration_ms == 1500.0 and lab.controls["duration_ms"].value == 1500.0


def test_the_crash_button_adds_a_crash_and_the_run_shows_it(lab):
    panel = lab.fault_panel
    panel.times["crash-leader"].value = 600.0
    panel.buttons["crash-leader"].click()
    assert [f.to_dict() for f in lab.scenario.faults.events] == [{"at_ms": 600.0, "action": "crash", "target": "leader"}]
    events = lab.results.events
    assert list(events["kind"])[:2] == ["crash", "detect"] and events["t_ms"].iloc[0] == 600.0
    assert events["target"].iloc[0] == "node0"
    assert "crash leader at 600 ms" in panel.listing.value
    assert panel.targets["recover"].value == "node0"  # recover offers the node that went down
    panel.times["recover"].value = 1200.0
    panel.buttons["recover"].click()
    assert ("recover", "node0") in set(zip(lab.results.events["kind"], lab.results.events["target"]))
    panel.buttons["clear"].click()
    assert lab.scenario.faults.events == () and len(lab.results.events) == 0


def test_a_fault_time_past_the_run_is_refused_with_the_message(lab):
    lab.add_fault(5000.0)
    assert "faults.events[0].at_ms = 5000.0: must be within the run" in lab.error
    assert lab.scenario.faults.events == ()


def test_topology_time_slider_replays_the_state(lab):
    lab.add_fault(600.0)
    slider = lab.topology_t
    assert slider.max == lab.scenario.duration_ms  # the workload's end, not the drain after it
    assert slider.value == 1300.0  # it opens in the middle of the read-only window, where there is something to see
    slider.value = 500.0
    nodes = [t for t in chart(lab, "topology").data if t.name == "nodes"][0]
    assert nodes.text[0] == "node0<br>leader"
    slider.value = 1500.0
    nodes = [t for t in chart(lab, "topology").data if t.name == "nodes"][0]
    assert nodes.text[0] == "node0<br>DOWN"


def test_a_lab_displays_itself_as_its_widget(lab):
    bundle = lab._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == lab.widget.model_id
    assert set(lab.figures) == {"latency", "throughput", "lag", "topology"}


def test_unknown_chart_or_fault_button_is_named():
    with pytest.raises(ValueError, match="unknown chart 'pie'"):
        Lab(SHORT, charts=["pie"], run=False)
    with pytest.raises(ValueError, match="unknown fault button 'explode'"):
        Lab(SHORT, faults=["explode"], run=False)


def test_debouncer_runs_once_after_a_burst_on_a_timer_thread():
    calls = []
    debouncer = Debouncer(0.05, lambda: calls.append(threading.current_thread().name))
    for _ in range(5):
        debouncer.trigger()
    time.sleep(0.3)
    assert len(calls) == 1 and calls[0] != threading.main_thread().name
    debouncer.trigger()
    assert debouncer.flush() and len(calls) == 2 and not debouncer.pending


def test_debouncer_uses_the_running_event_loop_as_in_a_kernel():
    calls = []

    async def kernel():
        debouncer = Debouncer(0.05, lambda: calls.append(threading.current_thread().name))
        debouncer.trigger()
        debouncer.trigger()
        await asyncio.sleep(0.2)

    asyncio.run(kernel())
    assert calls == [threading.main_thread().name]


@pytest.mark.slow
def test_a_lab_in_a_headless_kernel_reruns_on_its_own():
    """In a real kernel with no browser: display, move a control, and the loop re-runs it."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "from replab import Scenario\nfrom replab.lab import Lab\n"
        "lab = Lab(Scenario.preset('leader-follower').replace(duration_ms=1000.0))\nlab",
        "lab.controls['topology.followers'].value = 4",
        "import time; time.sleep(0.5)",  # past the debounce; the kernel runs it once this cell ends
        "pass",
        "print(lab.results.scenario.topology.followers, sum(t['name'].startswith('node') for t in lab.figures['lag']['data']),"
        " lab.error)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    assert notebook.cells[-1].outputs[0]["text"] == "4 4 None\n"  # 4 followers, a lag curve each


def test_every_fault_button_starts_with_a_target_to_hit():
    lab = Lab(Scenario.preset("three-dc"), controls=["dns.ttl_ms"], charts=["traffic"], run=False, live=False,
              faults=["fail-dc", "recover-dc", "crash-node", "crash-switch", "clear"])
    assert {name: d.value for name, d in lab.fault_panel.targets.items()} == {
        "fail-dc": "dc0", "recover-dc": "dc0", "crash-node": "node0", "crash-switch": "switch0"}
    lab.fault_panel.click("fail-dc")
    assert lab.error is None and ("crash", "dc0") in [(f.action, f.target) for f in lab.scenario.faults.events]


def test_a_list_field_asked_for_as_a_control_says_how_to_set_it():
    with pytest.raises(ScenarioError, match=r"dns.weights = \[\]: is a list and has no control; set it in the scenario"):
        Lab(Scenario.preset("three-dc"), controls=["dns.weights"], run=False, live=False)


def test_in_a_kernel_a_run_shows_its_first_seconds_and_a_newer_change_cancels_it():
    """A long run started by a slider goes on in the background: the kernel answers the next cell
    while it runs, the charts show the simulated part with the rest shaded, and moving another
    control mid-run replaces the stale run with a new one."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "import asyncio\nfrom replab import Scenario\nfrom replab.lab import Lab\n"
        "lab = Lab(Scenario.preset('leader-follower').replace(duration_ms=1000.0), charts=['throughput', 'replay'])\n"
        "lab.set('duration_ms', 120_000.0)",  # two minutes of simulated time: seconds of work, even on a fast core
        "async def until(condition):\n"
        "    for _ in range(60_000):  # only a hang stops this loop\n"
        "        if condition():\n"
        "            return\n"
        "        await asyncio.sleep(0.005)\n"
        "await until(lambda: lab.status.value.startswith('running:'))\n"
        "shaded = [a['text'] for a in lab.figures['throughput']['layout']['annotations']]\n"
        "print(lab.running, 'simulating…' in shaded, len(lab.figures['replay'].data['times']) > 0)",
        "lab.controls['topology.followers'].value = 5\n"
        "await until(lambda: lab.running)\n"
        "print(lab.running)",
        "results = lab.wait()\n"
        "print(results.scenario.topology.followers, results.scenario.duration_ms, lab.running, lab.error)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    said = [cell.outputs[0]["text"] for cell in notebook.cells[1:]]
    assert said == ["True True True\n", "True\n", "5 120000.0 False None\n"]


def test_a_partial_drawing_is_made_only_while_the_rest_of_the_run_is_worth_its_cost():
    """A run on the kernel's loop shows its first seconds at once. A later partial drawing costs
    about what a whole drawing does, so it is made only while the rest of the run takes over
    three times that: with drawings as dear as 100 s none follows the first; with free ones
    they keep coming, `every_s` apart."""
    scenario = Scenario.preset("leader-follower").replace(duration_ms=30_000.0)  # 0.3-1.5 s of work

    async def partial_drawings(whole_s: float) -> list[float]:
        drawn, ended = [], asyncio.Event()
        runner = ProgressiveRun(lambda _results, simulated_ms: drawn.append(simulated_ms),
                                lambda _results: ended.set(), pytest.fail, every_s=0.01)
        runner.whole_s = whole_s
        runner.start(scenario)
        await asyncio.wait_for(ended.wait(), timeout=120)
        assert runner.partials == len(drawn)
        return drawn

    assert len(asyncio.run(partial_drawings(whole_s=100.0))) == 1
    free = asyncio.run(partial_drawings(whole_s=0.0))
    assert len(free) >= 3 and free == sorted(free)


def test_dear_partial_drawings_are_spaced_out_to_a_fifth_of_the_run():
    """Chapter 13's charts cost ~0.1 s a drawing: drawn every 0.35 s they took a quarter of the
    run. A partial drawing is now followed by the next no sooner than four times its cost."""
    scenario = Scenario.preset("leader-follower").replace(duration_ms=30_000.0)
    cost_s = 0.03

    async def drawing_starts() -> list[float]:
        started, ended = [], asyncio.Event()

        def draw(_results, _simulated_ms) -> None:
            started.append(time.perf_counter())
            time.sleep(cost_s)

        # worth_it_s=0: partial drawings to the end of the run, however fast the machine
        runner = ProgressiveRun(draw, lambda _results: ended.set(), pytest.fail, every_s=0.01, worth_it_s=0.0)
        runner.start(scenario)
        await asyncio.wait_for(ended.wait(), timeout=120)
        return started

    started = asyncio.run(drawing_starts())
    gaps = np.diff(started)
    assert len(gaps) >= 2 and gaps.min() >= 5 * cost_s * 0.95, gaps


def test_inside_a_kernel_the_first_lab_takes_the_loaded_libraries_out_of_the_collectors_passes():
    """gc.freeze is process-wide, so a Lab does it only on a running loop (a kernel), once, and
    never in plain Python: run in a fresh interpreter, where nothing else has frozen anything.
    A second freeze would add the thousands of objects made since the first."""
    program = (
        "import asyncio, gc\n"
        "from replab import Scenario\n"
        "from replab.lab import Lab\n"
        "scenario = Scenario.preset('single-node').replace(duration_ms=100.0)\n"
        "Lab(scenario, run=False, live=False)\n"
        "plain = gc.get_freeze_count()\n"
        "async def kernel():\n"
        "    Lab(scenario, run=False, live=False)\n"
        "    return gc.get_freeze_count()\n"
        "first = asyncio.run(kernel())\n"
        "print(plain, first > 10_000, asyncio.run(kernel()) <= first)\n")  # frozen objects freed leave it
    said = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert said.stdout == "0 True True\n", said.stderr


def test_an_overloaded_run_says_why_everything_failed():
    """Past capacity (one worker, 1,000 reads a second at most, 3,000 asked for) the queue grows
    until operations time out; the Lab says so under its controls."""
    lab = Lab(Scenario.preset("single-node").replace(duration_ms=2_000.0),
              controls=["workload.rate_per_s"], charts=["throughput"])
    assert lab.notes.value == ""
    lab.set("workload.rate_per_s", 3_000.0)
    lab.wait()
    assert "Overloaded." in lab.notes.value and "workload.timeout_ms" in lab.notes.value


def test_a_run_whose_acknowledged_writes_last_writer_wins_threw_away_says_why():
    """With clients coordinating leaderless writes, two sessions' blind writes of a key are
    concurrent and last-writer-wins keeps one: the summary's lost_acked_writes would look like a
    bug without a word. A home replica ordering each key's writes loses none."""
    lab = Lab(Scenario.preset("leaderless").replace(duration_ms=2_000.0, **{"quorum.coordinator": "client"}),
              controls=["quorum.coordinator"], charts=["throughput"])
    assert "Lost updates." in lab.notes.value and "quorum.coordinator = replica" in lab.notes.value
    assert lab.results.summary["lost_updates"] > 0.05 * lab.results.summary["writes_acked"]
    lab.set("quorum.coordinator", "replica")
    lab.wait()
    assert lab.notes.value == "" and lab.results.summary["lost_updates"] == 0
