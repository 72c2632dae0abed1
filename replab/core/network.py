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

from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import Any

from replab.core.calendar import EventCalendar, Handler

# A route in the table: hops on one switch, hops between two switches of one data centre, a
# (dc_a, dc_b) pair for a message across the WAN, or None when no live path exists.
TWO_HOPS, THREE_HOPS = 2, 3


class SwitchStates(list):
    """`Network.switch_up`, one bool a switch: setting one tells each of `listeners` (the
    network, which forgets its routes; whatever else keeps state derived from switches)."""

    def __init__(self, count: int, changed: Callable[[], None]):
        super().__init__([True] * count)
        self.listeners = [changed]

    def __setitem__(self, index, up) -> None:
        super().__setitem__(index, up)
        for changed in self.listeners:
            changed()


class Network:
    """Hosts (small ints) attached to switches; delivers messages after drawn hop latencies."""

    def __init__(self, calendar: EventCalendar, hop_ms: Callable[[], float], switches: int,
                 switch_dc: list[int] | None = None, wan_ms: Callable[[int, int], float] | None = None):
        self.calendar = calendar
        self._heap, self._tickets = calendar.pusher()  # send schedules its deliveries itself (see EventCalendar.pusher)
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
        # [src][dst]: messages waiting off the calendar on a busy ordered channel (see send_ordered)
        self._in_channel: list[list[deque | None]] = []
        self._off_channel = self._next_off_channel  # a bound method made once: one is pushed per queued message
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
        for row in self._in_channel:
            row.append(None)
        self._in_channel.append([None] * len(self.switch_of))
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

    # send and send_ordered carry every message of a run (~2.6 per client request). Both ask
    # latency_ms: copying it into each saved 1.6 % of a run, not worth two copies of the routes.
    def send(self, now: float, src: int, dst: int, handler: Handler, arg: Any) -> bool:
        """Deliver `arg` to `handler` after the path latency; False when dropped on the way."""
        self.messages_sent += 1
        lat = self.latency_ms(src, dst)
        if lat is None:
            self.messages_dropped += 1
            return False
        heappush(self._heap, (now + lat, next(self._tickets), handler, arg))  # calendar.schedule, inlined
        return True

    def send_ordered(self, now: float, src: int, dst: int, handler: Handler, arg: Any) -> bool:
        """Like `send`, but never delivered before an earlier message on the same channel."""
        self.messages_sent += 1
        lat = self.latency_ms(src, dst)
        if lat is None:
            self.messages_dropped += 1
            return False
        clear_ms = self._channel_clear_ms[src]
        last_ms = clear_ms[dst]  # when the message sent before this one on the channel is due
        at = now + lat
        if last_ms > at:  # at = max(at, last_ms), written out: max() is a slow call in Python 3.11
            at = last_ms
        clear_ms[dst] = at
        heap = self._heap
        # Everything sent earlier on this channel has been delivered when it was due before the
        # calendar's next event (anything still on its way is on the calendar, or queued behind
        # something that is): then this message goes on the calendar itself.
        if not heap or last_ms < heap[0][0]:
            heappush(heap, (at, next(self._tickets), handler, arg))  # calendar.schedule, inlined
            return True
        # A channel delivers in the order it was given (its times never decrease), so while it is
        # busy only its next message needs to be on the calendar: the others wait in the channel's
        # queue, each with the ticket it got when sent, so ties run exactly as if all were on the
        # calendar. This is for speed: a sender whose link is saturated has thousands of messages
        # on their way, and a calendar that big made every event dearer (a quarter of a run with
        # 8 followers).
        queue = self._in_channel[src][dst]
        if queue:  # the channel's next message is on the calendar: this one waits its turn
            queue.append((at, next(self._tickets), handler, arg))
            return True
        if queue is None:
            queue = self._in_channel[src][dst] = deque()
        ticket = next(self._tickets)
        queue.append((at, ticket, handler, arg))
        heappush(heap, (at, ticket, self._off_channel, queue))  # calendar.schedule, inlined
        return True

    def _next_off_channel(self, now: float, queue: deque) -> None:
        """Deliver the first message queued on an ordered channel and put the next on the calendar."""
        _, _, handler, arg = queue.popleft()
        if queue:
            at, ticket, _, _ = queue[0]
            heappush(self._heap, (at, ticket, self._off_channel, queue))
        handler(now, arg)
