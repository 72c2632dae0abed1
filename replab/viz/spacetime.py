"""The space-time (Lamport) diagram of a few operations: one column per process, time running down.

Drawn from the requests and applies frames only: every arrow's two ends are recorded times.
"""

from __future__ import annotations

import math

import pandas as pd

from replab.analysis.results import Results
from replab.replication import STRATEGIES
from replab.viz.style import BLUE, GREEN, PURPLE, VERMILLION, fill


def _arrows(segments: list[tuple[float, float, float, float]], size: int = 9) -> dict:
    """Scatter data for arrows (x0, y0) -> (x1, y1): line pieces split by None, a head at each end."""
    x, y, sizes = [], [], []
    for x0, y0, x1, y1 in segments:
        x += [x0, x1, None]
        y += [y0, y1, None]
        sizes += [0, size, 0]
    return dict(x=x, y=y, mode="lines+markers",
                marker=dict(symbol="arrow", angleref="previous", size=sizes, line=dict(width=0)))



def spacetime_messages(results: Results, start_ms: float = 0.0, max_ms: float | None = None,
                       max_requests: int = 12) -> tuple[list[str], pd.DataFrame]:
    """Columns (sessions 'sN', balancer, nodes) and one row per message: kind, src, dst, send_ms, recv_ms.

    Chosen: the first `max_requests` operations starting in [start_ms, start_ms + max_ms],
    and the replication of their writes. Every time is recorded by the model: a request
    leaves its client at start_ms and reaches its node (or the balancer that refused it)
    at arrived_ms; the answer leaves at answered_ms and reaches the client at end_ms; an
    entry leaves its sender at sent_ms and reaches a replica at received_ms. Requests go
    through the balancer, drawn as one arrow. A request that never arrived (its node was
    down, a switch dropped it) is a short 'lost' stub (`exact` False: where it was lost is
    not recorded); a failed operation gets no reply. Entries re-applied from a relay log
    after a crash were received before it and are not drawn. Where clients coordinate
    (leaderless, quorum.coordinator = 'client') there is no balancer column and no request
    arrow: a write's versions leave from its session's column (its clients' read repairs are
    not drawn).
    """
    req = results.requests
    chosen = req[(req["start_ms"] >= start_ms) & ((req["start_ms"] <= start_ms + max_ms) if max_ms else True)]
    chosen = chosen.sort_values("start_ms", kind="stable").head(max_requests)
    sessions = sorted(set(chosen["session"].tolist()))
    nodes = [str(n) for n in req["node"].cat.categories]
    at_client = STRATEGIES[results.scenario.replication.kind].clients_coordinate(results.scenario)
    columns = [f"s{s}" for s in sessions] + ([] if at_client else ["balancer"]) + nodes
    reached = req.loc[req["arrived_ms"].notna()]
    stub_ms = float((reached["arrived_ms"] - reached["start_ms"]).median() / 2) if len(reached) else 0.5
    rows = []
    for r in chosen.itertuples(index=False) if not at_client else ():
        client, server = f"s{r.session}", ("balancer" if pd.isna(r.node) else str(r.node))
        what = f"{r.op} key {r.key}"
        if math.isnan(r.arrived_ms):
            rows.append(("lost", client, server, r.start_ms, r.start_ms + stub_ms, False, r.request_id, what))
            continue
        rows.append(("request", client, server, r.start_ms, r.arrived_ms, True, r.request_id, what))
        if r.outcome != "failed":
            rows.append(("reply", server, client, r.answered_ms, r.end_ms, True, r.request_id,
                         f"{r.outcome} {r.reason}".strip()))
    writes = results.writes[results.writes["request_id"].isin(chosen["request_id"])]
    applies = results.applies.merge(writes[["write_id", "request_id", "session", "commit_ms"]], on="write_id")
    for a in applies[applies["sent_ms"].notna()].itertuples(index=False):
        if pd.isna(a.sender) and a.sent_ms != a.commit_ms:
            continue  # a client's read repair: the applies frame does not say which client sent it
        sender = f"s{a.session}" if pd.isna(a.sender) else str(a.sender)  # no node: the writing client sent it
        rows.append(("apply", sender, str(a.node), a.sent_ms, a.received_ms, True, a.request_id,
                     f"write {a.write_id}, applied at {a.applied_ms:.3f} ms"))
    messages = pd.DataFrame(rows, columns=["kind", "src", "dst", "send_ms", "recv_ms", "exact", "request_id", "what"])
    return columns, messages


def spacetime(results: Results, start_ms: float = 0.0, max_ms: float | None = None, max_requests: int = 12, fig=None):
    """Lamport diagram: time runs down, one column per session, the balancer and each node.

    One arrow per message (see `spacetime_messages` for which times are recorded and which
    are drawn); the run's events in the window (crash, detect, read-only, promote, ...) are
    marked on their node's or the balancer's line.
    """
    columns, messages = spacetime_messages(results, start_ms, max_ms, max_requests)
    col_x = {c: float(i) for i, c in enumerate(columns)}
    end = float(messages["recv_ms"].max()) if len(messages) else start_ms + (max_ms or 1.0)
    traces = [dict(name="processes", x=[v for c in columns for v in (col_x[c], col_x[c], None)],
                   y=[v for _ in columns for v in (start_ms, end, None)], mode="lines",
                   line=dict(color="#dddddd", width=1), hoverinfo="skip", showlegend=False)]
    styles = {"request": (BLUE, "solid"), "reply": (GREEN, "solid"), "apply": (PURPLE, "dash"),
              "lost": (VERMILLION, "dot")}
    for kind, (colour, dash) in styles.items():
        part = messages[messages["kind"] == kind]
        spec = _arrows([(col_x[s], t0, col_x[d], t1) for s, d, t0, t1 in
                        zip(part["src"], part["dst"], part["send_ms"], part["recv_ms"])])
        hover = [v for w, t0, t1, ex in zip(part["what"], part["send_ms"], part["recv_ms"], part["exact"])
                 for v in (f"{kind}: {w}<br>sent {t0:.3f} ms", f"{kind}: {w}<br>received {t1:.3f} ms"
                           + ("" if ex else " (lost on the way; drawn, not recorded)"), None)]
        spec["marker"]["color"] = colour
        traces.append(dict(name=kind, line=dict(color=colour, dash=dash, width=1.5), hovertext=hover,
                           hoverinfo="text", **spec))
    events = results.events
    shown = events[(events["t_ms"] >= start_ms) & (events["t_ms"] <= end) & events["target"].isin(columns)]
    symbols = {"crash": "x", "recover": "circle-open"}
    traces.append(dict(name="events", x=[col_x[t] for t in shown["target"]], y=shown["t_ms"].tolist(),
                       mode="markers+text", text=shown["kind"].tolist(), textposition="middle right",
                       hovertext=[f"{k} {t} at {ms:g} ms" for k, t, ms in zip(shown["kind"], shown["target"], shown["t_ms"])],
                       hoverinfo="text", marker=dict(symbol=[symbols.get(k, "diamond") for k in shown["kind"]],
                                                     size=13, color=VERMILLION)))
    layout = dict(title=dict(text=f"Messages of {messages['request_id'].nunique()} operations (time runs down)"),
                  height=460, margin=dict(l=60, r=20, t=80, b=30),
                  legend=dict(orientation="h", yanchor="top", y=-0.02, x=0.0),
                  xaxis=dict(tickvals=list(col_x.values()), ticktext=columns, side="top", tickangle=0,
                             range=[-0.5, len(columns) - 0.5]),
                  yaxis=dict(title=dict(text="time, ms"), autorange="reversed"))
    return fill(fig, traces, layout)
