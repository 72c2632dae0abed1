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
interrupted sweep leaves a readable file. Running the same sweep again skips the runs whose
key is already there; the file's metadata records the base scenario and seed, and a sweep
of another base or seed refuses to write into it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from replab.config.arguments import whole
from replab.config.scenario import FIELDS_BY_PATH, Scenario, ScenarioError
from replab.experiments.engines import execute

ENGINES = ("serial", "processes", "dask")
FLUSH_EVERY_S = 1.0
SPEC_KEYS = ("description", "base", "base_path", "set", "grid", "samples", "replicates", "seed")
_FILE_MARK = b"replab.sweep"


@dataclass(frozen=True)
class Run:
    """One planned run: its key, the varied values as they appear in the table, its seed."""

    key: str
    values: dict
    replicate: int
    seed: int
    scenario: dict  # the whole scenario, nested as in a TOML file; what a worker receives


def sweep(base, grid: Mapping | None = None, samples: list[Mapping] | None = None, replicates: int = 1,
          seed: int = 0, engine: str = "processes", workers: int | None = None, address: str | None = None,
          out: str | Path | None = None, progress: bool = True,
          runner: Callable[[Scenario], Any] | None = None) -> pd.DataFrame:
    """Run every combination of `grid` (and each of `samples`) `replicates` times; one row per run.

    base: a Scenario, a preset name or a scenario file. grid: dotted field -> list of values.
    samples: list of {dotted field: value}. Columns: the varied fields, `replicate`, `seed`,
    every summary metric, `wall_s` (seconds of real time), `error` ('' when the run was fine)
    and `run_key`. `runner` (a picklable function Scenario -> Results, default `replab.run`)
    exists for tests and other models. The frame's attrs say how many runs were executed and
    how many were found in `out` already.
    """
    if engine not in ENGINES:
        raise ScenarioError("engine", engine, "must be one of " + ", ".join(repr(e) for e in ENGINES))
    if workers is not None:
        whole("workers", workers)
    if address is not None and engine != "dask":
        raise ScenarioError("address", address, "needs engine='dask'")
    base = as_scenario(base)
    runs = plan(base, grid, samples, replicates, seed)
    store = _Store(Path(out), base, seed) if out is not None else None
    done = store.rows_for(runs) if store else {}
    todo = [run for run in runs if run.key not in done]
    by_key = {run.key: run for run in runs}
    rows = dict(done)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(runs), initial=len(done), unit="run", desc="sweep", disable=not progress)
    try:
        for records in execute(todo, engine, workers, address, runner):
            for record in records:
                run = by_key[record.pop("run_key")]
                rows[run.key] = row = {**_identity(run), **record, "run_key": run.key}
                if store:
                    store.add(row)
            if store:
                store.flush()
            bar.update(len(records))
    finally:
        bar.close()
        if store:
            store.flush(force=True)
    frame = _frame(runs, rows)
    frame.attrs.update(runs_executed=len(rows) - len(done), runs_resumed=len(done))
    failed = frame[frame["error"] != ""] if len(frame) else frame
    if len(failed):
        warnings.warn(f"{len(failed)} of {len(frame)} sweep runs failed (see the 'error' column); "
                      f"the first: {failed['error'].iloc[0]}", RuntimeWarning, stacklevel=2)
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
         replicates: int = 1, seed: int = 0) -> list[Run]:
    """Every run of a sweep, validated: a bad combination raises ScenarioError naming the field."""
    whole("replicates", replicates, 1, 1_000_000)
    whole("seed", seed, 0, 2**63 - 1)
    if grid is not None and not isinstance(grid, Mapping):
        raise ScenarioError("grid", grid, "must be a table of dotted field = [values]")
    grid = flatten(grid or {})
    for path, values in grid.items():
        _check_field(path, values)
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (list, tuple)) or not values:
            raise ScenarioError(f"grid.{path}", values, "must be a non-empty list of values")
    if samples is not None and (isinstance(samples, (str, bytes, Mapping)) or not isinstance(samples, (list, tuple))):
        raise ScenarioError("samples", samples, "must be a list of tables of dotted field = value")
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
        try:
            scenario = base.replace(**point)
        except ScenarioError as err:
            where = ", ".join(f"{p}={v!r}" for p, v in point.items())
            raise ScenarioError(err.field, err.value, f"{err.allowed} (in the run with {where})") from None
        flat = scenario.to_flat()
        values = {path: flat[path] for path in varied}
        tree = scenario.to_dict()
        for replicate in range(replicates):
            key = run_key(values, replicate)
            if key in seen:
                where = ", ".join(f"{p}={v!r}" for p, v in point.items())
                raise ScenarioError("grid" if grid else "samples", where or "{}", "lists the same run twice")
            seen.add(key)
            run_seed = values["seed"] if "seed" in values else derived_seed(seed, key)
            runs.append(Run(key, {p: _cell(v) for p, v in values.items()}, replicate, run_seed,
                            {**tree, "seed": run_seed}))
    return runs


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


def _identity(run: Run) -> dict:
    return {**run.values, "replicate": run.replicate, "seed": run.seed}


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


class _Store:
    """The `out` Parquet file: rows of earlier runs, and new rows written as they arrive."""

    def __init__(self, path: Path, base: Scenario, seed: int):
        self.path, self.rows, self.dirty, self.flushed_at = path, [], False, 0.0
        identity = {k: v for k, v in base.to_flat().items() if k not in ("seed", "description")}
        self.mark = json.loads(json.dumps({"base": identity, "seed": seed}))
        if path.exists():
            self.rows = self._read()

    def _read(self) -> list[dict]:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(self.path)
        except Exception as err:  # pyarrow raises several types for "not Parquet"
            raise ScenarioError("out", str(self.path), f"exists but is not a Parquet file ({err})") from None
        mark = (table.schema.metadata or {}).get(_FILE_MARK)
        if mark is None:
            raise ScenarioError("out", str(self.path), "exists but was not written by replab.sweep; choose another path")
        if json.loads(mark) != self.mark:
            raise ScenarioError("out", str(self.path), "holds a sweep of another base scenario or seed; "
                                                        "choose another path or delete it")
        return table.to_pandas().to_dict("records")

    def rows_for(self, runs: list[Run]) -> dict[str, dict]:
        """Rows already in the file for these runs (columns other sweeps varied left out)."""
        wanted = {run.key: run for run in runs}
        found = {}
        for row in self.rows:
            run = wanted.get(row["run_key"])
            if run is not None:
                kept = {k: v for k, v in row.items() if k not in FIELDS_BY_PATH or k in run.values}
                found[run.key] = {**kept, **_identity(run)}
        return found

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.dirty = True

    def flush(self, force: bool = False) -> None:
        if not self.dirty or (not force and time.monotonic() - self.flushed_at < FLUSH_EVERY_S):
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(pd.DataFrame(self.rows), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _FILE_MARK: json.dumps(self.mark)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        pq.write_table(table, partial)
        os.replace(partial, self.path)  # atomic: readers see the old file or the new one, never half
        self.dirty, self.flushed_at = False, time.monotonic()


# sweep specs ----------------------------------------------------------------------------------
def load_spec(path: str | Path) -> dict:
    """A sweep spec (.toml) as keyword arguments for `sweep`: base, grid, samples, replicates, seed.

    Keys: base = "preset" or base_path = "file.toml" (relative to the spec), [set] dotted
    fields for the base, [grid] dotted field = [values], [[samples]], replicates, seed.
    """
    import tomllib

    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except OSError as err:
        raise ScenarioError("spec", str(path), f"cannot be read ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError("spec", str(path), f"is not valid TOML: {err}") from None
    unknown = [key for key in spec if key not in SPEC_KEYS]
    if unknown:
        raise ScenarioError(unknown[0], spec[unknown[0]], "is not a sweep spec key; use " + ", ".join(SPEC_KEYS))
    if ("base" in spec) == ("base_path" in spec):
        raise ScenarioError("base", spec.get("base"), "give exactly one of base = 'preset' or base_path = 'file.toml'")
    if "base" in spec:
        if not isinstance(spec["base"], str):
            raise ScenarioError("base", spec["base"], "must be a preset name")
        try:
            base = Scenario.preset(spec["base"])
        except ScenarioError as err:
            raise ScenarioError("base", spec["base"], err.allowed) from None
    else:
        if not isinstance(spec["base_path"], str):
            raise ScenarioError("base_path", spec["base_path"], "must be the path of a scenario file")
        try:
            base = Scenario.load(path.parent / spec["base_path"])
        except ScenarioError as err:
            if err.field != "path":
                raise
            raise ScenarioError("base_path", spec["base_path"], err.allowed) from None
    changes = spec.get("set", {})
    if not isinstance(changes, Mapping):
        raise ScenarioError("set", changes, "must be a table of dotted field = value")
    for key in ("grid", "samples"):
        if key in spec and not isinstance(spec[key], (Mapping if key == "grid" else list)):
            raise ScenarioError(key, spec[key], "must be a table of dotted field = [values]" if key == "grid"
                                else "must be an array of tables: [[samples]]")
    return {"base": base.replace(**flatten(changes)), "grid": spec.get("grid"), "samples": spec.get("samples"),
            "replicates": spec.get("replicates", 1), "seed": spec.get("seed", 0)}
