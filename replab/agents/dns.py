"""The global DNS load balancer: answers each session with a data centre, by policy and health.

Every `dns.health_interval_ms` it probes every DC; `dns.health_threshold` failed probes in
a row mark a DC down ("health-check failed", then "dns-down" events), one answered probe
marks it up again ("dns-up"). A lookup answers among the DCs marked up (all of them when
none is): the region's nearest, one drawn by `dns.weights`, or the first of
`dns.failover_order`. With `sessions.sticky_dc` a session's cookie names the DC it first
used, and the balancer answers that DC while it is marked up.

Sessions cache their answer for the TTL (with `dns.warm_caches`, each starts with one of a
random age, as in a steady state); a share of them (`dns.ignore_ttl_share`, drawn per
session) sit behind resolvers that keep it `dns.ignore_ttl_extra_ms` longer. An operation
that starts with no valid cached answer first pays a lookup (`dns.lookup_ms`), then goes to
the answered DC's load balancer; one that starts with a cached answer goes at once, dead DC
or not.
"""

from __future__ import annotations

import mesa

from replab.core.codes import NETWORK
from replab.core.randomness import stream, uniform
from replab.topology.datacentres import nearest_order


class GlobalDNS(mesa.Agent):
    """Health-checks the DCs and tells each session which DC to use."""

    def __init__(self, model: mesa.Model, dcs, balancers: list, region_hosts: list[int], scenario):
        super().__init__(model)
        self.name = "dns"
        self.dcs = dcs
        self.balancers = balancers
        self.region_hosts = region_hosts
        dns = scenario.dns
        self.policy = dns.policy
        self.ttl_ms = dns.ttl_ms
        self.lookup_ms = dns.lookup_ms
        self.interval_ms = dns.health_interval_ms
        self.threshold = dns.health_threshold
        self.sticky = scenario.sessions.sticky_dc
        count = dcs.count
        weights = dns.weights or (1.0,) * count
        self._weights = [w / sum(weights) for w in weights]
        self._order = list(dns.failover_order) or list(range(count))
        self._nearest = [nearest_order(dcs.wan_mean_ms, r) for r in range(count)]
        self._pick = uniform(stream(scenario.seed, "dns"))
        sessions = scenario.workload.sessions
        resolver = uniform(stream(scenario.seed, "dns.resolvers"))
        extra = dns.ignore_ttl_extra_ms
        self.keep_ms = [self.ttl_ms + (extra if resolver() < dns.ignore_ttl_share else 0.0) for _ in range(sessions)]
        self.marked_up = [True] * count
        self._failures = [0] * count
        self.cached_dc = [-1] * sessions
        self.expires_ms = [0.0] * sessions
        self.pinned = [-1] * sessions
        # For speed, what `send` uses on every operation, worked out or looked up once:
        # each session's region and its clients' host, the recorder's and network's methods
        self._region = [session % count for session in range(sessions)]
        self._client_host = [region_hosts[region] for region in self._region]
        self._route = model.recorder.route
        self._send = model.network.send
        if dns.warm_caches:
            age = uniform(stream(scenario.seed, "dns.cache_age"))
            for session in range(sessions):
                self.cached_dc[session] = self.answer(session)
                self.expires_ms[session] = age() * self.keep_ms[session]
                if self.sticky:
                    self.pinned[session] = self.cached_dc[session]

    def begin(self) -> None:
        if self.interval_ms < self.model.end_ms:
            self.model.calendar.schedule(self.interval_ms, self._health_checks, None)

    # health checks -------------------------------------------------------------------------
    def _health_checks(self, now: float, _) -> None:
        record = self.model.recorder.event
        for dc in range(self.dcs.count):
            name = f"dc{dc}"
            if self.dcs.answers_health_check(dc):
                self._failures[dc] = 0
                if not self.marked_up[dc]:
                    self.marked_up[dc] = True
                    record(now, "dns-up", name, "answered a health check")
            elif self.marked_up[dc]:
                self._failures[dc] += 1
                record(now, "health-check-failed", name, f"{self._failures[dc]} of {self.threshold}")
                if self._failures[dc] >= self.threshold:
                    self.marked_up[dc] = False
                    record(now, "dns-down", name, "no longer answered")
        if now + self.interval_ms < self.model.end_ms:
            self.model.calendar.schedule(now + self.interval_ms, self._health_checks, None)

    # answering -----------------------------------------------------------------------------
    def answer(self, session: int) -> int:
        """The DC a lookup by `session` gets now."""
        up = self.marked_up
        if self.sticky and self.pinned[session] >= 0 and up[self.pinned[session]]:
            return self.pinned[session]
        if not any(up):
            up = [True] * len(up)  # nothing passes its checks: answer as if all did
        if self.policy == "nearest":
            return next(d for d in self._nearest[session % len(up)] if up[d])
        if self.policy == "failover":
            return next(d for d in self._order if up[d])
        total = sum(w for d, w in enumerate(self._weights) if up[d])
        if total <= 0:  # only zero-weight DCs are up: share among them equally
            live = [d for d in range(len(up)) if up[d]]
            return live[int(self._pick() * len(live))]
        point = self._pick() * total
        for d, w in enumerate(self._weights):
            if up[d] and w > 0:
                point -= w
                if point < 0:
                    return d
        return max(d for d in range(len(up)) if up[d] and self._weights[d] > 0)

    def send(self, now: float, op) -> None:
        """Session `op.session` starts `op`: use the cached answer or look one up, then send."""
        session = op.session
        if now >= self.expires_ms[session]:
            dc = self.answer(session)
            self.cached_dc[session] = dc
            self.expires_ms[session] = now + self.keep_ms[session]
            if self.sticky:
                self.pinned[session] = dc
            op.dc = dc
            op.balancer = self.balancers[dc]
            op.client_host = self._client_host[session]
            self._route(dc, True)
            if self.lookup_ms > 0:
                self.model.calendar.schedule(now + self.lookup_ms, self._depart, op)
            else:
                self._depart(now, op)
            return
        # A cached answer (most operations): _depart(now, op), inlined, without its test of
        # op.done (the operation has only just started)
        dc = self.cached_dc[session]
        op.dc = dc
        op.balancer = balancer = self.balancers[dc]
        op.client_host = client_host = self._client_host[session]
        self._route(dc, False)
        reach = self.dcs.reach_now  # dcs.reach() while it holds, without the call
        if reach is None:
            reach = self.dcs.reach()
        if not reach[self._region[session]][dc]:
            self.model.recorder.routed_to_dead_dc(op.id)
        if not self._send(now, client_host, balancer.host, balancer.on_request, op):
            self.model.fail(now, op, NETWORK)

    def _depart(self, now: float, op) -> None:
        if op.done:
            return  # the client gave up during the lookup
        if not self.dcs.reach()[self._region[op.session]][op.dc]:
            self.model.recorder.routed_to_dead_dc(op.id)
        balancer = op.balancer
        if not self._send(now, op.client_host, balancer.host, balancer.on_request, op):
            self.model.fail(now, op, NETWORK)
