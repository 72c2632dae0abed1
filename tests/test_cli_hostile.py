"""The command line under hostile use: nothing is overwritten unasked, every refusal is one
printable line and exit code 2, and a closed pipe ends it quietly (issue 11)."""

import io
import warnings

import pytest

from replab import cli
from replab.cli import main

SHORT = ["--set", "duration_ms=100"]


def test_run_out_refuses_a_directory_holding_an_earlier_run_unless_told_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *SHORT, "--out", str(out)]) == 0
    first = (out / "summary.json").read_text()
    capsys.readouterr()

    assert main(["run", *SHORT, "--seed", "2", "--out", str(out)]) == 2
    assert "already holds files (an earlier run's?); choose another, or add --overwrite" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == first, "the earlier run is untouched"

    assert main(["run", *SHORT, "--seed", "2", "--out", str(out), "--overwrite"]) == 0
    assert (out / "summary.json").read_text() != first


@pytest.mark.parametrize("argv, words", [
    (["run", "--preset", ""], "preset = '': must be one of"),
    (["run", "--seed", "7", "--set", "seed=8"], "--seed 7 and --set seed=8: give the seed once"),
    (["run", "--set", "seed=7", "--set", "seed=8"], "--set seed is given twice"),
    (["run", "--set", "faults.events=" + "[" * 100_000], "faults.events = '[[[["),
    (["run", "--set", "\x1b[2Jtopology.followers=3"], "\\x1b[2Jtopology.followers = '3'"),
    (["run", "--set", "description=\x1b[31mred"], "it holds a control character, U+001B"),
    (["run", "--set", "duration_ms=1e8"], "duration_ms = 100000000.0: the run would need about 200,000,000 requests"),
    (["run", "--set", "faults.mttf_ms=1e-300", "--set", "faults.mttr_ms=1e-300", "--force"],
     "faults.mttf_ms = 1e-300: the run would never end"),
    (["sweep", "{spec}", "--retry-errors"], "--retry-errors needs --out"),
    (["sweep", "{spec}", "--engine", "dask", "--scheduler", "tcp://10.0.0.5"], "address = 'tcp://10.0.0.5': must be"),
])
def test_hostile_arguments_get_one_printable_line_and_exit_2(tmp_path, capsys, argv, words):
    spec = tmp_path / "spec.toml"
    spec.write_text('base = "leader-follower"\n[set]\nduration_ms = 100.0\n')

    code = main([arg.replace("{spec}", str(spec)) for arg in argv])

    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("replab: error: "), err
    assert err[:-1].isprintable() and len(err) < 2_200
    assert words in err


def test_warnings_are_one_printable_line_each(monkeypatch, capsys):
    def presets_warning_twice():
        warnings.warn("workers=512 capped at the 2 CPUs\navailable \x1b[31m", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "presets_command", presets_warning_twice)

    assert main(["presets"]) == 0
    assert capsys.readouterr().err == "replab: warning: workers=512 capped at the 2 CPUs available \\x1b[31m\n"


def test_a_closed_pipe_ends_the_command_quietly(monkeypatch):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    errors = io.StringIO()
    monkeypatch.setattr("sys.stderr", errors)

    assert main(["presets"]) == 0
    assert errors.getvalue() == ""
