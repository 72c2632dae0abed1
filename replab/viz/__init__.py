"""Plots read from Results only: the house style, the charts, the topology, the replay.

    from replab.viz import replay, house
    replay(results)          the run, replayed: traffic, roles, queues, lag (replab.viz.replay)
    house(px.line(...))      any plotly figure in replab's house style (replab.viz.style)
"""

from replab.viz.replay import Replay, replay
from replab.viz.style import house, words

__all__ = ["Replay", "house", "replay", "words"]
