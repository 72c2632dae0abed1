"""Promotion decided by observers that watch the nodes by heartbeats: naive, manual and quorum.

naive    One controller, on a host of its own beside the balancers, pings every node. When
         it suspects the leader it puts the balancers in read-only mode, waits
         failover.promotion_ms, and promotes the live follower with the longest log in a new
         term: it tells that node to lead, the others to follow it, and the balancers who
         leads. It cannot tell a dead leader from a paused or cut-off one: a leader that is
         merely slow is replaced (a needless failover) and, if it can still take writes from
         clients that reach it, two leaders take writes at once (split brain).
manual   The same controller pages an operator instead. failover.operator_ms later the
         operator provisions the follower with the longest log as the new leader: copying its
         data (failover.copy_ms_per_key per stored key) and replaying the entries it has
         received but not applied (service.apply.mean_ms each). If by then the leader answers
         again, the operator stands down. Slow, and not immune to a partition either.
quorum   A sentinel beside every node (replab.replication.sentinel).

Every heartbeat_ms the controller also repeats what it believes to the balancers and to
every node it can reach that disagrees (a node that missed the promotion while cut off
learns of it when the partition heals), except that, unfenced (failover.fencing = 'none'),
it never tells a node that believes it leads to follow: nothing stops a deposed leader.
With 'stonith' it powers the old leader off before promoting (it reboots as a follower
failover.reboot_ms later).
"""

from __future__ import annotations

from replab.agents.detector import HeartbeatDetector
from replab.replication.policy import Policy
from replab.replication.sentinel import Sentinels, tell_follow, tell_lead


class Controller(Policy):
    """The naive policy: one observer decides alone."""

    name = "controller"

    def __init__(self, strategy):
        super().__init__(strategy)
        model, failover = self.model, self.failover
        self.host = model.network.attach(*model.switch_layout.balancer)
        model.machines["controller"] = [self.host]
        self.interval_ms = failover.heartbeat_ms
        self.detector = HeartbeatDetector(model, self.name, self.host, failover.heartbeat_ms, failover.timeout_ms)
        self.promotion_ms = failover.promotion_ms
        self.leader = model.leader
        self.term = 1
        self.read_only = False
        self._round = 0  # a decision scheduled for an older round is void

    # the policy's hooks (the nodes' own timers have nothing to do with this policy) -----------
    def attach(self) -> None:
        self.model.calendar.schedule(0.0, self._tick, None)

    # watching -------------------------------------------------------------------------------
    def _tick(self, now: float, _) -> None:
        detector = self.detector
        detector.ping(now)
        detector.review(now)
        leader_silent = self.leader.index in detector.suspected
        if leader_silent and not self.read_only:
            self.read_only = True
            self._round += 1
            self.model.recorder.event(now, "read-only", "balancer", f"{self.name} suspects {self.leader.name}")
            self._leader_gone(now, self._round)
        elif not leader_silent and self.read_only:
            self._back_to_leader(now)
        self._repeat(now)
        self.model.calendar.schedule(now + self.interval_ms, self._tick, None)

    def _leader_gone(self, now: float, round_: int) -> None:
        self.model.calendar.schedule(now + self.promotion_ms, self._decide, round_)

    def _back_to_leader(self, now: float) -> None:
        """The leader answers again before anyone replaced it: writes go to it again."""
        self.read_only = False
        self._round += 1
        self.model.recorder.event(now, "writable", "balancer", f"{self.name}: {self.leader.name} answers again")

    def _decide(self, now: float, round_: int) -> None:
        if round_ != self._round:
            return
        new = self._candidate()
        if new is None:  # nobody to promote yet: try again at the next heartbeat
            self.model.calendar.schedule(now + self.interval_ms, self._decide, round_)
            return
        self.promote(now, new)

    def _candidate(self):
        """The trusted follower with the longest log (ties: the lowest number)."""
        return self.detector.longest_log(besides=self.leader)

    def promote(self, now: float, new) -> None:
        strategy, old = self.strategy, self.leader
        known = [state[0] for state in self.detector.state if state is not None]
        self.term = max([self.term, *known]) + 1
        if strategy.stonith:
            strategy.power_off(now, old)
        self.leader, self.read_only = new, False
        self._round += 1
        self.model.recorder.event(now, "writable", "balancer", f"{self.name} promotes {new.name} (term {self.term})")
        self._send(now, new, tell_lead, (self.term, self.name))
        self._repeat(now)

    # keeping everyone told -------------------------------------------------------------------
    def _repeat(self, now: float) -> None:
        """Tell the balancers who leads (nobody, while read-only), and every reachable node that
        disagrees whom to follow."""
        detector, strategy = self.detector, self.strategy
        trusted = detector.trusted()
        strategy.announce(now, self.host, self.term, None if self.read_only else self.leader, trusted)
        for node in trusted:
            state = detector.state[node.index]
            if state is None:
                continue
            term, leading, _length, upstream = state
            if node is self.leader:
                if not leading or term < self.term:
                    self._send(now, node, tell_lead, (self.term, self.name))
            elif (leading and strategy.fenced) or (not leading and (upstream != self.leader.index or term < self.term)):
                self._send(now, node, tell_follow, (self.term, self.leader))

    def _send(self, now: float, node, handler, arg) -> None:
        self.model.network.send(now, self.host, node.host, node.deliver, (handler, arg))


class Operator(Controller):
    """The manual policy: the controller pages a person, who provisions a new leader."""

    def __init__(self, strategy):
        super().__init__(strategy)
        failover = self.model.scenario.failover
        self.operator_ms = failover.operator_ms
        self.copy_ms_per_key = failover.copy_ms_per_key
        self.apply_ms = self.model.scenario.service.apply.mean_ms

    def _leader_gone(self, now: float, round_: int) -> None:
        self.model.recorder.event(now, "page", "operator", f"{self.leader.name} suspected")
        self.model.calendar.schedule(now + self.operator_ms, self._provision, round_)

    def _provision(self, now: float, round_: int) -> None:
        if round_ != self._round:
            return
        new = self._candidate()
        if new is None:
            self.model.calendar.schedule(now + self.interval_ms, self._provision, round_)
            return
        copy_ms = len(new.store) * self.copy_ms_per_key
        replay_ms = max(0, len(new.log) - new.applied) * self.apply_ms
        self.model.recorder.event(now, "provision", new.name, f"copy {len(new.store)} keys ({copy_ms:g} ms), "
                                  f"replay {len(new.log) - new.applied} entries ({replay_ms:g} ms)")
        self.model.calendar.schedule(now + copy_ms + replay_ms, self._provisioned, (round_, new))

    def _provisioned(self, now: float, job) -> None:
        round_, new = job
        if round_ == self._round and self.leader.index in self.detector.suspected:
            self.promote(now, new)  # the operator checks the old leader is still gone first


POLICY_CLASSES = {"naive": Controller, "manual": Operator, "quorum": Sentinels}
