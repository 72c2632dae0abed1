"""A valid scenario that cannot end, or cannot fit in this machine, is refused before it runs,
naming the fields and the estimate; `force=True` (--force) overrides the machine's limits,
never a run that cannot end; a run whose simulated time stops advancing is stopped.
"""

import tracemalloc

import pytest

import replab
from replab import Results, Scenario
from replab.config import limits
from replab.config.limits import RunTooBig, TimeStopped, check_size, estimate
from replab.core import calendar
from replab.core.calendar import EventCalendar, TimeStalled
from replab.sim import model

BASE = Scenario.preset("leader-follower")


@pytest.fixture
def refused(monkeypatch):
    """replab.run(scenario) refused, before any model is built."""
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built for a run that is refused")

    def refuse(scenario, force: bool = False) -> RunTooBig:
        with monkeypatch.context() as patch:
            patch.setattr(model, "ReplicationModel", no_model)
            with pytest.raises(RunTooBig) as caught:
                replab.run(scenario, force=force)
        return caught.value

    return refuse


@pytest.mark.parametrize("fields, field, words", [
    ({"faults.mttf_ms": 1e-300, "faults.mttr_ms": 1e-300}, "faults.mttf_ms", "would never end"),
    ({"workload.arrival": "closed", "workload.think_ms": 0.0, "workload.timeout_ms": 1e-300},
     "workload.timeout_ms", "would never end"),
    ({"workload.arrival": "closed", "workload.think_ms": 0.0, "network.hop.mean_ms": 1e-300,
      "service.read.mean_ms": 1e-300, "service.write.mean_ms": 1e-300}, "network.hop.mean_ms", "would never end"),
])
def test_a_loop_of_events_that_takes_no_time_is_refused_even_when_forced(refused, fields, field, words):
    error = refused(BASE.replace(**fields), force=True)

    assert error.field == field and words in str(error)
    assert "no --force makes that finish" in str(error)


@pytest.mark.parametrize("fields, field, driver", [
    ({"duration_ms": 1e8}, "duration_ms", "duration_ms and workload.rate_per_s"),
    ({"duration_ms": 1e8, "workload.rate_per_s": 0.001, "record.sample_ms": 1.0}, "record.sample_ms",
     "record.sample_ms and duration_ms"),
    ({"duration_ms": 1e7, "faults.mttf_ms": 1e-3, "faults.mttr_ms": 1e-3}, "faults.mttf_ms", "faults.mttf_ms and"),
])
def test_a_run_larger_than_the_machine_is_refused_naming_fields_and_estimate(refused, fields, field, driver):
    error = refused(BASE.replace(**fields))

    assert error.field == field and driver in str(error)
    assert "requests" in str(error) and "memory" in str(error) and "--force" in str(error)


TIMERS = [("sentinel", "failover.heartbeat_ms"), ("gc-pause", "failover.heartbeat_ms"),
          ("consensus", "failover.heartbeat_ms"), ("manual-failover", "failover.heartbeat_ms"),
          ("leaderless", "quorum.anti_entropy_ms")]


def ticking_every_ms(preset: str, field: str, duration_ms: float) -> Scenario:
    """A nearly idle run, with no fault, whose heartbeats or anti-entropy rounds come every millisecond."""
    return Scenario.preset(preset).replace(**{"duration_ms": duration_ms, "workload.rate_per_s": 0.001,
                                              "faults.events": [], field: 1.0})


@pytest.mark.parametrize("preset, field", TIMERS)
def test_timers_that_tick_whatever_the_workload_does_are_in_the_estimate(refused, preset, field):
    """A heartbeat (or an anti-entropy round) every millisecond for 1e8 ms ran for hours, as
    the estimate counted requests only; it is refused at once, naming the field."""
    error = refused(ticking_every_ms(preset, field, 1e8))

    assert error.field == field and "hours" in str(error) and "--force" in str(error)


@pytest.mark.parametrize("preset, field", TIMERS)
def test_the_estimate_of_timers_is_on_the_high_side_of_a_real_run(preset, field):
    scenario = ticking_every_ms(preset, field, 500.0)
    size = check_size(scenario)
    run = model.ReplicationModel(scenario)
    run.run()

    assert run.calendar.events_run <= size.events <= 20 * run.calendar.events_run


def test_the_estimate_counts_every_replica_a_leaderless_read_asks():
    """Each replica asked is a message, a read and a row of its own: with N = 32 a run made ~4x
    the events and ~2.5x the bytes per request the estimate counted before it knew of them."""
    scenario = Scenario.preset("leaderless").replace(**{"duration_ms": 500.0, "quorum.nodes": 32, "quorum.n": 32,
                                                       "quorum.r": 32, "quorum.w": 32})
    size = check_size(scenario)
    run = model.ReplicationModel(scenario)
    run.run()

    assert size.replica_reads == pytest.approx(len(Results.from_model(run).responses), rel=0.15)
    assert run.calendar.events_run <= size.events


def test_the_estimate_of_the_reporters_run_is_about_what_it_needed():
    """`--set duration_ms=1e8` needed ~29 GB (143 bytes a request, measured by the reporter): the
    estimate (~80 GiB) is an upper bound of the same order, never below what was needed."""
    size = estimate(BASE.replace(duration_ms=1e8))

    assert size.requests == pytest.approx(2e8)
    assert 25 * 2**30 < size.memory_bytes < 100 * 2**30


def test_force_runs_what_the_machine_seems_too_small_for(refused, monkeypatch):
    monkeypatch.setattr(limits, "available_memory_bytes", lambda: 100 * 2**20)  # as if 100 MB were free
    small = BASE.replace(duration_ms=200.0)

    error = refused(small)
    assert "more than this machine has available (100.0 MB)" in str(error)
    assert replab.run(small, force=True).summary["operations"] > 0


def test_the_estimate_is_near_the_counts_of_a_real_run():
    scenario = BASE.replace(duration_ms=2_000.0)
    size = check_size(scenario)

    results = replab.run(scenario)
    assert size.requests == pytest.approx(results.summary["operations"], rel=0.1)
    assert size.applies == pytest.approx(len(results.applies), rel=0.15)


def test_the_calendar_stops_when_simulated_time_stops_advancing(monkeypatch):
    monkeypatch.setattr(calendar, "STALL_EVENTS", 1_000)
    events = EventCalendar()

    def again(now, _):
        events.schedule(now, again)

    events.schedule(5.0, again)
    with pytest.raises(TimeStalled, match="stopped advancing at 5 ms"):
        events.run_until(100.0)


def test_a_stalled_run_is_stopped_naming_the_tiny_time_fields(monkeypatch, no_hang):
    """With the ceiling lifted and force given, the model still ends: the calendar notices."""
    monkeypatch.setattr(calendar, "STALL_EVENTS", 20_000)
    monkeypatch.setattr(limits, "CEILING_EVENTS", float("inf"))
    scenario = BASE.replace(**{"duration_ms": 100.0, "faults.mttf_ms": 1e-300, "faults.mttr_ms": 1e-300})

    with pytest.raises(TimeStopped) as caught, no_hang(60):
        replab.run(scenario, force=True)

    assert caught.value.field == "faults.mttf_ms"
    assert "look at faults.mttf_ms = 1e-300, faults.mttr_ms = 1e-300" in str(caught.value)


def test_refusing_a_huge_run_allocates_nothing_to_speak_of():
    scenario = BASE.replace(duration_ms=1e8)
    tracemalloc.start()
    with pytest.raises(RunTooBig):
        model.run(scenario)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000
