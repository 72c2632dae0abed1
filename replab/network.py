"""The network: a message crosses the sender's switch and the receiver's switch.

Each link a message traverses (host to switch, switch to switch, switch to host) draws one
hop latency. A message whose path crosses a switch that is down when it is sent is
dropped; receivers drop what arrives while they are down. Replication streams are ordered
(like TCP): a message on an ordered channel never overtakes the one sent before it.
"""

from __future__ import annotations

from typing import Any, Callable

from replab.engine import EventCalendar, Handler


class Network:
    """Hosts (small ints) attached to switches; delivers messages after drawn hop latencies."""

    def __init__(self, calendar: EventCalendar, hop_ms: Callable[[], float], switches: int):
        self.calendar = calendar
        self.hop_ms = hop_ms
        self.switch_up = [True] * switches
        self.switch_of: list[int] = []
        self._channel_clear_ms: dict[tuple[int, int], float] = {}
        self.messages_sent = 0
        self.messages_dropped = 0

    def attach(self, switch: int) -> int:
        """A new host on `switch`; returns its host number."""
        self.switch_of.append(switch)
        return len(self.switch_of) - 1

    def latency_ms(self, src: int, dst: int) -> float | None:
        """One draw of the path latency, or None when a switch on the path is down."""
        a, b = self.switch_of[src], self.switch_of[dst]
        up = self.switch_up
        if not (up[a] and up[b]):
            return None
        hop = self.hop_ms
        return hop() + hop() + hop() if a != b else hop() + hop()

    def _departing(self, src: int, dst: int) -> float | None:
        """Count a message leaving `src` and draw its latency; None when it is dropped."""
        self.messages_sent += 1
        lat = self.latency_ms(src, dst)
        if lat is None:
            self.messages_dropped += 1
        return lat

    def send(self, now: float, src: int, dst: int, handler: Handler, arg: Any) -> bool:
        """Deliver `arg` to `handler` after the path latency; False when dropped on the way."""
        lat = self._departing(src, dst)
        if lat is None:
            return False
        self.calendar.schedule(now + lat, handler, arg)
        return True

    def send_ordered(self, now: float, src: int, dst: int, handler: Handler, arg: Any) -> bool:
        """Like `send`, but never delivered before an earlier message on the same channel."""
        lat = self._departing(src, dst)
        if lat is None:
            return False
        channel = (src, dst)
        at = max(now + lat, self._channel_clear_ms.get(channel, 0.0))
        self._channel_clear_ms[channel] = at
        self.calendar.schedule(at, handler, arg)
        return True
