"""A data node that keeps its own log and knows terms: the node of the realistic failover model.

Each node keeps its own copy of the log (entries shared with the others by identity: the
same write is the same object on every node that has it), the newest term it knows of and
whether it believes it leads. Two nodes can believe they lead at once (split brain), and
their logs then differ past the point where they parted; when one rejoins the other, it
cuts its log back to the common part and the writes cut are *discarded* (recorded, so the
damage is counted from the history: replab.replication.terms).

Every protocol message and timer reaches the node through `deliver`: a down node hears
nothing, a paused one hears it when it resumes.
"""

from __future__ import annotations

from replab.agents.node import DataNode


class TermNode(DataNode):
    """A data node with its own log, a term and a belief about who leads."""

    def __init__(self, model, *args):
        super().__init__(model, *args)
        self.log: list = []  # its copy of the log; entry i has index i
        self.upstream = None  # the node it replicates from (who it believes leads); None when it leads
        self.matched = 0  # how many first entries are known to agree with the upstream's log
        self.voted_for: dict[int, int] = {}  # consensus: term -> the node it voted for (kept across crashes)
        self.heard_leader_ms = -1e18  # when a leader (or a candidate it voted for) last reached it
        self.election_due_ms = 0.0  # consensus: when it stands for election if no leader reaches it
        self.candidate = False
        self.ballot = 0  # consensus: the term it asks (pre-)votes for
        self.stood_ms = 0.0  # consensus: when it last stood for election
        self.votes: set[int] = set()
        self.lease_until_ms = 0.0  # consensus leader: it may serve until then without hearing a majority
        self.peers: dict[int, list] = {}  # as a leader: follower -> [next_index, received, applied, contact_ms, acked_sent_ms]
        self.degraded = False  # semi-sync fell back to async
        self.pending: list = []  # as a leader: entries whose client waits for receipts, in log order
        self.ticks = 0  # the current chain of periodic timers (an older chain dies)

    @property
    def leading(self) -> bool:
        return self.role == "leader"

    # messages and timers ---------------------------------------------------------------------
    def deliver(self, now: float, message) -> None:
        """A message or timer `(handler, arg)` for this node: `handler(now, node, arg)`."""
        if not self.up:
            return
        if self.paused:
            self.hold(self.deliver, message)
            return
        handler, arg = message
        handler(now, self, arg)

    def _read_done(self, now: float, op) -> None:
        if self.leading and not self.paused and op.incarnation == self.incarnation:
            self.model.replication.check_lease(now, self)  # a leader whose lease ran out serves as a follower
        super()._read_done(now, op)

    def _apply_done(self, now: float, job) -> None:
        if self.paused:
            self.hold(self._apply_done, job)
            return
        entry = job[0]
        if job[1] == self.incarnation and (entry.index >= len(self.log) or self.log[entry.index] is not entry):
            self.applying -= 1  # cut from the log while it was being applied: nothing to install
            self._next_job(now)
            return
        super()._apply_done(now, job)

    # the log -----------------------------------------------------------------------------------
    def cut_log(self, keep: int) -> list:
        """Cut the log back to its first `keep` entries; returns the entries cut."""
        cut = self.log[keep:]
        if not cut:
            return cut
        self.rewind(self.log, keep)
        del self.log[keep:]
        self.received = len(self.log)
        self.matched = min(self.matched, keep)
        self.apply_queue = type(self.apply_queue)(job for job in self.apply_queue if job[1].index < keep)
        return cut

    def last(self):
        return self.log[-1] if self.log else None
