"""One quorum write and one later read of its key, message by message (leaderless runs).

Time runs to the right; each data node is a lane, and so is the client where clients
coordinate their operations (quorum.coordinator = 'client'). The write's versions travel from its
coordinator to the replicas (purple), the replicas' acks come back (dashed), and a star marks
the commit: the W-th ack. The read's requests go out (blue); each replica's answer comes back
green if it carried the write (or newer) and red if not, solid if it was among the first R
(what the client got), dotted if it came later; a filled circle on a lane marks a replica
that held the write when it read, an open one a replica that lacked it, so the overlap of
the two quorums is where the solid green arrows start. Read repairs of that read are orange.
Everything is drawn from the frames (requests, writes, deliveries, responses).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd

from replab.analysis.results import Results
from replab.replication import STRATEGIES
from replab.viz.style import fill

FRESH, STALE, WRITE, REPAIR, READ = "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#1f77b4"


def _arrows(segments, colour: str, name: str, dash: str = "solid", hover=None, legend: bool = True) -> dict:
    x, y, sizes, text = [], [], [], []
    for i, (x0, y0, x1, y1) in enumerate(segments):
        x += [x0, x1, None]
        y += [y0, y1, None]
        sizes += [0, 10, 0]
        text += [hover[i] if hover else "", hover[i] if hover else "", ""]
    return dict(name=name, x=x, y=y, mode="lines+markers", showlegend=legend and bool(segments),
                line=dict(color=colour, dash=dash, width=2),
                marker=dict(symbol="arrow", angleref="previous", size=sizes, color=colour, line=dict(width=0)),
                hovertext=text, hoverinfo="text")


def pick_story(results: Results) -> tuple[int | None, int | None]:
    """(request_id of a read, write_id of the newest write of its key committed before it):
    the first read that missed a committed write, else the read started soonest after a commit."""
    staleness = results.read_staleness
    after = staleness[staleness["newest_committed"] > 0]
    if not len(after):
        return None, None
    missed = after[~after["consistent"]]
    row = missed.iloc[0] if len(missed) else after.loc[after["t_ms"].idxmin()]
    return int(row["request_id"]), int(row["newest_committed"])


def quorum_story(results: Results, request_id: int | None = None, write_id: int | None = None, fig=None):
    """The messages of one write and one read of its key (default: `pick_story`)."""
    if (request_id is None or write_id is None) and results.scenario.replication.kind == "leaderless":
        request_id, write_id = pick_story(results)
    names = [str(n) for n in results.requests["node"].cat.categories]
    if STRATEGIES[results.scenario.replication.kind].clients_coordinate(results.scenario):
        names.append("client")
    lane = {name: i for i, name in enumerate(names)}
    traces: list[dict] = []
    if results.scenario.replication.kind != "leaderless":
        title = "Quorum reads and writes: a leaderless run's story (replication.kind = 'leaderless')"
    elif request_id is None:
        title = "No read of a key after one of its writes committed in this run"
    else:
        traces, title = _story_traces(results, request_id, write_id, lane)
    layout = dict(title=dict(text=title, y=0.96), height=440, margin=dict(l=60, r=20, t=80, b=40),
                  legend=dict(orientation="h", yanchor="top", y=-0.22, x=0.0, font=dict(size=10)),
                  xaxis=dict(title=dict(text="time, ms")),
                  yaxis=dict(tickvals=list(lane.values()), ticktext=names, range=[-0.6, len(names) - 0.4],
                             autorange="reversed", title=dict(text="node")))
    return fill(fig, traces, layout)


def _records(frame: pd.DataFrame, rows: np.ndarray) -> list[SimpleNamespace]:
    """The rows of `frame` at positions `rows` as plain records (row.sent_ms): pandas costs about
    a millisecond a call on a frame, and a story would make dozens of calls on a few rows each
    (a Lab redraws it as its run goes on)."""
    columns = {name: _column(frame[name], rows) for name in frame.columns}
    return [SimpleNamespace(**dict(zip(columns, values))) for values in zip(*columns.values())]


def _column(column: pd.Series, rows: np.ndarray) -> list:
    """The values of `column` at positions `rows` as Python objects (a category's label, NaN
    where there is none), without building a Series (Series.iloc costs ~0.1 ms)."""
    values = column.array
    if isinstance(values, pd.Categorical):
        return values.take(rows).tolist()
    return np.asarray(values)[rows].tolist()


def _where(frame: pd.DataFrame, column: str, value) -> np.ndarray:
    """Positions of the rows of `frame` whose `column` is `value`."""
    return np.flatnonzero(frame[column].to_numpy() == value)


def _story_traces(results: Results, request_id: int, write_id: int, lane: dict) -> tuple[list[dict], str]:
    (read,) = _records(results.requests, _where(results.requests, "request_id", request_id))
    (write,) = _records(results.writes, _where(results.writes, "write_id", write_id))
    (commit,) = _records(results.requests, _where(results.requests, "request_id", write.request_id))
    committed_ms = float(commit.answered_ms)
    deliveries, responses = results.tables["deliveries"], results.tables["responses"]
    sent = [r for r in _records(deliveries, _where(deliveries, "write_id", write_id)) if r.kind in ("write", "hinted write")]
    asked = _records(responses, _where(responses, "request_id", request_id))
    coordinator = "client" if pd.isna(read.node) else str(read.node)
    answers = [r.arrived_ms for r in asked if not math.isnan(r.arrived_ms)]
    last_answer_ms = max(answers, default=-math.inf)
    repairs = [r for r in _records(deliveries, _where(deliveries, "key", read.key))
               if r.kind == "read repair" and read.arrived_ms <= r.sent_ms <= last_answer_ms and str(r.sender) == coordinator]

    def y(node) -> int:
        """A node's lane; the client's for an empty node (a client coordinating)."""
        return lane["client" if pd.isna(node) else str(node)]

    taken = [r for r in sent if not math.isnan(r.applied_ms)]
    traces = [_arrows([(r.sent_ms, y(r.sender), r.applied_ms, y(r.receiver)) for r in taken], WRITE,
                      f"write {write_id} → replica",
                      hover=[f"write {write_id} to {r.receiver} ({r.kind}): sent {r.sent_ms:.2f}, applied {r.applied_ms:.2f} ms"
                             for r in taken])]
    acks = [r for r in taken if not math.isnan(r.acked_ms)]
    traces.append(_arrows([(r.applied_ms, y(r.receiver), r.acked_ms, y(r.sender)) for r in acks], WRITE,
                          "ack", dash="dash", hover=[f"ack from {r.receiver} at {r.acked_ms:.2f} ms" for r in acks]))
    traces.append(dict(name=f"committed ({results.scenario.quorum.w} acks)", x=[committed_ms], y=[y(write.leader)],
                       mode="markers+text", text=["commit"], textposition="top center", showlegend=False,
                       marker=dict(symbol="star", size=16, color=WRITE), hoverinfo="text",
                       hovertext=[f"write {write_id} committed at {committed_ms:.2f} ms"]))
    read_on = [r for r in asked if not math.isnan(r.read_ms)]
    traces.append(_arrows([(r.asked_ms, y(read.node), r.read_ms, y(r.replica)) for r in read_on], READ,
                          f"read of key {read.key}"))
    answered = [r for r in read_on if not math.isnan(r.arrived_ms)]
    for counted, dash in ((1, "solid"), (0, "dot")):
        for fresh, colour in ((True, FRESH), (False, STALE)):
            part = [r for r in answered if r.counted == counted and (r.version >= write_id) == fresh]
            label = ("answer has it" if fresh else "answer lacks it") + ("" if counted else " (late)")
            traces.append(_arrows([(r.read_ms, y(r.replica), r.arrived_ms, y(read.node)) for r in part],
                                  colour, label, dash=dash,
                                  hover=[f"{r.replica} read v{r.version} at {r.read_ms:.2f} ms" for r in part]))
    for held, colour, symbol, label in ((True, FRESH, "circle", "had it when it read"),
                                        (False, STALE, "circle-open", "lacked it")):
        part = [r for r in read_on if (r.version >= write_id) == held]
        traces.append(dict(name=label, x=[r.read_ms for r in part], y=[y(r.replica) for r in part],
                           mode="markers+text", text=[f"v{r.version}" for r in part], textposition="top center",
                           marker=dict(size=12, color=colour, symbol=symbol, line=dict(width=2, color=colour)),
                           showlegend=bool(part), hoverinfo="skip"))
    traces.append(_arrows([(r.sent_ms, y(r.sender), r.applied_ms if not math.isnan(r.applied_ms) else r.sent_ms,
                            y(r.receiver)) for r in repairs], REPAIR, "read repair"))
    version = int(read.version)
    stale = version < write_id
    # just under the coordinator's lane, so it does not hide the coordinator's own answer
    traces.append(dict(name="the client's answer", x=[read.answered_ms], y=[y(read.node) + 0.3], mode="markers+text",
                       text=[f"client gets v{version}"], textposition="middle right", showlegend=False,
                       marker=dict(symbol="square", size=12, color=STALE if stale else FRESH), hoverinfo="skip"))
    q = results.scenario.quorum
    t_ms = float(read.arrived_ms) - committed_ms
    verdict = "stale: it missed the write" if stale else "it saw the write"
    title = (f"Write {write_id} (W = {q.w}) and a read of its key (R = {q.r}, N = {q.n})<br>"
             f"{t_ms:.1f} ms after its commit: {verdict}")
    return traces, title


__all__ = ["pick_story", "quorum_story"]
