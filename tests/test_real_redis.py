"""The simulator beside real Redis: the same scenario on real replication gives the same frames.

Each test starts real redis-server (and redis-sentinel) processes, inside network
namespaces made and deleted by the run (as root), and keeps the loads small: a few hundred
operations a second for about a second. Real runs are not deterministic, so the tests
assert directions with margins (a host crash behind lagging replicas loses acknowledged
writes, a process kill none), never speeds.

Needs Debian's redis-server and redis-sentinel: without them these tests skip locally and
fail under CI (env CI set), as the browser test does for chromium.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from replab import Scenario, ScenarioError, real, run
from replab.analysis.checks import check_history

pytestmark = pytest.mark.slow

if not real.available():
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and real runs cannot start: {real.missing()}", pytrace=False)
    pytest.skip(real.missing(), allow_module_level=True)

ROOT_NEEDED = pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"),
                                 reason="host crashes and partitions need network namespaces (root)")

SMALL = Scenario.preset("leader-follower").replace(duration_ms=800, **{
    "topology.followers": 2, "workload.rate_per_s": 400.0, "failover.promote": False})


def crash_at(ms: float, **fields) -> Scenario:
    """SMALL with a crash of the primary at `ms`, half writes at a brisk rate."""
    return SMALL.replace(**{"duration_ms": 1100.0, "workload.rate_per_s": 1600.0, "workload.write_ratio": 0.5,
                            "faults.events": [{"at_ms": ms, "action": "crash", "target": "leader"}], **fields})


def paused_replicas(at_ms: float, for_ms: float) -> list[dict]:
    return [{"at_ms": at_ms, "action": "pause", "target": f"node{i}", "duration_ms": for_ms} for i in (1, 2)]


@pytest.fixture(scope="module")
def pair():
    """One small real run and the same scenario simulated."""
    return real.run(SMALL), run(SMALL)


def test_a_real_run_has_the_simulators_frames_columns_and_categories(pair):
    mine, model = pair
    for name in ("requests", "writes", "applies", "timeline", "events", "sessions", "conflicts", "receipts", "fetches"):
        ours, theirs = getattr(mine, name), getattr(model, name)
        assert list(ours.columns[:len(theirs.columns)]) == list(theirs.columns), name
        for column in theirs.columns:
            if theirs.empty and theirs[column].dtype == object:
                continue  # an empty frame's columns have no dtype to speak of
            assert ours[column].dtype == theirs[column].dtype, (name, column, ours[column].dtype, theirs[column].dtype)
            if isinstance(theirs[column].dtype, __import__("pandas").CategoricalDtype):
                assert list(ours[column].cat.categories) == list(theirs[column].cat.categories), (name, column)
    assert list(mine.summary) == list(model.summary)
    assert {"lag_bytes", "offset"} <= set(mine.timeline.columns)


def test_every_operation_ends_and_the_history_checker_accepts_a_real_run(pair):
    mine, _ = pair
    assert mine.summary["operations"] > 100
    assert mine.summary["operations"] == mine.summary["served"] + mine.summary["refused"] + mine.summary["failed"]
    report = check_history(mine.requests, mine.writes)
    assert report.unfinished == 0 and report.acked_writes_not_accounted == 0
    assert report.lost_acked_writes == mine.summary["lost_acked_writes"] == 0
    assert report.stale_reads == mine.summary["stale_reads"]
    assert mine.writes["acked"].all() and (mine.writes["replicas"] == 2).all()  # every write reached both replicas
    assert (mine.timeline.groupby("t_ms")["node"].count() == 3).all()


def test_a_real_run_saves_and_loads_like_a_simulated_one(pair, tmp_path):
    """Results.save / Results.load keep a real run whole, its summary recomputed the same,
    and its servers' own command counts with it."""
    mine, _ = pair
    loaded = type(mine).load(mine.save(tmp_path / "real"))
    assert loaded.summary.keys() == mine.summary.keys()
    for key, value in mine.summary.items():
        assert loaded.summary[key] == pytest.approx(value, nan_ok=True), key
    assert {"lrange", "rpush", "lindex"} & set(loaded.commands["command"])


def acked_after(results, first: str, last: str):
    """The writes sent after the run's first `first` event and acknowledged by its first `last`
    event. Sent after: planned after it, as an open-loop client never sends before the planned
    instant (on a busy machine it sends later, and fewer than planned: these say how many)."""
    events, writes = results.events, results.writes
    kinds = set(events["kind"])
    assert {first, last} <= kinds, f"the run logged no {first!r} or no {last!r} event: {sorted(kinds)}"
    begins = events.loc[events["kind"] == first, "t_ms"].min()
    ends = events.loc[events["kind"] == last, "t_ms"].min()
    planned = writes["request_id"].map(results.requests.set_index("request_id")["start_ms"])
    return writes[(planned > begins) & writes["acked"] & (writes["ack_ms"] <= ends)]


@ROOT_NEEDED
def test_a_host_crash_behind_lagging_replicas_loses_more_than_a_process_kill():
    """Both replicas are paused 500 ms before the primary dies, with 2 KB values: the backlog
    (~400 writes on a quiet machine) outgrows the replicas' receive buffers (128 KB) but not the
    primary's send buffers (1 MB).
    The kernel of a killed process still delivers all it had written; a crashed host's does
    not. How many are lost varies with the machine's load: a process kill loses none on a
    quiet machine (benchmarks/REAL_RESULTS.md, case C), but with a 300 ms pause it once lost 85
    of ~250 in `make test` with the browser's chapters beside it (a host crash lost 240-330 here
    with the 500 ms pause), so what is asserted is the difference: a host crash loses more.

    A machine busy enough starves the client: with 14 busy processes on two cores it sent no
    write at all in 300 ms, and the host crash lost none, as it should. Such a pair of runs did
    not build the backlog the test is about. So the backlog is counted from the frames (the
    writes sent after the pause and acknowledged before the crash), and a pair with fewer than
    100 is run again (up to three times)."""
    scenario = crash_at(700.0)
    pauses = paused_replicas(200.0, 700.0)
    for _attempt in range(3):
        killed = real.run(scenario, pauses, crash="process", value_bytes=2000)
        crashed = real.run(scenario, pauses, crash="host", value_bytes=2000)
        # the backlog a crash can lose (each replica's receive buffer holds ~64 writes of 2 KB)
        backlogs = len(acked_after(killed, "pause", "crash")), len(acked_after(crashed, "pause", "crash"))
        if min(backlogs) >= 100:
            break
    assert min(backlogs) >= 100, f"the machine was too busy to build a backlog three times: {backlogs} writes"
    assert crashed.summary["lost_acked_writes"] >= 10
    assert killed.summary["lost_acked_writes"] < crashed.summary["lost_acked_writes"]
    assert (crashed.writes.loc[crashed.writes["lost"], "lost_reason"] == "never left the failed leader").all()
    assert list(crashed.events["kind"][:1]) == ["pause"] and "host crash" in " ".join(crashed.events["detail"])


@ROOT_NEEDED
def test_an_isolated_primary_that_dies_loses_its_async_writes_and_no_wait_1_write():
    """Cut off from its replicas (clients still reach it), then crashed: every write it
    acknowledged alone is lost under async; WAIT 1 acknowledged none of them.

    On a quiet machine the primary acknowledges ~110 writes alone. In `make test` beside two
    busy processes it once lost 16 where this test expected 30, so it now counts them from the
    frames: the writes sent after the cut (the isolate event is logged once the links are
    down) and acknowledged before the crash. Fewer than 10, and the runs are made again (up
    to three times)."""
    scenario = crash_at(650.0, **{"workload.rate_per_s": 600.0, "duration_ms": 900.0})
    isolate = [{"at_ms": 300.0, "action": "isolate", "target": "leader"}]
    for _attempt in range(3):
        alone = real.run(scenario, isolate)
        acked_alone = acked_after(alone, "isolate", "crash")
        if len(acked_alone) >= 10:
            break
    assert len(acked_alone) >= 10, f"the machine was too busy: {len(acked_alone)} writes acknowledged alone"
    assert acked_alone["lost"].all()
    waited = real.run(scenario.replace(**{"replication.ack": "semi-sync"}), isolate)
    assert len(acked_after(waited, "isolate", "crash")) == 0
    assert waited.summary["lost_acked_writes"] == 0
    assert waited.summary["failed"] > alone.summary["failed"]  # the WAITs that never came back


def test_a_replica_refuses_writes_readonly():
    """A switchover nobody tells the clients about: their writes reach a replica, which refuses them."""
    results = real.run(SMALL, [{"at_ms": 300.0, "action": "switchover", "target": "node1"}])
    refused = results.requests[(results.requests["op"] == "write") & (results.requests["outcome"] == "refused")]
    assert len(refused) > 10
    assert set(refused["reason"]) == {"not leader"} and set(refused["node"]) == {"node0"}
    # refused once the switchover at 300 ms was done (a write sent just before it may arrive after it:
    # one sent at 268 ms was, under make test's load)
    assert refused["end_ms"].min() >= 300.0
    assert results.summary["lost_acked_writes"] == 0


@ROOT_NEEDED
def test_sentinel_promotes_a_replica_and_the_cut_off_primarys_writes_are_thrown_away():
    """Split brain: the primary is cut off from the replicas and the Sentinel but not from the
    clients; the Sentinel promotes a replica; when the old primary rejoins it becomes a replica
    and the writes it took alone are gone."""
    # down-after 500 ms: shorter, and a Sentinel on a busy two-core machine suspects live nodes
    scenario = SMALL.replace(duration_ms=3500, **{"failover.promote": True, "failover.detection_ms": 500.0,
                                                  "workload.rate_per_s": 300.0})
    results = real.run(scenario, [{"at_ms": 200.0, "action": "isolate", "target": "leader", "duration_ms": 2700.0}],
                       sentinels=1)
    kinds = list(results.events["kind"])
    for kind in ("isolate", "+sdown", "+odown", "promote", "heal"):
        assert kind in kinds, (kind, kinds)
    assert kinds.index("+sdown") < kinds.index("+odown") < kinds.index("promote") < kinds.index("heal")
    assert results.summary["lost_acked_writes"] >= 20
    lost = results.writes[results.writes["lost"]]
    assert (lost["leader"] == "node0").all() and lost["ack_ms"].min() >= 200.0
    assert check_history(results.requests, results.writes).unfinished == 0


def test_calibrate_then_compare_side_by_side():
    measured = real.measure(SMALL, duration_ms=300.0)
    assert measured["reads"] > 20 and 0 < measured["read_p50_ms"] <= measured["read_p90_ms"]
    calibrated = real.calibrate(SMALL, measured)
    assert calibrated.topology.workers == 1 and calibrated.network.hop.dist == "lognormal"
    # a sequential read is four hops and a read's service: their means add up to the round trip's
    hops = 4 * calibrated.network.hop.mean_ms + calibrated.service.read.mean_ms
    assert measured["read_p50_ms"] <= hops <= 2 * measured["read_p90_ms"]
    table = real.compare(real.run(calibrated), run(calibrated), tolerances={"availability": ("absolute", 0.05)})
    assert set(real.FIGURES) == set(table.index.get_level_values("figure"))
    row = table.loc[("read_p50_ms", "async")]
    assert row["difference"] == pytest.approx(row["real"] - row["simulated"])
    assert table.loc[("availability", "async"), "within"] is True


def test_bad_input_gets_one_line_naming_the_field():
    cases = [
        (SMALL.replace(**{"replication.kind": "leader-leader", "topology.leaders": 2}), {}, "replication.kind"),
        (SMALL.replace(**{"faults.events": [{"at_ms": 1, "action": "crash", "target": "switch0"}]}), {},
         "faults.events[0].target"),
        (SMALL, {"faults": [{"at_ms": 1, "action": "explode", "target": "node1"}]}, "faults[0].action"),
        (SMALL, {"faults": [{"at_ms": 1, "action": "pause", "target": "node7"}]}, "faults[0].target"),
        (SMALL, {"faults": [{"at_ms": 1, "action": "sleep", "target": "node1"}]}, "faults[0].duration_ms"),
        (SMALL, {"crash": "meteor"}, "crash"),
        (SMALL, {"sentinels": -1}, "sentinels"),
        (SMALL.replace(**{"failover.promote": True}), {"sentinels": 0}, "sentinels"),
    ]
    for scenario, options, field in cases:
        with pytest.raises(ScenarioError) as caught:
            real.run(scenario, **options)
        assert caught.value.field == field and "\n" not in str(caught.value)


def test_on_the_loopback_a_crash_is_a_process_kill_and_host_faults_are_refused():
    results = real.run(crash_at(500.0, **{"workload.rate_per_s": 400.0}), network="loopback")
    assert "process killed" in " ".join(results.events["detail"]) and results.summary["lost_acked_writes"] == 0
    with pytest.raises(ScenarioError, match="namespaces"):
        real.run(SMALL, [{"at_ms": 1, "action": "partition", "target": "node1"}], network="loopback")


def _children(pid: int, named: str = "") -> list[int]:
    """The live children of `pid` (whose command name contains `named`)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = []
    for child in map(int, out):
        try:
            with open(f"/proc/{child}/comm") as comm:
                if named in comm.read():
                    found.append(child)
        except FileNotFoundError:
            pass  # gone meanwhile
    return found


def _gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ")[1][0] != "Z":
                    return False
        except FileNotFoundError:
            pass
    return True


def test_nothing_is_left_after_an_error(monkeypatch):
    """The servers are up when something goes wrong: they and the namespaces go anyway."""
    started = []

    def fail_mid_run(self):
        started.extend(_children(os.getpid(), "redis"))
        raise RuntimeError("a fault went wrong")

    monkeypatch.setattr(real.driver.RealRun, "_drive", fail_mid_run)
    with pytest.raises(RuntimeError, match="a fault went wrong"):
        real.run(SMALL)
    assert len(started) == 3
    assert _gone(started)
    assert real.network.run_namespaces(os.getpid()) == []


def _driver(sentinels: int) -> subprocess.Popen:
    """A long real run in a process of its own."""
    script = textwrap.dedent(f"""
        from replab import Scenario
        from replab import real
        scenario = Scenario.preset("leader-follower").replace(duration_ms=60_000, **{{
            "topology.followers": 2, "workload.rate_per_s": 100.0, "failover.promote": {bool(sentinels)}}})
        real.run(scenario, sentinels={sentinels})
    """)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_nothing_is_left_after_ctrl_c_sigterm_or_kill_9():
    """Three runs in processes of their own, stopped mid-run by a signal each: Ctrl-C and
    SIGTERM let a run clean up; after kill -9 its servers die with it (parent-death signal)
    and `cleanup_leftovers` deletes the namespaces it could not. Any real run starts with
    `cleanup_leftovers`, so another one at the same time (chapter 14 in the browser, beside
    this test under `make test`) may delete them first: what holds either way is that they
    existed while the run lived and are gone once cleaned up."""
    runs = {signal.SIGINT: (_driver(1), 4), signal.SIGTERM: (_driver(0), 3), signal.SIGKILL: (_driver(0), 3)}
    servers: dict[int, list[int]] = {}
    made: dict[int, list[str]] = {}  # each run's namespaces, seen while it ran
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(servers) < len(runs):
            time.sleep(0.2)
            for signum, (child, expected) in runs.items():
                found = _children(child.pid, "redis")
                if signum not in servers and len(found) == expected:
                    servers[signum] = found
                    made[signum] = real.network.run_namespaces(child.pid)
                    time.sleep(0.3)  # into the run
                    child.send_signal(signum)
                assert child.poll() is None or signum in servers, child.communicate()[1][-500:]
        assert len(servers) == len(runs), "some run's servers never all started"
        errors = {signum: child.communicate(timeout=60)[1] for signum, (child, _) in runs.items()}
    finally:
        for child, _ in runs.values():
            if child.poll() is None:
                child.kill()
    deadline = time.monotonic() + 10
    while not all(_gone(pids) for pids in servers.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for signum, pids in servers.items():
        assert _gone(pids), signum
    assert "KeyboardInterrupt" in errors[signal.SIGINT] and "KeyboardInterrupt" in errors[signal.SIGTERM]
    killed = runs[signal.SIGKILL][0].pid
    assert made[signal.SIGKILL] or os.geteuid() != 0  # a killed run had namespaces to leave behind
    left = real.network.run_namespaces(killed)
    assert set(left) <= set(real.cleanup_leftovers())
    for child, _ in runs.values():
        assert real.network.run_namespaces(child.pid) == []
