"""Pictures of promotion gone wrong, drawn from a run's Results (never from the model).

    leadership_timeline(results, fig=None)   one row per node: when it believed it led (a bar
                        coloured by term), was down, paused or cut off; the stretches with two
                        leaders at once shaded; every write a dot on the row of the node that took
                        it, a red cross where an acknowledged write was thrown away
    semi_sync_timeline(results, fig=None)    each served write's latency over time, by how it was
                        acknowledged: after a replica's receipt, or alone once semi-sync gave up
                        (shaded); acknowledged writes later lost crossed in red
    policy_bars(table, metric, fig=None)     a metric of replab.experiments.promotion.compare_policies
                        as bars: one group per policy, one bar per fencing

Times are simulated ms.
"""

from __future__ import annotations

import pandas as pd

from replab.analysis.split_brain import leadership_rows, split_brain_intervals
from replab.viz.style import OUTCOME_COLOURS, fill

TERM_COLOURS = ("#f2a900", "#2a9d8f", "#8e44ad", "#e76f51", "#1f77b4", "#6a994e")
DOWN_COLOUR, PAUSED_COLOUR, CUT_COLOUR = "#9e9e9e", "#7b4fa0", "#444444"
# at the figure's bottom edge (in the 110 px margin, under the axis title), whatever the plot's height
BOTTOM_LEGEND = dict(orientation="h", yref="container", yanchor="bottom", y=0.0, x=0.0, font=dict(size=10))
KEPT_COLOUR, LOST_COLOUR, UNACKED_LOST_COLOUR = "#5b6770", "#d62728", "#ff9f40"
SPLIT_FILL = "rgba(214, 39, 40, 0.13)"


def _spans(changes: list[tuple[float, bool]], end_ms: float) -> list[tuple[float, float]]:
    """[(from, to)] while a state held, from (time, on/off) changes."""
    spans, since = [], None
    for t, on in sorted(changes):
        if on and since is None:
            since = t
        elif not on and since is not None:
            spans.append((since, t))
            since = None
    if since is not None:
        spans.append((since, end_ms))
    return spans


def _bar(spans, y: float, colour: str, width: int, name: str, hover: list[str], legend: bool, dash: str = "solid") -> dict:
    x, ys, text = [], [], []
    for (a, b), label in zip(spans, hover):
        x += [a, b, None]
        ys += [y, y, None]
        text += [label, label, None]
    return dict(name=name, x=x, y=ys, mode="lines", line=dict(color=colour, width=width, dash=dash), hovertext=text,
                hoverinfo="text", showlegend=legend, legendgroup=name)


def node_states(results) -> dict[str, dict[str, list]]:
    """Per node name: its down, paused and cut-off stretches, from the events."""
    end = float(results.timeline["t_ms"].max()) if len(results.timeline) else results.scenario.duration_ms
    names = list(results.scenario.node_names)
    changes = {name: {"down": [], "paused": [], "cut off": []} for name in names}
    cuts: dict[str, set[str]] = {name: set() for name in names}  # the partitions a node is cut off by
    for t, kind, target in zip(results.events["t_ms"], results.events["kind"], results.events["target"]):
        target = str(target)
        if kind in ("crash", "stonith", "recover") and target in changes:
            changes[target]["down"].append((t, kind != "recover"))
        elif kind in ("pause", "resume") and target in changes:
            changes[target]["paused"].append((t, kind == "pause"))
        elif kind in ("partition", "isolate"):
            for name in set(target.split("+")) & set(names):
                if not cuts[name]:
                    changes[name]["cut off"].append((t, True))
                cuts[name].add(target)
        elif kind == "heal":  # undoes every partition that cut off any of its hosts ('all': every one)
            for name in names:
                healed = {cut for cut in cuts[name] if target == "all" or set(cut.split("+")) & set(target.split("+"))}
                if healed:
                    cuts[name] -= healed
                    if not cuts[name]:
                        changes[name]["cut off"].append((t, False))
    return {name: {state: _spans(c, end) for state, c in states.items()} for name, states in changes.items()}


def leading_spans(results) -> dict[str, list[tuple[float, float, int]]]:
    """Per node name: [(from, to, term)] while it believed it led (whether or not it was running)."""
    table = leadership_rows(results)
    end = float(results.timeline["t_ms"].max()) if len(results.timeline) else results.scenario.duration_ms
    out: dict[str, list] = {}
    if table is None:  # the perfect model: node0 leads, then each promoted node (from the events)
        promotions = results.events[results.events["kind"] == "promote"]
        times = [0.0, *promotions["t_ms"].tolist(), end]
        leaders = ["node0", *promotions["target"].tolist()]
        for term, (leader, a, b) in enumerate(zip(leaders, times, times[1:]), start=1):
            out.setdefault(leader, []).append((a, b, term))
        return out
    for node, rows in table.groupby("node", observed=True, sort=False):
        since = term = None
        for t, leading, row_term in zip(rows["t_ms"], rows["leading"], rows["term"]):
            if leading and since is None:
                since, term = float(t), int(row_term)
            elif not leading and since is not None:
                out.setdefault(str(node), []).append((since, float(t), term))
                since = None
        if since is not None:
            out.setdefault(str(node), []).append((since, end, term))
    return out


def leadership_timeline(results, fig=None):
    """Who believes it leads, node by node, with split brain shaded and the writes thrown away crossed."""
    names = list(results.scenario.node_names)
    row = {name: i for i, name in enumerate(names)}
    states, leading = node_states(results), leading_spans(results)
    end = _end_ms(results)
    traces = [dict(name="up", x=[v for _ in names for v in (0.0, end, None)], y=[v for n in names for v in (row[n], row[n], None)],
                   mode="lines", line=dict(color="#d9d9d9", width=2), hoverinfo="skip", showlegend=False)]
    # a fixed set of traces (one per term colour, one per state), so a chart on screen is updated in place
    by_colour: list[list] = [[] for _ in TERM_COLOURS]
    for name, spans in leading.items():
        for a, b, term in spans:
            by_colour[(term - 1) % len(TERM_COLOURS)].append((name, a, b, term))
    for slot, (colour, spans) in enumerate(zip(TERM_COLOURS, by_colour)):
        terms = sorted({term for *_, term in spans})
        label = "leads, term " + ", ".join(map(str, terms)) if terms else f"leads, term {slot + 1}"
        hover = [f"{name} believes it leads (term {term}) {a:,.0f}–{b:,.0f} ms" for name, a, b, term in spans]
        bar = _bar([(a, b) for _, a, b, _ in spans], 0, colour, 10, label, hover, bool(spans))
        bar["y"] = [v for name, *_ in spans for v in (row[name], row[name], None)]
        traces.append(bar)
    # over the leading bars: down hides them (a down node takes nothing), a pause is dotted over them
    # (it still believes it leads, and will act on it when it wakes)
    for state, colour, width, dy, dash in (("down", DOWN_COLOUR, 14, 0.0, "solid"), ("paused", PAUSED_COLOUR, 14, 0.0, "dot"),
                                           ("cut off", CUT_COLOUR, 2, -0.22, "dash")):
        spans = [(name, a, b) for name in names for a, b in states[name][state]]
        hover = [f"{name} {state} {a:,.0f}–{b:,.0f} ms" for name, a, b in spans]
        bar = _bar([(a, b) for _, a, b in spans], 0, colour, width, state, hover, bool(spans), dash)
        bar["y"] = [v for name, *_ in spans for v in (row[name] + dy, row[name] + dy, None)]
        traces.append(bar)
    traces += _write_marks(results, row)
    shapes, annotations = [], []
    for a, b in split_brain_intervals(results):
        shapes.append(dict(type="rect", xref="x", yref="paper", x0=a, x1=b, y0=0, y1=1, fillcolor=SPLIT_FILL,
                           line=dict(width=0), layer="below"))
        # above the plot, where no node's row (and no "steps down" mark on the top row) can be
        annotations.append(dict(x=(a + b) / 2, y=1.0, yref="paper", yanchor="bottom", text="<b>two leaders</b>",
                                showarrow=False, font=dict(color="#b71c1c", size=11)))
    traces.append(_promotion_marks(results, row))
    layout = dict(title=dict(text="Who believes it leads"), height=190 + 65 * len(names),
                  margin=dict(l=55, r=20, t=62, b=110), legend=BOTTOM_LEGEND, shapes=shapes, annotations=annotations,
                  xaxis=dict(title=dict(text="time, ms"), range=[0, end]),
                  yaxis=dict(tickvals=list(row.values()), ticktext=names, zeroline=False, range=[len(names) - 0.45, -0.75]))
    return fill(fig, traces, {**layout, "shapes": shapes, "annotations": annotations})


def _end_ms(results) -> float:
    """The run's duration, or later if something happened after it (a heal, a promotion)."""
    end = results.scenario.duration_ms
    last = float(results.events["t_ms"].max()) if len(results.events) else 0.0
    return end if last <= end else last * 1.03


def _write_marks(results, row: dict) -> list[dict]:
    """Each committed write as a mark just under the row of the node that took it (a write its
    client coordinated, leaderless, was taken by no node: none to mark)."""
    writes = results.writes
    writes = writes[writes["leader"].notna()]
    traces = []
    kinds = (("kept", ~writes["lost"], KEPT_COLOUR, "circle", 3),
             ("acknowledged, then thrown away", writes["lost"] & writes["acked"], LOST_COLOUR, "x-thin-open", 7),
             ("never acknowledged, thrown away", writes["lost"] & ~writes["acked"], UNACKED_LOST_COLOUR, "x-thin-open", 6))
    for label, mask, colour, symbol, size in kinds:
        part = writes[mask]
        y = [row[str(n)] + 0.25 for n in part["leader"]]
        hover = [f"write {w} by {n} (term {t}) at {c:,.1f} ms" + (f"<br>lost: {r}" if r else "")
                 for w, n, t, c, r in zip(part["write_id"], part["leader"], part["term"], part["commit_ms"], part["lost_reason"])]
        traces.append(dict(name=f"writes {label}", x=part["commit_ms"].tolist(), y=y, mode="markers", hovertext=hover,
                           hoverinfo="text", showlegend=bool(len(part)), marker=dict(color=colour, symbol=symbol, size=size,
                                                         line=dict(width=1.5 if symbol != "circle" else 0, color=colour))))
    return traces


def _promotion_marks(results, row: dict) -> dict:
    events = results.events
    shown = events[events["kind"].isin(("promote", "step-down")) & events["target"].isin(list(row))]
    return dict(name="promoted / stepped down", x=shown["t_ms"].tolist(), y=[row[t] - 0.45 for t in shown["target"]],
                mode="markers+text", text=["▼ promoted" if k == "promote" else "▲ steps down" for k in shown["kind"]],
                textposition="middle center", textfont=dict(size=10), marker=dict(size=1, color="#333333"),
                hovertext=[f"{k} {t} at {ms:,.1f} ms: {d}" for k, t, ms, d in
                           zip(shown["kind"], shown["target"], shown["t_ms"], shown["detail"])],
                hoverinfo="text", showlegend=False)


def degraded_spans(results) -> list[tuple[float, float, str]]:
    """[(from, to, leader)] while a leader acknowledged writes without waiting (semi-sync off)."""
    end = float(results.timeline["t_ms"].max()) if len(results.timeline) else results.scenario.duration_ms
    events = results.events
    changes: dict[str, list] = {}
    for t, kind, target in zip(events["t_ms"], events["kind"], events["target"]):
        if kind in ("semi-sync-off", "semi-sync-on"):
            changes.setdefault(target, []).append((t, kind == "semi-sync-off"))
        elif kind in ("crash", "stonith", "step-down") and target in changes:
            changes[target].append((t, False))
    return [(a, b, leader) for leader, c in changes.items() for a, b in _spans(c, end)]


def semi_sync_timeline(results, fig=None):
    """Write latency over time: waiting for a replica's receipt, or acknowledged alone once semi-sync gave up."""
    requests, writes = results.requests, results.writes
    served = requests[(requests["op"] == "write") & (requests["outcome"] == "served")]
    degraded = results.tables.get("degraded") if results.tables else None
    alone = set(degraded["write_id"]) if degraded is not None else set()
    lost = set(writes.loc[writes["lost"], "write_id"])
    is_alone = served["version"].isin(alone)
    traces = []
    for label, mask, colour in (("acknowledged after a replica's receipt", ~is_alone, OUTCOME_COLOURS["served"]),
                                ("acknowledged alone (semi-sync gave up)", is_alone, "#ff7f0e")):
        part = served[mask]
        traces.append(dict(name=label, x=part["start_ms"].tolist(), y=part["latency_ms"].tolist(), mode="markers",
                           marker=dict(color=colour, size=4), hovertemplate="%{y:.1f} ms<extra></extra>"))
    gone = served[served["version"].isin(lost)]
    traces.append(dict(name="acknowledged, then lost", x=gone["start_ms"].tolist(), y=gone["latency_ms"].tolist(),
                       mode="markers", marker=dict(color=LOST_COLOUR, symbol="x-thin-open", size=9,
                                                   line=dict(width=2, color=LOST_COLOUR))))
    shapes, annotations = [], []
    for a, b, leader in degraded_spans(results):
        shapes.append(dict(type="rect", xref="x", yref="paper", x0=a, x1=b, y0=0, y1=1, fillcolor="rgba(255,127,14,0.12)",
                           line=dict(width=0), layer="below"))
        annotations.append(dict(x=a, y=1.0, yref="paper", xanchor="left", yanchor="top", showarrow=False,
                                text=f"<b>{leader}: semi-sync off</b>", font=dict(size=10, color="#a85400")))
    marked = results.events[results.events["kind"].isin(("crash", "slow", "heal", "promote"))]
    for level, (t, kind, target) in enumerate(zip(marked["t_ms"], marked["kind"], marked["target"])):
        shapes.append(dict(type="line", xref="x", yref="paper", x0=t, x1=t, y0=0, y1=1,
                           line=dict(color="#7f7f7f", width=1, dash="dot")))
        annotations.append(dict(x=t, y=0.9 - 0.08 * (level % 3), yref="paper", xanchor="left", showarrow=False,
                                text=f" {kind} {target}", font=dict(size=9, color="#555555"), bgcolor="rgba(255,255,255,0.7)"))
    layout = dict(title=dict(text="Write latency, and how each write was acknowledged"), legend=BOTTOM_LEGEND,
                  margin=dict(l=55, r=20, t=40, b=110), height=400, shapes=shapes, annotations=annotations,
                  xaxis=dict(title=dict(text="start time, ms"), range=[0, results.scenario.duration_ms]),
                  yaxis=dict(title=dict(text="latency, ms"), rangemode="tozero"))
    return fill(fig, traces, {**layout, "shapes": shapes, "annotations": annotations})


def policy_bars(table: pd.DataFrame, metric: str = "lost_acked_writes", fig=None, title: str | None = None):
    """One group of bars per policy, one bar per fencing, for a column of compare_policies' table."""
    fencings = list(dict.fromkeys(table["fencing"]))
    palette = {"terms": "#2a9d8f", "none": "#d62728", "stonith": "#6c757d"}
    traces = []
    for fencing in fencings:
        part = table[table["fencing"] == fencing]
        labels = [f"{p}<br>{a}" if "ack" in part else p for p, a in zip(part["policy"], part.get("ack", part["policy"]))]
        traces.append(dict(type="bar", name=f"fencing: {fencing}", x=labels, y=part[metric].tolist(),
                           marker=dict(color=palette.get(fencing, "#1f77b4")), text=[f"{v:,.0f}" for v in part[metric]],
                           textposition="outside"))
    layout = dict(title=dict(text=title or metric.replace("_", " ")), barmode="group",
                  yaxis=dict(title=dict(text=metric.replace("_", " ")), rangemode="tozero"))
    return fill(fig, traces, {**layout, "height": 360, "margin": dict(l=55, r=20, t=75, b=45),
                              "legend": dict(orientation="h", yanchor="bottom", y=1.0, x=0.0, font=dict(size=10))})


__all__ = ["leadership_timeline", "leading_spans", "node_states", "policy_bars", "semi_sync_timeline"]
