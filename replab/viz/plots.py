"""Charts of one run, drawn from its Results only (never from the model).

Each function takes a `Results` and returns a plotly figure:

    topology(results, t_ms=None, fig=None)          the system drawn by its kind, at one instant
                                                    (replab.viz.topology_chart)
    latency_cdf(results, max_points=1000, fig=None)  empirical CDF of served latency per op, p50/p95/p99
    throughput_timeline(results, bin_ms=None, fig=None)  served/refused/failed per second, availability, events
    replication_lag(results, fig=None)               lag_ms of each follower over time, events
    session_state(results, fig=None)                 buddy replication: session state each node holds over time
    replay(results, fig=None)                        the run replayed on a canvas (replab.viz.replay)
    spacetime(results, start_ms=0.0, max_ms=None, max_requests=12, fig=None)  Lamport diagram of messages
                                                    (replab.viz.spacetime)
    dc_traffic(results, bin_ms=None, fig=None)        operations sent to / served by each DC per second, events
    leadership_timeline(results, fig=None)           who believes it leads, split brain shaded, writes thrown away
    semi_sync_timeline(results, fig=None)            write latency, acknowledged after a receipt or alone
                                                     (replab.viz.leadership_chart)

With `fig=None` a new `go.Figure` is returned. Given a figure (a `go.FigureWidget` in the
Lab), the function fills it *in place* inside one `batch_update()` and returns it, so a
chart on screen is updated without being replaced: traces keep their order and names from
one call to the next, and are only rebuilt when their number changes (e.g. more followers).

Time charts stop at the end of the workload (`scenario.duration_ms`): after it no operation
starts, and what drains afterwards (lag falling back to zero) is not the system's steady
behaviour. Their events are drawn in a lane on top (replab.viz.events). Times are
simulated milliseconds throughout; rates are per simulated second.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab.analysis.frames import rows_by_category
from replab.analysis.results import Results
from replab.viz import events as event_lane
from replab.viz.leadership_chart import leadership_timeline, semi_sync_timeline
from replab.viz.replay import replay
from replab.viz.spacetime import spacetime, spacetime_messages
from replab.viz.staleness import FIGURES as STALENESS_FIGURES
from replab.viz.style import BLACK, OP_COLOURS, OUTCOME_COLOURS, PALETTE, PERCENTILES, ROLE_COLOURS, PlainFigure, fill
from replab.viz.topology_chart import topology

LAB_WIDTH_PX = 420.0  # the width the lane's labels are fitted to (the Lab's; wider charts only have more room)


def _with_lane(results: Results, traces: list[dict], layout: dict, axes: tuple[str, ...] = ("yaxis",)) -> dict:
    """Add the event lane above a time chart: its traces, its axis, the shading, and room below it."""
    lane_traces, lane_axis, shading = event_lane.lane(results, LAB_WIDTH_PX)
    traces += lane_traces
    domain = event_lane.main_domain(lane_axis)
    for axis in axes:
        layout.setdefault(axis, {})["domain"] = domain
    layout["yaxis3"] = lane_axis
    layout["shapes"] = shading
    layout.setdefault("xaxis", {}).update(range=[0, results.scenario.duration_ms])
    return layout


def _is(column: pd.Series, value: str) -> np.ndarray:
    """column == value as a numpy mask; a categorical column is compared on its codes, ~20x faster than its strings."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return (column == value).to_numpy()
    categories = column.cat.categories
    return column.cat.codes.to_numpy() == (categories.get_loc(value) if value in categories else -2)  # -2: no code


# latency ---------------------------------------------------------------------------------
def ecdf(latency: np.ndarray, max_points: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Points (x, F(x)) of the empirical CDF; at most max_points of them, at evenly spaced ranks."""
    x = np.sort(np.asarray(latency, dtype=float))
    n = len(x)
    ranks = np.arange(n) if n <= max_points else np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return x[ranks], (ranks + 1) / n


def latency_cdf(results: Results, max_points: int = 1000, fig=None):
    """Empirical CDF of the latency of served operations, one curve per op, with p50/p95/p99.

    The percentile markers use numpy's default (linear) percentile, as the summary does;
    their values are in the hover text and the legend, not written over the curves.
    """
    req = results.requests
    served, latency_ms = _is(req["outcome"], "served"), req["latency_ms"].to_numpy()  # masks: no frame copied
    traces = []
    for op in ("read", "write"):
        latency = latency_ms[served & _is(req["op"], op)]
        x, y = ecdf(latency, max_points)
        marks = np.percentile(latency, PERCENTILES) if len(latency) else np.array([])
        colour = OP_COLOURS[op]
        p99 = f", p99 {marks[-1]:.1f} ms" if len(marks) else ""
        traces.append(dict(name=f"{op}s ({len(latency):,}{p99})", x=x, y=y, mode="lines",
                           line=dict(color=colour, shape="hv"), legendgroup=op,
                           hovertemplate="%{x:.2f} ms: %{y:.1%}<extra>" + op + "s</extra>"))
        traces.append(dict(name=f"{op} p50/p95/p99", x=marks, y=[p / 100 for p in PERCENTILES][:len(marks)],
                           mode="markers", legendgroup=op, showlegend=False,
                           hovertext=[f"{op}s: p{p} = {m:.2f} ms" for p, m in zip(PERCENTILES, marks)], hoverinfo="text",
                           marker=dict(color=colour, size=9, symbol="diamond")))
    layout = dict(title=dict(text="How long served operations took"),
                  xaxis=dict(title=dict(text="latency, ms"), rangemode="tozero"),
                  yaxis=dict(title=dict(text="share of operations this fast"), range=[0, 1.05], tickformat=".0%"))
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
    start = req["start_ms"].to_numpy()
    counts = {o: np.histogram(start[_is(req["outcome"], o)], edges)[0] for o in OUTCOME_COLOURS}
    total = sum(counts.values())
    with np.errstate(invalid="ignore", divide="ignore"):
        availability = np.where(total > 0, counts["served"] / np.maximum(total, 1), np.nan)
    # the frame built whole: adding its columns one at a time cost ~0.3 ms each
    return pd.DataFrame({"t_ms": edges[:-1] + np.diff(edges) / 2, "from_ms": edges[:-1], "to_ms": edges[1:],
                         **{f"{o}_per_s": c / widths_s for o, c in counts.items()}, "availability": availability})


def throughput_timeline(results: Results, bin_ms: float | None = None, fig=None):
    """Served, refused and failed operations per second (by start time), availability, and the events lane.

    `bin_ms` defaults to a round width giving about 40 bins.
    """
    bins = throughput_bins(results, bin_ms)
    traces = [dict(name=o, x=bins["t_ms"], y=bins[f"{o}_per_s"], mode="lines", line=dict(color=c, shape="hvh"),
                   hovertemplate="%{y:.0f}/s<extra>" + o + "</extra>") for o, c in OUTCOME_COLOURS.items()]
    traces.append(dict(name="share served", x=bins["t_ms"],
                       y=[None if math.isnan(a) else a for a in bins["availability"]],
                       yaxis="y2", mode="lines", line=dict(color=BLACK, dash="dot", width=1, shape="hvh"),
                       hovertemplate="%{y:.1%}<extra>served</extra>"))
    layout = dict(title=dict(text="Operations per second, by how they ended"),
                  xaxis=dict(title=dict(text="start time, ms")),
                  yaxis=dict(title=dict(text="operations per second"), rangemode="tozero"),
                  yaxis2=dict(title=dict(text="share served"), overlaying="y", side="right", range=[0, 1.05],
                              tickvals=[0.5, 1.0], tickformat=".0%", showgrid=False))  # no 0%: it would sit on the last x tick
    layout["margin"] = dict(l=55, r=45, t=75, b=45)
    return fill(fig, traces, _with_lane(results, traces, layout, ("yaxis", "yaxis2")))


# replication lag -------------------------------------------------------------------------
def replication_lag(results: Results, fig=None):
    """Replication lag (ms behind the oldest write it has not applied) of each follower over time.

    One trace per node that was a live follower at some point (a leader that never followed is
    not listed); samples where the node was the leader or was down are gaps (None), so a
    crashed node's growing backlog does not flatten the live followers' curves. A node keeps
    its colour whoever is listed. Hover shows the lag in writes too. Samples after the
    workload's end are left out.
    """
    timeline = results.timeline
    t_ms, lag_ms, lag_writes = (timeline[c].to_numpy() for c in ("t_ms", "lag_ms", "lag_writes"))
    follower = _is(timeline["role"], "follower") & timeline["up"].to_numpy()
    traces = []
    for i, (node, rows) in enumerate(rows_by_category(timeline["node"], t_ms <= results.scenario.duration_ms)):
        if not follower[rows].any():
            continue
        lag = [v if f else None for v, f in zip(lag_ms[rows].tolist(), follower[rows])]
        traces.append(dict(name=node, x=t_ms[rows], y=lag, mode="lines",
                           line=dict(color=PALETTE[i % len(PALETTE)]), customdata=lag_writes[rows],
                           hovertemplate="%{y:.1f} ms, %{customdata} writes<extra>" + node + "</extra>"))
    layout = dict(title=dict(text="How far behind each follower is"),
                  xaxis=dict(title=dict(text="time, ms")),
                  yaxis=dict(title=dict(text="replication lag, ms"), rangemode="tozero"))
    return fill(fig, traces, _with_lane(results, traces, layout))


# buddy replication -----------------------------------------------------------------------
def session_state(results: Results, fig=None):
    """Buddy replication: the session state each node holds (its own sessions and its copies), over time.

    A node's death empties it; at the take-over its sessions' state appears on the buddy
    that had the newest copy. Replicate-to-all holds everything everywhere; a ring of one
    holds about twice a node's own share. Other kinds of replication: an empty chart.
    """
    timeline = results.timeline
    t_ms, state_bytes, up = (timeline[c].to_numpy() for c in ("t_ms", "state_bytes", "up"))
    traces = []
    for i, (node, rows) in enumerate(rows_by_category(timeline["node"], (t_ms <= results.scenario.duration_ms) & (state_bytes >= 0))):
        kib = [v / 1024 if u else None for v, u in zip(state_bytes[rows].tolist(), up[rows].tolist())]
        traces.append(dict(name=node, x=t_ms[rows], y=kib, mode="lines", line=dict(color=PALETTE[i % len(PALETTE)]),
                           hovertemplate="%{y:,.0f} KiB<extra>" + node + "</extra>"))
    layout = dict(title=dict(text="Session state each node holds"),
                  xaxis=dict(title=dict(text="time, ms")),
                  yaxis=dict(title=dict(text="state held, KiB"), rangemode="tozero"))
    return fill(fig, traces, _with_lane(results, traces, layout))


# traffic per data centre -----------------------------------------------------------------
def _traffic(results: Results, bin_ms: float | None) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per DC name: (bin middles in ms, operations sent there per second, those served per second)."""
    duration = results.scenario.duration_ms
    bin_ms = bin_ms or _nice_bin_ms(duration)
    edges = np.append(np.arange(0.0, duration, bin_ms), duration)
    widths_s = np.diff(edges) / 1000.0
    req = results.requests
    start = req["start_ms"].to_numpy()
    served = _is(req["outcome"], "served")
    per_dc = {}
    for name in [f"dc{d}" for d in range(results.scenario.dcs.count)]:
        here = _is(req["dc"], name) if "dc" in req else np.full(len(req), name == "dc0")
        sent, _ = np.histogram(start[here], edges)
        ok, _ = np.histogram(start[here & served], edges)
        per_dc[name] = (edges[:-1] + np.diff(edges) / 2, sent / widths_s, ok / widths_s)
    return per_dc


def traffic_bins(results: Results, bin_ms: float | None = None) -> pd.DataFrame:
    """Per time bin of start_ms and per DC: operations sent there per second, and those served.

    One DC (no `dc` column): every operation counts for dc0.
    """
    return pd.concat([pd.DataFrame({"t_ms": t_ms, "dc": name, "sent_per_s": sent, "served_per_s": served})
                      for name, (t_ms, sent, served) in _traffic(results, bin_ms).items()], ignore_index=True)


def dc_traffic(results: Results, bin_ms: float | None = None, fig=None):
    """Operations sent to each data centre per second over time (by start time), the served
    part dotted, with the DCs' outages and the DNS's view of them in the events lane."""
    per_dc = _traffic(results, bin_ms)  # its arrays, not traffic_bins' frame: building and grouping that cost ~4 ms
    traces = []
    for i, name in enumerate(sorted(per_dc)):  # by name, as grouping the frame by "dc" ordered them
        t_ms, sent, served = per_dc[name]
        colour = PALETTE[i % len(PALETTE)]
        traces.append(dict(name=f"{name} sent", x=t_ms, y=sent, mode="lines",
                           line=dict(color=colour, shape="hvh"), hovertemplate="%{y:.0f}/s<extra>" + name + " sent</extra>"))
        traces.append(dict(name=f"{name} served", x=t_ms, y=served, mode="lines",
                           line=dict(color=colour, shape="hvh", dash="dot"),
                           hovertemplate="%{y:.0f}/s<extra>" + name + " served</extra>"))
    layout = dict(title=dict(text="Operations sent to each data centre (dotted: served)"),
                  xaxis=dict(title=dict(text="start time, ms")),
                  yaxis=dict(title=dict(text="operations per second"), rangemode="tozero"))
    return fill(fig, traces, _with_lane(results, traces, layout))


def mark_not_yet_simulated(fig, from_ms: float, to_ms: float) -> None:
    """Shade a time chart from `from_ms` to `to_ms`: a run still going has not simulated that yet."""
    if from_ms >= to_ms:
        return
    shade = dict(type="rect", xref="x", yref="paper", x0=from_ms, x1=to_ms, y0=0.0, y1=1.0, layer="above",
                 fillcolor="white", opacity=0.75, line=dict(width=0))
    label = dict(x=(from_ms + to_ms) / 2, y=0.5, xref="x", yref="paper", text="simulating…", showarrow=False,
                 font=dict(size=12, color="#666666"))
    if isinstance(fig, PlainFigure):
        fig["layout"]["shapes"] = [*fig["layout"].get("shapes", []), shade]
        fig["layout"]["annotations"] = [*fig["layout"].get("annotations", []), label]
    else:
        fig.add_shape(**shade)
        fig.add_annotation(**label)


FIGURES = {"latency": latency_cdf, "throughput": throughput_timeline, "lag": replication_lag,
           "topology": topology, "spacetime": spacetime, "traffic": dc_traffic, "state": session_state,
           "replay": replay, "leadership": leadership_timeline, "semi-sync": semi_sync_timeline, **STALENESS_FIGURES}

__all__ = ["FIGURES", "OP_COLOURS", "OUTCOME_COLOURS", "ROLE_COLOURS", "dc_traffic", "ecdf", "latency_cdf",
           "mark_not_yet_simulated", "replay", "replication_lag", "session_state", "spacetime", "spacetime_messages", "throughput_bins",
           "throughput_timeline", "topology", "traffic_bins"]
