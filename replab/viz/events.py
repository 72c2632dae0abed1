"""The run's events as a lane above a time chart: what was down when, and what happened at which instant.

    lane(results, width_px=420) -> (traces, layout, shapes)

One row per thing that had events (a node, a switch, a DC, the balancer, the DNS's view of
a DC): a bar for each stretch it was down (or read-only, or marked down by the DNS, or cut
off by a partition) and a marker for each instant (detected, promoted, a failed health
check, a take-over). Every marker and bar has hover text; a label is written beside it only
where it fits without touching its neighbour, so text never lands on text. The same
stretches shade the chart below faintly, so a dip in a curve lines up with its cause.

Events of a whole DC's crash (its nodes' and switches' own crash events) are folded into
the DC's row. Only the workload's time, 0 to `scenario.duration_ms`, is drawn.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from replab.analysis.results import Results
from replab.viz.style import GREEN, GREY, ORANGE, PURPLE, SKY, VERMILLION

# a stretch: (start kind, end kind, what it is called on the chart, colour)
SPANS = (("crash", "recover", "down", GREY), ("read-only", "writable", "read-only", ORANGE),
         ("dns-down", "dns-up", "DNS: down", SKY), ("partition", "heal", "cut off", PURPLE),
         ("isolate", "heal", "cut off", PURPLE))
# an instant: kind -> (words, marker symbol, colour)
INSTANTS = {"detect": ("detected", "diamond", VERMILLION), "promote": ("promoted", "triangle-up", GREEN),
            "take-over": ("take-over", "triangle-up", GREEN), "health-check-failed": ("check failed", "x-thin", SKY)}
_CHAR_PX = 5.6  # width of one character of the lane's 9-px font, a little generous
_MAX_ROWS = 4  # each row needs ~14 px of a 350-px chart for its label not to touch the next


def lane_share(rows: int) -> float:
    """The lane's share of the chart's height, at the top: enough for `rows` rows and no more."""
    return 0.0 if rows == 0 else 0.07 + 0.045 * rows


def _row_of(kind: str, target: str, at_dc_fault: bool) -> str | None:
    """Which lane row an event belongs to (None: folded into its DC's row)."""
    if at_dc_fault and kind in ("crash", "recover") and not target.startswith("dc"):
        return None  # a node or switch of a crashed DC, at the same instant: the DC's own row says it
    if kind in ("dns-down", "dns-up", "health-check-failed"):
        return f"DNS {target}"
    return target


def _closed_by(row: str, kind: str, open_rows: list[str]) -> list[str]:
    """The open rows an end event on `row` closes: a heal undoes every partition that cut off
    any of its hosts ('all': every one); other ends close their own row."""
    if kind != "heal":
        return [row] if row in open_rows else []
    hosts = set(row.split("+"))
    return [r for r in open_rows if row == "all" or hosts & set(r.split("+"))]


class Stretch(NamedTuple):
    """A bar of the lane: `row` was `what` (down, read-only, ...) from `from_ms` to `to_ms`."""

    row: str
    what: str
    from_ms: float
    to_ms: float
    colour: str
    hover: str


class Instant(NamedTuple):
    """A marker of the lane: `what` happened (detected, promoted, ...) on `row` at `t_ms`."""

    row: str
    what: str
    t_ms: float
    symbol: str
    colour: str
    hover: str


def _all_rows(results: Results) -> tuple[list[Stretch], list[Instant]]:
    """Every stretch and instant of the run, in the order they end and happen (some after the workload).

    Plain Python over the events' columns: the frame has a handful of rows, and one pandas call
    on it costs more than this whole loop (~5 ms a chart before)."""
    end = results.scenario.duration_ms
    opened: dict[tuple[str, str], tuple[float, str]] = {}
    spans, points = [], []
    starts = {s[0]: s for s in SPANS}
    ends: dict[str, list[tuple]] = {}
    for span in SPANS:
        ends.setdefault(span[1], []).append(span)
    events = results.events
    columns = [events[c].tolist() for c in ("t_ms", "kind", "target", "detail")]
    dc_faults = {t for t, target in zip(columns[0], columns[2]) if str(target).startswith("dc")}
    for t, kind, target, detail in zip(*columns):
        row = _row_of(kind, str(target), t in dc_faults)
        if row is None:
            continue
        if kind in starts:
            opened.setdefault((row, kind), (t, str(detail)))
        elif kind in ends:
            for span in ends[kind]:
                for closed in _closed_by(row, kind, [r for r, k in opened if k == span[0]]):
                    begun = opened.pop((closed, span[0]))
                    spans.append(Stretch(closed, span[2], begun[0], t, span[3],
                                         f"{closed} {span[2]} from {begun[0]:g} to {t:g} ms"
                                         + (f" ({begun[1]})" if begun[1] else "")))
        if kind in INSTANTS:
            label, symbol, colour = INSTANTS[kind]
            points.append(Instant(row, label, t, symbol, colour,
                                  f"{kind} {target} at {t:g} ms" + (f": {detail}" if detail else "")))
    for (row, kind), (t, detail) in opened.items():
        span = starts[kind]
        spans.append(Stretch(row, span[2], t, end, span[3], f"{row} {span[2]} from {t:g} ms to the end"
                             + (f" ({detail})" if detail else "")))
    return spans, points


def _lane_rows(results: Results) -> tuple[list[Stretch], list[Instant]]:
    """The stretches and instants within the workload, 0 to `scenario.duration_ms`: what the lane draws."""
    end = results.scenario.duration_ms
    spans, points = _all_rows(results)
    return [s._replace(to_ms=min(s.to_ms, float(end))) for s in spans if s.from_ms < end], [p for p in points if p.t_ms <= end]


def stretches_and_instants(results: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stretches: row, what, from_ms, to_ms, colour, hover; instants: row, what, t_ms, symbol, colour, hover),
    within the workload as the lane draws them."""
    end = results.scenario.duration_ms
    spans, points = _all_rows(results)
    stretches = pd.DataFrame(spans, columns=Stretch._fields)
    stretches = stretches[stretches["from_ms"] < end].assign(to_ms=lambda f: f["to_ms"].clip(upper=end))
    instants = pd.DataFrame(points, columns=Instant._fields)
    return stretches, instants[instants["t_ms"] <= end]


def _rows(stretches: list[Stretch], instants: list[Instant]) -> list[str]:
    """Rows in the order their first event happened, top to bottom."""
    first = sorted([(s.row, s.from_ms) for s in stretches] + [(p.row, p.t_ms) for p in instants], key=lambda rt: rt[1])
    rows = list(dict.fromkeys(row for row, _t in first))
    return rows if len(rows) <= _MAX_ROWS else rows[: _MAX_ROWS - 1] + ["others"]


def lane(results: Results, width_px: float = 420.0, yaxis: str = "y3") -> tuple[list[dict], dict, list[dict]]:
    """Traces of the event lane (on `yaxis`), its axis layout, and the shading of the chart below."""
    duration = results.scenario.duration_ms
    stretches, instants = _lane_rows(results)
    rows = _rows(stretches, instants) or ["no events"]
    y_of = {r: float(len(rows) - 1 - i) for i, r in enumerate(rows)}

    def y(row: str) -> float:
        return y_of.get(row, y_of[rows[-1]])

    ms_per_px = duration / max(width_px - 90.0, 100.0)  # the plotting area, margins off
    taken: dict[float, list[tuple[float, float]]] = {}  # per row: x extents of text already placed

    def fits(row_y: float, x0: float, x1: float) -> bool:
        if x1 > duration * 1.02:
            return False
        if any(x0 < b and a < x1 for a, b in taken.get(row_y, [])):
            return False
        taken.setdefault(row_y, []).append((x0, x1))
        return True

    bars_x, bars_y, bar_hover, bar_colour = [], [], [], []
    text_x, text_y, text = [], [], []
    for s in stretches:
        row_y = y(s.row)
        bars_x.append((s.from_ms, s.to_ms))
        bars_y.append(row_y)
        bar_hover.append(s.hover)
        bar_colour.append(s.colour)
        label = s.what if s.row in y_of else f"{s.row} {s.what}"
        width_ms = len(label) * _CHAR_PX * ms_per_px
        x0 = s.from_ms + 0.5 * _CHAR_PX * ms_per_px
        inside = s.to_ms - s.from_ms >= width_ms + _CHAR_PX * ms_per_px
        if fits(row_y, s.from_ms, s.to_ms if inside else x0 + width_ms):
            text_x.append(x0)
            text_y.append(row_y)
            text.append(label)
    traces = []
    for colour in [span[3] for span in SPANS]:  # one trace per kind of stretch, always (charts update in place)
        x, yy, hover = [], [], []
        for (a, b), row_y, h, c in zip(bars_x, bars_y, bar_hover, bar_colour):
            if c == colour:
                x += [a, b, None]
                yy += [row_y, row_y, None]
                hover += [h, h, None]
        traces.append(dict(name="stretches", x=x, y=yy, yaxis=yaxis, mode="lines", showlegend=False,
                           line=dict(color=colour, width=9), opacity=0.55, hovertext=hover, hoverinfo="text"))
    # numpy's quicksort, as the frame's sort_values did: the same order among instants at one time
    by_time = np.argsort(np.array([p.t_ms for p in instants], dtype=float), kind="quicksort")
    for p in (instants[i] for i in by_time):
        label = p.what if p.row in y_of else f"{p.row} {p.what}"
        row_y = y(p.row)
        x0 = p.t_ms + 1.6 * _CHAR_PX * ms_per_px
        if fits(row_y, p.t_ms - _CHAR_PX * ms_per_px, x0 + len(label) * _CHAR_PX * ms_per_px):
            text_x.append(x0)
            text_y.append(row_y)
            text.append(label)
    traces.append(dict(name="events", x=[p.t_ms for p in instants], y=[y(p.row) for p in instants], yaxis=yaxis,
                       mode="markers", showlegend=False, hovertext=[p.hover for p in instants], hoverinfo="text",
                       marker=dict(symbol=[p.symbol for p in instants], color=[p.colour for p in instants], size=10,
                                   line=dict(width=1.5, color=[p.colour for p in instants]))))
    traces.append(dict(name="event labels", x=text_x, y=text_y, yaxis=yaxis, mode="text", text=text,
                       textposition="middle right", textfont=dict(size=9, color="#333333"), showlegend=False,
                       hoverinfo="skip"))
    share = lane_share(len(rows)) if len(stretches) or len(instants) else 0.0
    axis = dict(visible=share > 0, domain=[1.0 - max(share, 0.1) + 0.03, 1.0], range=[-0.6, len(rows) - 0.4], tickvals=list(y_of.values()),
                ticktext=list(y_of),
                tickfont=dict(size=9), showgrid=False, zeroline=False, fixedrange=True)
    shading = [dict(type="rect", xref="x", yref="paper", x0=a, x1=b, y0=0.0, y1=1.0 - share,
                    fillcolor=c, opacity=0.12, line=dict(width=0), layer="below")
               for (a, b), c in zip(bars_x, bar_colour)]
    return traces, axis, shading


def main_domain(lane_axis: dict) -> list[float]:
    """The vertical room left for the chart itself under the lane (its axis from `lane`)."""
    return [0.0, lane_axis["domain"][0] - 0.05] if lane_axis["visible"] else [0.0, 1.0]


__all__ = ["INSTANTS", "SPANS", "lane", "lane_share", "main_domain", "stretches_and_instants"]
