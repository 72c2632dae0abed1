"""A Lab runs ahead of the student: the settings one change away are run in a background process
while the charts are looked at, and a change to one of them is drawn at once, identical.

The suite turns this off for every other Lab (conftest: REPLAB_LOOKAHEAD=0); here it is asked for.
"""

from __future__ import annotations

import time

import pytest

from replab import Scenario
from replab.lab import Lab, lookahead
from replab.lab.lookahead import Lookahead, enabled, neighbours, shut_down

SHORT = Scenario.preset("leader-follower").replace(duration_ms=1000.0)


def test_the_settings_one_change_away_come_most_likely_first():
    lab = Lab(SHORT, controls=["topology.followers", "workload.write_ratio", "replication.ack"], run=False,
              live=False, lookahead=False)
    lab.set("topology.followers", 4)  # from 3: the student is moving it up
    nearby = neighbours(lab.scenario, lab.controls, lab._last_change)
    changes = [next(iter(lab.scenario.diff(s).items())) for s in nearby]
    assert changes[0] == ("topology.followers", (4, 5))  # one more notch the same way
    assert ("replication.ack", ("async", "sync")) in changes and ("replication.ack", ("async", "semi-sync")) in changes
    assert ("topology.followers", (4, 3)) in changes
    # a slider in hundredths is let go at round values: a tenth of its range either way
    assert ("workload.write_ratio", (0.2, 0.3)) in changes and ("workload.write_ratio", (0.2, 0.1)) in changes
    assert all(len(lab.scenario.diff(s)) == 1 for s in nearby) and lab.scenario not in nearby


def test_a_neighbour_the_rules_refuse_is_not_run():
    """Reads go to followers in this preset, so 0 followers is not a setting the student can reach."""
    one = SHORT.replace(**{"topology.followers": 1})
    lab = Lab(one, controls=["topology.followers"], run=False, live=False, lookahead=False)
    assert [s.topology.followers for s in neighbours(one, lab.controls)] == [2]


def test_the_store_keeps_the_latest_runs_only():
    store = Lookahead(size=2)
    runs = [SHORT.replace(seed=seed) for seed in (1, 2, 3)]
    for scenario in runs:
        store.keep(scenario, f"results of seed {scenario.seed}")
    assert store.get(runs[0]) is None and store.get(runs[2]) == "results of seed 3"


def test_the_lab_the_student_turns_to_takes_over_the_background_process():
    """Two Labs in one kernel share one background process; the one planning last goes first:
    the other's runs not started yet are dropped (a run the pool has handed to the process,
    at most two, goes on)."""
    first, second = Lookahead(), Lookahead()
    earlier = [SHORT.replace(seed=seed) for seed in range(1, 7)]
    first.plan(earlier)
    second.plan([SHORT.replace(seed=99)])
    assert sum(first.queued(s) for s in earlier) <= 2 and second.queued(SHORT.replace(seed=99))
    for _ in range(12_000):  # only a hang ends this loop: the process starts, imports replab and runs
        if second.get(SHORT.replace(seed=99)) is not None:
            break
        time.sleep(0.01)
    shut_down()
    assert second.ran_ahead == 1 and first.ran_ahead <= 2


def test_the_background_process_ends_when_there_is_nothing_to_run(monkeypatch):
    """A kernel left open with a Lab in it does not keep the process (~200 MB) for nothing."""
    monkeypatch.setattr(lookahead, "IDLE_S", 0.2)
    store = Lookahead()
    store.plan([SHORT.replace(seed=5)])
    assert lookahead.running()
    for _ in range(12_000):  # only a hang ends this loop
        if store.get(SHORT.replace(seed=5)) is not None and not lookahead.running():
            break
        time.sleep(0.01)
    assert store.ran_ahead == 1 and not lookahead.running()


def test_the_suite_and_one_cpu_machines_do_not_run_ahead(monkeypatch):
    assert not enabled()  # conftest sets REPLAB_LOOKAHEAD=0
    assert Lab(SHORT, run=False, live=False).lookahead is None
    monkeypatch.setenv("REPLAB_LOOKAHEAD", "1")
    monkeypatch.setattr("replab.lab.lookahead.local_workers", lambda: 1)
    assert not enabled()


@pytest.mark.slow
def test_in_a_kernel_a_change_run_ahead_is_drawn_at_once_and_is_the_same_run():
    """In a real kernel: the Lab's first run plans its neighbours; once the background process
    has run 'sync acks', choosing it draws that run with no simulation in the kernel, and it is
    frame for frame the run the kernel makes itself."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "import asyncio\nfrom replab import Scenario\nfrom replab.lab import Lab\n"
        "lab = Lab(Scenario.preset('leader-follower').replace(duration_ms=1000.0), charts=['latency'], lookahead=True)\n"
        "target = lab.scenario.replace(**{'replication.ack': 'sync'})",
        "for _ in range(120_000):  # only a hang stops this loop: the worker starts, imports replab and runs\n"
        "    if lab.lookahead.get(target) is not None:\n"
        "        break\n"
        "    await asyncio.sleep(0.005)\n"
        "lab.controls['replication.ack'].value = 'sync'\n"
        "while lab.results.scenario != target:\n"
        "    await asyncio.sleep(0.005)\n"
        "print(lab.timings['ahead'], 'already run' in lab.status.value, lab.lookahead.served)",
        "import replab, pandas\n"
        "mine = replab.run(target)\n"
        "for name in ('requests', 'writes', 'applies', 'timeline'):\n"
        "    pandas.testing.assert_frame_equal(getattr(mine, name), getattr(lab.results, name))\n"
        "print(pandas.Series(mine.summary).equals(pandas.Series(lab.results.summary)))",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    said = [cell.outputs[0]["text"] for cell in notebook.cells[1:]]
    assert said == ["True True 1\n", "True\n"]


@pytest.mark.slow
def test_interrupting_the_kernel_leaves_the_background_process_be(tmp_path):
    """JupyterLab's interrupt button signals the kernel's whole process group, the background
    process included. The interrupt is for the student's cell: the process goes on running
    ahead (the same process, before and after), and prints no traceback in JupyterLab's terminal."""
    manager = pytest.importorskip("jupyter_client.manager")
    terminal = tmp_path / "kernel-stderr.txt"
    with terminal.open("w") as stderr:
        kernel, client = manager.start_new_kernel(kernel_name="python3", stderr=stderr)

    def run_ahead(seed: int) -> str:
        """Have the background process run one scenario; the kernel's child processes once it has."""
        said = []
        reply = client.execute_interactive(
            f"target = SHORT.replace(seed={seed})\n"
            "store.plan([target])\n"
            "for _ in range(6_000):  # a minute at most\n"
            "    if store.get(target) is not None:\n"
            "        break\n"
            "    time.sleep(0.01)\n"
            "print([p.pid for p in multiprocessing.active_children()] if store.get(target) else 'not run ahead')",
            timeout=300, output_hook=lambda m: said.append(m["content"].get("text", "")))
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(said).strip()

    try:
        client.execute_interactive("import multiprocessing, time\nfrom replab import Scenario\n"
                                   "from replab.lab.lookahead import Lookahead\n"
                                   "SHORT = Scenario.preset('leader-follower').replace(duration_ms=1000.0)\n"
                                   "store = Lookahead()", timeout=300)
        before = run_ahead(1)  # the process has nothing more to run: it waits for work
        kernel.interrupt_kernel()
        time.sleep(1.0)  # the signal lands
        after = run_ahead(2)
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
    assert before.startswith("[") and before != "[]"
    assert after == before
    assert "Traceback" not in terminal.read_text()


def test_without_a_kernel_nothing_is_run_ahead():
    """Plain Python (a script, a test) has no one looking at the charts: the Lab only keeps its runs."""
    lab = Lab(SHORT, charts=["latency"], lookahead=True)
    assert lab.lookahead.get(SHORT) is lab.results and not lab.lookahead.queued(SHORT.replace(**{"replication.ack": "sync"}))
    assert not lookahead.running()
