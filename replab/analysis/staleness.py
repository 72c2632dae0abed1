"""How stale reads are, measured from the history (the requests and writes frames) alone.

A write *commits* when its node sends the acknowledgement (the answered_ms of its request,
for an acknowledged write): under leaderless replication, when its coordinator has W acks;
under leader-follower, the leader's ack in whatever ack mode. A read *starts* when it
reaches its node (arrived_ms; leaderless: when its coordinator asks the replicas). For
every served read, `read_staleness` gives

- versions_behind: writes of its key committed before it started that are newer (a larger
  write id) than the version it returned: 0 when it saw every committed write;
- committed_before: writes of its key committed before it started;
- t_ms: how long after the newest of them committed the read started (NaN: none had);
- consistent: versions_behind == 0.

and from those, as in Bailis et al.'s "Probabilistically Bounded Staleness" (VLDB 2012):

- `t_visibility`: the probability that a read started t ms after a commit returns that
  write (or a newer one), per bin of t, with a 95% interval;
- `k_staleness`: the probability that a read misses the last k committed versions
  (returns one at least k versions old), for k = 1, 2, ..., among reads with k committed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab.analysis.anomalies import newest_before, served_reads

STALENESS_DOC = {
    "missed_commit_reads": "served reads that returned a version older than a write of their key committed (acknowledged by its node) before the read reached its node",
    "missed_commit_rate": "missed_commit_reads / served reads",
    "max_versions_behind": "most committed versions a served read was behind",
}
Z95 = 1.959964


def _read_and_commit_arrays(requests: pd.DataFrame, writes: pd.DataFrame) -> tuple[dict, dict]:
    """The served reads (request_id, key, start_ms, version) and the acknowledged writes
    (key, write_id, commit_ms, in commit order), as arrays by column name."""
    ids = requests["request_id"].to_numpy()
    served = served_reads(requests)
    # when the read reached its node; a history without that instant (a real system's) has its start
    arrived = requests["arrived_ms"].to_numpy()
    arrived = np.where(np.isnan(arrived), requests["start_ms"].to_numpy(), arrived)
    reads = {"request_id": ids[served], "key": requests["key"].to_numpy()[served],
             "start_ms": arrived[served], "version": requests["version"].to_numpy()[served]}
    acked = writes["acked"].to_numpy()
    # committed when its node answered; without that instant, when the client heard the ack
    commit_ms = requests["answered_ms"].to_numpy()[np.searchsorted(ids, writes["request_id"].to_numpy()[acked])]
    commit_ms = np.where(np.isnan(commit_ms), writes["ack_ms"].to_numpy()[acked], commit_ms)
    order = np.argsort(commit_ms, kind="stable")
    committed = {"key": writes["key"].to_numpy()[acked][order], "write_id": writes["write_id"].to_numpy()[acked][order],
                 "commit_ms": commit_ms[order]}
    return reads, committed


def read_staleness(requests: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """One row per served read (request_id order): request_id, key, start_ms, version,
    committed_before, newest_committed, t_ms, versions_behind, consistent (see the module)."""
    reads, committed = _read_and_commit_arrays(requests, writes)
    return pd.DataFrame({**reads, **_staleness_columns(reads["key"], reads["start_ms"], reads["version"], committed)})


def _staleness_columns(read_key: np.ndarray, start_ms: np.ndarray, version: np.ndarray, committed) -> dict:
    """For each read (its key, start and version returned), from the commits of its key that
    committed before it started: how many (committed_before), the newest write id among them
    (newest_committed, 0: none), t_ms since that one committed (NaN: none), how many of them
    it missed (versions_behind) and whether it missed none (consistent). `committed`: key,
    write_id and commit_ms in commit order."""
    read_key = read_key.astype(np.int64)
    before = np.zeros(len(read_key), dtype=np.int64)
    newest = np.zeros(len(read_key), dtype=np.int64)
    newest_ms = np.full(len(read_key), np.nan)
    behind = np.zeros(len(read_key), dtype=np.int64)
    if len(committed["key"]) and len(read_key):
        key, write_id, commit_ms = _by_key(committed)
        past = _past_last_commit(key, commit_ms, read_key, start_ms)
        first = np.searchsorted(key, key)  # where each commit's key begins
        # the newest id so far within its key: ids lifted by their key, so the running maximum restarts at each key
        low, width = int(write_id.min()), int(write_id.max() - write_id.min()) + 1
        newest_so_far = np.maximum.accumulate(key * width + (write_id - low)) - key * width + low
        # the commit that made it the newest (a key's first commit always does: this stays within the key)
        made_newest = np.maximum.accumulate(np.where(write_id == newest_so_far, np.arange(len(key)), 0))
        last = past - 1  # the last commit of the read's key before the read started, if its key has one
        found = (last >= 0) & (key[np.maximum(last, 0)] == read_key)
        at = last[found]
        before[found] = at - first[at] + 1
        newest[found] = newest_so_far[at]
        newest_ms[found] = commit_ms[made_newest[at]]
        stale = newest > version
        behind[stale] = _missed(key, write_id, past[stale], read_key[stale], version[stale])
    return {"committed_before": before, "newest_committed": newest, "t_ms": start_ms - newest_ms,
            "versions_behind": behind, "consistent": newest <= version}


def _by_key(committed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """key, write_id and commit_ms of `committed` (in commit order) sorted by key, each key's
    commits still in commit order."""
    key = np.asarray(committed["key"]).astype(np.int64)
    by_key = np.argsort(key, kind="stable")
    return key[by_key], np.asarray(committed["write_id"]).astype(np.int64)[by_key], np.asarray(committed["commit_ms"])[by_key]


def _past_last_commit(key: np.ndarray, commit_ms: np.ndarray, read_key: np.ndarray, start_ms: np.ndarray) -> np.ndarray:
    """For each read, the position (in the commits sorted by `_by_key`) just past the last
    commit of its key that committed before it started. commit_ms < start exactly when the
    commit's rank among the sorted commit times is below the read's (ranks are integers, so
    (key, rank) is one int64 to search)."""
    times = np.sort(commit_ms)
    span = len(times) + 1
    known = key * span + np.searchsorted(times, commit_ms)
    return np.searchsorted(known, read_key.astype(np.int64) * span + np.searchsorted(times, start_ms))


def _versions_behind(read_key: np.ndarray, start_ms: np.ndarray, version: np.ndarray, committed) -> np.ndarray:
    """For reads known to have missed a commit (their key, start and version returned): how many
    committed writes they missed (writes of their key committed before they started, with a
    write id above the version they returned). `committed`: key, write_id and commit_ms, in
    commit order (a frame or arrays)."""
    if len(read_key) == 0 or len(committed["key"]) == 0:
        return np.zeros(len(read_key), dtype=np.int64)
    key, write_id, commit_ms = _by_key(committed)
    return _missed(key, write_id, _past_last_commit(key, commit_ms, read_key, start_ms), read_key, version)


def _missed(key: np.ndarray, write_id: np.ndarray, before: np.ndarray, read_key: np.ndarray,
            version: np.ndarray) -> np.ndarray:
    """_versions_behind on commits sorted by `_by_key`, `before` from `_past_last_commit`.

    Per key, in commit order, the commits before a read started are a first run of P; write ids
    mostly grow in commit order, so the running maximum of the ids and their running minimum
    from the end (both growing within a key) split those P by binary search: before L every id
    is at most the version, from R on every id is above it; only [L, min(R, P)), short unless
    ids come far out of commit order, is compared one by one. Exact; it replaced a join of
    every such read with every commit of its key (1.7-4.7 M rows on the skewed chapters)."""
    reads = len(read_key)
    if reads == 0:
        return np.zeros(0, dtype=np.int64)
    read_key = read_key.astype(np.int64)
    version = version.astype(np.int64)
    # ids lifted by their key, so the running extremes restart at each key and stay sorted
    low = min(int(write_id.min()), int(version.min()))
    width = max(int(write_id.max()), int(version.max())) - low + 1
    lifted = key * width + (write_id - low)
    wanted = read_key * width + (version - low)
    first_newer = np.searchsorted(np.maximum.accumulate(lifted), wanted, side="right")  # L
    all_newer = np.searchsorted(np.minimum.accumulate(lifted[::-1])[::-1], wanted, side="right")  # R
    behind = np.maximum(before - all_newer, 0)
    mixed_end = np.minimum(all_newer, before)
    lengths = np.maximum(mixed_end - first_newer, 0)
    # the mixed runs one by one, in chunks of reads that keep the (read, commit) pairs bounded
    ends = np.cumsum(lengths)
    starts = ends - lengths
    chunk = 0
    while chunk < reads and ends[-1] > starts[chunk]:
        stop = max(int(np.searchsorted(ends, starts[chunk] + 4_000_000, side="right")), chunk + 1)
        counts = lengths[chunk:stop]
        rows = np.repeat(np.arange(chunk, stop), counts)
        at = np.repeat(first_newer[chunk:stop] - (starts[chunk:stop] - starts[chunk]), counts) + np.arange(len(rows))
        newer = write_id[at] > version[rows]
        behind += np.bincount(rows[newer], minlength=reads)
        chunk = stop
    return behind


def _interval(hits: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% interval of hits / n (NaN where n is 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits / n
        centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
        half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return centre - half, centre + half


def t_visibility(staleness: pd.DataFrame, bin_ms: float | None = None, max_ms: float | None = None) -> pd.DataFrame:
    """P(a read started t ms after the newest commit of its key returns it or newer), per bin of t.

    Columns: t_ms (the bin's middle), t_from_ms, t_to_ms, reads, consistent (the share),
    low and high (95% interval). Default: 25 bins up to the 99th percentile of t."""
    t = staleness["t_ms"].to_numpy()
    ok = ~np.isnan(t)
    t, consistent = t[ok], staleness["consistent"].to_numpy()[ok]
    if max_ms is None:
        max_ms = float(np.percentile(t, 99)) if len(t) else 1.0
    max_ms = max(max_ms, 1e-9)
    if bin_ms is None:
        bin_ms = max_ms / 25
    edges = np.arange(0.0, max_ms + bin_ms * 0.5, bin_ms)
    if len(edges) < 2:
        edges = np.array([0.0, max_ms])
    which = np.searchsorted(edges, t, side="right") - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    reads = np.bincount(which[inside], minlength=len(edges) - 1).astype(float)
    hits = np.bincount(which[inside], weights=consistent[inside], minlength=len(edges) - 1)
    low, high = _interval(hits, reads)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = hits / reads
    return pd.DataFrame({"t_ms": (edges[:-1] + edges[1:]) / 2, "t_from_ms": edges[:-1], "t_to_ms": edges[1:],
                         "reads": reads.astype(np.int64), "consistent": share, "low": low, "high": high})


def k_staleness(staleness: pd.DataFrame, k_max: int = 5) -> pd.DataFrame:
    """P(a read misses the last k committed versions of its key), k = 1..k_max, among reads
    that had at least k committed before them. Columns: k, reads, stale, probability, low, high."""
    before = staleness["committed_before"].to_numpy()
    behind = staleness["versions_behind"].to_numpy()
    ks = np.arange(1, k_max + 1)
    reads = np.array([(before >= k).sum() for k in ks], dtype=float)
    stale = np.array([((before >= k) & (behind >= k)).sum() for k in ks], dtype=float)
    low, high = _interval(stale, reads)
    with np.errstate(invalid="ignore", divide="ignore"):
        probability = stale / reads
    return pd.DataFrame({"k": ks, "reads": reads.astype(np.int64), "stale": stale.astype(np.int64),
                         "probability": probability, "low": low, "high": high})


def staleness_summary(results) -> dict:
    """The summary's staleness keys (STALENESS_DOC), from the requests and writes frames:
    read_staleness's figures without its per-read frame (nine columns for every read, and the
    search's arrays beside them): the newest write committed before each read by a running
    maximum in numpy (anomalies.newest_before), versions behind only for the reads that missed one."""
    reads, committed = _read_and_commit_arrays(results.requests, results.writes)  # arrays: no frames to build
    if len(reads["key"]) == 0:
        return {"missed_commit_reads": 0, "missed_commit_rate": math.nan, "max_versions_behind": 0}
    starts = reads["start_ms"]
    order = np.argsort(starts, kind="stable")
    # a commit is known to the reads (in start order) from the first that starts after it
    place = np.searchsorted(starts[order], committed["commit_ms"], side="right")
    newest = np.empty(len(starts), dtype=np.int64)
    newest[order] = newest_before(place, committed["key"].astype(np.int64), committed["write_id"].astype(np.int64),
                                  reads["key"][order].astype(np.int64))
    stale = newest > reads["version"]
    missed = int(stale.sum())
    behind = _versions_behind(reads["key"][stale], starts[stale], reads["version"][stale], committed) if missed \
        else np.zeros(0, dtype=np.int64)
    return {
        "missed_commit_reads": missed,
        "missed_commit_rate": missed / len(starts),
        "max_versions_behind": int(behind.max()) if missed else 0,
    }
