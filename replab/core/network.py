"""The network: a message crosses the sender's switch and the receiver's switch.

Each link a message traverses (host to switch, switch to switch, switch to host) draws one
hop latency. A host attaches to one switch or to several (a redundant pair): it uses the
first of them that is up, and a pair of hosts that share a live switch need no
switch-to-switch hop. Switches belong to data centres; a message between data centres
crosses the WAN link between them (`wan_ms(a, b)` draws its latency) instead of the
switch-to-switch hop, unless the two are cut apart (`cut_wan`). A message whose path has no
live switch at either end, or crosses a cut, when it is sent is dropped; receivers drop
what arrives while they are down. Replication streams are ordered (like TCP): a message
on an ordered channel never overtakes the one sent before it.

Inside a data centre, hosts can be split apart too (`split`: a set of hosts cut from every
other host, as a node whose cable is pulled or a rack cut off its aggregation switch) and
a host can be slow (`slow`: every message to or from it takes longer, as a congested link).

How a message between two hosts goes (the route: its switches, whether it crosses the WAN,
or that no live path exists) changes only when a switch, a cut or a split does, so the
network works it out for every pair of hosts once and keeps the table until the next such
change; each message then only draws its hops. This is for speed: working the route out on
every message (lists of live switches for a switch pair, the DCs' WAN cut) was a quarter of
a run with switch pairs and a tenth with several data centres.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

from replab.core.calendar import EventCalendar, Handler

# A route in the table: hops on one switch, hops between two switches of one data centre, a
# (dc_a, dc_b) pair for a message across the WAN, or None when no live path exists.
TWO_HOPS, THREE_HOPS = 2, 3


class SwitchStates(list):
    """`Network.switch_up`, one bool a switch: setting one makes the network forget its routes."""

    def __init__(self, count: int, changed: Callable[[], None]):
        super().__init__([True] * count)
        self._changed = changed

    def __setitem__(self, index, up) -> None:
        super().__setitem__(index, up)
        self._changed()


class Network:
    """Hosts (small ints) attached to switches; delivers messages after drawn hop latencies."""

    def __init__(self, calendar: EventCalendar, hop_ms: Callable[[], float], switches: int,
                 switch_dc: list[int] | None = None, wan_ms: Callable[[int, int], float] | None = None):
        self.calendar = calendar
        self._heap, self._ticket = calendar.pusher()  # send schedules its deliveries itself (see EventCalendar.pusher)
        self.hop_ms = hop_ms
        self.switch_up = SwitchStates(switches, self._forget_routes)
        self.switch_dc = list(switch_dc) if switch_dc is not None else [0] * switches
        self.wan_ms = wan_ms
        self.cut: set[tuple[int, int]] = set()  # (a, b) and (b, a): data centres that cannot talk
        self.switch_of: list[int] = []  # each host's first (primary) switch
        self.switches_of: list[tuple[int, ...]] = []  # each host's switches, primary first
        self.splits: list[frozenset[int]] = []  # sides of host partitions: each cut from every host outside it
        self.slow_ms: dict[int, float] = {}  # host -> extra ms on every message to or from it
        self._routes: list[list] | None = None  # _routes[src][dst]; None: to work out again
        # [src][dst]: when the ordered channel src -> dst has delivered all it was given
        # (nested lists rather than a dict keyed by (src, dst): no tuple to build and hash per message)
        self._channel_clear_ms: list[list[float]] = []
        self.messages_sent = 0
        self.messages_dropped = 0

    def attach(self, *switches: int) -> int:
        """A new host on `switches` (primary first); returns its host number."""
        if not switches:
            raise ValueError("a host needs at least one switch")
        self.switch_of.append(switches[0])
        self.switches_of.append(tuple(switches))
        self._routes = None
        for row in self._channel_clear_ms:
            row.append(0.0)
        self._channel_clear_ms.append([0.0] * len(self.switch_of))
        return len(self.switch_of) - 1

    # WAN cuts between data centres ----------------------------------------------------------
    def cut_wan(self, dc_a: int, dc_b: int) -> None:
        """Data centres `dc_a` and `dc_b` can no longer talk."""
        self.cut |= {(dc_a, dc_b), (dc_b, dc_a)}
        self._routes = None

    def restore_wan(self, dc_a: int, dc_b: int) -> None:
        self.cut -= {(dc_a, dc_b), (dc_b, dc_a)}
        self._routes = None

    # host faults inside a data centre ---------------------------------------------------------
    def split(self, hosts) -> frozenset[int]:
        """Cut `hosts` off from every other host (they still reach each other); returns the side."""
        side = frozenset(hosts)
        self.splits.append(side)
        self._routes = None
        return side

    def unsplit(self, side: frozenset[int]) -> None:
        if side in self.splits:
            self.splits.remove(side)
        self._routes = None

    def slow(self, hosts, delay_ms: float) -> None:
        for host in hosts:
            self.slow_ms[host] = delay_ms

    def unslow(self, hosts) -> bool:
        """End the slowness of `hosts` (and nothing else); True if any was slow."""
        return any(self.slow_ms.pop(host, None) is not None for host in list(hosts))

    def heal_hosts(self, hosts) -> bool:
        """Undo every split that cuts off any of `hosts`, and their slowness; True if anything changed."""
        hosts = set(hosts)
        kept = [side for side in self.splits if not side & hosts]
        changed = len(kept) != len(self.splits) or any(h in self.slow_ms for h in hosts)
        self.splits = kept
        for host in hosts:
            self.slow_ms.pop(host, None)
        self._routes = None
        return changed

    def split_apart(self, src: int, dst: int) -> bool:
        return any((src in side) != (dst in side) for side in self.splits)

    def dc_of(self, host: int) -> int:
        return self.switch_dc[self.switch_of[host]]

    # routes ---------------------------------------------------------------------------------
    def _forget_routes(self) -> None:
        self._routes = None

    def _work_out_routes(self) -> list[list]:
        hosts = range(len(self.switches_of))
        self._routes = [[self._route(src, dst) for dst in hosts] for src in hosts]
        return self._routes

    def _route(self, src: int, dst: int):
        """How a message from `src` to `dst` goes now: TWO_HOPS, THREE_HOPS, (dc_a, dc_b) or None.
        A host uses the first of its switches that is up; two hosts sharing a live switch meet there."""
        if self.splits and self.split_apart(src, dst):
            return None
        up = self.switch_up
        mine = [s for s in self.switches_of[src] if up[s]]
        theirs = [s for s in self.switches_of[dst] if up[s]]
        if not mine or not theirs:
            return None
        if any(s in theirs for s in mine):
            return TWO_HOPS
        dc_a, dc_b = self.switch_dc[mine[0]], self.switch_dc[theirs[0]]
        if dc_a == dc_b:
            return THREE_HOPS
        if (dc_a, dc_b) in self.cut or self.wan_ms is None:
            return None
        return dc_a, dc_b

    def latency_ms(self, src: int, dst: int) -> float | None:
        """One draw of the path latency, or None when no live path exists."""
        routes = self._routes
        if routes is None:
            routes = self._work_out_routes()
        route = routes[src][dst]
        hop = self.hop_ms
        if route == THREE_HOPS:
            latency = hop() + hop() + hop()
        elif route == TWO_HOPS:
            latency = hop() + hop()
        elif route is None:
            return None
        else:
            latency = hop() + self.wan_ms(*route) + hop()
        if self.slow_ms:
            return latency + self.slow_ms.get(src, 0.0) + self.slow_ms.get(dst, 0.0)
        return latency

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
        clear_ms = self._channel_clear_ms[src]
        at = now + lat
        if clear_ms[dst] > at:  # at = max(at, clear_ms[dst]), written out: max() is a slow call in Python 3.11
            at = clear_ms[dst]
        clear_ms[dst] = at
        heappush(self._heap, (at, self._ticket(), handler, arg))  # calendar.schedule, inlined
        return True
