"""The quorum policy: a sentinel beside every data node, as Redis Sentinel does it.

Each sentinel runs on its node's machine (a partition that cuts the node off cuts its
sentinel off too; a crash or a pause of the database leaves it running) and pings every
node. Every heartbeat_ms it tells the other sentinels what it believes: the configuration
(epoch, leader) and whether it suspects that leader (subjectively down). When
failover.quorum sentinels, itself included, have lately said so, the leader is objectively
down and the sentinel asks the others to elect it for a new epoch; each votes for the first
sentinel that asks in an epoch. With a majority of all the sentinels (and at least the
quorum) it waits failover.promotion_ms, then promotes the live follower with the longest
log, with the epoch as its term. A sentinel that stood, or voted for another, leaves the
failover to the winner for twice (failover.timeout_ms + failover.promotion_ms), and the
first attempt waits a random part of a time-out, so two rarely stand at once. So a minority side of a partition can
never fail over, and a two-node system cannot fail over once one machine is cut off: one
sentinel of two is no majority.

Sentinels adopt any configuration with a newer epoch they hear of, repeat theirs to the
balancers (who route by the newest epoch they have heard, when fenced) and tell every node
they can reach that disagrees whom to follow (unfenced: never a node that believes it leads).
"""

from __future__ import annotations

from replab.agents.detector import HeartbeatDetector
from replab.core.randomness import stream, uniform
from replab.replication.policy import Policy


class Sentinel:
    """One sentinel: a heartbeat detector, a view of the configuration, and its votes."""

    def __init__(self, group, index: int, host: int):
        model = group.model
        failover = model.scenario.failover
        self.group = group
        self.index = index
        self.name = f"sentinel{index}"
        self.host = host
        self.detector = HeartbeatDetector(model, self.name, host, failover.heartbeat_ms, failover.timeout_ms)
        self.epoch = 1  # the newest epoch it knows of (votes are per epoch)
        self.config = (1, model.leader)  # (epoch, leader) of the configuration it believes
        self.voted: dict[int, int] = {}  # epoch -> the sentinel it voted for
        self.votes: dict[int, set[int]] = {}
        self.opinions: dict[int, tuple[float, int, bool]] = {}  # sentinel -> (heard_ms, leader index, leader down)
        self.next_attempt_ms = 0.0
        self.won = 0  # the newest epoch it was elected in
        self.replacing = -1  # the leader it stood to replace
        self.objectively_down = False

    @property
    def leader(self):
        return self.config[1]


class Sentinels(Policy):
    """The quorum policy over one model: a sentinel per node."""

    @classmethod
    def work_per_heartbeat(cls, nodes: int) -> float:
        """Every sentinel pings every node and greets every other sentinel: measured 6-9
        events' worth per node squared (3 and 9 nodes, two passes: benchmarks/size_estimate.py)."""
        return 12.0 * nodes * nodes

    def __init__(self, strategy):
        super().__init__(strategy)
        model, failover = self.model, self.failover
        self.interval_ms = failover.heartbeat_ms
        self.timeout_ms = failover.timeout_ms
        self.promotion_ms = failover.promotion_ms
        self.quorum = failover.quorum
        self.sentinels = []
        for node in model.nodes:
            host = model.network.attach(*model.network.switches_of[node.host])
            model.machines[node.name].append(host)
            self.sentinels.append(Sentinel(self, node.index, host))
        self.majority = len(self.sentinels) // 2 + 1
        # after standing, or voting for another, a sentinel leaves the failover to the winner this long
        self.backoff_ms = 2 * (self.timeout_ms + self.promotion_ms)
        self._jitter = uniform(stream(model.scenario.seed, "sentinel"))

    # the policy's hooks -------------------------------------------------------------------
    def attach(self) -> None:
        self.model.calendar.schedule(0.0, self._tick, None)

    # every heartbeat ------------------------------------------------------------------------
    def _tick(self, now: float, _) -> None:
        for sentinel in self.sentinels:
            self._watch(now, sentinel)
        self.model.calendar.schedule(now + self.interval_ms, self._tick, None)

    def _watch(self, now: float, sentinel: Sentinel) -> None:
        detector = sentinel.detector
        detector.ping(now)
        detector.review(now)
        leader = sentinel.leader
        down = leader.index in detector.suspected
        for other in self.sentinels:
            if other is not sentinel:
                self._send(now, sentinel, other, _hello, (sentinel.index, sentinel.config, down))
        agreeing = 1 + sum(1 for heard, about, says in sentinel.opinions.values()
                           if says and about == leader.index and now - heard <= self.timeout_ms)
        odown = down and agreeing >= self.quorum
        if odown and not sentinel.objectively_down:
            # each waits a random part of a time-out first, so they rarely all stand at once
            sentinel.next_attempt_ms = max(sentinel.next_attempt_ms, now + self.timeout_ms * self._jitter())
        sentinel.objectively_down = odown
        if odown and now >= sentinel.next_attempt_ms:
            self._stand(now, sentinel)
        self._repeat(now, sentinel)

    def _stand(self, now: float, sentinel: Sentinel) -> None:
        """Ask every sentinel to elect this one to fail the leader over, in a new epoch."""
        sentinel.epoch += 1
        epoch = sentinel.epoch
        sentinel.voted[epoch] = sentinel.index
        sentinel.votes[epoch] = {sentinel.index}
        sentinel.replacing = sentinel.leader.index
        sentinel.next_attempt_ms = now + self.backoff_ms * (1.0 + self._jitter())
        self.model.recorder.event(now, "election", sentinel.name, f"epoch {epoch}: {sentinel.leader.name} is down")
        for other in self.sentinels:
            if other is not sentinel:
                self._send(now, sentinel, other, _vote_request, (sentinel.index, epoch))
        self._count(now, sentinel, epoch)

    def _count(self, now: float, sentinel: Sentinel, epoch: int) -> None:
        votes = sentinel.votes.get(epoch, ())
        if len(votes) >= max(self.majority, self.quorum) and sentinel.won < epoch:
            sentinel.won = epoch
            self.model.calendar.schedule(now + self.promotion_ms, self._fail_over, (sentinel, epoch))

    def _fail_over(self, now: float, job) -> None:
        sentinel, epoch = job
        if sentinel.config[0] >= epoch:
            return  # a configuration as new arrived meanwhile
        detector, old = sentinel.detector, sentinel.leader
        if old.index != sentinel.replacing or old.index not in detector.suspected:
            return  # the leader it stood to replace has changed, or answers again
        new = detector.longest_log(besides=old)
        if new is None:
            return  # nobody to promote: another attempt comes after next_attempt_ms
        if self.strategy.stonith:
            self.strategy.power_off(now, old)
        sentinel.config = (epoch, new)
        self.model.recorder.event(now, "failover", sentinel.name, f"epoch {epoch}: promotes {new.name}")
        self._send_node(now, sentinel, new, tell_lead, (epoch, sentinel.name))
        self._repeat(now, sentinel)

    def _repeat(self, now: float, sentinel: Sentinel) -> None:
        """The balancers hear the configuration; nodes that disagree with it are told."""
        strategy, detector = self.strategy, sentinel.detector
        epoch, leader = sentinel.config
        trusted = detector.trusted()
        strategy.announce(now, sentinel.host, epoch, leader, trusted)
        for node in trusted:
            state = detector.state[node.index]
            if state is None:
                continue
            term, leading, _length, upstream = state
            if node is leader:
                if not leading or term < epoch:
                    self._send_node(now, sentinel, node, tell_lead, (epoch, sentinel.name))
            elif (leading and strategy.fenced) or (not leading and (upstream != leader.index or term < epoch)):
                self._send_node(now, sentinel, node, tell_follow, (epoch, leader))

    # messages between sentinels ---------------------------------------------------------------
    def _send(self, now: float, sentinel: Sentinel, other: Sentinel, handler, arg) -> None:
        self.model.network.send(now, sentinel.host, other.host, handler, (self, other, arg))

    def _send_node(self, now: float, sentinel: Sentinel, node, handler, arg) -> None:
        self.model.network.send(now, sentinel.host, node.host, node.deliver, (handler, arg))

    def heard_hello(self, now: float, sentinel: Sentinel, message) -> None:
        sender, config, down = message
        sentinel.opinions[sender] = (now, config[1].index, down)
        if config[0] > sentinel.config[0]:
            sentinel.config = config
            sentinel.epoch = max(sentinel.epoch, config[0])

    def vote_requested(self, now: float, sentinel: Sentinel, message) -> None:
        candidate, epoch = message
        if epoch < sentinel.epoch:
            return
        sentinel.epoch = max(sentinel.epoch, epoch)
        vote = sentinel.voted.setdefault(epoch, candidate)  # the first to ask in an epoch gets the vote
        if vote == candidate:
            sentinel.next_attempt_ms = max(sentinel.next_attempt_ms, now + self.backoff_ms)
            self._send(now, sentinel, self.sentinels[candidate], _vote_granted, (sentinel.index, epoch))

    def vote_granted(self, now: float, sentinel: Sentinel, message) -> None:
        voter, epoch = message
        sentinel.votes.setdefault(epoch, set()).add(voter)
        self._count(now, sentinel, epoch)


def _hello(now: float, message) -> None:
    group, sentinel, arg = message
    group.heard_hello(now, sentinel, arg)


def _vote_request(now: float, message) -> None:
    group, sentinel, arg = message
    group.vote_requested(now, sentinel, arg)


def _vote_granted(now: float, message) -> None:
    group, sentinel, arg = message
    group.vote_granted(now, sentinel, arg)


def tell_lead(now: float, node, job) -> None:
    term, by = job
    node.model.replication.promote(now, node, term, by)


def tell_follow(now: float, node, job) -> None:
    term, leader = job
    node.model.replication.configure(now, node, term, leader)
