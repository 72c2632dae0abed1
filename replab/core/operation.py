"""One client operation in flight: what a session sent, where it went, how far it got."""

from __future__ import annotations

NAN = float("nan")


class Op:
    """One client operation in flight (a read or a write of one key)."""

    __slots__ = ("id", "session", "is_write", "key", "start", "node", "incarnation", "done", "arrived", "answered",
                 "dc", "balancer", "client_host")

    def __init__(self, op_id: int, session: int, is_write: bool, key: int, start: float):
        self.id = op_id
        self.session = session
        self.is_write = is_write
        self.key = key
        self.start = start
        self.node = -1  # index of the data node it was routed to, -1 before routing
        self.incarnation = -1  # the node's incarnation when service started
        self.done = False
        self.arrived = NAN  # when it reached the node (or the balancer that refused it)
        self.answered = NAN  # when that node or balancer sent the answer
        # where it came in and goes back through: the DB load balancer (with several data
        # centres: the answered DC's) and the host of the clients (their region's); set when sent
        self.dc = -1
        self.balancer = None
        self.client_host = -1
