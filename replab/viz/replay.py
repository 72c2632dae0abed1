"""A replay of any run: the system drawn by its kind, with its traffic, roles, queues and lag over time.

    replay(results)                  shown in a notebook: a canvas with a play button and a time slider
    replay(results, fig=shown)       the same replay given new results (the Lab redraws it in place)
    replay(results, messages_ms=(2990, 3010))   those 20 ms message by message, in slow motion

Everything it shows comes from the recorded history (replab.viz.replay_data). It is an HTML
output holding the data and the drawing code (replay.js): the browser animates it, the
kernel does nothing while it plays, and it needs no widget runtime, so it plays in
JupyterLab, on Binder, in VS Code and in a notebook exported to HTML.

Why a canvas, and why not a widget. Measured in benchmarks/replay_render.py (figures in
benchmarks/LAB_RESULTS.md): plotly frames repeat every trace in every frame (several times
the bytes for the same run) and each step is a re-layout of the whole plot, where the
canvas draws a frame in well under a millisecond and moves each dot continuously between
samples; plotly's FigureWidget, the obvious live chart, cannot hold frames at all. An
anywidget would carry the same canvas, but its browser side must start within 2 s, and on
a busy machine it does not: the browser test saw replays (and FigureWidgets) stay blank.
"""

from __future__ import annotations

import html
import json
import uuid
from pathlib import Path

from replab.analysis.results import Results
from replab.viz.replay_data import replay_data

_CODE = Path(__file__).with_name("replay.js")


class Replay:
    """One replay: replab.viz.replay_data's dict and the canvas size; a notebook shows it as HTML."""

    def __init__(self, data: dict, width: int = 640, height: int = 440, key: str | None = None):
        self.data, self.width, self.height = data, width, height
        self.key = key or uuid.uuid4().hex  # where the page keeps the reader's place between drawings

    def _repr_html_(self) -> str:
        element = f"replab-replay-{uuid.uuid4().hex}"
        payload = json.dumps(self.data, separators=(",", ":"), default=float).replace("</", "<\\/")
        return (f'<div id="{element}" style="width:{self.width}px"></div><script>(function () {{\n'
                f"{_CODE.read_text()}\n"
                f'render(document.getElementById("{element}"), {payload}, {self.width}, {self.height}, '
                f'"{html.escape(self.key)}");\n}})();</script>')

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self._repr_html_(),
                "text/plain": f"<replay of a {self.data.get('duration_ms', 0):g} ms run>"}


def replay(results: Results, fig: Replay | None = None, frames: int = 150,
           messages_ms: tuple[float, float] | None = None, slow_motion: bool | None = None, width: int | None = None,
           height: int | None = None) -> Replay:
    """The replay of `results` (a new one, or `fig` given the new data in place).

    `slow_motion`: message by message (True), traffic as flows (False), or by the run's size (None:
    message by message for short runs, such as the chapters' scripted stories).
    """
    data = replay_data(results, frames=frames, messages_ms=messages_ms, slow_motion=slow_motion)
    if fig is None:
        return Replay(data, width or 640, height or 440)
    fig.data = data
    fig.width, fig.height = width or fig.width, height or fig.height
    return fig


__all__ = ["Replay", "replay"]
