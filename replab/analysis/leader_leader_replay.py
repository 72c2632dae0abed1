"""Replay a leader-leader history from its frames: every node's versions and version vectors.

The frames say, for every write, which leader committed it and how many apply rows had
been recorded before it committed (`applies_before`), and for every node which writes it
took off each leader's stream (`receipts`) and which it applied (`applies`, in the order
they happened). That is enough to replay every node's version vectors from scratch:

- a write's dot is (its leader, n): the n-th write of its key that leader committed; its
  version vector is what its leader had seen of the key when it committed, plus the dot;
- a version `a` has seen write `b` when a's vector counts b's leader up to b's n at least;
- a node applying a write it has seen (or seen superseded) keeps what it holds; otherwise
  every version it holds that the write has not seen is concurrent with it: a conflict,
  resolved by the policy (last writer wins: the larger write id stays and the other is a
  lost update, counted the first time; keep-both: both stay, as siblings);
- a read returns the newest write id a node holds of the key (0: none).

Nothing here reads the model; `replab.replication.leader_leader` is the other account, and
`replab.analysis.checks.check_leader_leader` compares the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from replab.core.codes import KEPT_BOTH, KEPT_EXISTING, RESOLUTIONS, TOOK_INCOMING

_UP_OR_DOWN, _READ, _SAMPLE = range(3)  # what is observed at an instant, in this order


@dataclass
class LeaderLeaderReplay:
    """What the frames say every node held, rebuilt by replaying commits and applies in order."""

    conflicts: pd.DataFrame  # the same rows, in the same order, as Results.conflicts should hold
    lost_ms: dict[int, float]  # write id -> when it first lost a conflict (last writer wins)
    vectors: dict[int, dict[str, int]]  # write id -> its version vector (leader -> writes of the key)
    final: dict[str, dict[int, tuple[int, ...]]]  # node -> key -> write ids it holds at the end
    live_at_end: list[str]
    divergent_keys: pd.Series  # per timeline sample time
    divergent_keys_at_end: int
    converge_ms: float
    stranded: list[int]  # write ids a live node lacks that only leaders down at the end hold
    reads_not_held: int
    applies_not_received: int
    receipts_out_of_order: int


def replay_leader_leader(results) -> LeaderLeaderReplay:
    """Rebuild every node's versions and version vectors from the frames of a leader-leader run."""
    if results.scenario.replication.kind != "leader-leader":
        raise ValueError("replay_leader_leader needs a leader-leader run "
                         f"(this one is replication.kind = {results.scenario.replication.kind!r})")
    return _Replay(results).run()


class _Replay:
    """One pass over the history in the order it happened; per node and key: the vector of
    everything seen and the write ids held (siblings sorted by write id)."""

    def __init__(self, results):
        self.results = results
        writes = results.writes
        self.names = [str(n) for n in writes["leader"].cat.categories]
        self.keep_both = results.scenario.replication.conflicts == "keep-both"
        # per write id (index 0 unused)
        self.key = [0] + writes["key"].tolist()
        self.origin = [""] + writes["leader"].astype(str).tolist()
        self.log_index = [0] + writes["log_index"].tolist()
        self.vector: dict[int, dict[str, int]] = {}
        self.dot: dict[int, tuple[str, int]] = {}
        # per node
        self.seen = {n: {} for n in self.names}
        self.held = {n: {} for n in self.names}
        self.live = set(self.names)
        self.conflict_rows: list[tuple] = []
        self.lost_ms: dict[int, float] = {}
        self.instant: dict[tuple[str, int], tuple[float, set]] = {}  # (node, key) -> (t, write ids visible during t)
        self.touched: set[int] = set()
        self.divergent: set[int] = set()
        self.live_changed = False
        self.samples: list[tuple[float, int]] = []
        self.reads_not_held = 0
        self.applies_not_received = 0
        self.applied: set[tuple[str, int]] = set()

    def run(self) -> LeaderLeaderReplay:
        received, out_of_order = self._receipts()
        observations = self._observations()
        o = 0
        for t, is_commit, write_id, node in self._state_changes():
            while o < len(observations) and observations[o][0] < t:
                self._observe(*observations[o])
                o += 1
            if is_commit:
                self._commit(t, node, write_id)
            else:
                if (node, write_id) not in received or (node, write_id) in self.applied or write_id not in self.vector:
                    self.applies_not_received += 1
                self.applied.add((node, write_id))
                if write_id in self.vector:
                    self._apply(t, node, write_id)
        for observation in observations[o:]:
            self._observe(*observation)
        live = [n for n in self.names if n in self.live]
        at_end = len(self._differing(set().union(*(self.held[n] for n in live)) if live else set()))
        conflicts = pd.DataFrame({
            "t_ms": np.array([r[0] for r in self.conflict_rows], dtype=np.float64),
            "node": pd.Categorical([r[1] for r in self.conflict_rows], categories=self.names),
            "key": np.array([r[2] for r in self.conflict_rows], dtype=np.int64),
            "incoming": np.array([r[3] for r in self.conflict_rows], dtype=np.int64),
            "existing": np.array([r[4] for r in self.conflict_rows], dtype=np.int64),
            "resolution": pd.Categorical.from_codes([r[5] for r in self.conflict_rows], categories=list(RESOLUTIONS.categories)),
        })
        divergence = pd.Series([d for _, d in self.samples], index=[t for t, _ in self.samples], dtype=float)
        return LeaderLeaderReplay(
            conflicts=conflicts, lost_ms=self.lost_ms, vectors=self.vector, final=self.held, live_at_end=live,
            divergent_keys=divergence, divergent_keys_at_end=at_end,
            converge_ms=self._converge_ms(live, received, at_end), stranded=self._stranded(live, received),
            reads_not_held=self.reads_not_held, applies_not_received=self.applies_not_received,
            receipts_out_of_order=out_of_order)

    # the history, in order ---------------------------------------------------------------------
    def _state_changes(self):
        """(t_ms, is_commit, write_id, node): commits and applies in the order they happened
        (a commit follows the `applies_before` apply rows recorded before it)."""
        writes, applies = self.results.writes, self.results.applies
        before, commit_ms = writes["applies_before"].tolist(), writes["commit_ms"].tolist()
        i, n = 0, len(before)
        rows = zip(applies["write_id"].tolist(), applies["node"].astype(str).tolist(), applies["applied_ms"].tolist())
        for row, (write_id, node, t) in enumerate(rows):
            while i < n and before[i] <= row:
                yield commit_ms[i], True, i + 1, self.origin[i + 1]
                i += 1
            yield t, False, write_id, node
        for j in range(i, n):
            yield commit_ms[j], True, j + 1, self.origin[j + 1]

    def _observations(self) -> list[tuple]:
        """(t_ms, what, node, key, value), by time: a node going down or up (value: up), a
        served read (value: the version it returned), a timeline sample. Each comes after
        every commit and apply of its instant (a sample is taken once the instant is over)."""
        results = self.results
        out = []
        for t, kind, target in zip(results.events["t_ms"], results.events["kind"], results.events["target"]):
            if kind in ("crash", "recover") and target in self.seen:
                out.append((t, _UP_OR_DOWN, target, 0, kind == "recover"))
        requests = results.requests
        reads = requests[(requests["op"] == "read") & (requests["outcome"] == "served")]
        for t, node, key, version in zip(reads["answered_ms"].tolist(), reads["node"].astype(str).tolist(),
                                         reads["key"].tolist(), reads["version"].tolist()):
            out.append((t, _READ, node, key, version))
        for t in pd.unique(results.timeline["t_ms"]).tolist():
            out.append((t, _SAMPLE, "", 0, 0))
        out.sort(key=lambda o: (o[0], o[1]))
        return out

    def _observe(self, t: float, what: int, node: str, key: int, value) -> None:
        if what == _UP_OR_DOWN:
            (self.live.add if value else self.live.discard)(node)
            self.live_changed = True
        elif what == _READ:
            visible = max(self.held[node].get(key, ()), default=0)
            during = self.instant.get((node, key))
            if value != visible and not (during and during[0] == t and value in during[1]):
                self.reads_not_held += 1
        else:
            self._sample(t)

    # a node's versions -------------------------------------------------------------------------
    def _commit(self, t: float, leader: str, write_id: int) -> None:
        """A leader's own write has seen everything its leader had seen of the key."""
        key = self.key[write_id]
        vector = dict(self.seen[leader].get(key, {}))
        vector[leader] = vector.get(leader, 0) + 1
        self.vector[write_id] = vector
        self.dot[write_id] = (leader, vector[leader])
        self.seen[leader][key] = dict(vector)
        self._hold(t, leader, key, (write_id,))

    def _has_seen(self, vector: dict, write_id: int) -> bool:
        leader, n = self.dot[write_id]
        return vector.get(leader, 0) >= n

    def _apply(self, t: float, node: str, write_id: int) -> None:
        key, vector = self.key[write_id], self.vector[write_id]
        seen = self.seen[node].get(key)
        if seen is None:
            self.seen[node][key] = dict(vector)
            self._hold(t, node, key, (write_id,))
            return
        if self._has_seen(seen, write_id):
            return  # seen already, or superseded by something seen
        for leader, count in vector.items():
            if seen.get(leader, 0) < count:
                seen[leader] = count
        concurrent = [held for held in self.held[node][key] if not self._has_seen(vector, held)]
        if not concurrent:
            self._hold(t, node, key, (write_id,))
        elif self.keep_both:
            for held in concurrent:
                self.conflict_rows.append((t, node, key, write_id, held, KEPT_BOTH))
            self._hold(t, node, key, tuple(sorted(concurrent + [write_id])))
        else:
            held = concurrent[0]  # last writer wins holds one version of a key
            if write_id > held:
                self.conflict_rows.append((t, node, key, write_id, held, TOOK_INCOMING))
                self.lost_ms.setdefault(held, t)
                self._hold(t, node, key, (write_id,))
            else:
                self.conflict_rows.append((t, node, key, write_id, held, KEPT_EXISTING))
                self.lost_ms.setdefault(write_id, t)

    def _hold(self, t: float, node: str, key: int, versions: tuple) -> None:
        """`node` now holds `versions` of `key`; remember what a read could see during instant t."""
        held = self.held[node]
        before = max(held.get(key, ()), default=0)
        held[key] = versions
        self.touched.add(key)
        after = versions[-1]
        if after != before:
            during = self.instant.get((node, key))
            if during is None or during[0] != t:
                self.instant[node, key] = (t, {before, after})
            else:
                during[1].add(after)

    # divergence and convergence ----------------------------------------------------------------
    def _differing(self, keys) -> set[int]:
        """The keys whose held versions are not the same on every live node."""
        live = [self.held[n] for n in self.names if n in self.live]
        if len(live) < 2:
            return set()
        first, rest = live[0], live[1:]
        return {k for k in keys if any(other.get(k) != first.get(k) for other in rest)}

    def _sample(self, t: float) -> None:
        # a key that agreed and did not change still agrees, unless who is live changed
        candidates = set().union(*self.held.values()) if self.live_changed else self.touched | self.divergent
        self.divergent = self._differing(candidates)
        self.touched, self.live_changed = set(), False
        self.samples.append((t, len(self.divergent)))

    def _receipts(self) -> tuple[set, int]:
        """Which (node, write) were taken off a leader's stream, and how many receipts broke
        that stream's order (each node takes a leader's writes in log order, once)."""
        receipts = self.results.receipts
        received: set[tuple[str, int]] = set()
        expected: dict[tuple[str, str], int] = {}
        out_of_order = 0
        for write_id, node in zip(receipts["write_id"].tolist(), receipts["node"].astype(str).tolist()):
            stream = (node, self.origin[write_id])
            index = self.log_index[write_id]
            if index != expected.get(stream, 0) or (node, write_id) in received:
                out_of_order += 1
            expected[stream] = max(expected.get(stream, 0), index + 1)
            received.add((node, write_id))
        return received, out_of_order

    def _converge_ms(self, live: list[str], received: set, divergent_at_end: int) -> float:
        """From the last commit to the last apply on a live node, if by the end every live node
        had applied all it had received and received every write of the live leaders, and
        they agreed on every key; NaN otherwise."""
        writes = self.results.writes
        if not len(writes) or not live or divergent_at_end:
            return math.nan
        if any((node, w) not in self.applied for node, w in received if node in self.live):
            return math.nan
        for write_id in range(1, len(writes) + 1):
            leader = self.origin[write_id]
            if leader in self.live and any(n != leader and (n, write_id) not in received for n in live):
                return math.nan
        applies = self.results.applies
        on_live = applies.loc[applies["node"].astype(str).isin(live), "applied_ms"]
        last_apply = float(on_live.max()) if len(on_live) else 0.0
        return max(0.0, last_apply - float(writes["commit_ms"].max()))

    def _stranded(self, live: list[str], received: set) -> list[int]:
        """Writes of leaders down at the end that some live node never received."""
        if not live:
            return []
        return [w for w in range(1, len(self.origin))
                if self.origin[w] not in self.live and any((n, w) not in received for n in live)]
