"""Failure detection by heartbeats: an observer pings every data node and suspects the silent ones.

Every `interval_ms` the observer sends each node a ping; a node that is up and not paused
answers at once with what it believes (its term, whether it leads, its log length, whom it
follows). A node not heard from for more than `timeout_ms` is suspected; an answer clears
the suspicion. So a crash is noticed between timeout_ms and timeout_ms + interval_ms after
it, and a node that is merely paused or cut off is suspected just the same: the observer
cannot tell slow from dead. Each change is an event ("suspect", "trust") naming the observer.

With a realistic failover policy the model's own controller is `BlindController`: it passes
crashes and recoveries on to the strategy and detects nothing; the strategy's observers do.
"""

from __future__ import annotations

from replab.agents.controller import FailoverController

NEVER = -1e18


class BlindController(FailoverController):
    """The model's controller when heartbeats do the detecting: it only passes faults on."""

    def node_crashed(self, now: float, node) -> None:
        self.model.replication.node_crashed(now, node)

    def node_recovered(self, now: float, node) -> None:
        self.model.replication.node_recovered(now, node)


class HeartbeatDetector:
    """One observer's heartbeat view of the data nodes."""

    def __init__(self, model, name: str, host: int, interval_ms: float, timeout_ms: float):
        self.model = model
        self.name = name
        self.host = host
        self.interval_ms = interval_ms
        self.timeout_ms = timeout_ms
        count = len(model.nodes)
        self.heard_ms = [0.0] * count  # every node is trusted at the start
        self.state: list[tuple | None] = [None] * count  # its last answer: (term, leading, log length, upstream index)
        self.suspected: set[int] = set()

    def ping(self, now: float) -> None:
        for node in self.model.nodes:
            self.model.network.send(now, self.host, node.host, node.deliver, (_answer, self))

    def heard(self, now: float, answer) -> None:
        index, state = answer
        self.heard_ms[index] = now
        self.state[index] = state
        if index in self.suspected:
            self.suspected.discard(index)
            self.model.recorder.event(now, "trust", f"node{index}", f"by {self.name}")

    def review(self, now: float) -> list[int]:
        """Suspect the nodes silent for longer than the time-out; returns the newly suspected."""
        new = [i for i, heard in enumerate(self.heard_ms) if i not in self.suspected and now - heard > self.timeout_ms]
        for index in new:
            self.suspected.add(index)
            self.model.recorder.event(now, "suspect", f"node{index}", f"by {self.name}")
        return new

    def trusted(self) -> list:
        return [n for n in self.model.nodes if n.index not in self.suspected]

    def longest_log(self, besides):
        """The trusted node, other than `besides`, that answered with the longest log (ties: the
        lowest number), or None: whom a promoter picks."""
        state = self.state
        candidates = [n for n in self.trusted() if n is not besides and state[n.index] is not None]
        if not candidates:
            return None
        return max(candidates, key=lambda n: (state[n.index][2], -n.index))


def _answer(now: float, node, detector: HeartbeatDetector) -> None:
    """A ping reached a node (up and running): it answers with what it believes."""
    upstream = node.upstream.index if node.upstream is not None else -1
    state = (node.term, node.role == "leader", len(node.log), upstream)
    node.model.network.send(now, node.host, detector.host, detector.heard, (node.index, state))
