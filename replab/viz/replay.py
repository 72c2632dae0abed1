"""A replay of any run: the system drawn by its kind, with its traffic, roles, queues and lag over time.

    replay(results)                  a widget (anywidget) with a play button and a time slider
    replay(results, fig=widget)      the same widget, given new results (the Lab redraws it in place)
    replay(results, messages_ms=(2990, 3010))   those 20 ms message by message, in slow motion

Everything it shows comes from the recorded history (replab.viz.replay_data), sent to the
browser once; the browser animates it on a canvas, so playing costs the kernel nothing.

Why a canvas and not plotly frames: measured in benchmarks/replay_render.py (figures in
benchmarks/LAB_RESULTS.md). Plotly's FigureWidget, the Lab's charts, cannot hold animation
frames at all; a plotly Figure with frames can, but every frame carries every trace again
(about ten times the bytes for the same 10 s run) and each step of the animation is a
re-layout of the whole plot, where the canvas draws a frame in well under a millisecond and
moves each dot continuously between samples. anywidget ships its front end inside the Python
package, so Binder needs nothing more than `pip install`.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

from replab.analysis.results import Results
from replab.viz.replay_data import replay_data


class ReplayWidget(anywidget.AnyWidget):
    """The replay's canvas, controls and data; `data` is replab.viz.replay_data's dict."""

    _esm = Path(__file__).with_name("replay.js")
    data = traitlets.Dict().tag(sync=True)
    width = traitlets.Int(420).tag(sync=True)
    height = traitlets.Int(360).tag(sync=True)


def replay(results: Results, fig: ReplayWidget | None = None, frames: int = 150,
           messages_ms: tuple[float, float] | None = None, slow_motion: bool | None = None, width: int | None = None,
           height: int | None = None) -> ReplayWidget:
    """The replay of `results` (a new widget, or `fig` given the new data in place).

    `slow_motion`: message by message (True), traffic as flows (False), or by the run's size (None:
    message by message for short runs, such as the chapters' scripted stories).
    """
    data = replay_data(results, frames=frames, messages_ms=messages_ms, slow_motion=slow_motion)
    if fig is None:  # created holding its data: a state sent right after creation can be lost in the browser
        return ReplayWidget(data=data, width=width or 640, height=height or 440)
    if width:
        fig.width = width
    if height:
        fig.height = height
    fig.data = data
    return fig


__all__ = ["ReplayWidget", "replay"]
