"""Client-driven coordination of leaderless operations (the Dynamo paper's §6.4; the client
libraries of Voldemort and Riak): with quorum.coordinator = 'client' the client coordinates.

A session's client sends a write, or a read request, from its own host straight to the key's
replicas, as a node coordinator would (the same WARS legs, on top of the network path between
the client and each replica), and has its answer when the W-th ack (the R-th response)
reaches it: no hop to the DB load balancer, none from the node it picks to a coordinator, and
none back. It sees the failure detector's view, as the balancer does, so it refuses at once
an operation too few replicas are known alive for (sloppy: too few nodes) and sends a known
down home replica's share to a fallback with a hint; the fallback hands it home node to node.
Its read repairs leave from the client too. A client does not crash: what it coordinates
ends with its answer, or with its time-out when messages are lost.

Versions: the timestamp is the client's send time (clocks agree in simulated time). The
vector clock cannot count writes per node, as node coordinators' clocks do: a client that
bumped a replica's count without asking that replica would give two writes the same count,
and a later version would then cover one it never saw. So a clock counts each *session's*
writes (Riak's client-id vector clocks before vnode clocks; a dict session -> count): a
session's write takes what the session has seen of the key (its own writes and the versions
its reads returned) and adds one to its own count. Two sessions writing blind are concurrent
(siblings, or with last-writer-wins one is a lost update); a session that reads the key and
writes it again supersedes what it read.

The frames say "client" where the client stood: the deliveries frame's sender (its writes
and read repairs; the replicas' acks go back to it), and leave empty the requests frame's
node and the writes frame's leader (no node coordinated), and the applies frame's sender.
"""

from __future__ import annotations

from replab.core.recorder import CLIENT


class SessionClient:
    """One session's client as a coordinator: where it sends from, and what it has seen."""

    __slots__ = ("session", "host", "context")
    index = CLIENT  # where a node coordinator's index is recorded ("client" in the frames)
    up = True  # a client does not crash
    incarnation = 0

    def __init__(self, session: int, host: int):
        self.session = session
        self.host = host  # its client host on the network
        self.context: dict[int, dict] = {}  # key -> vector clock of what the session has seen

    def stamp(self, key: int) -> dict:
        """The vector clock of the session's next write of `key`: what it has seen, plus one
        write of its own (remembered: its next write has seen this one)."""
        known = self.context.get(key) or {}
        vector = self.context[key] = {**known, self.session: known.get(self.session, 0) + 1}
        return vector

    def __repr__(self) -> str:
        return f"SessionClient(session {self.session})"


def is_client(coordinator) -> bool:
    return coordinator.index == CLIENT


__all__ = ["SessionClient", "is_client"]
