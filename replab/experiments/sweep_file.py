"""A sweep's `out` file: ONE Parquet table of rows, resumable, never lost or overwritten unasked.

- Only one sweep writes a file at a time: it holds a lock (`.NAME.lock` beside it, a real
  OS lock through the `filelock` package) from start to end, and a second sweep into the
  same file is refused at once instead of racing it (two sweeps each rewriting the file
  kept only one's rows: 6 of 12).
- Rows are kept by run key and written in the order the sweep plans its runs (rows of
  other plans on the same base follow, in their order), so the file does not depend on
  the engine or on which run finished first.
- Each write goes to a new temporary file created securely in the same folder (random
  name, O_EXCL: a planted symlink is never followed) and is then renamed over the file,
  atomically: a reader, or a sweep killed mid-write, sees the old file or the new one.
- The file's metadata records the base scenario and seed; a sweep of another base or seed
  refuses to write into it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

from replab.config.scenario import FIELDS_BY_PATH, Scenario, ScenarioError

FLUSH_EVERY_S = 1.0
_FILE_MARK = b"replab.sweep"


class SweepFile:
    """The `out` Parquet file: rows of earlier runs, and new rows written as they arrive."""

    def __init__(self, path: Path, base: Scenario, seed: int):
        self.path, self.dirty, self.flushed_at = path, False, 0.0
        self.rows: dict[str, dict] = {}  # run key -> row
        self.plan_order: dict[str, int] = {}
        identity = {k: v for k, v in base.to_flat().items() if k not in ("seed", "description")}
        self.mark = json.loads(json.dumps({"base": identity, "seed": seed}))
        if path.is_dir():
            raise ScenarioError("out", str(path), "is a directory; name a .parquet file in it")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ScenarioError("out", str(path), f"cannot be written ({err.strerror or err})") from None
        self.lock = FileLock(str(path.with_name(f".{path.name}.lock")), timeout=0)
        try:
            self.lock.acquire()
        except Timeout:
            raise ScenarioError("out", str(path), "is being written by another sweep right now; wait for it to "
                                                  "finish, or choose another path") from None
        except OSError as err:
            raise ScenarioError("out", str(path), f"cannot be locked ({err.strerror or err})") from None
        try:
            if os.path.lexists(path):
                self.rows = {row["run_key"]: row for row in self._read()}
        except BaseException:
            self.lock.release()
            raise

    def _read(self) -> list[dict]:
        import pyarrow.parquet as pq

        mode = os.stat(self.path).st_mode
        if not stat.S_ISREG(mode):
            raise ScenarioError("out", str(self.path), "exists but is not a regular file; choose another path")
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

    def rows_for(self, runs: list, retry_errors: bool = False) -> dict[str, dict]:
        """Rows already in the file for these runs (columns other sweeps varied left out);
        with `retry_errors`, rows of runs that failed are left out, so they run again."""
        self.plan_order = {run.key: i for i, run in enumerate(runs)}
        found = {}
        for run in runs:
            row = self.rows.get(run.key)
            if row is None or (retry_errors and row.get("error")):
                continue
            kept = {k: v for k, v in row.items() if k not in FIELDS_BY_PATH or k in run.values}
            found[run.key] = {**kept, **run_identity(run)}
        return found

    def add(self, row: dict) -> None:
        self.rows[row["run_key"]] = row  # a retried run replaces its error row
        self.dirty = True

    def flush(self, force: bool = False) -> None:
        if not self.dirty or (not force and time.monotonic() - self.flushed_at < FLUSH_EVERY_S):
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        position = {key: (0, i) for i, key in enumerate(self.plan_order)}
        keys = sorted(self.rows, key=lambda k: position.get(k, (1, 0)))  # stable: others keep their order
        table = pa.Table.from_pandas(pd.DataFrame([self.rows[k] for k in keys]), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _FILE_MARK: json.dumps(self.mark)})
        fd, partial = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".partial")
        try:
            if hasattr(os, "fchmod"):  # mkstemp makes it private (0600); the table gets the usual mode
                os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as file:
                pq.write_table(table, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, self.path)  # atomic: readers see the old file or the new one, never half
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        self.dirty, self.flushed_at = False, time.monotonic()

    def close(self) -> None:
        try:
            self.flush(force=True)
        finally:
            self.lock.release()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def run_identity(run) -> dict:
    """The columns that say which run a row is: its varied values, replicate and seed."""
    return {**run.values, "replicate": run.replicate, "seed": run.seed}


__all__ = ["FLUSH_EVERY_S", "SweepFile", "run_identity"]
