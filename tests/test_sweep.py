"""Sweeps: many scenarios through the same run function, one row per run.

Every scenario here is short (1 s simulated at 400 operations/s), so a run takes a few
hundredths of a second and the engines' start-up dominates.
"""

from pathlib import Path

import pandas as pd
import pytest

import replab
from replab import Scenario, ScenarioError
from replab.experiments.sweep import load_spec, plan

BASE = Scenario.preset("leader-follower").replace(**{
    "duration_ms": 1000.0, "workload.rate_per_s": 400.0, "workload.sessions": 20})
GRID = {"topology.followers": [1, 2], "workload.write_ratio": [0.1, 0.5]}
SWEEPS = Path(__file__).parent.parent / "data" / "sweeps"

EXECUTED: list[int] = []  # followers of each run the counting runner saw (serial engine: same process)


def counting_run(scenario):
    EXECUTED.append(scenario.topology.followers)
    return replab.run(scenario)


def run_failing_with_two_followers(scenario):
    """A stand-in for a bug in a model: a valid scenario that raises while it simulates."""
    if scenario.topology.followers == 2:
        raise RuntimeError("the model tripped over two followers")
    return replab.run(scenario)


def run_interrupted_at_three_followers(scenario):
    """As if the user pressed Ctrl-C during the third run."""
    if scenario.topology.followers == 3:
        raise KeyboardInterrupt
    return replab.run(scenario)


@pytest.fixture(autouse=True)
def fresh_count():
    EXECUTED.clear()


def without_wall_time(frame):
    return frame.drop(columns="wall_s")


def test_one_row_per_run_with_varied_fields_replicate_seed_metrics_and_error():
    frame = replab.sweep(BASE, grid=GRID, replicates=2, engine="serial", progress=False)

    assert len(frame) == 2 * 2 * 2
    assert list(frame.columns[:4]) == ["topology.followers", "workload.write_ratio", "replicate", "seed"]
    assert list(frame.columns[-3:]) == ["wall_s", "error", "run_key"]
    assert set(BASE.to_flat()).isdisjoint(frame.columns[4:])  # only the varied fields are columns
    assert {"throughput_per_s", "read_p99_ms", "lost_acked_writes", "mean_lag_ms"} <= set(frame.columns)
    assert (frame["error"] == "").all() and (frame["wall_s"] > 0).all()
    assert frame["seed"].nunique() == 8, "each run, replicates included, draws its own random numbers"
    # rows come in plan order: the grid's product, replicates innermost
    assert frame[["topology.followers", "workload.write_ratio", "replicate"]].values.tolist() == [
        [1, 0.1, 0], [1, 0.1, 1], [1, 0.5, 0], [1, 0.5, 1], [2, 0.1, 0], [2, 0.1, 1], [2, 0.5, 0], [2, 0.5, 1]]


def test_a_row_is_what_running_its_scenario_alone_gives():
    frame = replab.sweep(BASE, grid=GRID, engine="serial", progress=False)
    row = frame.iloc[3]

    alone = replab.run(BASE.replace(**{"topology.followers": int(row["topology.followers"]),
                                       "workload.write_ratio": float(row["workload.write_ratio"]),
                                       "seed": int(row["seed"])}))

    assert row[list(alone.summary)].to_dict() == pytest.approx(alone.summary, nan_ok=True)


def test_a_runs_seed_comes_from_the_sweep_seed_and_the_run_not_from_its_position():
    forward = replab.sweep(BASE, grid=GRID, seed=7, engine="serial", progress=False)
    backward = replab.sweep(BASE, grid={"topology.followers": [2, 1], "workload.write_ratio": [0.5, 0.1]},
                            seed=7, engine="serial", progress=False)
    reseeded = replab.sweep(BASE, grid=GRID, seed=8, engine="serial", progress=False)

    key = ["topology.followers", "workload.write_ratio"]
    pd.testing.assert_frame_equal(without_wall_time(forward),
                                  without_wall_time(backward.sort_values(key).reset_index(drop=True)))
    assert set(reseeded["seed"]).isdisjoint(forward["seed"])


@pytest.mark.slow
def test_serial_processes_and_dask_engines_give_the_same_rows():
    serial = replab.sweep(BASE, grid=GRID, replicates=2, engine="serial", progress=False)
    processes = replab.sweep(BASE, grid=GRID, replicates=2, engine="processes", workers=2, progress=False)
    dask = replab.sweep(BASE, grid=GRID, replicates=2, engine="dask", workers=2, progress=False)  # a real LocalCluster

    pd.testing.assert_frame_equal(without_wall_time(serial), without_wall_time(processes))
    pd.testing.assert_frame_equal(without_wall_time(serial), without_wall_time(dask))


@pytest.mark.slow
def test_the_dask_engine_can_use_a_cluster_that_is_already_running():
    distributed = pytest.importorskip("distributed")
    serial = replab.sweep(BASE, grid=GRID, engine="serial", progress=False)

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = replab.sweep(BASE, grid=GRID, engine="dask", address=cluster.scheduler_address, progress=False)
        assert len(cluster.workers) == 1, "the sweep leaves someone else's cluster running"

    pd.testing.assert_frame_equal(without_wall_time(serial), without_wall_time(remote))


def test_samples_are_listed_points_and_a_grid_crosses_every_sample():
    frame = replab.sweep(BASE, samples=[{"topology.followers": 1}, {"replication.ack": "sync"}],
                         grid={"workload.write_ratio": [0.1, 0.5]}, engine="serial", progress=False)

    # a sample that leaves a field alone shows the base's value in that column
    assert frame[["topology.followers", "replication.ack", "workload.write_ratio"]].values.tolist() == [
        [1, "async", 0.1], [1, "async", 0.5], [3, "sync", 0.1], [3, "sync", 0.5]]


@pytest.mark.slow
def test_a_run_that_fails_while_simulating_is_recorded_and_the_sweep_goes_on():
    with pytest.warns(RuntimeWarning, match="1 of 3 sweep runs failed .* the first: RuntimeError: the model tripped"):
        frame = replab.sweep(BASE, grid={"topology.followers": [1, 2, 3]}, engine="processes", workers=2,
                             progress=False, runner=run_failing_with_two_followers)

    assert frame["error"].tolist() == ["", "RuntimeError: the model tripped over two followers", ""]
    assert frame["operations"].isna().tolist() == [False, True, False]


def test_resuming_skips_the_runs_already_in_the_file(tmp_path):
    out = tmp_path / "rows.parquet"
    first = replab.sweep(BASE, grid={"topology.followers": [1, 2]}, out=out, engine="serial",
                         progress=False, runner=counting_run)
    assert EXECUTED == [1, 2]

    EXECUTED.clear()
    wider = replab.sweep(BASE, grid={"topology.followers": [1, 2, 3]}, out=out, engine="serial",
                         progress=False, runner=counting_run)

    assert EXECUTED == [3], "only the new grid point ran"
    assert (wider.attrs["runs_executed"], wider.attrs["runs_resumed"]) == (1, 2)
    pd.testing.assert_frame_equal(wider.iloc[:2], first)  # read back from the file, wall_s included
    assert pd.read_parquet(out)["topology.followers"].tolist() == [1, 2, 3]


def test_an_interrupted_sweep_leaves_a_readable_file_that_resuming_completes(tmp_path):
    out = tmp_path / "rows.parquet"
    grid = {"topology.followers": [1, 2, 3, 4]}
    with pytest.raises(KeyboardInterrupt):
        replab.sweep(BASE, grid=grid, out=out, engine="serial", progress=False,
                     runner=run_interrupted_at_three_followers)

    assert pd.read_parquet(out)["topology.followers"].tolist() == [1, 2]

    finished = replab.sweep(BASE, grid=grid, out=out, engine="serial", progress=False, runner=counting_run)
    assert EXECUTED == [3, 4]
    assert finished["topology.followers"].tolist() == [1, 2, 3, 4]
    assert (finished["error"] == "").all()


def test_a_file_holding_another_sweep_is_refused(tmp_path):
    out = tmp_path / "rows.parquet"
    replab.sweep(BASE, grid={"topology.followers": [1]}, out=out, engine="serial", progress=False)

    with pytest.raises(ScenarioError) as err:
        replab.sweep(BASE, grid={"topology.followers": [1]}, seed=1, out=out, engine="serial", progress=False)
    assert err.value.field == "out" and "another base scenario or seed" in str(err.value)


@pytest.mark.parametrize("arguments, field, words", [
    ({"grid": {"topology.followers": [1, 2, -1]}}, "topology.followers", "integer from 0 to 32"),
    ({"grid": {"topology.folowers": [1]}}, "topology.folowers", "did you mean 'topology.followers'"),
    ({"grid": {"topology.followers": 3}}, "grid.topology.followers", "non-empty list"),
    ({"grid": {"topology.followers": [1, 0]}}, "replication.reads", "in the run with topology.followers=0"),
    ({"samples": [{"replication.ack": "sometimes"}]}, "replication.ack", "'async', 'semi-sync', 'sync'"),
    ({"samples": [{"topology.followers": 1}, {"topology.followers": 1}]}, "samples", "same run twice"),
    ({"grid": {"topology.followers": [1]}, "replicates": 0}, "replicates", "whole number from 1"),
    ({"grid": {"seed": [1, 2]}, "replicates": 2}, "replicates", "sets seed itself"),
    ({"engine": "threads"}, "engine", "'serial', 'processes', 'dask'"),
    ({"engine": "processes", "address": "tcp://127.0.0.1:8786"}, "address", "needs engine='dask'"),
])
def test_bad_sweeps_are_refused_before_anything_runs(arguments, field, words):
    with pytest.raises(ScenarioError) as err:
        replab.sweep(BASE, progress=False, runner=counting_run, **{"engine": "serial", **arguments})

    assert err.value.field == field and words in str(err.value)
    assert EXECUTED == []


def test_the_example_specs_are_valid_sweeps():
    for path in sorted(SWEEPS.glob("*.toml")):
        assert len(plan(**load_spec(path))) > 1, path.name


def test_the_lost_writes_example_shows_async_acks_losing_writes_and_waiting_acks_not():
    frame = replab.sweep(**load_spec(SWEEPS / "lost-writes-vs-ack.toml"), engine="serial", progress=False)

    lost = frame.groupby("replication.ack")["lost_acked_writes"].sum()
    assert lost["async"] > 0
    assert lost["semi-sync"] == lost["sync"] == 0
    assert frame["faults.events"].iloc[0] == '[{"at_ms": 500.0, "action": "crash", "target": "leader"}]'


@pytest.mark.parametrize("text, field", [
    ('base = "no-such-preset"', "base"),
    ('[grid]\n"topology.followers" = [1, 2]', "base"),
    ('base = "leader-follower"\nbase_path = "mine.toml"', "base"),
    ('base_path = "missing.toml"', "base_path"),
    ('base = "leader-follower"\ngrids = {}', "grids"),
    ('base = "leader-follower"\ngrid = [1, 2]', "grid"),
    ('base = "leader-follower"\n[set]\n"topology.followers" = -1', "topology.followers"),
    ('base = "leader-follower"\n[[samples]]\ntopology.folowers = 2', "topology.folowers"),
    ('base = "leader-follower"\nreplicates = "two"', "replicates"),
    ('base = "leader-follower"\nseed = -1', "seed"),
    ("base = ", "spec"),
])
def test_a_bad_spec_names_the_key(tmp_path, text, field):
    path = tmp_path / "spec.toml"
    path.write_text(text)

    with pytest.raises(ScenarioError) as err:
        plan(**load_spec(path))
    assert err.value.field == field


def test_spec_tables_may_use_toml_dotted_keys(tmp_path):
    """In TOML, `topology.followers = [1, 2]` is a nested table; it means the dotted field."""
    path = tmp_path / "spec.toml"
    path.write_text('base = "leader-follower"\nreplicates = 2\n[set]\nduration_ms = 500.0\n'
                    '[grid]\ntopology.followers = [1, 2]\n')

    runs = plan(**load_spec(path))

    assert [(run.values, run.replicate) for run in runs] == [
        ({"topology.followers": 1}, 0), ({"topology.followers": 1}, 1),
        ({"topology.followers": 2}, 0), ({"topology.followers": 2}, 1)]
    assert {run.scenario["duration_ms"] for run in runs} == {500.0}


@pytest.mark.slow
def test_the_processes_engine_works_from_inside_a_jupyter_kernel():
    """Jupyter's __main__ is not importable by a worker; spawned workers only import replab."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import replab\n"
        "base = replab.Scenario.preset('leader-follower').replace(duration_ms=500.0)\n"
        "frame = replab.sweep(base, grid={'topology.followers': [1, 2, 3]}, engine='processes', workers=2,\n"
        "                     progress=False)\n"
        "print(frame['topology.followers'].tolist(), frame['error'].tolist())")])

    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()

    assert notebook.cells[0].outputs[0]["text"] == "[1, 2, 3] ['', '', '']\n"
