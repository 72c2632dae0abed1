"""Fuzz: generated scenario files, --set values and sweep specs thrown at the command line and
at the Python API. Whatever comes in, replab ends, quickly, in a result or in exit code 2 and
one line naming what is wrong; never an internal error (exit 1), a traceback or a hang.

The command line runs in this process (`replab.cli.main(argv)`) under a watchdog that turns
a hang into a failure; two cases go through a real process. Runs are kept small: the event
budget (replab.config.limits.MAX_EVENTS) is lowered, so a generated scenario that would run
long is refused like one too big for the machine, which is itself one of the outcomes tested.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
from unittest import mock

import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from replab import Scenario, ScenarioError
from replab.cli import main
from replab.config import limits
from replab.experiments import sweep as sweep_module
from replab.experiments.sweep import plan

FIELDS = [f.path for f in Scenario.fields()]
NAMES = FIELDS + ["path", "spec", "preset", "seed", "--set", "--seed", "grid", "samples", "replicates", "base",
                  "base_path", "set", "out", "scenario", "description"]
SETTINGS = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)), deadline=None, suppress_health_check=list(HealthCheck))
HANG_S = 60  # a bound on hangs, not on speed: every case here ends in well under a second

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([0, 1, -1, 1e-300, 5e-324, 1e300, 2**63, "", "1000", "yes", "nan", "\x1b[31m", "\ud800",
                              "leader", "node9", "[1, 2]", "{", "x" * 2_000])
           | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                            max_size=3), max_leaves=8)
keys = st.one_of(st.sampled_from(FIELDS), st.sampled_from(FIELDS), st.sampled_from(FIELDS), st.text(min_size=1, max_size=12))


def typed_value(path: str) -> st.SearchStrategy:
    """A value of the field's own kind, often valid, sometimes at or past its bounds."""
    field = Scenario.field(path)
    if field.kind == "choice":
        return st.sampled_from(field.choices)
    if field.kind == "bool":
        return st.booleans()
    if field.kind == "int":
        return st.integers(int(field.low) - 1, min(int(field.high), 40) + 1)
    if field.kind == "float":
        return st.sampled_from([field.low, field.high, 1e-300, 0.5, 1.0, 50.0, 1e6])
    return values


@st.composite
def scenario_trees(draw) -> dict:
    """Mostly a short run with a few fields changed (typed or not), sometimes anything."""
    tree = {"duration_ms": draw(st.sampled_from([50.0, 100.0, 200.0]))} if draw(st.integers(0, 4)) else {}
    for _ in range(draw(st.integers(0, 3))):
        path = draw(keys)
        tree[path] = draw(typed_value(path) if path in FIELDS and draw(st.integers(0, 3)) else values)
    return tree


def as_file_text(draw, tree: dict, suffix: str) -> bytes:
    how = draw(st.sampled_from(["json", "toml", "toml", "toml", "junk"]))
    if how == "junk":
        return draw(st.binary(max_size=40))
    if how == "toml" and suffix != ".json":
        try:
            return tomli_w.dumps(tree).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError):
            pass
    return json.dumps(tree).encode("utf-8", "surrogatepass")


@contextlib.contextmanager
def small_runs():
    with mock.patch.object(limits, "MAX_EVENTS", 60_000), mock.patch.object(sweep_module, "MAX_RUNS", 6):
        yield


def cli(argv: list[str], no_hang) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with small_runs(), no_hang(HANG_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_result_or_one_named_error(code: int, out: str, err: str) -> None:
    lines = [line for line in err.splitlines() if not line.startswith("replab: warning: ")]
    event(f"exit {code}" + (": " + lines[0].split(":")[2].split("=")[0].strip()[:20] if code == 2 and lines else ""))
    assert code in (0, 2), f"exit {code}: {err}"
    if code == 0:
        assert "operations" in out or "runs:" in out
        assert not lines, err
        return
    assert len(lines) == 1 and lines[0].startswith("replab: error: "), err
    assert any(name in lines[0] for name in NAMES) or ".toml" in lines[0] or ".json" in lines[0], lines[0]
    assert lines[0].isprintable()


@SETTINGS
@given(data=st.data())
def test_any_scenario_file_ends_in_a_result_or_one_named_error(tmp_path_factory, no_hang, data):
    suffix = data.draw(st.sampled_from([".toml", ".toml", ".json", ".yaml", ""]))
    path = tmp_path_factory.mktemp("fuzz") / f"scenario{suffix}"
    path.write_bytes(as_file_text(data.draw, data.draw(scenario_trees()), suffix))

    assert_result_or_one_named_error(*cli(["run", str(path)], no_hang))


set_texts = (st.text(max_size=20) | st.sampled_from(["1e-300", "5e-324", "nan", "-inf", "1e400", "9" * 5_000, "0x10",
                                                      "[" * 5_000, '[{"at_ms": 1}]', "[[1, 2], [3]]", " 3 ", "yes"]))


@SETTINGS
@given(path=keys, text=set_texts, seed=st.none() | st.text(max_size=6))
def test_any_set_value_ends_in_a_result_or_one_named_error(no_hang, path, text, seed):
    argv = ["run", "--set", "duration_ms=100", "--set", f"{path}={text}"] + ([] if seed is None else ["--seed", seed])

    assert_result_or_one_named_error(*cli(argv, no_hang))


@st.composite
def sweep_specs(draw) -> dict:
    spec = {"base": draw(st.sampled_from(["leader-follower", "buddy", "nope", ""])),
            "set": {"duration_ms": 100.0}}
    if draw(st.booleans()):
        path = draw(keys)
        spec["grid"] = {path: draw(st.lists(typed_value(path) if path in FIELDS else values, max_size=4))}
    if draw(st.booleans()):
        spec["samples"] = draw(st.lists(scenario_trees(), max_size=3))
    if draw(st.booleans()):
        spec["replicates"] = draw(st.sampled_from([0, 1, 2, 10**7, -1, 1.5, "two"]))
    if draw(st.booleans()):
        spec[draw(st.sampled_from(["seed", "base_path", "extra"]))] = draw(scalars)
    return spec


@SETTINGS
@given(data=st.data())
def test_any_sweep_spec_ends_in_a_table_or_one_named_error(tmp_path_factory, no_hang, data):
    folder = tmp_path_factory.mktemp("sweep")
    spec = folder / "spec.toml"
    spec.write_bytes(as_file_text(data.draw, data.draw(sweep_specs()), ".toml"))

    code, out, err = cli(["sweep", str(spec), "--engine", "serial", "--quiet", "--out", str(folder / "rows.parquet")],
                         no_hang)

    assert_result_or_one_named_error(code, out, err)


@SETTINGS
@given(tree=scenario_trees() | values, grid=st.none() | st.dictionaries(keys, values, max_size=2))
def test_the_python_api_builds_or_raises_a_scenario_error(no_hang, tree, grid):
    with small_runs(), no_hang(HANG_S):
        try:
            scenario = Scenario(tree)
        except ScenarioError:
            scenario = Scenario(duration_ms=100.0)
        with contextlib.suppress(ScenarioError):
            plan(scenario, grid=grid)


def test_a_fifo_and_a_closed_pipe_in_a_real_process(tmp_path):
    """As a user's shell does it: `replab run FIFO` (it used to block forever) and `| head`."""
    fifo = tmp_path / "scenario.toml"
    os.mkfifo(fifo)
    replab = [sys.executable, "-m", "replab.cli"]

    blocked = subprocess.run([*replab, "run", str(fifo)], capture_output=True, text=True, timeout=HANG_S)
    assert (blocked.returncode, blocked.stderr) == (2, f"replab: error: path = '{fifo}': is not a regular file (a FIFO)\n")

    head = subprocess.run(f"{sys.executable} -m replab.cli run --set duration_ms=100 | head -1", shell=True,
                          capture_output=True, text=True, timeout=HANG_S)
    assert head.stdout.startswith("replab run: preset leader-follower") and head.stderr == ""
