"""The Recorder keeps the history of a run in typed arrays (8 bytes a number, not 32).

It is written to on the hot path, so it stores numbers and codes (replab.core.codes), not
strings. Every recorded column is declared once, in TABLES: its name, array type, meaning
and, for a coded column, the labels of its codes. The recorder makes its arrays from that
declaration and replab.analysis.results reads them back with it, so the type an array was
written with is always the type it is read as.

A replication strategy may declare tables of its own (`Strategy.tables`); the model passes
them to the Recorder, and they become frames of the Results like the others.

For speed, the four tables written on every request, write, receipt and apply are staged
(`Staged`): their rows wait in one Python list per column and are packed into the typed
arrays a few thousand rows at a time. An array's append parses its argument with a format
string (PyArg_Parse) and cost ~600 instructions a value; a list's append and a bulk
struct.pack cost ~40 % less. Readers never see a staged row: `recorder.requests` (and
writes, applies, receipts) packs what is waiting before it returns the arrays.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from struct import pack
from types import SimpleNamespace

from replab.core.codes import LOST_REASONS, LOST_UPDATE, NOT_LOST, OPS, OUTCOMES, REASONS, Codes

NAN = float("nan")
NODE = "node"  # a column of node numbers, shown as node names
NODE_OR_CLIENT = "node or client"  # node numbers or CLIENT, shown as node names and "client"
CLIENT = -1  # in a NODE_OR_CLIENT column: a client that coordinated its own operation
DTYPES = {"q": "int64", "i": "int32", "h": "int16", "b": "int8", "d": "float64"}


@dataclass(frozen=True)
class Column:
    """One recorded column: its name in the frame, its array type code, what it means, and
    what its numbers stand for (Codes, NODE for node numbers, None for plain numbers)."""

    name: str
    typecode: str
    doc: str
    codes: Codes | str | None = None

    @property
    def dtype(self) -> str:
        return DTYPES[self.typecode]


@dataclass(frozen=True)
class Table:
    """Columns recorded together, one row at a time; `attribute` names them on the Recorder."""

    attribute: str
    columns: tuple[Column, ...]
    doc: str

    def make(self) -> SimpleNamespace:
        return SimpleNamespace(**{c.name: array(c.typecode) for c in self.columns})


REQUESTS = Table("requests", (
    Column("request_id", "q", "the operation's number, in the order operations started"),
    Column("session", "i", "the client session that sent it"),
    Column("op", "b", "read or write", OPS),
    Column("key", "q", "the key it read or wrote"),
    Column("node", "h", "the data node it was routed to (empty: never routed, or coordinated by its client: leaderless with quorum.coordinator = 'client')", NODE),
    Column("start_ms", "d", "when the session sent it"),
    Column("end_ms", "d", "when its outcome reached the client (or the client gave up)"),
    Column("outcome", "b", "served, refused or failed", OUTCOMES),
    Column("reason", "b", "why it was refused or failed ('' when served)", REASONS),
    Column("version", "q", "the version it read or wrote (the write's id; 0: the initial value; -1: none)"),
    Column("arrived_ms", "d", "when it reached its node, or the balancer that refused it (a client coordinating it: when it sent it to the replicas) (NaN: never)"),
    Column("answered_ms", "d", "when that node or balancer sent the answer (a client coordinating it: when it had the answer) (NaN: never)"),
), "one row per client operation, appended when its outcome is known")

WRITES = Table("writes", (
    Column("request_id", "q", "the client operation that wrote it"),
    Column("session", "i", "its session"),
    Column("key", "q", "the key written"),
    Column("leader", "h", "the node that committed it (empty: its client coordinated it)", NODE),
    Column("term", "i", "the leader's term when it committed"),
    Column("log_index", "q", "its place in its leader's log (per leader under leader-leader)"),
    Column("commit_ms", "d", "when it committed"),
    Column("ack_ms", "d", "when its acknowledgement reached the client (NaN: never acknowledged)"),
    Column("lost_reason", "b", "why it was lost ('' when it was not)", LOST_REASONS),
    Column("lost_ms", "d", "when it was lost"),
    Column("applies_before", "q", "apply rows recorded before it committed (orders a commit among the applies of its instant)"),
), "one row per committed write; row i is write_id i + 1, updated at its ack and its loss")

APPLIES = Table("applies", (
    Column("write_id", "q", "the write applied"),
    Column("node", "h", "the replica that applied it", NODE),
    Column("sender", "h", "the node that shipped it (empty: re-applied from the relay log after a crash, or sent by the client itself: leaderless with quorum.coordinator = 'client')", NODE),
    Column("sent_ms", "d", "when it left the sender"),
    Column("received_ms", "d", "when the replica received it"),
    Column("applied_ms", "d", "when the replica applied it"),
), "one row per (write, replica that applied it)")

RECEIPTS = Table("receipts", (
    Column("write_id", "q", "the write taken off its leader's stream"),
    Column("node", "h", "the node that took it", NODE),
    Column("received_ms", "d", "when"),
), "leader-leader: one row per (write, node) that took it off its leader's stream, applied or not")

LOOKUPS = Table("lookups", (
    Column("request_id", "q", "the client read"),
    Column("node", "h", "the follower that looked it up", NODE),
    Column("hit", "b", "1: an unexpired copy was there"),
), "pull: one row per follower cache lookup (becomes the requests' cache column)")

FETCHES = Table("fetches", (
    Column("request_id", "q", "the client read it was for"),
    Column("node", "h", "the follower that sent it", NODE),
    Column("source", "h", "the origin or the key's home peer", NODE),
    Column("sent_ms", "d", "when it was sent"),
    Column("answered_ms", "d", "when the source answered (NaN: never)"),
    Column("received_ms", "d", "when the answer was back at the node (NaN: never)"),
    Column("version", "q", "the version of the copy kept (-1: none)"),
    Column("expires_ms", "d", "when that copy expires"),
    Column("from_cache", "b", "1: a peer answered from its own copy"),
), "pull: one row per fetch a follower sent for a client read; updated as it is answered and received")

ROUTES = Table("routes", (
    Column("dc", "b", "the DC the DNS answer sent the operation to"),
    Column("dead", "b", "1: it left for a DC that was down or cut off from its region"),
    Column("lookup", "b", "1: it paid a DNS lookup first"),
), "several data centres: one row per operation, in the order they started (request_id - 1)")

TABLES = (REQUESTS, WRITES, APPLIES, RECEIPTS, LOOKUPS, FETCHES, ROUTES)

TIMELINE_COLUMNS = ("t_ms", "node", "role", "up", "depth", "upstream", "queue", "utilisation", "lag_ms", "lag_writes",
                    "shipped", "divergent_keys", "state_bytes")
EVENT_COLUMNS = ("t_ms", "kind", "target", "detail")
CONFLICT_COLUMNS = ("t_ms", "node", "key", "incoming", "existing", "resolution")


# Rows a staged table keeps waiting at most: packing 4096 rows at once costs as little per row as
# any larger batch, and what waits stays small (~0.8 MB for the widest table).
STAGED_ROWS = 4096


class Staged:
    """A table written on the hot path: rows wait in `columns` (one list per column, appended
    through `appends`) until `flush` packs them onto the end of the arrays of `store`."""

    __slots__ = ("table", "store", "columns", "appends", "first", "flushed")

    def __init__(self, table: Table, store: SimpleNamespace):
        self.table = table
        self.store = store  # the table's arrays, as readers see them
        self.columns = tuple([] for _ in table.columns)  # rows not packed yet, column by column
        self.appends = tuple(values.append for values in self.columns)  # in declared order
        self.first = self.columns[0]  # its length is the number of rows waiting
        self.flushed = 0  # rows already in the arrays

    def __len__(self) -> int:
        return self.flushed + len(self.first)

    def flush(self) -> None:
        """Pack the waiting rows onto the arrays (a no-op when none waits, or once the arrays were drained)."""
        rows = len(self.first)
        if not rows or getattr(self.store, self.table.columns[0].name) is None:
            return
        for column, values in zip(self.table.columns, self.columns):
            # struct packs native C types, as the array stores them: the bytes an append would have written
            getattr(self.store, column.name).frombytes(pack(f"{rows}{column.typecode}", *values))
            values.clear()
        self.flushed += rows

    def cell(self, row: int, column: int):
        """Where row `row`'s `column` (its place in the table) is now: (a list or an array, index)."""
        waiting = row - self.flushed
        if waiting >= 0:
            return self.columns[column], waiting
        return getattr(self.store, self.table.columns[column].name), row


def _read(attribute: str) -> property:
    """A staged table's arrays, with every waiting row packed first."""

    def arrays(recorder: Recorder) -> SimpleNamespace:
        staged = getattr(recorder, attribute)
        if staged.first:
            staged.flush()
        return staged.store

    return property(arrays, doc=f"the {attribute[1:]} table's arrays, every row recorded so far in them")


def _column(table: Table, name: str) -> int:
    return [c.name for c in table.columns].index(name)


ACK_MS, LOST_REASON, LOST_MS = (_column(WRITES, name) for name in ("ack_ms", "lost_reason", "lost_ms"))
STAGED = (REQUESTS, WRITES, APPLIES, RECEIPTS)


class Recorder:
    """Columns of every client operation, committed write, apply, sample and event."""

    requests = _read("_requests")
    writes = _read("_writes")
    applies = _read("_applies")
    receipts = _read("_receipts")

    def __init__(self, extra_tables: tuple[Table, ...] = ()) -> None:
        self.tables = TABLES + tuple(extra_tables)
        for table in self.tables:
            self._keep(table, table.make())
        # timeline samples, events and conflicts are few: plain rows
        self.samples: list[tuple] = []
        self.events: list[tuple[float, str, str, str]] = []
        self.conflicts: list[tuple[float, int, int, int, int, int]] = []
        self.totals: dict[str, float] = {}  # counts kept by the model, not rows: messages, ...

    def _keep(self, table: Table, store: SimpleNamespace) -> None:
        if table in STAGED:
            setattr(self, f"_{table.attribute}", Staged(table, store))
        else:
            setattr(self, table.attribute, store)

    def snapshot(self) -> Recorder:
        """A copy of everything recorded so far (every array copied: a memcpy), to read while
        the run goes on; this recorder is left as it is."""
        twin = Recorder.__new__(Recorder)
        twin.tables = self.tables
        for table in self.tables:
            store = getattr(self, table.attribute)  # a staged table's waiting rows packed first
            twin._keep(table, SimpleNamespace(**{c.name: getattr(store, c.name)[:] for c in table.columns}))
        twin.samples, twin.events, twin.conflicts = list(self.samples), list(self.events), list(self.conflicts)
        twin.totals = dict(self.totals)
        return twin

    def operation(self, op, end_ms: float, outcome: int, reason: int, version: int) -> None:
        (request_id, session, is_write, key, node, start_ms, end, outcome_code, reason_code, version_seen,
         arrived_ms, answered_ms) = self._requests.appends  # REQUESTS' columns, in order
        request_id(op.id)
        session(op.session)
        is_write(op.is_write)
        key(op.key)
        node(op.node)
        start_ms(op.start)
        end(end_ms)
        outcome_code(outcome)
        reason_code(reason)
        version_seen(version)
        arrived_ms(op.arrived)
        answered_ms(op.answered)
        if len(self._requests.first) >= STAGED_ROWS:
            self._requests.flush()

    def commit(self, write_id: int, op, leader: int, term: int, index: int, at_ms: float) -> None:
        (request_id, session, key, by, leader_term, log_index, commit_ms, ack_ms, lost_reason, lost_ms,
         applies_before) = self._writes.appends  # WRITES' columns, in order
        request_id(op.id)
        session(op.session)
        key(op.key)
        by(leader)
        leader_term(term)
        log_index(index)
        commit_ms(at_ms)
        ack_ms(NAN)
        lost_reason(NOT_LOST)
        lost_ms(NAN)
        applies_before(len(self._applies))
        if len(self._writes.first) >= STAGED_ROWS:
            self._writes.flush()

    # row i of writes is write_id i + 1, packed or still waiting
    def ack(self, write_id: int, at_ms: float) -> None:
        values, row = self._writes.cell(write_id - 1, ACK_MS)
        values[row] = at_ms

    def lose(self, write_id: int, reason: int, at_ms: float) -> None:
        writes = self._writes
        values, row = writes.cell(write_id - 1, LOST_REASON)
        values[row] = reason
        values, row = writes.cell(write_id - 1, LOST_MS)
        values[row] = at_ms

    def lose_update(self, write_id: int, at_ms: float) -> None:
        """A concurrent write overwrote this one (last writer wins); the first time counts."""
        values, row = self._writes.cell(write_id - 1, LOST_REASON)
        if not values[row]:
            self.lose(write_id, LOST_UPDATE, at_ms)

    def conflict(self, at_ms: float, node: int, key: int, incoming: int, existing: int, resolution: int) -> None:
        """A node met two concurrent versions of a key: the incoming write and one it kept."""
        self.conflicts.append((at_ms, node, key, incoming, existing, resolution))

    def apply(self, write_id: int, node: int, at_ms: float, received_ms: float, origin: tuple[int, float]) -> None:
        written, by, sender, sent_ms, received, applied_ms = self._applies.appends  # APPLIES' columns, in order
        written(write_id)
        by(node)
        sender(origin[0])
        sent_ms(origin[1])
        received(received_ms)
        applied_ms(at_ms)
        if len(self._applies.first) >= STAGED_ROWS:
            self._applies.flush()

    def receive(self, write_id: int, node: int, at_ms: float) -> None:
        """A node took a replicated write off its stream (it is applied later, or never)."""
        received, by, received_ms = self._receipts.appends  # RECEIPTS' columns, in order
        received(write_id)
        by(node)
        received_ms(at_ms)
        if len(self._receipts.first) >= STAGED_ROWS:
            self._receipts.flush()

    def lookup(self, request_id: int, node: int, hit: bool) -> None:
        """A follower looked a client's read up in its cache (pull)."""
        c = self.lookups
        c.request_id.append(request_id)
        c.node.append(node)
        c.hit.append(hit)

    def fetch(self, request_id: int, node: int, source: int, sent_ms: float) -> int:
        """A cache asked `source` for a key on behalf of a client read; returns the fetch's row."""
        f = self.fetches
        f.request_id.append(request_id)
        f.node.append(node)
        f.source.append(source)
        f.sent_ms.append(sent_ms)
        f.answered_ms.append(NAN)
        f.received_ms.append(NAN)
        f.version.append(-1)
        f.expires_ms.append(NAN)
        f.from_cache.append(False)
        return len(f.sent_ms) - 1

    def fetch_answered(self, row: int, at_ms: float, from_cache: bool) -> None:
        self.fetches.answered_ms[row] = at_ms
        self.fetches.from_cache[row] = from_cache

    def fetch_received(self, row: int, at_ms: float, version: int, expires_ms: float) -> None:
        f = self.fetches
        f.received_ms[row] = at_ms
        f.version[row] = version
        f.expires_ms[row] = expires_ms

    def route(self, dc: int, looked_up: bool) -> None:
        """Several DCs: where the DNS sent the operation that just started."""
        r = self.routes
        r.dc.append(dc)
        r.lookup.append(looked_up)
        r.dead.append(0)  # set when it leaves (after the lookup) towards a dead DC

    def routed_to_dead_dc(self, request_id: int) -> None:
        self.routes.dead[request_id - 1] = 1

    def event(self, at_ms: float, kind: str, target: str, detail: str = "") -> None:
        self.events.append((at_ms, kind, target, detail))
