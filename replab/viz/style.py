"""One house style for every replab chart: colours, words, the layout, filling a figure in place.

    fill(fig, traces, layout)   replab's own charts: write traces and layout into a figure in place
    house(fig, words=None)      any plotly figure (the notebooks' own px.line, px.bar, ...): replab's
                                template and palette, axis and legend titles in words instead of
                                column names, facet titles without "variable=", tick labels kept off
                                the bars
    words(name)                 a column or field name in words: "mean_lag_ms" -> "mean lag, ms"

Colours come from the Okabe-Ito palette, which people with any common colour-vision
deficiency can tell apart; the role colours are the ones the topology and the replay use.
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
import plotly.io as pio

# Okabe & Ito (2008), "Color universal design": distinguishable with protanopia, deuteranopia, tritanopia
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, BLACK = PALETTE
GREY, LIGHT_GREY = "#999999", "#DDDDDD"

OUTCOME_COLOURS = {"served": GREEN, "refused": ORANGE, "failed": VERMILLION}
OP_COLOURS = {"read": BLUE, "write": PURPLE}
ROLE_COLOURS = {"leader": ORANGE, "follower": BLUE, "server": GREEN, "down": GREY}
PERCENTILES = (50, 95, 99)

_TEMPLATE = "replab"
pio.templates[_TEMPLATE] = go.layout.Template(pio.templates["plotly_white"])
pio.templates[_TEMPLATE].layout.update(colorway=list(PALETTE), font=dict(size=12),
                                       hoverlabel=dict(namelength=-1),
                                       # the axes' first tick labels meet at the origin: keep them apart
                                       xaxis=dict(ticklabelstandoff=3), yaxis=dict(ticklabelstandoff=5))
_BASE_LAYOUT = dict(height=350, margin=dict(l=55, r=20, t=75, b=45),  # room for a legend wrapped on two rows
                    legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.0, font=dict(size=10), title=None))

# Names whose words are not just the name with its unit spelled out.
WORDS = {
    "t_ms": "time, ms",
    "start_ms": "start time, ms",
    "lag_ms": "replication lag, ms",
    "lag_writes": "replication lag, writes",
    "mean_lag_ms": "mean replication lag, ms",
    "max_lag_ms": "largest replication lag, ms",
    "throughput_per_s": "operations served per second",
    "read_capacity_per_s": "reads served per second",
    "write_rate_per_s": "writes per second",
    "followers": "followers",
    "write_ratio": "share of writes",
    "workload.write_ratio": "share of writes",
    "topology.followers": "followers",
    "replication.ack": "acknowledgement",
    "ack": "acknowledgement",
    "hop_ms": "one network hop, ms",
    "ttl_ms": "cache TTL, ms",
    "zipf_s": "Zipf exponent",
    "copies_per_write": "copies sent per write",
    "state_bytes_per_node": "session state held per node, bytes",
    "sessions_lost_state": "sessions that lost their state",
    "sessions_moved": "sessions moved to a buddy",
    "state_copies": "state copies sent",
    "link_utilisation": "leader's link utilisation",
    "lost_acked_writes": "acknowledged writes lost",
    "lost_writes": "writes lost",
    "ship_wait_ms": "wait on the leader's link, ms",
    "replication_delay_ms": "commit to applied on a follower, ms",
    "outage_availability": "share served while the switch is down",
    "availability": "share of operations served",
    "stale_read_rate": "share of reads that were stale",
    "hit_ratio": "cache hit ratio",
    "staleness_mean_ms": "mean staleness of a read, ms",
    "origin_ops_per_s": "operations on the origin per second",
    "messages_per_op": "messages per operation",
    "conflicts_per_s": "conflicts per second",
    "divergent_keys": "keys that differ between leaders",
    "depth": "depth in the tree",
    "crash_ms": "crash time, ms",
    "traffic_moved_50_ms": "50% of sessions moved",
    "traffic_moved_90_ms": "90% of sessions moved",
    "traffic_moved_99_ms": "99% of sessions moved",
    "node_ms_per_request": "node-time per request",
    "busy_worker_ms_per_request": "worker time per request",
    "messages_per_request": "messages per request",
    "bytes_per_request": "bytes per request",
    "propagation": "propagation",
    "layout": "layout",
    "node": "node",
}
_UNITS = (("_per_s", " per second"), ("_ms", ", ms"), ("_s", ", s"), ("_bytes", ", bytes"))


def words(name: str) -> str:
    """A column, field or summary key in words (WORDS, else the name with its unit spelled out)."""
    if name in WORDS:
        return WORDS[name]
    text = name.split(".")[-1]
    for suffix, spelled in _UNITS:
        if text.endswith(suffix):
            text = text[: -len(suffix)] + spelled
            break
    return text.replace("_", " ")


def _is_name(text: str | None) -> bool:
    """Does this look like a column name (snake_case or dotted) rather than words?"""
    return bool(text) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", text) is not None and (
        "_" in text or "." in text or text in WORDS)  # "0.1" is a value, not a name


def house(fig, words_for: dict[str, str] | None = None):
    """Put any plotly figure in replab's house style, in place, and return it.

    Axis titles, legend titles, trace names and facet titles that are column names become
    words (`words_for` first, then WORDS and the unit rules); "variable=x" facet titles lose
    their "variable="; a bar chart's axes start at zero and its text sits inside the bars.
    """
    extra = words_for or {}

    def say(text):
        if text is None:
            return text
        if text in extra:
            return extra[text]
        return words(text) if _is_name(text) else text

    fig.update_layout(template=_TEMPLATE, title=dict(x=0.02, xanchor="left"),
                      legend=dict(title=dict(text=say(fig.layout.legend.title.text) if fig.layout.legend.title.text
                                             and fig.layout.legend.title.text not in ("variable", "value") else None)))
    fig.for_each_xaxis(lambda axis: axis.update(title_text=say(axis.title.text)))
    fig.for_each_yaxis(lambda axis: axis.update(title_text=say(axis.title.text) if axis.title.text != "value"
                                                else extra.get("value", "")))
    recoloured: dict[str, str] = {}  # px coloured the traces with its own palette: map it onto ours, in order
    for trace in fig.data:
        for part in ("line", "marker"):
            holder = getattr(trace, part, None)
            colour = getattr(holder, "color", None) if holder is not None else None
            if isinstance(colour, str) and colour.startswith("#"):
                holder.color = recoloured.setdefault(colour, PALETTE[len(recoloured) % len(PALETTE)])
        if trace.type == "scatter" and getattr(trace, "fillcolor", None) and trace.fillcolor in recoloured:
            trace.fillcolor = recoloured[trace.fillcolor]
    for trace in fig.data:
        if trace.name:
            trace.name = say(trace.name)
            if getattr(trace, "legendgroup", None):
                trace.legendgroup = trace.name
        if trace.type == "bar" and getattr(trace, "texttemplate", None) is not None:
            trace.textposition = "inside"
    fig.for_each_annotation(lambda a: a.update(text=say(a.text.split("=", 1)[-1])))
    colorbar = fig.layout.coloraxis.colorbar.title.text
    if colorbar:
        fig.update_coloraxes(colorbar_title_text=say(colorbar))
    return fig


class PlainFigure(dict):
    """A figure as plain data, {"data": [...], "layout": {...}}, filled without plotly's checks.

    What the Lab shows: it goes to the browser whole at every drawing, so the validation plotly's
    graph objects make of each property, most of a redraw's time, buys nothing there.
    `go.Figure(plain)` turns one into a graph object to inspect it.
    """


_TEMPLATE_JSON: dict | None = None


def _template_json() -> dict:
    global _TEMPLATE_JSON
    if _TEMPLATE_JSON is None:
        _TEMPLATE_JSON = pio.templates[_TEMPLATE].to_plotly_json()
    return _TEMPLATE_JSON


def fill(fig, traces: list[dict], layout: dict):
    """Write traces and layout into `fig` in place (one batch_update); a new Figure if None.

    A PlainFigure is filled with the same traces and layout as plain data, unchecked.
    """
    if isinstance(fig, PlainFigure):
        title = {"y": 0.98, "yanchor": "top", "x": 0.02, "xanchor": "left", **layout.pop("title", {})}
        fig["data"] = [{"type": "scatter", **trace} for trace in traces]
        fig["layout"] = {**_BASE_LAYOUT, **layout, "title": title, "template": _template_json()}
        return fig
    fig = go.Figure() if fig is None else fig
    same_shape = [t.type for t in fig.data] == [t.get("type", "scatter") for t in traces]
    with fig.batch_update():
        if same_shape:
            for trace, spec in zip(fig.data, traces):
                trace.update({k: v for k, v in spec.items() if k != "type"}, overwrite=True)
        else:
            fig.data = []
            fig.add_traces([_trace(spec) for spec in traces])
            fig.update_layout(template=_TEMPLATE)  # costly to re-apply (deep copies), so only when new
        title = {"y": 0.98, "yanchor": "top", "x": 0.02, "xanchor": "left", **layout.pop("title", {})}
        # shapes and annotations replace the old ones whole (an empty list given to update_layout changes nothing)
        fig.layout.shapes = layout.pop("shapes", ())
        fig.layout.annotations = layout.pop("annotations", ())
        fig.update_layout({**_BASE_LAYOUT, **layout, "title": title})  # title above the legend row
    return fig


def _trace(spec: dict):
    kind = spec.get("type", "scatter")
    body = {k: v for k, v in spec.items() if k != "type"}
    return go.Bar(**body) if kind == "bar" else go.Scatter(**body)
