"""Plots of one run, drawn from its Results only (never from the model).

Each function takes a `Results` and returns a plotly figure:

    topology(results, t_ms=None, fig=None)          nodes, switches (lone or pairs), cables, roles, up/down,
                                                    replication (replab.viz.topology_chart)
    latency_cdf(results, max_points=1000, fig=None)  empirical CDF of served latency per op, p50/p95/p99
    throughput_timeline(results, bin_ms=None, fig=None)  served/refused/failed per second, availability, events
    replication_lag(results, fig=None)               lag_ms of each follower over time
    spacetime(results, start_ms=0.0, max_ms=None, max_requests=12, fig=None)  Lamport diagram of messages
    dc_traffic(results, bin_ms=None, fig=None)        operations sent to / served by each DC per second, DC events
    leadership_timeline(results, fig=None)           who believes it leads, split brain shaded, writes thrown away
    semi_sync_timeline(results, fig=None)            write latency, acknowledged after a receipt or alone
                                                     (replab.viz.leadership_chart)

With `fig=None` a new `go.Figure` is returned. Given a figure (a `go.FigureWidget` in the
Lab), the function fills it *in place* inside one `batch_update()` and returns it, so a
chart on screen is updated without being replaced: traces keep their order and names from
one call to the next, and are only rebuilt when their number changes (e.g. more followers).

Times are simulated milliseconds throughout; rates are per simulated second.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab.analysis.results import Results
from replab.viz.leadership_chart import leadership_timeline, semi_sync_timeline
from replab.viz.staleness import FIGURES as STALENESS_FIGURES
from replab.viz.style import OP_COLOURS, OUTCOME_COLOURS, PERCENTILES, ROLE_COLOURS, fill
from replab.viz.topology_chart import topology


def _arrows(segments: list[tuple[float, float, float, float]], size: int = 9) -> dict:
    """Scatter data for arrows (x0, y0) -> (x1, y1): line pieces split by None, a head at each end."""
    x, y, sizes = [], [], []
    for x0, y0, x1, y1 in segments:
        x += [x0, x1, None]
        y += [y0, y1, None]
        sizes += [0, size, 0]
    return dict(x=x, y=y, mode="lines+markers",
                marker=dict(symbol="arrow", angleref="previous", size=sizes, line=dict(width=0)))


# topology --------------------------------------------------------------------------------
# latency ---------------------------------------------------------------------------------
def ecdf(latency: np.ndarray, max_points: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Points (x, F(x)) of the empirical CDF; at most max_points of them, at evenly spaced ranks."""
    x = np.sort(np.asarray(latency, dtype=float))
    n = len(x)
    ranks = np.arange(n) if n <= max_points else np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return x[ranks], (ranks + 1) / n


def latency_cdf(results: Results, max_points: int = 1000, fig=None):
    """Empirical CDF of the latency of served operations, one curve per op, with p50/p95/p99.

    The percentile markers use numpy's default (linear) percentile, as the summary does.
    """
    served = results.requests[results.requests["outcome"] == "served"]
    traces = []
    for op in ("read", "write"):
        latency = served.loc[served["op"] == op, "latency_ms"].to_numpy()
        x, y = ecdf(latency, max_points)
        marks = np.percentile(latency, PERCENTILES) if len(latency) else np.array([])
        colour = OP_COLOURS[op]
        traces.append(dict(name=f"{op} ({len(latency)})", x=x, y=y, mode="lines", line=dict(color=colour, shape="hv"),
                           legendgroup=op, hovertemplate="%{x:.2f} ms: %{y:.1%}<extra>" + op + "</extra>"))
        traces.append(dict(name=f"{op} p50/p95/p99", x=marks, y=[p / 100 for p in PERCENTILES][:len(marks)],
                           mode="markers+text", text=[f"p{p} {m:.1f}" for p, m in zip(PERCENTILES, marks)],
                           textposition="bottom right" if op == "read" else "middle right",
                           legendgroup=op, showlegend=False,
                           marker=dict(color=colour, size=9, symbol="diamond")))
    layout = dict(title=dict(text="Latency of served operations"),
                  xaxis=dict(title=dict(text="latency, ms"), rangemode="tozero"),
                  yaxis=dict(title=dict(text="fraction of operations ≤ x"), range=[0, 1.05]))
    return fill(fig, traces, layout)


# throughput ------------------------------------------------------------------------------
def _nice_bin_ms(duration_ms: float, bins: int = 40) -> float:
    raw = duration_ms / bins
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 60000):
        if step >= raw:
            return float(step)
    return float(math.ceil(raw / 60000) * 60000)


def throughput_bins(results: Results, bin_ms: float | None = None) -> pd.DataFrame:
    """Per time bin of start_ms: served/refused/failed operations per second and availability."""
    duration = results.scenario.duration_ms
    bin_ms = bin_ms or _nice_bin_ms(duration)
    edges = np.append(np.arange(0.0, duration, bin_ms), duration)
    widths_s = np.diff(edges) / 1000.0
    req = results.requests
    start, outcome = req["start_ms"].to_numpy(), req["outcome"].to_numpy()
    frame = pd.DataFrame({"t_ms": edges[:-1] + np.diff(edges) / 2, "from_ms": edges[:-1], "to_ms": edges[1:]})
    counts = {o: np.histogram(start[outcome == o], edges)[0] for o in OUTCOME_COLOURS}
    for o, c in counts.items():
        frame[f"{o}_per_s"] = c / widths_s
    total = sum(counts.values())
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["availability"] = np.where(total > 0, counts["served"] / np.maximum(total, 1), np.nan)
    return frame


def throughput_timeline(results: Results, bin_ms: float | None = None, fig=None):
    """Served, refused and failed operations per second (by start time), availability, and events.

    Vertical lines mark the run's events (crash, recover, detect, read-only, promote, writable).
    `bin_ms` defaults to a round width giving about 40 bins.
    """
    bins = throughput_bins(results, bin_ms)
    traces = [dict(name=o, x=bins["t_ms"], y=bins[f"{o}_per_s"], mode="lines", line=dict(color=c, shape="hvh"),
                   hovertemplate="%{y:.0f}/s<extra>" + o + "</extra>") for o, c in OUTCOME_COLOURS.items()]
    traces.append(dict(name="availability", x=bins["t_ms"], y=[None if math.isnan(a) else a for a in bins["availability"]],
                       yaxis="y2", mode="lines", line=dict(color="#333333", dash="dot", shape="hvh"),
                       hovertemplate="%{y:.1%}<extra>availability</extra>"))
    x, y, text = [], [], []
    recent: list[float] = []  # label times still close enough to collide with the next label
    for t, kind, target in zip(results.events["t_ms"], results.events["kind"], results.events["target"]):
        recent = [r for r in recent if t - r < 0.08 * results.scenario.duration_ms]
        level = len(recent) % 4
        recent.append(t)
        x += [t, t, None]
        y += [0.0, 1.12 - 0.07 * level, None]
        text += ["", kind if target == "balancer" else f"{kind} {target}", ""]
    traces.append(dict(name="events", x=x, y=y, yaxis="y2", mode="lines+text", text=text, textposition="top center",
                       line=dict(color="#8c564b", width=1), textfont=dict(size=10), hoverinfo="skip"))
    layout = dict(title=dict(text="Throughput and availability"),
                  xaxis=dict(title=dict(text="start time, ms"), range=[0, results.scenario.duration_ms]),
                  yaxis=dict(title=dict(text="operations per s"), rangemode="tozero"),
                  yaxis2=dict(title=dict(text="availability"), overlaying="y", side="right", range=[0, 1.2],
                              tickvals=[0, 0.25, 0.5, 0.75, 1.0], tickformat=".0%", showgrid=False))
    return fill(fig, traces, layout)


# replication lag -------------------------------------------------------------------------
def replication_lag(results: Results, fig=None):
    """Replication lag (ms behind the oldest write it has not applied) of each follower over time.

    One trace per node; samples where the node was the leader or was down are gaps (None),
    so a crashed node's growing backlog does not flatten the live followers' curves.
    Hover shows the lag in writes too.
    """
    timeline = results.timeline
    traces = []
    for node, rows in timeline.groupby("node", observed=True, sort=True):
        shown = ((rows["role"] == "follower") & rows["up"]).to_numpy()
        lag = [v if f else None for v, f in zip(rows["lag_ms"], shown)]
        traces.append(dict(name=str(node), x=rows["t_ms"].to_numpy(), y=lag, mode="lines",
                           customdata=rows["lag_writes"].to_numpy(),
                           hovertemplate="%{y:.1f} ms, %{customdata} writes<extra>" + str(node) + "</extra>"))
    layout = dict(title=dict(text="Replication lag of each follower while up"),
                  xaxis=dict(title=dict(text="time, ms")), yaxis=dict(title=dict(text="lag, ms"), rangemode="tozero"))
    return fill(fig, traces, layout)


# space-time diagram ----------------------------------------------------------------------
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
    after a crash were received before it and are not drawn.
    """
    req = results.requests
    chosen = req[(req["start_ms"] >= start_ms) & ((req["start_ms"] <= start_ms + max_ms) if max_ms else True)]
    chosen = chosen.sort_values("start_ms", kind="stable").head(max_requests)
    sessions = sorted(set(chosen["session"].tolist()))
    nodes = [str(n) for n in req["node"].cat.categories]
    columns = [f"s{s}" for s in sessions] + ["balancer"] + nodes
    reached = req.loc[req["arrived_ms"].notna()]
    stub_ms = float((reached["arrived_ms"] - reached["start_ms"]).median() / 2) if len(reached) else 0.5
    rows = []
    for r in chosen.itertuples(index=False):
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
    applies = results.applies.merge(writes[["write_id", "request_id"]], on="write_id")
    for a in applies[applies["sent_ms"].notna()].itertuples(index=False):
        rows.append(("apply", str(a.sender), str(a.node), a.sent_ms, a.received_ms, True, a.request_id,
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
    styles = {"request": ("#1f77b4", "solid"), "reply": ("#2ca02c", "solid"), "apply": ("#9467bd", "dash"),
              "lost": ("#d62728", "dot")}
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
                                                     size=13, color="#d62728")))
    layout = dict(title=dict(text=f"Messages of {messages['request_id'].nunique()} operations (time runs down)"),
                  height=460, margin=dict(l=60, r=20, t=80, b=30),
                  legend=dict(orientation="h", yanchor="top", y=-0.02, x=0.0),
                  xaxis=dict(tickvals=list(col_x.values()), ticktext=columns, side="top", tickangle=0,
                             range=[-0.5, len(columns) - 0.5]),
                  yaxis=dict(title=dict(text="time, ms"), autorange="reversed"))
    return fill(fig, traces, layout)


# traffic per data centre -----------------------------------------------------------------
DC_EVENTS = ("crash", "recover", "partition", "heal", "dns-down", "dns-up")


def traffic_bins(results: Results, bin_ms: float | None = None) -> pd.DataFrame:
    """Per time bin of start_ms and per DC: operations sent there per second, and those served.

    One DC (no `dc` column): every operation counts for dc0.
    """
    duration = results.scenario.duration_ms
    bin_ms = bin_ms or _nice_bin_ms(duration)
    edges = np.append(np.arange(0.0, duration, bin_ms), duration)
    widths_s = np.diff(edges) / 1000.0
    req = results.requests
    start = req["start_ms"].to_numpy()
    dcs = [f"dc{d}" for d in range(results.scenario.dcs.count)]
    dc = req["dc"].astype(object).to_numpy() if "dc" in req else np.full(len(req), "dc0", dtype=object)
    served = (req["outcome"] == "served").to_numpy()
    rows = []
    for name in dcs:
        here = dc == name
        sent, _ = np.histogram(start[here], edges)
        ok, _ = np.histogram(start[here & served], edges)
        rows.append(pd.DataFrame({"t_ms": edges[:-1] + np.diff(edges) / 2, "dc": name,
                                  "sent_per_s": sent / widths_s, "served_per_s": ok / widths_s}))
    return pd.concat(rows, ignore_index=True)


def dc_traffic(results: Results, bin_ms: float | None = None, fig=None):
    """Operations sent to each data centre per second over time (by start time), the served
    part dotted, with vertical lines at whole-DC faults and at the DNS marking a DC down or up."""
    bins = traffic_bins(results, bin_ms)
    traces = []
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
    for i, (name, rows) in enumerate(bins.groupby("dc", sort=True)):
        colour = palette[i % len(palette)]
        traces.append(dict(name=f"{name} sent", x=rows["t_ms"], y=rows["sent_per_s"], mode="lines",
                           line=dict(color=colour, shape="hvh"), hovertemplate="%{y:.0f}/s<extra>" + name + " sent</extra>"))
        traces.append(dict(name=f"{name} served", x=rows["t_ms"], y=rows["served_per_s"], mode="lines",
                           line=dict(color=colour, shape="hvh", dash="dot"),
                           hovertemplate="%{y:.0f}/s<extra>" + name + " served</extra>"))
    events = results.events
    shown = events[events["kind"].isin(DC_EVENTS) & events["target"].str.startswith("dc")]
    top = float(bins["sent_per_s"].max()) * 1.1 if len(bins) else 1.0
    x, y, text = [], [], []
    for level, (t, kind, target) in enumerate(zip(shown["t_ms"], shown["kind"], shown["target"])):
        x += [t, t, None]
        y += [0.0, top * (1.0 - 0.07 * (level % 4)), None]
        text += ["", f"{kind} {target}", ""]
    traces.append(dict(name="events", x=x, y=y, mode="lines+text", text=text, textposition="top center",
                       line=dict(color="#7f7f7f", width=1), textfont=dict(size=10), hoverinfo="skip"))
    layout = dict(title=dict(text="Traffic per data centre"),
                  xaxis=dict(title=dict(text="start time, ms"), range=[0, results.scenario.duration_ms]),
                  yaxis=dict(title=dict(text="operations per s"), rangemode="tozero"))
    return fill(fig, traces, layout)


FIGURES = {"latency": latency_cdf, "throughput": throughput_timeline, "lag": replication_lag,
           "topology": topology, "spacetime": spacetime, "traffic": dc_traffic,
           "leadership": leadership_timeline, "semi-sync": semi_sync_timeline, **STALENESS_FIGURES}

__all__ = ["FIGURES", "OP_COLOURS", "OUTCOME_COLOURS", "ROLE_COLOURS", "dc_traffic", "ecdf", "latency_cdf",
           "replication_lag", "spacetime", "spacetime_messages", "throughput_bins", "throughput_timeline", "topology",
           "traffic_bins"]
