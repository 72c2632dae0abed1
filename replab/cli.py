"""The `replab` command: run one scenario, list the presets, sweep a grid of scenarios.

    replab run [PATH | --preset NAME] [--set dotted.field=value ...] [--seed N] [--out DIR]
               [--overwrite] [--force]
    replab presets
    replab sweep SPEC.toml [--out results.parquet] [--engine serial|processes|dask]
                 [--workers N] [--scheduler ADDRESS] [--retry-errors] [--force] [--quiet]

Bad input of any kind ends with one line on stderr, `replab: error: ...`, and exit code 2;
warnings are one line each, `replab: warning: ...`. Nothing the command prints from a file
or a value reaches the terminal raw: control characters are shown escaped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
import warnings
from pathlib import Path

# The scenario, the model and pandas load Mesa and numpy (seconds): `replab --help` must not
# wait for them, so each command imports what it needs when it runs.
from replab.core.field import ScenarioError, parse_json_text

DEFAULT_PRESET = "leader-follower"
SWEEP_COLUMNS = ("throughput_per_s", "read_p99_ms", "write_p99_ms", "mean_lag_ms", "lost_acked_writes", "error")


class BadInput(Exception):
    """Input the user can fix: reported as one line and exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the whole usage first
        raise BadInput(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="replab", description="A replication laboratory, headless.")
    commands = parser.add_subparsers(dest="command", metavar="{run,presets,sweep}", parser_class=_Parser)

    run = commands.add_parser("run", help="run one scenario and print its summary")
    run.add_argument("path", nargs="?", help="scenario file (.toml or .json)")
    run.add_argument("--preset", help=f"a preset name (see `replab presets`; default {DEFAULT_PRESET})")
    run.add_argument("--set", dest="changes", action="append", default=[], metavar="FIELD=VALUE",
                     help="change one dotted field, e.g. topology.followers=5 (repeatable; "
                          "faults.events takes JSON)")
    run.add_argument("--seed", help="seed of every random draw (same as --set seed=N)")
    run.add_argument("--out", help="directory for the frames (Parquet), summary.json and scenario.toml; "
                                   "an existing one must be empty, unless --overwrite")
    run.add_argument("--overwrite", action="store_true", help="write into a non-empty --out directory, "
                                                              "replacing an earlier run's files")
    run.add_argument("--force", action="store_true", help="run even if the estimate says it needs more memory "
                                                          "than this machine has available, or hours")

    commands.add_parser("presets", help="list the preset scenarios")

    sweep = commands.add_parser("sweep", help="run a grid of scenarios into one Parquet table")
    sweep.add_argument("spec", help="sweep spec (.toml): base, [set], [grid] or [[samples]], replicates, seed")
    sweep.add_argument("--out", help="Parquet file for the rows; an existing one is resumed")
    sweep.add_argument("--engine", choices=("serial", "processes", "dask"), help="where runs execute (default processes)")
    sweep.add_argument("--workers", type=_positive_int, help="worker processes (default and most: the CPUs "
                                                              "available, unless --force)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tls://10.0.0.5:8786 "
                                                              "(plaintext to another machine is warned about)")
    sweep.add_argument("--retry-errors", action="store_true", help="with --out: run again the runs whose rows "
                                                                   "hold an error")
    sweep.add_argument("--force", action="store_true", help="past the planned-runs limit, runs larger than the "
                                                            "memory available, and more workers than CPUs")
    sweep.add_argument("--quiet", action="store_true", help="no plan line, no progress bar")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number of at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            args = build_parser().parse_args(argv)
            if args.command == "run":
                return run_command(args)
            if args.command == "presets":
                return presets_command()
            if args.command == "sweep":
                return sweep_command(args)
            raise BadInput("choose a command: run, presets or sweep (replab --help)")
    except (BadInput, ScenarioError) as err:
        return _fail(str(err))
    except BrokenPipeError:  # `replab run | head`: the reader has all it wanted
        _silence_stdout()
        return 0
    except OSError as err:  # a file we were asked to write or read
        return _fail(f"{err.filename or ''}: {err.strerror or err}".lstrip(": "))
    except KeyboardInterrupt:
        print("replab: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not bad input: still one line, with the way to see more
        if os.environ.get("REPLAB_DEBUG"):
            raise
        print(printable(f"replab: internal error: {type(err).__name__}: {err} (REPLAB_DEBUG=1 shows the traceback)"),
              file=sys.stderr)
        return 1


def _fail(message: str) -> int:
    print(printable(f"replab: error: {' '.join(message.split())}"), file=sys.stderr)
    return 2


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(printable(f"replab: warning: {' '.join(str(message).split())}"), file=sys.stderr)


def printable(text: str, most: int = 2_000) -> str:
    """Text safe for a terminal: control characters (ANSI escapes) and lone surrogates shown
    escaped, at most `most` characters (a message echoing a huge value is cut)."""
    if len(text) > most:
        text = f"{text[:most]}... ({len(text) - most:,} more characters)"
    return "".join(c if c.isprintable() or c == "\n" else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's own flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


# replab run ---------------------------------------------------------------------------------
def run_command(args) -> int:
    from replab.config.scenario import Scenario

    if args.path is not None and args.preset is not None:
        raise BadInput("give a scenario file or --preset, not both")
    preset = DEFAULT_PRESET if args.preset is None else args.preset
    name = args.path if args.path is not None else f"preset {preset}"
    base = Scenario.load(args.path) if args.path is not None else Scenario.preset(preset)
    changes = parse_changes(args.changes)
    if args.seed is not None:
        if "seed" in changes:
            raise BadInput(f"--seed {args.seed} and --set seed={changes['seed']}: give the seed once")
        changes["seed"] = args.seed
    scenario = base.replace(**changes)
    if args.out:  # find out now, not after the run, that the results cannot be written there
        _check_out_dir(Path(args.out), args.overwrite)

    from replab.analysis.notes import notes  # after the checks: bad input is refused without loading the model
    from replab.sim.model import run

    started = time.perf_counter()
    results = run(scenario, force=args.force)
    wall_s = time.perf_counter() - started
    print(printable(f"replab run: {name}" + (f" - {scenario.description}" if scenario.description else "")))
    if changes:
        print(printable("  changed: " + ", ".join(f"{path}={_show(scenario.to_flat()[path])}" for path in changes)))
    print(f"  {scenario.duration_ms:,.0f} ms simulated (seed {scenario.seed}) in {wall_s:.2f} s\n")
    print(results.format_summary())
    for note in notes(results):  # what the summary alone would leave a reader puzzling over
        print("\n" + textwrap.fill(f"{note.headline} {note.text}", width=92, initial_indent="note: ", break_on_hyphens=False,
                                   subsequent_indent="      "))
    if args.out:
        out = results.to_parquet(args.out)
        print(f"\nwrote {out}/: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


def _check_out_dir(out: Path, overwrite: bool) -> None:
    """The --out directory: created if missing; an earlier run's files are not replaced unasked."""
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ScenarioError("out", str(out), "is a directory that already holds files (an earlier run's?); "
                                             "choose another, or add --overwrite to replace them")
    out.mkdir(parents=True, exist_ok=True)


def parse_changes(items: list[str]) -> dict[str, object]:
    """`--set dotted.field=value` items as {field: text}; faults.events is parsed as JSON.
    A field given twice is refused (which one was meant?)."""
    changes: dict[str, object] = {}
    for item in items:
        path, equals, text = item.partition("=")
        path = path.strip()
        if not equals or not path:
            raise BadInput(f"--set {item!r}: expected dotted.field=value, e.g. topology.followers=5")
        try:
            from replab.config.scenario import Scenario

            field = Scenario.field(path)
        except ScenarioError as err:  # "is not a scenario field (did you mean ...)", with the value given
            raise ScenarioError(path, text, err.allowed) from None
        if path in changes:
            raise BadInput(f"--set {path} is given twice; give each field once")
        if field.kind == "faults":
            changes[path] = parse_json_text(path, text, 'must be JSON, e.g. [{"at_ms": 500, "action": "crash", '
                                                        '"target": "leader"}]')
        else:
            changes[path] = text
    return changes


def _show(value) -> str:
    return json.dumps(value) if isinstance(value, list) else str(value)


# replab presets -----------------------------------------------------------------------------
def presets_command() -> int:
    from replab.config.scenario import Scenario

    presets = Scenario.presets()
    width = max(map(len, presets), default=0)
    for name, description in presets.items():
        print(f"{name:<{width}}  {description}")
    return 0


# replab sweep -------------------------------------------------------------------------------
def sweep_command(args) -> int:
    from replab.experiments.sweep import load_spec, sweep

    engine = args.engine or ("dask" if args.scheduler else "processes")
    if args.scheduler and engine != "dask":
        raise BadInput(f"--scheduler needs --engine dask (got --engine {engine})")
    if args.retry_errors and not args.out:
        raise BadInput("--retry-errors needs --out (the file whose error rows to run again)")
    try:
        spec = load_spec(args.spec)
        frame = sweep(**spec, engine=engine, workers=args.workers, address=args.scheduler, out=args.out,
                      progress=not args.quiet, retry_errors=args.retry_errors, force=args.force)
    except ScenarioError as err:  # name the spec when the error is about its contents
        about_spec = err.field not in ("spec", "out", "address", "engine", "workers")
        raise BadInput(f"{Path(args.spec).name}: {err}" if about_spec else str(err)) from None

    varied = [c for c in frame.columns[: frame.columns.get_loc("replicate")]]
    shown = frame[[*varied, "replicate", *[c for c in SWEEP_COLUMNS if c in frame]]]
    print(printable(shown.to_string(index=False, max_rows=40, float_format=lambda v: f"{v:,.4g}"), most=100_000))
    failed = int((frame["error"] != "").sum())
    executed, resumed = frame.attrs["runs_executed"], frame.attrs["runs_resumed"]
    print(f"\n{len(frame)} runs: {executed} executed, {resumed} already done, {failed} failed")
    print(f"rows in {args.out}" if args.out else "no --out: nothing written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
