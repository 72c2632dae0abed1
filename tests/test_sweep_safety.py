"""Sweeps never lose or overwrite a row unasked, refuse absurd plans before building them,
outlive a worker that dies, and leave no worker behind when they are killed (issue 11)."""

import os
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings

import pandas as pd
import pytest
from filelock import FileLock

import replab
from replab import Scenario, ScenarioError
from replab.config import limits
from replab.experiments import engines
from replab.experiments import sweep as sweep_module
from replab.experiments.engines import WORKER_DIED, check_address
from replab.experiments.sweep import plan
from replab.experiments.sweep_file import SweepFile

BASE = Scenario.preset("leader-follower").replace(**{"duration_ms": 300.0, "workload.rate_per_s": 400.0})
FAILED_ONCE: list[int] = []


def run_failing_the_first_time_at_two(scenario):
    if scenario.topology.followers == 2 and not FAILED_ONCE:
        FAILED_ONCE.append(2)
        raise RuntimeError("a passing glitch")
    return replab.run(scenario)


def run_killing_its_worker_at_two(scenario):
    """A run that takes its worker process down, as the out-of-memory killer would."""
    if scenario.topology.followers == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return replab.run(scenario)


def test_a_plan_of_a_billion_runs_is_refused_before_it_is_built():
    grid = {path: list(range(1, 65)) for path in ("topology.followers", "topology.workers", "workload.keys",
                                                  "workload.sessions", "topology.apply_concurrency")}
    tracemalloc.start()
    with pytest.raises(ScenarioError) as caught:
        plan(BASE, grid=grid)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert caught.value.field == "grid" and "plans 1,073,741,824 runs, more than 100,000" in str(caught.value)
    assert peak < 1_000_000, "counted, not built (the old plan took 7 GB)"


def test_a_million_replicates_are_refused_and_force_lifts_the_limit_only_up_to_the_memory(monkeypatch):
    with pytest.raises(ScenarioError, match=r"replicates = 1000000: plans 3,000,000 runs") as caught:
        plan(BASE, grid={"topology.followers": [1, 2, 3]}, replicates=1_000_000)
    assert "--force" in str(caught.value)

    monkeypatch.setattr(sweep_module, "available_memory_bytes", lambda: 2**30)
    with pytest.raises(ScenarioError, match="whose plan and rows alone would need 22.9 GB"):
        plan(BASE, grid={"topology.followers": [1, 2, 3]}, replicates=1_000_000, force=True)


def test_an_empty_grid_or_sample_list_is_refused_not_run_once():
    with pytest.raises(ScenarioError, match="grid = {}: lists no field"):
        plan(BASE, grid={})
    with pytest.raises(ScenarioError, match=r"samples = \[\]: lists no sample"):
        plan(BASE, samples=[])


def test_a_run_too_big_for_the_machine_is_refused_naming_the_run(monkeypatch):
    """A 1e8 ms run is estimated at ~80 GiB: too much for a machine with 8 GB free (the test fixes the
    free memory, so it does not depend on what the machine it runs on has left)."""
    monkeypatch.setattr(limits, "available_memory_bytes", lambda: 8 * 2**30)
    with pytest.raises(ScenarioError, match=r"the run with duration_ms=100000000.0 would need about"):
        plan(BASE, grid={"duration_ms": [300.0, 1e8]})


def test_a_second_sweep_into_a_file_being_written_is_refused(tmp_path):
    out = tmp_path / "rows.parquet"
    with FileLock(str(tmp_path / ".rows.parquet.lock")), \
            pytest.raises(ScenarioError, match="is being written by another sweep right now"):  # another sweep writes it
        replab.sweep(BASE, grid={"topology.followers": [1]}, out=out, engine="serial", progress=False)
    assert not out.exists()

    replab.sweep(BASE, grid={"topology.followers": [1]}, out=out, engine="serial", progress=False)
    assert len(pd.read_parquet(out)) == 1


def test_rows_are_stored_in_plan_order_whatever_order_they_finish_in(tmp_path):
    runs = plan(BASE, grid={"topology.followers": [1, 2, 3]})
    store = SweepFile(tmp_path / "rows.parquet", BASE, 0)
    store.rows_for(runs)
    for run in reversed(runs):  # the last planned run finished first
        store.add({**run.values, "replicate": 0, "seed": run.seed, "error": "", "run_key": run.key})
    store.close()

    assert pd.read_parquet(tmp_path / "rows.parquet")["topology.followers"].tolist() == [1, 2, 3]


def test_the_partial_file_is_created_securely_and_never_follows_a_planted_link(tmp_path):
    out = tmp_path / "rows.parquet"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for guess in (f".rows.parquet.{os.getpid()}.partial", ".rows.parquet.partial"):
        (tmp_path / guess).symlink_to(victim)  # the names the old code would have used

    replab.sweep(BASE, grid={"topology.followers": [1]}, out=out, engine="serial", progress=False)

    assert victim.read_text() == "precious"
    assert len(pd.read_parquet(out)) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial") and not p.is_symlink()]


def test_resuming_can_run_the_failed_runs_again(tmp_path):
    out = tmp_path / "rows.parquet"
    FAILED_ONCE.clear()
    with pytest.warns(RuntimeWarning, match="1 of 2 sweep runs failed"):
        replab.sweep(BASE, grid={"topology.followers": [1, 2]}, out=out, engine="serial", progress=False,
                     runner=run_failing_the_first_time_at_two)

    again = replab.sweep(BASE, grid={"topology.followers": [1, 2]}, out=out, engine="serial", progress=False,
                         runner=run_failing_the_first_time_at_two, retry_errors=True)

    assert again["error"].tolist() == ["", ""]
    assert (again.attrs["runs_executed"], again.attrs["runs_resumed"]) == (1, 1)
    assert pd.read_parquet(out)["error"].tolist() == ["", ""], "the error row was replaced, not added to"


def test_a_sweep_says_how_many_runs_it_plans_before_it_starts(tmp_path, capsys):
    replab.sweep(BASE, grid={"topology.followers": [1, 2]}, replicates=2, engine="serial", progress=True)

    assert capsys.readouterr().err.startswith("sweep: 4 runs planned, 4 to run on serial")


def test_local_workers_are_capped_at_the_cpus_unless_forced(monkeypatch):
    monkeypatch.setattr(sweep_module, "local_workers", lambda: 2)

    with pytest.warns(RuntimeWarning, match="workers=64 capped at the 2 CPUs available"):
        assert sweep_module._workers("processes", 64, None, force=False) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sweep_module._workers("processes", 64, None, force=True) == 64
        assert sweep_module._workers("dask", 64, "tcp://127.0.0.1:8786", force=False) == 64  # someone else's cluster


@pytest.mark.parametrize(("cpu_max", "workers"), [("100000 100000", 1), ("150000 100000", 1), ("max 100000", 2)])
def test_a_containers_cpu_quota_caps_the_local_workers(monkeypatch, tmp_path, cpu_max, workers):
    """A Binder pod may see every CPU of its host and be allowed one (cgroup v2's cpu.max):
    sweeps and a Lab's runs ahead count what it is allowed."""
    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max + "\n")
    monkeypatch.setattr(engines, "Path", lambda _path: quota)
    monkeypatch.setattr(engines.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert engines.local_workers() == workers


@pytest.mark.parametrize("address", ["notanaddress", "tcp://", "tcp://host", "tcp://host:99999", "http://host:80",
                                     "tcp://a b:1", "", 8786])
def test_a_scheduler_address_must_be_one(address):
    with pytest.raises(ScenarioError, match="must be a Dask scheduler address"):
        check_address(address)


def test_a_plaintext_scheduler_on_another_machine_is_warned_about():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for safe in ("tcp://127.0.0.1:8786", "localhost:8786", "tcp://[::1]:8786", "tls://10.0.0.5:8786"):
            check_address(safe)
    with pytest.warns(RuntimeWarning, match="plaintext connection to another machine"):
        check_address("tcp://10.0.0.5:8786")


@pytest.mark.slow
def test_a_run_that_kills_its_worker_gets_an_error_row_and_the_sweep_goes_on():
    with pytest.warns(RuntimeWarning, match="1 of 3 sweep runs failed"):
        frame = replab.sweep(BASE, grid={"topology.followers": [1, 2, 3]}, engine="processes", workers=2,
                             progress=False, runner=run_killing_its_worker_at_two)

    assert frame["error"].tolist() == ["", WORKER_DIED, ""]
    assert frame["operations"].notna().tolist() == [True, False, True]


def test_a_worker_ends_when_its_parent_is_killed():
    """As in a sweep's pool: a parent starts a worker that arms die_with_parent, then the parent
    is killed with SIGKILL (no chance to shut its pool down)."""
    worker = ("import sys, time; from replab.experiments.parent_watch import die_with_parent; "
              "die_with_parent(int(sys.argv[1])); print('armed', flush=True); time.sleep(60)")
    parent = ("import os, subprocess, sys; "
              f"child = subprocess.Popen([sys.executable, '-c', {worker!r}, str(os.getpid())]); "
              "print(child.pid, flush=True); child.wait()")
    started = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    try:
        child = int(started.stdout.readline())
        assert started.stdout.readline().strip() == "armed"  # the child has armed itself (it shares the pipe)
        started.kill()
        started.wait(timeout=30)
        for _ in range(100):  # the kernel (PR_SET_PDEATHSIG) or the watch thread ends it
            if not _alive(child):
                break
            time.sleep(0.1)
        assert not _alive(child), "the worker outlived its parent"
    finally:
        started.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
