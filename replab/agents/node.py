"""A data node: a store of key versions served by a limited number of workers.

Client reads and writes and the applying of replicated writes compete for the same
workers; applying is further limited to `apply_concurrency` workers (1 = the classic
single-threaded replica). Both wait in real FIFO queues, so a node near utilisation 1
is slow and one above it falls behind without bound. When a worker frees it takes
whichever waiting job arrived first (an apply only while an apply slot is free).

A node can be paused (a stop-the-world garbage collection, a frozen VM): while paused
nothing it does advances. Jobs that would have finished and messages that reach it wait,
in the order they came due, and run when it resumes, with whatever it believed before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappush

import mesa

from replab.core.codes import NODE_DOWN, NOT_LEADER, REFUSED, SERVED

UNKNOWN_ORIGIN = (-1, float("nan"))


class DataNode(mesa.Agent):
    """One database server; `role` is 'leader' or 'follower'."""

    def __init__(self, model: mesa.Model, index: int, host: int, workers: int, apply_concurrency: int,
                 read_ms: Callable[[], float], write_ms: Callable[[], float], apply_ms: Callable[[], float]):
        super().__init__(model)
        self.index = index
        self.name = f"node{index}"
        self.host = host
        self.role = "follower"
        self.up = True
        self.incarnation = 0  # grows at each crash; work started before a crash is void
        self.crash_times: list[float] = []  # crash_times[i] ended incarnation i
        self.link_free_ms = 0.0  # when the outbound replication link has sent all it was given
        self.shipped = 0  # entries this node has put on its outbound link
        self.forwarded = 0  # as a relay: log entries passed on to its own followers
        self.workers = workers
        self.apply_concurrency = apply_concurrency
        self.read_ms, self.write_ms, self.apply_ms = read_ms, write_ms, apply_ms
        self.busy = 0
        self.applying = 0
        self.client_queue: deque = deque()  # (arrived_ms, op)
        self.apply_queue: deque = deque()  # (arrived_ms, entry, (sender, sent_ms) or None)
        self.store: dict[int, int] = {}  # key -> write_id of the version visible here (0 = initial)
        # pull: a follower's copies, key -> (write_id, expires_ms), kept by the read-through path
        self.cache: dict[int, tuple[int, float]] = {}
        self.read_through = None  # pull: the model's ReadThrough; push: None
        # Replication position, in entries of the log: received (relay log) and applied.
        self.received = 0
        self.applied = 0
        self._applied_ahead: set[int] = set()
        self.term = 0  # the leader term this node follows; older terms' messages are ignored
        self.synced_term = 0  # the last term whose log this node is known to agree with
        self.busy_area_ms = 0.0  # integral of busy workers over time, for utilisation
        self._busy_changed_ms = 0.0
        self.paused = False
        self._held: list = []  # (handler, arg) that came due while paused, in order
        # a node schedules the end of every job itself (see EventCalendar.pusher), with these
        # handlers: bound methods made once (a fresh one on every push was ~1 % of a run)
        self._heap, self._tickets = model.calendar.pusher()
        self._read_handler, self._write_handler, self._apply_handler = self._read_done, self._write_done, self._apply_done

    # client operations -------------------------------------------------------------------
    def on_request(self, now: float, op) -> None:
        """A client operation arrives from the load balancer."""
        if self.paused:
            self._held.append((self.on_request, op))
            return
        if not self.up:
            self.model.fail(now, op, NODE_DOWN)
            return
        op.arrived = now
        if op.is_write and self.role == "follower":
            # routed before a failover changed who leads: a follower must not commit
            self.model.reply(now, self, op, REFUSED, -1, NOT_LEADER)
            return
        busy = self.busy
        if busy < self.workers:
            # _set_busy(now, busy + 1) and _serve(now, op) with calendar.schedule, inlined: every
            # client operation passes here
            self.busy_area_ms += busy * (now - self._busy_changed_ms)
            self._busy_changed_ms = now
            self.busy = busy + 1
            op.incarnation = self.incarnation
            if op.is_write:
                heappush(self._heap, (now + self.write_ms(), next(self._tickets), self._write_handler, op))
            else:
                heappush(self._heap, (now + self.read_ms(), next(self._tickets), self._read_handler, op))
        else:
            self.client_queue.append((now, op))

    def _serve(self, now: float, op) -> None:
        op.incarnation = self.incarnation
        if op.is_write:
            heappush(self._heap, (now + self.write_ms(), next(self._tickets), self._write_handler, op))  # calendar.schedule, inlined
        else:
            heappush(self._heap, (now + self.read_ms(), next(self._tickets), self._read_handler, op))  # calendar.schedule, inlined

    def _read_done(self, now: float, op) -> None:
        if self.paused:
            self._held.append((self._read_done, op))
            return
        if op.incarnation != self.incarnation:
            self._lose(now, op, NODE_DOWN)
            return
        if self.read_through is None:
            self.model.reply(now, self, op, SERVED, self.store.get(op.key, 0))
        else:
            self.read_through.read_done(now, self, op)
        self._next_job(now)

    def on_fetch(self, now: float, fetch) -> None:
        """Pull: a cache's fetch arrives; it waits for a worker like a client read."""
        if self.paused:
            self._held.append((self.on_fetch, fetch))
            return
        if self.busy < self.workers:
            self._set_busy(now, self.busy + 1)
            self._serve(now, fetch)
        else:
            self.client_queue.append((now, fetch))

    def _lose(self, now: float, job, reason: int) -> None:
        """This node will not finish `job` (a client operation, or with pull a fetch)."""
        if self.read_through is None:
            self.model.fail(now, job, reason)
        else:
            self.read_through.lose(now, job, reason)

    def _write_done(self, now: float, op) -> None:
        if self.paused:
            self._held.append((self._write_done, op))
            return
        if op.incarnation != self.incarnation:
            self.model.fail(now, op, NODE_DOWN)
            return
        self.model.replication.commit(now, self, op)
        self._next_job(now)

    # replicated writes --------------------------------------------------------------------
    def enqueue_apply(self, now: float, entry, origin: tuple[int, float] | None = None) -> None:
        """An entry to apply arrived now; `origin` is (sending node, sent_ms) when known."""
        busy = self.busy
        if busy < self.workers and self.applying < self.apply_concurrency:
            # _set_busy(now, busy + 1) and _start_apply(now, now, entry, origin), inlined: every
            # replicated write passes here on every replica
            self.busy_area_ms += busy * (now - self._busy_changed_ms)
            self._busy_changed_ms = now
            self.busy = busy + 1
            self.applying += 1
            # calendar.schedule, inlined
            heappush(self._heap, (now + self.apply_ms(), next(self._tickets), self._apply_handler, (entry, self.incarnation, now, origin)))
        else:
            self.apply_queue.append((now, entry, origin))

    def _start_apply(self, now: float, received_ms: float, entry, origin) -> None:
        self.applying += 1
        job = (entry, self.incarnation, received_ms, origin)
        heappush(self._heap, (now + self.apply_ms(), next(self._tickets), self._apply_handler, job))  # calendar.schedule, inlined

    def _apply_done(self, now: float, job) -> None:
        if self.paused:
            self._held.append((self._apply_done, job))
            return
        entry, incarnation, received_ms, origin = job
        if incarnation != self.incarnation:
            return  # crashed meanwhile: the entry stays in the relay log and is re-applied
        self.applying -= 1
        # install(entry), inlined: every replicated write passes here on every replica
        write_id, key, index = entry.write_id, entry.key, entry.index
        store = self.store
        if write_id > store.get(key, 0):
            store[key] = write_id
        applied = self.applied
        if index == applied:
            applied += 1
            ahead = self._applied_ahead
            while applied in ahead:
                ahead.remove(applied)
                applied += 1
            self.applied = applied
        else:
            self._applied_ahead.add(index)
        model = self.model
        model.recorder.apply(write_id, self.index, now, received_ms, origin)
        model.replication.on_applied(now, self, entry)
        # _next_job(now) and _start_apply, inlined
        clients, applies = self.client_queue, self.apply_queue
        if applies and self.applying < self.apply_concurrency and (not clients or applies[0][0] <= clients[0][0]):
            received_ms, entry, origin = applies.popleft()
            self.applying += 1
            job = (entry, self.incarnation, received_ms, origin)
            heappush(self._heap, (now + self.apply_ms(), next(self._tickets), self._apply_handler, job))
        elif clients:
            self._serve(now, clients.popleft()[1])
        else:  # _set_busy(now, self.busy - 1), inlined
            busy = self.busy
            self.busy_area_ms += busy * (now - self._busy_changed_ms)
            self._busy_changed_ms = now
            self.busy = busy - 1

    def install(self, entry) -> None:
        """Make an entry's version visible and advance the applied position."""
        if entry.write_id > self.store.get(entry.key, 0):
            self.store[entry.key] = entry.write_id
        if entry.index == self.applied:
            self.applied += 1
            ahead = self._applied_ahead
            while self.applied in ahead:
                ahead.remove(self.applied)
                self.applied += 1
        else:
            self._applied_ahead.add(entry.index)

    # workers ------------------------------------------------------------------------------
    def _next_job(self, now: float) -> None:
        """A worker has finished: give it the oldest waiting job it may take, or let it idle."""
        clients, applies = self.client_queue, self.apply_queue
        if applies and self.applying < self.apply_concurrency and (not clients or applies[0][0] <= clients[0][0]):
            received_ms, entry, origin = applies.popleft()
            self._start_apply(now, received_ms, entry, origin)
        elif clients:
            self._serve(now, clients.popleft()[1])
        else:  # _set_busy(now, self.busy - 1), inlined: a worker idles after most jobs
            busy = self.busy
            self.busy_area_ms += busy * (now - self._busy_changed_ms)
            self._busy_changed_ms = now
            self.busy = busy - 1

    def _set_busy(self, now: float, busy: int) -> None:
        self.busy_area_ms += self.busy * (now - self._busy_changed_ms)
        self._busy_changed_ms = now
        self.busy = busy

    @property
    def queue_length(self) -> int:
        return len(self.client_queue) + len(self.apply_queue)

    # faults -------------------------------------------------------------------------------
    def pause(self, now: float) -> None:
        """Stop the world: nothing here advances until `resume`."""
        if self.up:
            self.paused = True

    def resume(self, now: float) -> None:
        """Run, now and in order, what came due during the pause."""
        if not self.paused:
            return
        self.paused = False
        held, self._held = self._held, []
        for handler, arg in held:
            handler(now, arg)

    def hold(self, handler, arg) -> None:
        """Keep a message or timer for `handler(now, arg)` until the pause ends."""
        self._held.append((handler, arg))

    def crash(self, now: float) -> None:
        """Stop: queued and in-service operations are lost (their clients time out)."""
        if not self.up:
            return
        self.up = False
        if self.paused:  # what waited for the pause to end dies with the process
            self.paused = False
            held, self._held = self._held, []
            clients = (self.on_request, self.on_fetch, self._read_done, self._write_done)
            for handler, arg in held:
                if handler in clients:
                    self._lose(now, arg, NODE_DOWN)
        self.incarnation += 1
        self.crash_times.append(now)
        for _, op in self.client_queue:
            self._lose(now, op, NODE_DOWN)
        self.client_queue.clear()
        self.cache.clear()  # a cache lives in memory
        self.apply_queue.clear()
        self.applying = 0
        self._set_busy(now, 0)

    def restart(self, now: float) -> None:
        """Come back with the durable state: the store and the relay log survive a crash."""
        self.up = True
        self._busy_changed_ms = now
        self.link_free_ms = now  # the send queue died with the process

    def requeue_backlog(self, now: float, log: list) -> None:
        """Queue the received but not yet applied entries of the relay log for applying
        (when they were received is not kept across a crash: recorded as unknown)."""
        for index in range(self.applied, min(self.received, len(log))):
            if index not in self._applied_ahead:
                self.enqueue_apply(now, log[index], UNKNOWN_ORIGIN)

    def rewind(self, log: list, keep: int) -> None:
        """Forget everything past the first `keep` log entries (they were discarded)."""
        self.received = min(self.received, keep)
        self.forwarded = min(self.forwarded, keep)
        if self.applied > keep or any(i >= keep for i in self._applied_ahead):
            # Entries below `keep` not applied here yet stay unapplied: rebuild only what was.
            applied = [e for e in log[:keep] if e.index < self.applied or e.index in self._applied_ahead]
            store: dict[int, int] = {}
            for entry in applied:
                if entry.write_id > store.get(entry.key, 0):
                    store[entry.key] = entry.write_id
            self.store = store
            self.applied = min(self.applied, keep)
            self._applied_ahead = {i for i in self._applied_ahead if i < keep}
