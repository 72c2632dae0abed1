"""The `replab` command: run a scenario, list presets, sweep a spec; bad input is one line and exit 2.

Most tests call `main(argv)` in this process (fast); two go through a real subprocess to show
the installed command behaves the same, tracebacks never included.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest

from replab import Scenario
from replab.cli import main

SHORT = ["--set", "duration_ms=500", "--set", "workload.rate_per_s=400"]


def test_run_prints_a_header_naming_the_scenario_then_the_summary(capsys):
    assert main(["run", *SHORT]) == 0

    out = capsys.readouterr().out
    header, changed = out.splitlines()[:2]
    assert header.startswith("replab run: preset leader-follower - One leader and three followers")
    assert changed == "  changed: duration_ms=500.0, workload.rate_per_s=400.0"
    for metric in ("throughput_per_s", "read_p99_ms", "lost_acked_writes", "mean_lag_ms"):
        assert metric in out


def test_run_says_under_the_summary_why_a_number_looks_wrong(capsys):
    """Past capacity most operations fail: the summary alone shows a cliff, the note says why
    (the Lab says the same under its controls: replab.analysis.notes)."""
    assert main(["run", "--preset", "single-node", "--set", "duration_ms=1000", "--set", "workload.rate_per_s=3000"]) == 0
    out = capsys.readouterr().out
    assert "note: Overloaded. node0 was busy" in out and "workload.timeout_ms = 1000 ms" in out

    assert main(["run", *SHORT]) == 0
    assert "note:" not in capsys.readouterr().out


def test_run_out_writes_the_frames_as_parquet_and_the_resolved_scenario_as_toml(tmp_path, capsys):
    out = tmp_path / "semi"
    assert main(["run", "--preset", "semi-sync", *SHORT, "--seed", "9", "--out", str(out)]) == 0

    written = {p.name for p in out.iterdir()}
    assert {"requests.parquet", "writes.parquet", "timeline.parquet", "events.parquet",
            "summary.json", "scenario.toml"} <= written
    assert Scenario.load(out / "scenario.toml") == Scenario.preset("semi-sync").replace(
        **{"duration_ms": 500.0, "workload.rate_per_s": 400.0, "seed": 9})
    requests = pd.read_parquet(out / "requests.parquet")
    assert len(requests) == json.loads((out / "summary.json").read_text())["operations"] > 0
    assert f"wrote {out}/" in capsys.readouterr().out


def test_run_reads_a_scenario_file_and_faults_events_take_json(tmp_path, capsys):
    path = tmp_path / "mine.json"
    Scenario.preset("leader-follower").replace(duration_ms=1000.0).save(path)
    crash = json.dumps([{"at_ms": 200, "action": "crash", "target": "leader"}])

    assert main(["run", str(path), "--set", f"faults.events={crash}", "--set", "failover.promote=false"]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"replab run: {path}")
    assert '"at_ms": 200.0' in out
    read_only_ms = float(out.split("read_only_ms")[1].split()[0].replace(",", ""))
    # no promotion: read-only from the crash's detection (200 + 500 ms) to the end of the 1000 ms run
    assert read_only_ms == pytest.approx(300.0, abs=5.0)


def test_presets_lists_every_preset_on_one_line_with_its_description(capsys):
    assert main(["presets"]) == 0

    lines = capsys.readouterr().out.splitlines()
    presets = Scenario.presets()
    assert len(lines) == len(presets)
    for line, (name, description) in zip(lines, presets.items()):
        assert line.split()[0] == name and line.endswith(description)


def test_sweep_writes_a_parquet_table_and_a_second_run_resumes_it(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('base = "leader-follower"\nreplicates = 2\n'
                    '[set]\nduration_ms = 500.0\n"workload.rate_per_s" = 400.0\n'
                    '[grid]\n"topology.followers" = [1, 2]\n')
    out = tmp_path / "rows.parquet"
    command = ["sweep", str(spec), "--out", str(out), "--engine", "serial", "--quiet"]

    assert main(command) == 0
    assert "4 runs: 4 executed, 0 already done, 0 failed" in capsys.readouterr().out
    rows = pd.read_parquet(out)
    assert rows[["topology.followers", "replicate"]].values.tolist() == [[1, 0], [1, 1], [2, 0], [2, 1]]

    assert main(command) == 0
    assert "4 runs: 0 executed, 4 already done, 0 failed" in capsys.readouterr().out


def write(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


BAD_INPUT = [
    (["run", "--set", "topology.followers=-1"], "topology.followers = -1: must be an integer from 0 to 32"),
    (["run", "--set", "topology.folowers=3"], "did you mean 'topology.followers'"),
    (["run", "--set", "workload.arrival=sideways"], "must be one of 'open', 'closed'"),
    (["run", "--set", "topology.followers=0"], "replication.reads = 'followers': needs at least one follower"),
    (["run", "--set", "topology.followers"], "expected dotted.field=value"),
    (["run", "--set", "=3"], "expected dotted.field=value"),
    (["run", "--set", "faults.events=[{"], "faults.events = '[{': must be JSON"),
    (["run", "--set", 'faults.events=[{"at_ms": 1, "action": "explode", "target": "leader"}]'],
     "faults.events[0].action = 'explode'"),
    (["run", "--seed", "minus-one"], "seed = 'minus-one'"),
    (["run", "--preset", "no-such-preset"], "preset = 'no-such-preset': must be one of"),
    (["run", "/no/such/scenario.toml"], "cannot be read"),
    (["run", "{tmp}/broken.toml"], "is not valid TOML"),
    (["run", "--preset", "semi-sync", "{tmp}/broken.toml"], "not both"),
    (["run", "--out", "{tmp}/a-file/out"], "Not a directory"),
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    (["walk"], "invalid choice: 'walk'"),
    ([], "choose a command"),
    (["sweep", "/no/such/spec.toml"], "spec = '/no/such/spec.toml': cannot be read"),
    (["sweep", "{tmp}/broken.toml"], "is not valid TOML"),
    (["sweep", "{tmp}/unknown-key.toml"], "unknown-key.toml: grids: is not a sweep spec key"),
    (["sweep", "{tmp}/bad-grid.toml"], "bad-grid.toml: topology.followers = 99: must be an integer from 0 to 32"),
    (["sweep", "{tmp}/good.toml", "--engine", "threads"], "invalid choice: 'threads'"),
    (["sweep", "{tmp}/good.toml", "--workers", "0"], "must be a whole number of at least 1"),
    (["sweep", "{tmp}/good.toml", "--engine", "serial", "--scheduler", "tcp://127.0.0.1:1"], "needs --engine dask"),
    (["sweep", "{tmp}/good.toml", "--engine", "serial", "--out", "{tmp}/a-file"], "is not a Parquet file"),
]


@pytest.mark.parametrize("argv, words", BAD_INPUT, ids=[" ".join(a)[:60] or "no-command" for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(tmp_path, capsys, argv, words):
    write(tmp_path, "broken.toml", "duration_ms = = 3")
    write(tmp_path, "a-file", "not a directory, not Parquet")
    write(tmp_path, "unknown-key.toml", 'base = "leader-follower"\ngrids = {}\n')
    write(tmp_path, "bad-grid.toml", 'base = "leader-follower"\n[grid]\n"topology.followers" = [1, 99]\n')
    write(tmp_path, "good.toml", 'base = "leader-follower"\n[set]\nduration_ms = 300.0\n')

    code = main([arg.replace("{tmp}", str(tmp_path)) for arg in argv])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("replab: error: ") and captured.err.count("\n") == 1, captured.err
    assert words in captured.err
    assert captured.out == ""


@pytest.mark.slow
def test_the_command_line_end_to_end_in_a_fresh_process(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "replab.cli", "run", *SHORT, "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "throughput_per_s" in done.stdout and (out / "requests.parquet").exists()

    bad = subprocess.run([sys.executable, "-m", "replab.cli", "run", "--set", "topology.followers=-1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr == "replab: error: topology.followers = -1: must be an integer from 0 to 32\n"
