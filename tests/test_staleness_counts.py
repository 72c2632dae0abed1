"""How many committed writes a stale read missed, counted fast and checked against the definition.

`versions behind` of a read: the writes of its key committed before it started whose write id
is above the version it returned. replab counts them by binary search over each key's commits
(replab.analysis.staleness._versions_behind); here every pair is compared, on histories where
ids come out of commit order (leader-leader, failovers), times tie, and keys are shared.
"""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from replab.analysis.staleness import _staleness_columns, _versions_behind


def by_definition(reads: list[tuple[int, float, int]], commits: list[tuple[int, int, float]]) -> list[int]:
    return [sum(1 for c_key, write_id, commit_ms in commits if c_key == key and commit_ms < start_ms and write_id > version)
            for key, start_ms, version in reads]


def counted(reads, commits) -> list[int]:
    commits = sorted(commits, key=lambda c: c[2])  # the counter is given the commits in commit order
    committed = {"key": np.array([c[0] for c in commits], dtype=np.int64),
                 "write_id": np.array([c[1] for c in commits], dtype=np.int64),
                 "commit_ms": np.array([c[2] for c in commits], dtype=float)}
    return _versions_behind(np.array([r[0] for r in reads], dtype=np.int64), np.array([r[1] for r in reads], dtype=float),
                            np.array([r[2] for r in reads], dtype=np.int64), committed).tolist()


def test_a_read_misses_the_newer_writes_of_its_key_committed_before_it_started():
    commits = [(1, 1, 10.0), (1, 2, 20.0), (2, 3, 25.0), (1, 5, 30.0), (1, 4, 40.0)]  # write 5 committed before 4
    reads = [(1, 35.0, 1), (1, 35.0, 5), (1, 45.0, 2), (2, 26.0, 0), (1, 20.0, 1)]
    assert counted(reads, commits) == by_definition(reads, commits) == [2, 0, 2, 1, 0]


times = st.integers(0, 30).map(float)  # few distinct instants: ties between commits and reads


@st.composite
def histories(draw):
    """Commits with unique write ids in any order against commit time, and reads that returned
    one of those versions (or the initial 0): a read may have missed all, some or none."""
    ids = draw(st.lists(st.integers(1, 60), unique=True, max_size=40))
    commits = [(draw(st.integers(0, 3)), write_id, draw(times)) for write_id in ids]
    reads = draw(st.lists(st.tuples(st.integers(0, 3), times, st.sampled_from([0, *ids])), min_size=1, max_size=30))
    return commits, reads


@settings(max_examples=300, deadline=None)
@given(histories())
def test_the_fast_count_agrees_with_the_definition_on_any_history(history):
    commits, reads = history
    assert counted(reads, commits) == by_definition(reads, commits)


def staleness_by_definition(reads, commits) -> list[tuple]:
    """Per read: (commits of its key before it started, the newest id among them, its start
    minus that one's commit time, versions missed, consistent), pair by pair."""
    rows = []
    for key, start_ms, version in reads:
        earlier = [(write_id, commit_ms) for c_key, write_id, commit_ms in commits if c_key == key and commit_ms < start_ms]
        newest_id, newest_ms = max(earlier, default=(0, math.nan))
        missed = sum(1 for write_id, _ in earlier if write_id > version)
        rows.append((len(earlier), newest_id, start_ms - newest_ms, missed, newest_id <= version))
    return rows


@settings(max_examples=300, deadline=None)
@given(histories())
def test_each_reads_staleness_agrees_with_the_definition_on_any_history(history):
    """read_staleness's columns (the newest commit before each read, when it committed, how
    many commits came before and were missed) by binary search, against every pair compared."""
    commits, reads = history
    commits = sorted(commits, key=lambda c: c[2])  # given in commit order
    committed = {"key": np.array([c[0] for c in commits], dtype=np.int64),
                 "write_id": np.array([c[1] for c in commits], dtype=np.int64),
                 "commit_ms": np.array([c[2] for c in commits], dtype=float)}
    got = _staleness_columns(np.array([r[0] for r in reads], dtype=np.int64), np.array([r[1] for r in reads], dtype=float),
                             np.array([r[2] for r in reads], dtype=np.int64), committed)
    rows = list(zip(got["committed_before"].tolist(), got["newest_committed"].tolist(), got["t_ms"].tolist(),
                    got["versions_behind"].tolist(), got["consistent"].tolist()))
    want = staleness_by_definition(reads, commits)
    assert [r[:2] + r[3:] for r in rows] == [w[:2] + w[3:] for w in want]
    assert np.allclose([r[2] for r in rows], [w[2] for w in want], equal_nan=True)
