"""Results: the tidy frames of one run, its scenario, its end-of-run counts and its summary.

- requests: one row per client operation (session, node, key, op, start_ms, end_ms,
  latency_ms, outcome served/refused/failed, reason, version seen or written, and
  arrived_ms / answered_ms: when it reached the node, or the balancer that refused it,
  and when the answer left; NaN where it never got there; cache: with pull, 'hit' or
  'miss' for a read a follower looked up in its cache, '' otherwise; staleness_ms: for a
  served read, how long the version it returned had been superseded by a write
  acknowledged before the read started (0 when fresh), NaN for anything else).
- writes: one row per committed write (ack_ms, replicas that applied it, lost and why;
  log_index is its place in its leader's log, per leader under leader-leader; applies_before:
  apply rows recorded before it committed, which places it among the applies of its instant).
- applies: one row per (write, replica): who shipped it (sender, sent_ms), when the
  replica received it and when it applied it (NaN/empty for entries re-applied from the
  relay log after a crash, whose receipt was before the crash).
- receipts: one row per (write, node) that took it off its leader's stream (write_id, node,
  received_ms), whether applied by the end or not (leader-follower and leader-leader).
- timeline: per-node samples (role, up, depth in the replication tree (-1: not in it;
  leader-leader: 0 for leaders, 1 for followers), upstream (the node it replicates from;
  empty for leaders and nodes out of the tree), queue, utilisation, lag in ms and in
  writes (NaN for pull followers: a cache follows no log), entries shipped so far on its
  outbound link, and divergent_keys: keys whose
  versions differ across the live nodes at that instant, the same on every row of a sample;
  leader-leader only, NaN otherwise), and state_bytes: buddy replication's session state
  held in the node's memory (its own sessions and its copies of its buddies'; -1 for the
  other kinds).
- events: faults, detections, read-only mode, promotions, buddy take-overs.
- conflicts: leader-leader, one row per node that met two concurrent versions of a key
  (t_ms, node, key, the incoming write, the write it held, what it kept).
- fetches: pull, one row per fetch a follower sent for a client read (node, source: the
  origin or the key's home peer, sent_ms, answered_ms at the source, received_ms back at
  the node, version and expires_ms of the copy kept, from_cache: a peer answered from its
  own copy; NaN/-1 where the fetch never got that far).
- sessions: per-session anomaly counts.
- several data centres (dcs.count > 1): requests also have dc, region, dns_lookup,
  to_dead_dc, dc_move and node_move columns (replab.analysis.dc_results).
- tables: frames of the tables a replication strategy declares for itself, by name (also
  reachable as attributes: results.NAME).
- totals: counts the model keeps rather than rows (messages sent and dropped, and the
  strategy's end-of-run counts).
- summary: a flat dict of metrics, a function of everything above (see
  replab.analysis.summary.SUMMARY_DOC); `summarise(results)` recomputes it.

`Results.save(folder)` writes one Parquet file per frame, the scenario (TOML) and the
summary (JSON); `Results.load(folder)` reads them back and recomputes the summary.
"""

from __future__ import annotations

import json
import math
from array import array
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from replab.analysis import staleness
from replab.analysis.anomalies import find_anomalies, sessions_frame, staleness_ms
from replab.analysis.dc_results import add_dc_columns
from replab.analysis.frames import codes, conflicts_frame, drain, events_frame, table_frame, timeline_frame
from replab.analysis.summary import SUMMARY_DOC, summarise
from replab.config.scenario import Scenario
from replab.core.codes import CACHE_OUTCOMES, HIT, MISS, RESOLUTIONS, ROLES, Codes
from replab.core.recorder import APPLIES, FETCHES, LOOKUPS, NODE, RECEIPTS, REQUESTS, ROUTES, TABLES, WRITES

FRAMES = ("requests", "writes", "applies", "timeline", "events", "sessions", "conflicts", "receipts", "fetches")
DERIVED_CATEGORIES = {"cache": CACHE_OUTCOMES.categories, "role": ROLES.categories, "resolution": RESOLUTIONS.categories}


@dataclass
class Results:
    """Everything one run recorded, as pandas frames, plus its summary and scenario."""

    scenario: Scenario
    requests: pd.DataFrame
    writes: pd.DataFrame
    applies: pd.DataFrame
    timeline: pd.DataFrame
    events: pd.DataFrame
    sessions: pd.DataFrame = field(repr=False)
    summary: dict = field(repr=False)
    conflicts: pd.DataFrame = field(default=None, repr=False)
    receipts: pd.DataFrame = field(default=None, repr=False)
    fetches: pd.DataFrame = field(default=None, repr=False)
    totals: dict = field(default_factory=dict, repr=False)
    tables: dict = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str):
        tables = self.__dict__.get("tables") or {}
        if name in tables:
            return tables[name]
        raise AttributeError(f"Results has no frame or attribute {name!r}")

    @cached_property
    def read_staleness(self) -> pd.DataFrame:
        """One row per served read: how stale it was (replab.analysis.staleness.read_staleness),
        worked out at the first asking and kept: several charts read it. Do not change it."""
        return staleness.read_staleness(self.requests, self.writes)

    @classmethod
    def from_recorder(cls, scenario: Scenario, recorder, summarise_it: bool = True) -> Results:
        """The results of a finished run. Takes the history out of its recorder (once).
        `summarise_it=False` leaves the summary empty (a partial picture needs no summary)."""
        if recorder.requests.request_id is None:
            raise RuntimeError("this run's results were already taken; keep the Results object")
        names = list(scenario.node_names)
        requests = _requests_frame(recorder, names)
        writes = _writes_frame(recorder, names)
        applies = table_frame(APPLIES, recorder.applies, names)
        receipts = table_frame(RECEIPTS, recorder.receipts, names)
        writes["replicas"] = np.bincount(applies["write_id"].to_numpy(), minlength=len(writes) + 1)[1:]
        timeline = timeline_frame(recorder.samples, names)
        events = events_frame(recorder.events)
        conflicts = conflicts_frame(recorder.conflicts, names)
        writes["conflicted"] = writes["write_id"].isin(conflicts["incoming"]) | writes["write_id"].isin(conflicts["existing"])
        anomalies = find_anomalies(requests, writes)
        requests["cache"] = _cache_column(recorder, requests, names)
        requests["staleness_ms"] = staleness_ms(requests, writes, anomalies)
        fetches = table_frame(FETCHES, recorder.fetches, names)
        fetches["from_cache"] = fetches["from_cache"].astype(bool)
        sessions = sessions_frame(requests, anomalies, scenario.workload.sessions)
        routes = table_frame(ROUTES, recorder.routes, names)
        if scenario.dcs.count > 1:
            add_dc_columns(scenario, requests, routes)
        tables = {t.attribute: table_frame(t, getattr(recorder, t.attribute), names)
                  for t in recorder.tables if t not in TABLES}
        results = cls(scenario, requests, writes, applies, timeline, events, sessions, {}, conflicts, receipts,
                      fetches, dict(recorder.totals), tables)
        if summarise_it:
            results.summary = summarise(results, anomalies)
        return results

    @classmethod
    def so_far(cls, model, summarise_it: bool = False) -> Results:
        """The results of a run that is still going: the frames of what `model` has recorded up to
        its present (operations still in flight are not in them yet), read from a copy of its
        recorder so the run goes on untouched. The summary is left empty unless asked for."""
        recorder = model.recorder.snapshot()
        lookups = recorder.lookups
        if len(lookups.request_id):  # a pull cache's lookups of reads still in flight have no request row yet
            done = set(recorder.requests.request_id)
            keep = [i for i, request in enumerate(lookups.request_id) if request in done]
            for column in ("request_id", "node", "hit"):
                values = getattr(lookups, column)
                setattr(lookups, column, array(values.typecode, (values[i] for i in keep)))
        return cls.from_recorder(model.scenario, recorder, summarise_it)

    @classmethod
    def from_model(cls, model) -> Results:
        """The results of a finished ReplicationModel (its scenario and recorder)."""
        return cls.from_recorder(model.scenario, model.recorder)

    # presenting -----------------------------------------------------------------------------
    def summary_table(self) -> pd.DataFrame:
        """The summary as a two-column table (metric, value) with what each means."""
        rows = [(k, v, SUMMARY_DOC.get(k, "")) for k, v in self.summary.items()]
        return pd.DataFrame(rows, columns=["metric", "value", "meaning"]).set_index("metric")

    def format_summary(self) -> str:
        lines = []
        for key, value in self.summary.items():
            if isinstance(value, float):
                text = "-" if math.isnan(value) else f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
            else:
                text = f"{value:,}"
            lines.append(f"{key:<28}{text:>14}")
        return "\n".join(lines)

    # saving and loading -----------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write every frame as Parquet, the end-of-run counts too, the summary as JSON and
        the scenario as TOML, into `folder` (made if missing)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in self._frames().items():
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        pd.DataFrame([self.totals]).to_parquet(folder / "totals.parquet", index=False)
        (folder / "summary.json").write_text(json.dumps(self.summary, indent=2, default=float))
        self.scenario.save(folder / "scenario.toml")
        return folder

    to_parquet = save  # the name it had first

    @classmethod
    def load(cls, folder: str | Path) -> Results:
        """A run saved by `save`; its summary is computed again from the frames."""
        folder = Path(folder)
        scenario = Scenario.load(folder / "scenario.toml")
        frames = {name: _categorised(name, pd.read_parquet(folder / f"{name}.parquet"), scenario) for name in FRAMES}
        totals_rows = pd.read_parquet(folder / "totals.parquet").to_dict("records")
        totals = {k: v for k, v in (totals_rows[0] if totals_rows else {}).items() if not _missing(v)}
        known = {*FRAMES, "totals"}
        tables = {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet")) if p.stem not in known}
        results = cls(scenario, summary={}, totals=totals, tables=tables, **frames)
        results.summary = summarise(results)
        return results

    def _frames(self) -> dict[str, pd.DataFrame]:
        return {**{name: getattr(self, name) for name in FRAMES}, **self.tables}


def _categorised(name: str, frame: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Give a loaded frame's coded columns all their categories back (Parquet keeps only the
    labels an empty or partial column uses, as far as pandas can tell)."""
    nodes = list(scenario.node_names)
    declared = {c.name: c.codes for t in TABLES if t.attribute == name for c in t.columns}
    for column in frame.columns:
        if frame[column].dtype.name != "category":
            continue
        codes_of = declared.get(column)
        if codes_of == NODE or column in ("node", "upstream"):
            labels = nodes
        elif isinstance(codes_of, Codes):
            labels = list(codes_of.categories)
        else:
            labels = list(DERIVED_CATEGORIES.get(column, ())) or [f"dc{d}" for d in range(scenario.dcs.count)]
        frame[column] = frame[column].cat.set_categories(labels)
    return frame


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _requests_frame(recorder, names: list[str]) -> pd.DataFrame:
    ids = recorder.requests.request_id
    order = np.argsort(np.frombuffer(ids, dtype=np.int64), kind="stable") if len(ids) else None
    columns = drain(REQUESTS, recorder.requests, names, order)
    at = list(columns).index("end_ms") + 1
    items = list(columns.items())
    items.insert(at, ("latency_ms", columns["end_ms"] - columns["start_ms"]))
    return pd.DataFrame(dict(items), copy=False)


def _writes_frame(recorder, names: list[str]) -> pd.DataFrame:
    lost = np.frombuffer(recorder.writes.lost_reason, dtype=np.int8).copy() if len(recorder.writes.lost_reason) \
        else np.empty(0, np.int8)
    columns = drain(WRITES, recorder.writes, names)
    ack = columns["ack_ms"]
    frame = {"write_id": np.arange(1, len(ack) + 1, dtype=np.int64)}
    for name, values in columns.items():
        if name == "lost_reason":
            frame["lost"] = lost > 0
        frame[name] = values
        if name == "ack_ms":
            frame["acked"] = ~np.isnan(ack)
    return pd.DataFrame(frame, copy=False)


def _cache_column(recorder, requests: pd.DataFrame, names: list[str]) -> pd.Categorical:
    """Per request: '' (no cache lookup), 'hit' or 'miss' (pull, a follower's lookup)."""
    looked_up = drain(LOOKUPS, recorder.lookups, names)
    outcome = np.zeros(len(requests), dtype=np.int8)
    if len(looked_up["request_id"]):
        rows = np.searchsorted(requests["request_id"].to_numpy(), looked_up["request_id"])
        outcome[rows] = np.where(looked_up["hit"] != 0, HIT, MISS)
    return codes(outcome, CACHE_OUTCOMES.categories)
