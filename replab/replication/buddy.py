"""Buddy replication: each session's state lives on its node and is copied to that node's buddies.

Session state (a shopping cart, a login) is kept in the memory of the app node a sticky
load balancer pins the session to, not in a database. Each change of it (a write) is
copied, whole (`state_bytes`), to the node's buddies only, instead of to every node:
- ring: the next `copies` live nodes after it, in node order;
- pairs: its fixed partner (node0-node1, node2-node3, ...), if that one is alive;
- all: every other live node (replicate-to-all, for comparison).
Copies leave over the node's outbound link (`ship_ms` each, shared by all its copies) on
an ordered channel and are installed on arrival (a memory copy; no worker time).

A crash wipes a node's memory: its own sessions and the copies it held for others. When
the death is detected (`failover.detection_ms` later) each of its sessions moves to the
live node holding the newest copy of it (ties: the first buddy in ring order) and goes
on with that copy; if no live node holds one the session starts over, empty, on the next
live node. Writes newer than the copy are lost, with a reason, and the session counts as
having lost state. Then every node whose buddies changed sends its new buddies a full copy
of each session it owns. A node that returns comes back empty; sticky sessions stay where
they are.

Acks: async once the owner has the write; semi-sync(k): k buddies have received it;
sync: every buddy has. A session's state is key = the session's number.
"""

from __future__ import annotations

import math

import numpy as np

from replab.core.codes import ALL_COPIES_DOWN, NODE_DOWN, NOT_COPIED, ON_NO_LIVE_NODE, REFUSED, SERVED, SESSION_MOVED
from replab.core.field import Field, ScenarioError
from replab.replication.base import Entry, Strategy, receipt_completes

LAYOUTS = ("ring", "pairs", "all")


def buddy_indices(node: int, nodes: int, layout: str, copies: int, live: list[int]) -> list[int]:
    """Which of the `live` nodes hold copies of node `node`'s sessions, nearest first."""
    others = sorted((i for i in live if i != node), key=lambda i: (i - node) % nodes)
    if layout == "all":
        return others
    if layout == "pairs":
        return [i for i in others if i == node ^ 1]
    return others[:copies]


class BuddyReplication(Strategy):
    """Copies session state to buddies, moves sessions when their node dies, counts what was lost."""

    kind = "buddy"
    about = "each session's state lives on its sticky node and is copied to that node's buddies (see buddy.*)"
    fields = (
        Field("buddy.nodes", "int", 4, "buddy replication: app nodes holding session state (topology.leaders, topology.followers and replication.reads are not used)", 2, 32),
        Field("buddy.layout", "choice", "ring", "buddy replication: who holds copies of a node's sessions: the next buddy.copies live nodes in a ring, the node's fixed partner (node0-node1, node2-node3, ...), or every other node (replicate-to-all)", choices=LAYOUTS),
        Field("buddy.copies", "int", 1, "buddy replication, ring layout: buddies of each node", 1, 31),
        Field("buddy.state_bytes", "int", 4_096, "buddy replication: size of one session's state; every copy ships all of it, bytes", 1, 10**9),
    )
    summary_doc = {
        "sessions_moved": "buddy replication: sessions moved to another node because theirs died (each session counted once)",
        "sessions_lost_state": "buddy replication: moved sessions whose new node lacked some of their writes (lost with a reason)",
        "state_copies": "buddy replication: session-state copies sent to buddies (each a message of buddy.state_bytes)",
        "state_copy_bytes": "buddy replication: bytes of session state sent to buddies",
        "state_bytes_per_node": "buddy replication: mean session state held in a live node's memory over the timeline samples, bytes",
        "takeover_ms": "buddy replication: mean time from a node's crash to its sessions' take-over by buddies",
    }
    has_leader = False
    key_is_session = True

    def __init__(self, model):
        super().__init__(model)
        scenario = model.scenario
        b = scenario.buddy
        self.nodes = model.nodes
        self.layout = b.layout
        self.copies = b.copies
        self.ack = scenario.replication.ack
        self.semi_sync_k = scenario.replication.semi_sync_k
        self.state_bytes = b.state_bytes
        self.write_ids = 0
        self.owner: dict[int, object] = {}  # session -> the node its state lives on
        self.writes_of: dict[int, list[int]] = {}  # session -> its writes' ids, in commit order
        self.buddies: dict[int, list] = {n.index: [] for n in self.nodes}
        self.copies_sent = 0
        self.moved_sessions: set[int] = set()
        self.sessions_lost_state = 0
        self._awaiting: dict[int, Entry] = {}  # write_id -> entry whose ack waits for buddies

    # declarations ----------------------------------------------------------------------------
    @classmethod
    def check(cls, v) -> None:
        nodes, layout, copies = v["buddy.nodes"], v["buddy.layout"], v["buddy.copies"]
        if v["balancer.policy"] != "sticky":
            raise ScenarioError("balancer.policy", v["balancer.policy"],
                                "must be 'sticky' with replication.kind = 'buddy' (a session's state lives on its node)")
        if v["replication.fanout"]:
            raise ScenarioError("replication.fanout", v["replication.fanout"], "must be 0 with replication.kind = 'buddy'")
        if layout == "ring" and copies > nodes - 1:
            raise ScenarioError("buddy.copies", copies, f"must be at most buddy.nodes - 1 ({nodes - 1}) in a ring")
        if layout == "pairs" and nodes % 2:
            raise ScenarioError("buddy.nodes", nodes, "must be even with buddy.layout = 'pairs'")
        buddies = {"ring": copies, "pairs": 1, "all": nodes - 1}[layout]
        if v["replication.ack"] == "semi-sync" and v["replication.semi_sync_k"] > buddies:
            raise ScenarioError("replication.semi_sync_k", v["replication.semi_sync_k"],
                                f"must be at most the buddies of a node ({buddies}) with semi-sync acks")
        if v["dcs.count"] > 1:
            raise ScenarioError("dcs.count", v["dcs.count"], "must be 1 with replication.kind = 'buddy' (buddies live in one DC)")

    @classmethod
    def node_count(cls, v) -> int:
        return v["buddy.nodes"]

    @classmethod
    def copies_per_write(cls, scenario) -> float:
        nodes = scenario.buddy.nodes
        return {"ring": scenario.buddy.copies, "pairs": 1, "all": nodes - 1}[scenario.buddy.layout]

    @classmethod
    def balancer_reads(cls, scenario) -> str:
        return "any"  # a session's reads go to its own node, whatever replication.reads says

    @classmethod
    def lag_figures(cls, timeline) -> tuple[float, float]:
        return math.nan, math.nan  # copies follow no log: no lag to speak of

    @classmethod
    def summary(cls, results) -> dict:
        """Session moves, state lost, copies and memory (0/NaN for the other kinds)."""
        if results.scenario.replication.kind != cls.kind:
            return {"sessions_moved": 0, "sessions_lost_state": 0, "state_copies": 0, "state_copy_bytes": 0,
                    "state_bytes_per_node": math.nan, "takeover_ms": math.nan}
        totals, timeline = results.totals, results.timeline
        crashed_at, takeovers = {}, []
        for t, kind, target in zip(results.events["t_ms"], results.events["kind"], results.events["target"]):
            if kind == "crash":
                crashed_at[target] = t
            elif kind == "take-over" and target in crashed_at:
                takeovers.append(t - crashed_at.pop(target))
        live = timeline[timeline["up"]]
        copies = int(totals["state_copies"])
        return {
            "sessions_moved": int(totals["sessions_moved"]),
            "sessions_lost_state": int(totals["sessions_lost_state"]),
            "state_copies": copies,
            "state_copy_bytes": copies * results.scenario.buddy.state_bytes,
            "state_bytes_per_node": float(live["state_bytes"].mean()) if len(live) else math.nan,
            "takeover_ms": float(np.mean(takeovers)) if takeovers else math.nan,
        }

    # the model's hooks -------------------------------------------------------------------------
    def attach(self) -> None:
        """Every node serves its own sessions: session s starts on node s mod nodes."""
        for node in self.nodes:
            node.role = "server"
        self.owner = {s: self.nodes[s % len(self.nodes)] for s in range(self.model.scenario.workload.sessions)}
        self.model.balancer.pin_sessions(self.owner)

    def publish(self, now: float, live: list) -> None:
        self.set_live(now, live)
        self.model.balancer.refresh_leaders(self.model.nodes, live)

    def node_detected_dead(self, now: float, node) -> None:
        self.forget_node(now, node)
        if not self.model.controller.live_nodes:
            self.model.controller.enter_read_only(now)

    def node_recovered(self, now: float, node) -> None:
        self.rejoin(now, node, self.model.controller.live_nodes)
        self.model.controller.leave_read_only(now)

    def close(self, now: float) -> None:
        self.run_ended(now)
        self.model.recorder.totals |= {"sessions_moved": len(self.moved_sessions),
                                       "sessions_lost_state": self.sessions_lost_state,
                                       "state_copies": self.copies_sent}

    def buddies_of(self, node, live: list) -> list:
        """The live nodes that hold copies of `node`'s sessions."""
        chosen = buddy_indices(node.index, len(self.nodes), self.layout, self.copies, [n.index for n in live])
        return [self.nodes[i] for i in chosen]

    def set_live(self, now: float, live: list) -> None:
        """Redraw every live node's buddies (a new buddy gets a copy of each session the node
        owns), then move the sessions of nodes known dead to the live node with the newest copy."""
        for node in live:
            new = self.buddies_of(node, live)
            fresh = [b for b in new if b not in self.buddies[node.index]]
            self.buddies[node.index] = new
            if fresh and node.up:
                self._copy_sessions(now, node, [s for s, o in self.owner.items() if o is node], fresh)
        for index in sorted({o.index for o in self.owner.values() if o not in live}):
            self._take_over(now, self.nodes[index], live)

    def rejoin(self, now: float, node, live: list) -> None:
        """A node back before its death was detected has an empty memory: its sessions take the
        newest copy a live node holds (they stay on it when nobody has one, and lose their state)."""
        self._take_over(now, node, live)

    def _copy_sessions(self, now: float, node, sessions: list[int], buddies: list) -> None:
        for session in sessions:
            version = node.store.get(session, 0)
            if version:
                for buddy in buddies:
                    self._send_copy(now, node, buddy, Entry(version, session, -1, now))

    # the write path -----------------------------------------------------------------------
    def commit(self, now: float, node, op) -> None:
        """The owner has executed a write of a session's state: keep it, copy it, ack by mode.
        A node the session has moved away from (the write was routed before the move) refuses it."""
        model = self.model
        if self.owner.get(op.key) is not node:
            model.reply(now, node, op, REFUSED, -1, SESSION_MOVED)
            return
        self.write_ids += 1
        write_id = self.write_ids
        entry = Entry(write_id, op.key, write_id, now)
        model.recorder.commit(write_id, op, node.index, 0, write_id, now)
        self.writes_of.setdefault(op.key, []).append(write_id)
        node.store[op.key] = write_id
        buddies = self.buddies[node.index]  # as known: a dead one not yet detected drops its copy
        if self.ack == "async" or not buddies:
            model.reply(now, node, op, SERVED, write_id)
        else:
            entry.op = op
            entry.waiting_for = self.semi_sync_k if self.ack == "semi-sync" else {b.index for b in buddies}
            self._awaiting[write_id] = entry
        for buddy in buddies:
            self._send_copy(now, node, buddy, entry)

    def _send_copy(self, now: float, node, buddy, entry: Entry) -> None:
        self.copies_sent += 1
        self.ship(now, node, buddy, entry, self._receive, buddy.incarnation)

    def _receive(self, now: float, buddy, entry: Entry, sender, departs: float, incarnation: int) -> None:
        if not buddy.up or buddy.incarnation != incarnation:
            return  # the buddy crashed since: the copy died with its memory
        if self.owner.get(entry.key) is not sender:
            return  # from a node that no longer owns the session (its writes since were counted lost)
        if entry.write_id > buddy.store.get(entry.key, 0):
            buddy.store[entry.key] = entry.write_id
        self.model.recorder.apply(entry.write_id, buddy.index, now, now, (sender.index, departs))
        waiting = self._awaiting.get(entry.write_id)
        if waiting is not None and sender.up and receipt_completes(waiting, buddy.index):
            self._ack(now, sender, waiting)

    def _ack(self, now: float, node, entry: Entry) -> None:
        op, entry.op = entry.op, None
        del self._awaiting[entry.write_id]
        self.model.reply(now, node, op, SERVED, entry.write_id)

    # faults -------------------------------------------------------------------------------
    def node_crashed(self, now: float, node) -> None:
        """The node's memory is gone; writes waiting on it for buddies' receipts never get an ack."""
        node.store = {}
        for write_id, entry in list(self._awaiting.items()):
            if self.owner.get(entry.key) is node:
                del self._awaiting[write_id]
                self.model.fail(now, entry.op, NODE_DOWN)

    def forget_node(self, now: float, node) -> None:
        """A detected death: sync writes stop waiting for it (its sessions move at `set_live`)."""
        for entry in list(self._awaiting.values()):
            if isinstance(entry.waiting_for, set):
                entry.waiting_for.discard(node.index)
                owner = self.owner[entry.key]
                if not entry.waiting_for and owner.up:
                    self._ack(now, owner, entry)

    def _take_over(self, now: float, node, live: list) -> None:
        """Move `node`'s sessions to the live node with the newest copy of each (ties: nearest
        after it in the ring); writes newer than that copy are lost. With nobody live, the
        state is lost and the sessions wait where they are. A node that died too, even if not
        yet declared dead, cannot take sessions over: the hand-over needs it to answer."""
        recorder = self.model.recorder
        live = [n for n in live if n.up]
        adopted: dict[int, list[int]] = {}
        lost = 0
        for session, owner in self.owner.items():
            if owner is not node:
                continue
            new = min(live, key=lambda n: (-n.store.get(session, 0), (n.index - node.index) % len(self.nodes)),
                      default=None)
            kept = new.store.get(session, 0) if new is not None else 0
            writes = self.writes_of.get(session, [])
            if writes and writes[-1] > kept:
                lost += 1
                reason = NOT_COPIED if kept else ALL_COPIES_DOWN
                for write_id in writes:
                    if write_id > kept:
                        recorder.lose(write_id, reason, now)
                self.writes_of[session] = [w for w in writes if w <= kept]
            if new is not None and new is not node:
                self.owner[session] = new
                self.model.balancer.pin(session, new)
                self.moved_sessions.add(session)
                adopted.setdefault(new.index, []).append(session)
        for index, sessions in adopted.items():
            new = self.nodes[index]
            self._copy_sessions(now, new, sessions, self.buddies[index])
        moved = sum(len(s) for s in adopted.values())
        self.sessions_lost_state += lost
        if moved or lost:
            to = ", ".join(self.nodes[i].name for i in sorted(adopted)) or "nobody"
            recorder.event(now, "take-over", node.name, f"{moved} sessions moved to {to}; {lost} lost state")

    def run_ended(self, now: float) -> None:
        """The run is over, some deaths not yet detected: a session whose node is down lives on
        only in the copies live nodes hold, so its writes newer than the newest such copy are
        lost (counted now, with their own reason; nothing moves, as no one has noticed)."""
        live = [n for n in self.nodes if n.up]
        recorder = self.model.recorder
        for session, owner in self.owner.items():
            if owner.up:
                continue
            kept = max((n.store.get(session, 0) for n in live), default=0)
            writes = self.writes_of.get(session, [])
            if writes and writes[-1] > kept:
                for write_id in writes:
                    if write_id > kept:
                        recorder.lose(write_id, ON_NO_LIVE_NODE, now)
                self.writes_of[session] = [w for w in writes if w <= kept]

    # what the timeline and the summary ask of every replication strategy ---------------------
    def lag(self, now: float, node) -> tuple[float, int]:
        """No log to lag behind: NaN (the costs of copying are in copies, bytes and state lost)."""
        return float("nan"), 0

    def memory_bytes(self, node) -> int:
        """Session state this node holds (its own sessions and copies of its buddies' sessions)."""
        return len(node.store) * self.state_bytes if node.up else 0
