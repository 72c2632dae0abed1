"""How stale is "eventually"? Charts of a run's staleness, drawn from its Results only.

    t_visibility_chart(results, bin_ms=None, max_ms=None, theory=True, fig=None)
        P(a read started t ms after a commit sees it), with its 95% band and, for a leaderless
        run, what the WARS model predicts for its N, R, W and legs (replab.analysis.pbs)
    k_staleness_chart(results, k_max=5, fig=None)
        P(a read misses the last k committed versions), beside PBS's closed form
    divergence_chart(runs, fig=None)
        keys some home replica lags on, over time, for one run or several side by side
    hints_chart(runs, fig=None)
        hinted writes held by fallback nodes over time (sloppy quorums)
    consistency_price_chart(rows, fig=None)
        from a sweep over R and W: what a read risks (missed commits) against what it costs (p99)

Each takes `fig` like the other charts (filled in place) and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from replab.analysis.pbs import k_staleness_bound, scenario_t_visibility
from replab.analysis.results import Results
from replab.analysis.staleness import k_staleness, t_visibility
from replab.viz.quorum_story import quorum_story
from replab.viz.style import fill

MEASURED, THEORY = "#1f77b4", "#333333"
# the legend below the plot: a Lab's chart is 420 px wide, and a legend above it would cover the title
BELOW = dict(height=430, margin=dict(l=55, r=20, t=85, b=40), legend=dict(orientation="h", yanchor="top", y=-0.22, x=0.0,
                                                                          font=dict(size=10)))
RUN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _runs(runs) -> dict[str, Results]:
    return {"": runs} if isinstance(runs, Results) else dict(runs)


def t_visibility_chart(results: Results, bin_ms: float | None = None, max_ms: float | None = None,
                       theory: bool = True, fig=None):
    """P(consistent) against the time since the newest commit of the read's key."""
    staleness = results.read_staleness
    write_p99 = results.summary.get("write_p99_ms", float("nan"))
    if max_ms is None and staleness["t_ms"].notna().any() and write_p99 == write_p99:
        # most reads come long after the last write of their key; what matters is the first
        # few write latencies after a commit
        max_ms = min(float(np.nanpercentile(staleness["t_ms"], 99)), 3 * write_p99)
    table = t_visibility(staleness, bin_ms, max_ms)
    shown = table[table["reads"] > 0]
    traces = [
        dict(name="95% interval", x=np.concatenate([shown["t_ms"], shown["t_ms"][::-1]]),
             y=np.concatenate([shown["high"], shown["low"][::-1]]), fill="toself", mode="lines",
             line=dict(width=0), fillcolor="rgba(31,119,180,0.18)", hoverinfo="skip"),
        dict(name="measured", x=shown["t_ms"], y=shown["consistent"], mode="lines+markers",
             line=dict(color=MEASURED), customdata=shown["reads"],
             hovertemplate="%{x:.1f} ms after: %{y:.1%} of %{customdata} reads<extra></extra>"),
    ]
    q = results.scenario.get("quorum.n"), results.scenario.get("quorum.r"), results.scenario.get("quorum.w")
    leaderless = results.scenario.replication.kind == "leaderless"
    if theory and leaderless and len(table):
        grid = np.linspace(0.0, float(table["t_to_ms"].iloc[-1]), 41)
        traces.append(dict(name="WARS model (no queueing)", x=grid, y=scenario_t_visibility(results.scenario, grid, 20_000),
                           mode="lines", line=dict(color=THEORY, dash="dash"),
                           hovertemplate="%{x:.1f} ms after: %{y:.1%}<extra>WARS</extra>"))
    quorum = f"<br>N = {q[0]}, R = {q[1]}, W = {q[2]}" if leaderless else ""
    layout = dict(BELOW, title=dict(text=f"How soon does a read see a write?{quorum}", y=0.95),
                  xaxis=dict(title=dict(text="read started this long after the write committed, ms"), rangemode="tozero"),
                  yaxis=dict(title=dict(text="reads that saw it"), range=[0, 1.05], tickformat=".0%"))
    return fill(fig, traces, layout)


def k_staleness_chart(results: Results, k_max: int = 5, fig=None):
    """P(a read is at least k versions old), measured and by the closed form."""
    table = k_staleness(results.read_staleness, k_max)
    traces = [dict(type="scatter", name="measured", x=table["k"], y=table["probability"], mode="markers+lines",
                   marker=dict(size=10, color=MEASURED), line=dict(color=MEASURED),
                   error_y=dict(type="data", symmetric=False, array=(table["high"] - table["probability"]).tolist(),
                                arrayminus=(table["probability"] - table["low"]).tolist()),
                   customdata=table["reads"], hovertemplate="k = %{x}: %{y:.2%} of %{customdata} reads<extra></extra>")]
    scenario = results.scenario
    if scenario.replication.kind == "leaderless":
        q = scenario.quorum
        bound = [k_staleness_bound(q.n, q.r, q.w, int(k)) for k in table["k"]]
        exact = q.write_to == "w" and q.read_from == "r" and not q.read_repair and not q.anti_entropy_ms
        traces.append(dict(name="PBS closed form" + ("" if exact else " (a bound: writes here spread further)"),
                           x=table["k"], y=bound, mode="markers+lines", line=dict(color=THEORY, dash="dash"),
                           marker=dict(symbol="x", size=10, color=THEORY),
                           hovertemplate="k = %{x}: %{y:.2%}<extra>(C(N-W,R)/C(N,R))^k</extra>"))
    # enough decimals that ticks under 1 % do not all read "0%" or "1%"
    top = max([float(table["high"].max()) if len(table) else 0.0, *(max(t["y"]) for t in traces[1:])])
    digits = 0 if top >= 0.1 else 1 if top >= 0.01 else 2
    layout = dict(BELOW, title=dict(text="How stale can a read be?<br>P(it misses the last k versions)", y=0.95),
                  xaxis=dict(title=dict(text="k: committed versions missed"), dtick=1),
                  yaxis=dict(title=dict(text="reads at least k versions old"), rangemode="tozero", tickformat=f".{digits}%"))
    return fill(fig, traces, layout)


def divergence_chart(runs, fig=None):
    """Keys on which some home replica lacks the newest version, over time; fault events marked."""
    traces = []
    for (label, results), colour in zip(_runs(runs).items(), RUN_COLOURS):
        samples = results.timeline.groupby("t_ms", sort=True)["divergent_keys"].first()
        traces.append(dict(name=label or "keys behind", x=samples.index.to_numpy(), y=samples.to_numpy(), mode="lines",
                           line=dict(color=colour, shape="hv"), hovertemplate="%{y} keys at %{x:.0f} ms<extra>" + label + "</extra>"))
    first = next(iter(_runs(runs).values()))
    traces.append(_event_marks(first, max((max(t["y"], default=0) for t in traces), default=1)))
    layout = dict(BELOW, title=dict(text="Keys some home replica is behind on"),
                  xaxis=dict(title=dict(text="time, ms")), yaxis=dict(title=dict(text="keys"), rangemode="tozero"))
    return fill(fig, traces, layout)


def hints_held(results: Results) -> pd.DataFrame:
    """Hinted writes held by fallbacks after each change: t_ms, hints (a step function)."""
    deliveries = results.tables.get("deliveries")
    if deliveries is None or not len(deliveries):
        return pd.DataFrame({"t_ms": [0.0], "hints": [0]})
    taken = deliveries[(deliveries["kind"] == "hinted write") & deliveries["applied_ms"].notna()]
    taken = taken.drop_duplicates(["write_id", "receiver", "home"])
    back = deliveries[(deliveries["kind"] == "hinted handoff") & deliveries["acked_ms"].notna()]
    back = back.drop_duplicates(["write_id", "sender", "receiver"])
    changes = pd.concat([pd.DataFrame({"t_ms": taken["applied_ms"], "change": 1}),
                         pd.DataFrame({"t_ms": back["acked_ms"], "change": -1})]).sort_values("t_ms", kind="stable")
    return pd.DataFrame({"t_ms": np.concatenate([[0.0], changes["t_ms"]]),
                         "hints": np.concatenate([[0], changes["change"].cumsum()])})


def hints_chart(runs, fig=None):
    """Hinted writes held by fallback nodes over time, for one run or several."""
    traces = []
    runs = _runs(runs)
    for (label, results), colour in zip(runs.items(), RUN_COLOURS):
        held = hints_held(results)
        end = results.scenario.duration_ms + results.scenario.workload.timeout_ms
        traces.append(dict(name=label or "hints held", x=np.append(held["t_ms"], end), y=np.append(held["hints"], held["hints"].iloc[-1]),
                           mode="lines", line=dict(color=colour, shape="hv"),
                           hovertemplate="%{y} hints at %{x:.0f} ms<extra>" + label + "</extra>"))
    top = max((max(t["y"], default=0) for t in traces), default=1)
    traces.append(_event_marks(next(iter(runs.values())), top))
    layout = dict(BELOW, title=dict(text="Hinted writes: kept by fallbacks<br>for a home replica they could not reach", y=0.95),
                  xaxis=dict(title=dict(text="time, ms")), yaxis=dict(title=dict(text="hinted writes held"), rangemode="tozero"))
    return fill(fig, traces, layout)


def _event_marks(results: Results, top: float) -> dict:
    """Vertical lines with labels at the run's faults."""
    x, y, text = [], [], []
    events = results.events[results.events["kind"].isin(["crash", "recover"])]
    for t, kind, target in zip(events["t_ms"], events["kind"], events["target"]):
        x += [t, t, None]
        y += [0, max(top, 1) * 1.08, None]
        text += ["", f"{kind} {target}", ""]
    return dict(name="faults", x=x, y=y, mode="lines+text", text=text, textposition="top center",
                line=dict(color="#8c564b", width=1, dash="dot"), textfont=dict(size=10), hoverinfo="skip",
                showlegend=False)


def consistency_price_chart(rows: pd.DataFrame, fig=None):
    """One point per (N, R, W) of a sweep: x what a write followed by a read costs at the tail
    (write p99 + read p99), y the share of reads that missed a committed write. Expects the
    columns quorum.n, quorum.r, quorum.w, read_p99_ms, write_p99_ms, missed_commit_rate (a
    sweep's table; replicates are averaged)."""
    table = rows.groupby(["quorum.n", "quorum.r", "quorum.w"], as_index=False)[
        ["read_p99_ms", "write_p99_ms", "missed_commit_rate"]].mean()
    table["cost_ms"] = table["read_p99_ms"] + table["write_p99_ms"]
    table = table.sort_values("cost_ms", kind="stable")
    overlap = (table["quorum.r"] + table["quorum.w"] > table["quorum.n"]).to_numpy()
    traces = []
    for strict, colour, label in ((False, "#d62728", "R + W ≤ N: quorums may miss each other"),
                                  (True, "#2ca02c", "R + W > N: every read quorum meets every write quorum")):
        part = table[overlap == strict]
        # neighbours on the floor of the chart take turns above and below, so labels do not collide
        positions = ["top center" if i % 2 == 0 else "bottom center" for i in range(len(part))]
        traces.append(dict(name=label, x=part["cost_ms"], y=part["missed_commit_rate"], mode="markers+text",
                           text=[f"R{r} W{w}" for r, w in zip(part["quorum.r"], part["quorum.w"])],
                           textposition=positions, textfont=dict(size=10),
                           marker=dict(size=11, color=colour),
                           customdata=np.stack([part["write_p99_ms"], part["read_p99_ms"], part["quorum.n"]], axis=1),
                           hovertemplate="%{text} (N %{customdata[2]}): write p99 %{customdata[0]:.1f} + read p99 "
                                         "%{customdata[1]:.1f} ms; %{y:.2%} of reads missed a commit<extra></extra>"))
    top = max(float(table["missed_commit_rate"].max()), 0.001)
    layout = dict(BELOW, title=dict(text="The price of consistency:<br>tail latency against reads that missed a commit", y=0.95),
                  xaxis=dict(title=dict(text="write p99 + read p99, ms"), rangemode="tozero"),
                  # room below 0 for the labels of the points on the floor
                  yaxis=dict(title=dict(text="reads that missed a committed write"), range=[-0.15 * top, 1.15 * top],
                             tickformat=".1%"))
    return fill(fig, traces, layout)


# the Lab's charts (replab.viz.plots.FIGURES): functions of (results, fig=..., **options)
FIGURES: Mapping = {"t-visibility": t_visibility_chart, "k-staleness": k_staleness_chart,
                    "divergence": divergence_chart, "quorum-story": quorum_story}

__all__ = ["FIGURES", "consistency_price_chart", "divergence_chart", "hints_chart", "hints_held", "k_staleness_chart",
           "t_visibility_chart"]
