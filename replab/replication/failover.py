"""Failover of a leader-follower system: read-only mode, then the promotion of a follower.

When the failure detector declares the leader dead the DB load balancer refuses writes
(read-only mode). With `failover.promote`, `failover.promotion_ms` later the most up-to-date
live follower (most entries received; ties to the lowest index) becomes leader in a new
term, the log is cut at its position, the other followers follow it, and writes flow again.
With promotion disabled the system stays read-only until the old leader returns. A leader
back before anyone replaced it cancels the pending promotion; if no follower was alive to
promote, the first one to return is promoted at once.
"""

from __future__ import annotations


class Failover:
    """Promotes a follower when a leader-follower system's leader is declared dead."""

    def __init__(self, strategy, settings):
        self.strategy = strategy
        self.model = strategy.model
        self.promote_enabled = settings.promote
        self.promotion_ms = settings.promotion_ms
        self._round = 0  # a pending promotion is void once this moves on
        self._awaiting_candidate = False

    def leader_dead(self, now: float) -> None:
        self.model.controller.enter_read_only(now)
        if self.promote_enabled:
            self._round += 1
            self.model.calendar.schedule(now + self.promotion_ms, self._promote, self._round)

    def leader_back(self, now: float) -> None:
        """The leader is back before anyone replaced it: cancel any pending promotion."""
        self._round += 1
        self._awaiting_candidate = False
        self.model.controller.leave_read_only(now)

    def candidate_back(self, now: float) -> None:
        """A follower is back: promote it if the promotion was waiting for anyone alive."""
        if self._awaiting_candidate:
            self._promote(now, self._round)

    def _promote(self, now: float, promotion_round: int) -> None:
        if promotion_round != self._round:
            return
        model, strategy = self.model, self.strategy
        known_down = model.controller.known_down
        old = model.leader
        candidates = [n for n in model.nodes if n is not old and n.up and n.index not in known_down]
        if not candidates:
            self._awaiting_candidate = True
            return
        self._awaiting_candidate = False
        new = max(candidates, key=lambda n: (n.received, -n.index))
        model.term += 1
        lost = strategy.cut_log(now, new, old)
        old.role, new.role = "follower", "leader"
        model.leader = new
        new.term = new.synced_term = model.term
        model.recorder.event(now, "promote", new.name, f"term {model.term}; {lost} log entries lost")
        for node in candidates:
            if node is not new:
                strategy.catch_up(node)
        model.controller.leave_read_only(now)
        model.controller.publish(now)
