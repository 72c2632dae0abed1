"""Sweeps: many scenarios through the same run function into one table, one row per run.

A sweep varies dotted fields of a base scenario over a `grid` (the full product) and/or a
list of `samples`, each point repeated `replicates` times. A run's *key* is a hash of its
varied values and replicate number; its seed is a hash of (sweep seed, key). So a row never
depends on the engine, the number of workers or the order in which runs finish, and rows
come back in the order the sweep lists its runs (samples, then the grid, then replicates).

Engines: "serial" (this process), "processes" (a spawn-context process pool, which works
inside Jupyter) and "dask" (a LocalCluster made and closed by the sweep, or the scheduler
at `address`). Both start fresh interpreters that import the main module, so a script
must call `sweep` under `if __name__ == "__main__":`, as with any spawned process pool.
How runs travel and are batched: replab.experiments.engines.

With `out=`, every row lives in ONE Parquet file that is rewritten (temporary file, then
an atomic rename) at most once a second while batches finish, and at the end, so an
interrupted sweep leaves a readable file; one sweep at a time writes it (a lock), in plan
order (replab.experiments.sweep_file). Running the same sweep again skips the runs whose
key is already there (`retry_errors=True` runs the failed ones again); the file's metadata
records the base scenario and seed, and a sweep of another base or seed refuses to write
into it.

Size: a sweep counts its runs before building them and refuses more than MAX_RUNS, and
checks each run's size against the memory the machine has (replab.config.limits), unless
`force=True`; it says how many runs it plans before it starts.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from replab.config.arguments import whole
from replab.config.limits import available_memory_bytes, check_size
from replab.config.scenario import FIELDS_BY_PATH, Scenario, ScenarioError
from replab.experiments.engines import check_address, execute, local_workers
from replab.experiments.sweep_file import FLUSH_EVERY_S, SweepFile, run_identity
from replab.experiments.sweep_spec import SPEC_KEYS, load_spec

ENGINES = ("serial", "processes", "dask")
MAX_RUNS = 100_000  # runs a sweep may plan without force=True (days of computing; a typo adds a zero)
PLAN_BYTES_PER_RUN = 8_192  # a planned run and its row (measured: ~6 KB with every summary metric)


@dataclass(frozen=True)
class Run:
    """One planned run: its key, the varied values as they appear in the table, its seed."""

    key: str
    values: dict
    replicate: int
    seed: int
    base: Scenario
    point: dict  # the dotted fields this run changes in `base`

    @property
    def scenario(self) -> dict:
        """The whole scenario, nested as in a TOML file: what a worker receives (built when
        asked, so a plan of many runs does not hold a copy of the scenario per run)."""
        return {**_tree(self.base, tuple(sorted(self.point.items(), key=lambda kv: kv[0]))), "seed": self.seed}


@functools.lru_cache(maxsize=64)
def _tree(base: Scenario, point: tuple) -> dict:
    return base.replace(**dict(point)).to_dict()


def sweep(base, grid: Mapping | None = None, samples: list[Mapping] | None = None, replicates: int = 1,
          seed: int = 0, engine: str = "processes", workers: int | None = None, address: str | None = None,
          out: str | Path | None = None, progress: bool = True,
          runner: Callable[[Scenario], Any] | None = None, retry_errors: bool = False,
          force: bool = False) -> pd.DataFrame:
    """Run every combination of `grid` (and each of `samples`) `replicates` times; one row per run.

    base: a Scenario, a preset name or a scenario file. grid: dotted field -> list of values.
    samples: list of {dotted field: value}. Columns: the varied fields, `replicate`, `seed`,
    every summary metric, `wall_s` (seconds of real time), `error` ('' when the run was fine)
    and `run_key`. `runner` (a picklable function Scenario -> Results, default `replab.run`)
    exists for tests and other models. The frame's attrs say how many runs were executed and
    how many were found in `out` already. `retry_errors`: runs whose row in `out` has an
    error run again. `force`: past MAX_RUNS, runs larger than the memory this machine has
    available, and more local workers than CPUs.
    """
    if engine not in ENGINES:
        raise ScenarioError("engine", engine, "must be one of " + ", ".join(repr(e) for e in ENGINES))
    if workers is not None:
        whole("workers", workers)
    if address is not None and engine != "dask":
        raise ScenarioError("address", address, "needs engine='dask'")
    if address is not None:
        check_address(address)
    workers = _workers(engine, workers, address, force)
    base = as_scenario(base)
    at_once = 1 if engine == "serial" else workers or 1
    runs = plan(base, grid, samples, replicates, seed, force=force, at_once=at_once)
    store = SweepFile(Path(out), base, seed) if out is not None else None
    try:
        return _execute(runs, store, engine, workers, address, runner, retry_errors, progress)
    finally:
        if store:
            store.close()


def _workers(engine: str, workers: int | None, address: str | None, force: bool) -> int | None:
    """Local worker processes: by default one per CPU this process may use; more only if forced."""
    if engine == "serial" or (engine == "dask" and address is not None):
        return workers
    cpus = local_workers()
    if workers is None:
        return cpus
    if workers > cpus and not force:
        warnings.warn(f"workers={workers} capped at the {cpus} CPUs available (force=True to start {workers})",
                      RuntimeWarning, stacklevel=3)
        return cpus
    return workers


def _execute(runs: list[Run], store: SweepFile | None, engine: str, workers: int | None, address: str | None,
             runner, retry_errors: bool, progress: bool) -> pd.DataFrame:
    done = store.rows_for(runs, retry_errors) if store else {}
    todo = [run for run in runs if run.key not in done]
    by_key = {run.key: run for run in runs}
    rows = dict(done)
    if progress:
        where = f" ({len(done):,} already in {store.path})" if store else ""
        print(f"sweep: {len(runs):,} runs planned{where}, {len(todo):,} to run on {engine}"
              + (f" with {workers} workers" if engine != "serial" and workers else ""), file=sys.stderr)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(runs), initial=len(done), unit="run", desc="sweep", disable=not progress)
    try:
        for records in execute(todo, engine, workers, address, runner):
            for record in records:
                run = by_key[record.pop("run_key")]
                rows[run.key] = row = {**run_identity(run), **record, "run_key": run.key}
                if store:
                    store.add(row)
            if store:
                store.flush()
            bar.update(len(records))
    finally:
        bar.close()
    frame = _frame(runs, rows)
    frame.attrs.update(runs_executed=len(rows) - len(done), runs_resumed=len(done))
    failed = frame[frame["error"] != ""] if len(frame) else frame
    if len(failed):
        warnings.warn(f"{len(failed)} of {len(frame)} sweep runs failed (see the 'error' column); "
                      f"the first: {failed['error'].iloc[0]}", RuntimeWarning, stacklevel=3)
    return frame


# planning -------------------------------------------------------------------------------------
def as_scenario(base) -> Scenario:
    """A Scenario from a Scenario, a preset name, a .toml/.json path or a dict of fields."""
    if isinstance(base, Scenario):
        return base
    if isinstance(base, Mapping):
        return Scenario(base)
    if isinstance(base, Path) or (isinstance(base, str) and base.endswith((".toml", ".json"))):
        return Scenario.load(base)
    if isinstance(base, str):
        return Scenario.preset(base)
    raise ScenarioError("base", base, "must be a Scenario, a preset name or a scenario file")


def plan(base: Scenario, grid: Mapping | None = None, samples: list[Mapping] | None = None,
         replicates: int = 1, seed: int = 0, force: bool = False, at_once: int = 1) -> list[Run]:
    """Every run of a sweep, validated: a bad combination raises ScenarioError naming the field,
    and so does a plan past MAX_RUNS or a run past what this machine holds (`at_once` runs of
    it at a time), unless `force` (replab.config.limits)."""
    whole("replicates", replicates, 1, 1_000_000)
    whole("seed", seed, 0, 2**63 - 1)
    if grid is not None and not isinstance(grid, Mapping):
        raise ScenarioError("grid", grid, "must be a table of dotted field = [values]")
    if grid is not None and not grid:
        raise ScenarioError("grid", {}, "lists no field: give dotted field = [values], or no grid at all")
    grid = flatten(grid or {})
    for path, values in grid.items():
        _check_field(path, values)
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (list, tuple)) or not values:
            raise ScenarioError(f"grid.{path}", values, "must be a non-empty list of values")
    if samples is not None and (isinstance(samples, (str, bytes, Mapping)) or not isinstance(samples, (list, tuple))):
        raise ScenarioError("samples", samples, "must be a list of tables of dotted field = value")
    if samples is not None and not samples:
        raise ScenarioError("samples", [], "lists no sample: give at least one table, or no samples at all")
    _check_plan_size(grid, samples, replicates, force)
    points = []
    for i, sample in enumerate(samples or [{}]):
        if not isinstance(sample, Mapping):
            raise ScenarioError(f"samples[{i}]", sample, "must be a table of dotted field = value")
        sample = flatten(sample)
        for path in sample:
            _check_field(path, sample[path])
            if path in grid:
                raise ScenarioError(f"samples[{i}].{path}", sample[path], "is varied by the grid as well; vary it in one place")
        points += [{**sample, **dict(zip(grid, combo))} for combo in itertools.product(*grid.values())]
    varied = list(dict.fromkeys(path for point in points for path in point))
    if "seed" in varied and replicates != 1:
        raise ScenarioError("replicates", replicates, "must be 1 when the sweep sets seed itself")

    runs, seen = [], set()
    for point in points:
        where = ", ".join(f"{p}={v!r}" for p, v in point.items())
        try:
            scenario = base.replace(**point)
            check_size(scenario, force, at_once, what="the run" + (f" with {where}" if where else ""))
        except ScenarioError as err:
            if err.allowed.startswith("the run"):
                raise
            raise ScenarioError(err.field, err.value, f"{err.allowed} (in the run with {where})") from None
        flat = scenario.to_flat()
        values = {path: flat[path] for path in varied}
        point = {path: scenario.get(path) for path in point}  # validated (text read as a number), hashable
        for replicate in range(replicates):
            key = run_key(values, replicate)
            if key in seen:
                where = ", ".join(f"{p}={v!r}" for p, v in point.items())
                raise ScenarioError("grid" if grid else "samples", where or "{}", "lists the same run twice")
            seen.add(key)
            run_seed = values["seed"] if "seed" in values else derived_seed(seed, key)
            runs.append(Run(key, {p: _cell(v) for p, v in values.items()}, replicate, run_seed, base, point))
    return runs


def planned_runs(grid: Mapping, samples: list | None, replicates: int) -> int:
    """How many runs a grid, samples and replicates make, counted without building them."""
    combinations = math.prod(len(values) for values in grid.values())
    return combinations * (len(samples) if samples else 1) * replicates


def _check_plan_size(grid: Mapping, samples: list | None, replicates: int, force: bool) -> None:
    count = planned_runs(grid, samples, replicates)
    factors = {"grid": {p: f"{len(v)} values" for p, v in grid.items()}, "samples": f"{len(samples or [])} samples",
               "replicates": replicates}
    sizes = {"grid": math.prod(len(v) for v in grid.values()), "samples": len(samples or []), "replicates": replicates}
    biggest = max(sizes, key=sizes.get)
    shown = factors[biggest]
    if count > MAX_RUNS and not force:
        raise ScenarioError(biggest, shown, f"plans {count:,} runs, more than {MAX_RUNS:,}; sweep fewer values "
                                            "or replicates, or force it (--force; force=True)")
    available = available_memory_bytes()
    if available is not None and count * PLAN_BYTES_PER_RUN > available:
        raise ScenarioError(biggest, shown, f"plans {count:,} runs, whose plan and rows alone would need "
                                            f"{count * PLAN_BYTES_PER_RUN / 2**30:,.1f} GB, more than this machine has "
                                            f"available ({available / 2**30:,.1f} GB)")


def run_key(values: Mapping[str, Any], replicate: int) -> str:
    """A stable name for one run: the hash of its varied values and replicate number."""
    text = json.dumps({"values": values, "replicate": replicate}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def derived_seed(seed: int, key: str) -> int:
    """The seed of run `key` in a sweep seeded with `seed` (0 to 2**63 - 1, like Scenario.seed)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little") >> 1


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested tables (as TOML makes of `topology.followers = ...`) to dotted paths."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path not in FIELDS_BY_PATH:
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _cell(value: Any) -> Any:
    """A varied value as a table cell: lists (faults.events) become JSON text."""
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value


def _check_field(path: str, value: Any) -> None:
    """An unknown field: "is not a scenario field (did you mean ...)", naming the value given."""
    try:
        Scenario.field(path)
    except ScenarioError as err:
        raise ScenarioError(path, value, err.allowed) from None


# the table ------------------------------------------------------------------------------------
def _frame(runs: list[Run], rows: Mapping[str, dict]) -> pd.DataFrame:
    """The rows of `runs`, in plan order, with the metric columns in the order the runs report them."""
    fixed = ["replicate", "seed", "wall_s", "error", "run_key"]
    varied = list(runs[0].values) if runs else []
    metrics = list(dict.fromkeys(k for run in runs for k in rows[run.key] if k not in fixed and k not in varied))
    columns = [*varied, "replicate", "seed", *metrics, "wall_s", "error", "run_key"]
    return pd.DataFrame([rows[run.key] for run in runs], columns=columns)


__all__ = ["ENGINES", "FLUSH_EVERY_S", "MAX_RUNS", "SPEC_KEYS", "Run", "as_scenario", "derived_seed", "flatten",
           "load_spec", "plan", "planned_runs", "run_key", "sweep"]
