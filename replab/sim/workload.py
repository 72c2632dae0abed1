"""The workload: who sends which operation on which key, and when."""

from __future__ import annotations

from heapq import heappush

from replab.core.codes import NETWORK, TIMEOUT
from replab.core.operation import Op
from replab.core.randomness import key_chooser, sampler, stream, uniform


class Workload:
    """Starts client operations: an open-loop Poisson stream or closed-loop sessions."""

    def __init__(self, model, scenario, key_is_session: bool = False, at_client=None):
        self.model = model
        # clients that coordinate their own operations (Strategy.clients_coordinate): `at_client(now, op)`
        # takes each one instead of the load balancer
        self.at_client = at_client
        w = scenario.workload
        self.closed = w.arrival == "closed"
        self.write_ratio = w.write_ratio
        self.timeout_ms = w.timeout_ms
        self._coin = uniform(stream(scenario.seed, "operations"))
        self._key = key_chooser(w.keys, w.popularity, w.zipf_s, stream(scenario.seed, "keys"))
        self._gap_ms = sampler("exponential", 1000.0 / w.rate_per_s, 0.0, stream(scenario.seed, "arrivals"))
        self._pick_session = uniform(stream(scenario.seed, "sessions"))
        self.sessions = w.sessions
        self.key_is_session = key_is_session  # buddy replication: a session's state is its own key
        self.started = 0
        # For speed, what `send` and `_arrival` use on every operation, looked up once: the
        # model's parts are built before the workload and never replaced.
        self._in_flight = model.in_flight
        self._send = model.network.send
        self._dns = model.dns
        self._apps = model.apps
        if self._dns is None and self._apps is None:  # one DB load balancer, one client host
            self._balancer = model.balancer
            self._client_host = model.client_host
        self._heap, self._tickets = model.calendar.pusher()  # _arrival schedules the next itself
        self._next_arrival = self._arrival  # a bound method made once: one is scheduled per operation
        self._give_up_at = self._give_up

    def begin(self) -> None:
        model = self.model
        if self.closed:
            for session in model.sessions:
                session.think_then_send(0.0)
        else:
            first = self._gap_ms()
            if first < model.duration_ms:
                model.calendar.schedule(first, self._next_arrival, None)

    def _arrival(self, now: float, _) -> None:
        self.send(now, int(self._pick_session() * self.sessions))
        at = now + self._gap_ms()
        if at < self.model.duration_ms:
            heappush(self._heap, (at, next(self._tickets), self._next_arrival, None))  # calendar.schedule, inlined

    def send(self, now: float, session: int, chosen: tuple[bool, int] | None = None) -> None:
        """Session `session` starts one operation now: it goes to the load balancer (or its
        client coordinates it).
        `chosen` = (is_write, key) scripts the operation instead of drawing it."""
        self.started = started = self.started + 1
        if chosen is None:
            is_write, key = self._coin() < self.write_ratio, self._key()
        else:
            is_write, key = chosen
        if self.key_is_session:
            key = session
        op = Op(started, session, is_write, key, now)
        self._in_flight[started] = op
        if self.closed:
            heappush(self._heap, (now + self.timeout_ms, next(self._tickets), self._give_up_at, op))  # calendar.schedule, inlined
        if self._dns is not None:  # several data centres: the global DNS says where it goes
            self._dns.send(now, op)
            return
        if self._apps is None:
            op.balancer = balancer = self._balancer
            op.client_host = client_host = self._client_host
        else:  # several application servers, each with its own balancer
            op.balancer, op.client_host = balancer, client_host = self._apps.route(session)
        if self.at_client is not None:
            self.at_client(now, op)  # op.balancer stays set: a time-out tells it, and it ignores an unrouted op
            return
        if not self._send(now, client_host, balancer.host, balancer.on_request, op):
            self.model.fail(now, op, NETWORK)

    def _give_up(self, now: float, op) -> None:
        if not op.done:  # fail's own test, first: the client gives up on few of its operations
            self.model.fail(now, op, TIMEOUT)
