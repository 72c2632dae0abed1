"""The network: a message crosses the sender's switch and the receiver's switch.

Each link a message traverses (host to switch, switch to switch, switch to host) draws one
hop latency. A host attaches to one switch or to several (a redundant pair): it uses the
first of them that is up, and a pair of hosts that share a live switch need no
switch-to-switch hop. Switches belong to data centres; a message between data centres
crosses the WAN link between them (`wan_ms(a, b)` draws its latency) instead of the
switch-to-switch hop, unless the two are cut apart (`cut`). A message whose path has no
live switch at either end, or crosses a cut, when it is sent is dropped; receivers drop
what arrives while they are down. Replication streams are ordered (like TCP): a message
on an ordered channel never overtakes the one sent before it.

Inside a data centre, hosts can be split apart too (`split`: a set of hosts cut from every
other host, as a node whose cable is pulled or a rack cut off its aggregation switch) and
a host can be slow (`slow`: every message to or from it takes longer, as a congested link).
Until the first such fault the fast path is taken, with the same draws either way.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

from replab.core.calendar import EventCalendar, Handler


class Network:
    """Hosts (small ints) attached to switches; delivers messages after drawn hop latencies."""

    def __init__(self, calendar: EventCalendar, hop_ms: Callable[[], float], switches: int,
                 switch_dc: list[int] | None = None, wan_ms: Callable[[int, int], float] | None = None):
        self.calendar = calendar
        self._heap, self._ticket = calendar.pusher()  # send schedules its deliveries itself (see EventCalendar.pusher)
        self.hop_ms = hop_ms
        self.switch_up = [True] * switches
        self.switch_dc = list(switch_dc) if switch_dc is not None else [0] * switches
        self.wan_ms = wan_ms
        self.cut: set[tuple[int, int]] = set()  # (a, b) and (b, a): data centres that cannot talk
        self.switch_of: list[int] = []  # each host's first (primary) switch
        self.switches_of: list[tuple[int, ...]] = []  # each host's switches, primary first
        self._simple = True  # every host on one switch, one data centre, no host fault: the fast path
        self._simple_cabling = True  # what _simple is when no host is split off or slow
        self.splits: list[frozenset[int]] = []  # sides of host partitions: each cut from every host outside it
        self.slow_ms: dict[int, float] = {}  # host -> extra ms on every message to or from it
        self._channel_clear_ms: dict[tuple[int, int], float] = {}
        self.messages_sent = 0
        self.messages_dropped = 0

    def attach(self, *switches: int) -> int:
        """A new host on `switches` (primary first); returns its host number."""
        if not switches:
            raise ValueError("a host needs at least one switch")
        self.switch_of.append(switches[0])
        self.switches_of.append(tuple(switches))
        if len(switches) > 1 or self.switch_dc[switches[0]] != self.switch_dc[0]:
            self._simple = self._simple_cabling = False
        return len(self.switch_of) - 1

    # host faults inside a data centre ---------------------------------------------------------
    def split(self, hosts) -> frozenset[int]:
        """Cut `hosts` off from every other host (they still reach each other); returns the side."""
        side = frozenset(hosts)
        self.splits.append(side)
        self._simple = False
        return side

    def unsplit(self, side: frozenset[int]) -> None:
        if side in self.splits:
            self.splits.remove(side)
        self._simple = self._simple_cabling and not self.splits and not self.slow_ms

    def slow(self, hosts, delay_ms: float) -> None:
        for host in hosts:
            self.slow_ms[host] = delay_ms
        self._simple = False

    def unslow(self, hosts) -> bool:
        """End the slowness of `hosts` (and nothing else); True if any was slow."""
        changed = any(self.slow_ms.pop(host, None) is not None for host in list(hosts))
        self._simple = self._simple_cabling and not self.splits and not self.slow_ms
        return changed

    def heal_hosts(self, hosts) -> bool:
        """Undo every split that cuts off any of `hosts`, and their slowness; True if anything changed."""
        hosts = set(hosts)
        kept = [side for side in self.splits if not side & hosts]
        changed = len(kept) != len(self.splits) or any(h in self.slow_ms for h in hosts)
        self.splits = kept
        for host in hosts:
            self.slow_ms.pop(host, None)
        self._simple = self._simple_cabling and not self.splits and not self.slow_ms
        return changed

    def split_apart(self, src: int, dst: int) -> bool:
        return any((src in side) != (dst in side) for side in self.splits)

    def dc_of(self, host: int) -> int:
        return self.switch_dc[self.switch_of[host]]

    def latency_ms(self, src: int, dst: int) -> float | None:
        """One draw of the path latency, or None when no live path exists."""
        hop = self.hop_ms
        up = self.switch_up
        if self._simple:
            a, b = self.switch_of[src], self.switch_of[dst]
            if not (up[a] and up[b]):
                return None
            return hop() + hop() + hop() if a != b else hop() + hop()
        if self.splits or self.slow_ms:
            if self.splits and self.split_apart(src, dst):
                return None
            latency = self._switched_ms(src, dst)
            if latency is None or not self.slow_ms:
                return latency
            return latency + self.slow_ms.get(src, 0.0) + self.slow_ms.get(dst, 0.0)
        return self._switched_ms(src, dst)

    def _switched_ms(self, src: int, dst: int) -> float | None:
        """The path's latency through the switches (and the WAN), or None when none is live."""
        hop = self.hop_ms
        up = self.switch_up
        mine, theirs = self.switches_of[src], self.switches_of[dst]
        if len(mine) == 1 and len(theirs) == 1:  # one cable each (several DCs): no list to build
            a, b = mine[0], theirs[0]
            if not (up[a] and up[b]):
                return None
            if a == b:
                return hop() + hop()
        else:
            mine = [s for s in mine if up[s]]
            theirs = [s for s in theirs if up[s]]
            if not mine or not theirs:
                return None
            if any(s in theirs for s in mine):
                return hop() + hop()
            a, b = mine[0], theirs[0]
        dc_a, dc_b = self.switch_dc[a], self.switch_dc[b]
        if dc_a == dc_b:
            return hop() + hop() + hop()
        if (dc_a, dc_b) in self.cut or self.wan_ms is None:
            return None
        return hop() + self.wan_ms(dc_a, dc_b) + hop()

    # send and send_ordered count the message and draw its latency inline (no helper call):
    # they carry every message of a run, ~2.6 per client request.
    def send(self, now: float, src: int, dst: int, handler: Handler, arg: Any) -> bool:
        """Deliver `arg` to `handler` after the path latency; False when dropped on the way."""
        self.messages_sent += 1
        lat = self.latency_ms(src, dst)
        if lat is None:
            self.messages_dropped += 1
            return False
        heappush(self._heap, (now + lat, self._ticket(), handler, arg))  # calendar.schedule, inlined
        return True

    def send_ordered(self, now: float, src: int, dst: int, handler: Handler, arg: Any) -> bool:
        """Like `send`, but never delivered before an earlier message on the same channel."""
        self.messages_sent += 1
        lat = self.latency_ms(src, dst)
        if lat is None:
            self.messages_dropped += 1
            return False
        channel = (src, dst)
        at = max(now + lat, self._channel_clear_ms.get(channel, 0.0))
        self._channel_clear_ms[channel] = at
        heappush(self._heap, (at, self._ticket(), handler, arg))  # calendar.schedule, inlined
        return True
