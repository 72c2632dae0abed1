"""Pull replication: followers are read-through caches whose copies live `ttl_ms`.

Nothing is shipped (the leader's outbound link stays idle). A client read on a follower,
once a worker has done it, is a *hit* when the follower holds an unexpired copy of the key:
it answers with that copy, stale or not. Otherwise it is a *miss*: the follower fetches the
key from its source, keeps the copy until the moment the answer arrived + `ttl_ms`, then
answers the client. A fetch is a read on the source's workers plus a network round trip;
the follower's worker is free meanwhile (the wait is I/O, not work).

Sources (`cache.source`):
- origin: the leader, which reads its own store.
- peer: the key's home follower: key mod the live followers (in the failover controller's
  view, in node order). It answers from its own unexpired copy or, lacking one, fetches
  from the origin first and keeps a copy. The asker keeps a peer's copy only as long as the
  peer does (HTTP's Age), so no copy outlives `ttl_ms` from its arrival from the origin.
  A follower that is the key's own home fetches from the origin. A home that has died but
  is not yet known to be dead fails the miss ('node down'), as a dead origin does.

Concurrent misses of one key are not merged: each sends its own fetch (and a later answer
never replaces a newer version in the cache). A crashed follower loses its cache. While
the leader is down, hits are still served and misses fail ('node down'); nothing can be
promoted, since no follower holds the data (the scenario refuses promotion with pull).
Every client read ends as served or failed with a reason, like any other operation.
"""

from __future__ import annotations

from replab.core.codes import NETWORK, NODE_DOWN, SERVED


class Fetch:
    """A cache's request to its source for the current version of one key."""

    __slots__ = ("key", "op", "asker", "asker_incarnation", "source", "row", "downstream", "incarnation")
    is_write = False  # a source's worker serves it as a read

    def __init__(self, key: int, op, asker, source, row: int, downstream: Fetch | None):
        self.key = key
        self.op = op  # the client read it is for
        self.asker = asker
        self.asker_incarnation = asker.incarnation  # an answer to an earlier life is void
        self.source = source
        self.row = row  # its row in the recorder's fetches
        self.downstream = downstream  # peer source: the fetch this one serves
        self.incarnation = -1  # the source's incarnation when service started


class ReadThrough:
    """The read path of pull replication: cache lookups, fetches and their answers."""

    def __init__(self, model, ttl_ms: float, source: str):
        self.model = model
        self.ttl_ms = ttl_ms
        self.from_peer = source == "peer"

    # a worker has done a read ------------------------------------------------------------
    def read_done(self, now: float, node, job) -> None:
        """`node` has done the read `job`: a client's read or a fetch it is the source of."""
        model = self.model
        if job.__class__ is Fetch:
            self._serve_fetch(now, node, job)
        elif node.role == "leader":
            model.reply(now, node, job, SERVED, node.store.get(job.key, 0))
        else:
            copy = node.cache.get(job.key)
            hit = copy is not None and copy[1] > now
            model.recorder.lookup(job.id, node.index, hit)
            if hit:
                model.reply(now, node, job, SERVED, copy[0])
            else:
                self._fetch(now, node, job, self._source(node, job.key), None)

    def _source(self, asker, key: int):
        model = self.model
        if not self.from_peer:
            return model.leader
        peers = [n for n in model.controller.live_nodes if n is not model.leader]
        home = peers[key % len(peers)] if peers else model.leader
        return model.leader if home is asker else home

    def _serve_fetch(self, now: float, node, fetch: Fetch) -> None:
        if node.role == "leader":
            self._answer(now, node, fetch, node.store.get(fetch.key, 0), None, False)
            return
        copy = node.cache.get(fetch.key)
        if copy is not None and copy[1] > now:
            self._answer(now, node, fetch, copy[0], copy[1], True)
        else:
            self._fetch(now, node, fetch.op, self.model.leader, fetch)

    # fetches travel -----------------------------------------------------------------------
    def _fetch(self, now: float, asker, op, source, downstream: Fetch | None) -> None:
        model = self.model
        row = model.recorder.fetch(op.id, asker.index, source.index, now)
        fetch = Fetch(op.key, op, asker, source, row, downstream)
        if not model.network.send(now, asker.host, source.host, self._arrive, fetch):
            model.fail(now, op, NETWORK)

    def _arrive(self, now: float, fetch: Fetch) -> None:
        if not fetch.source.up:
            self.model.fail(now, fetch.op, NODE_DOWN)
            return
        fetch.source.on_fetch(now, fetch)

    def _answer(self, now: float, node, fetch: Fetch, version: int, expires_ms: float | None, from_cache: bool) -> None:
        """`node` sends the version (and, from a peer's copy, its expiry) back to the asker."""
        model = self.model
        model.recorder.fetch_answered(fetch.row, now, from_cache)
        if not model.network.send(now, node.host, fetch.asker.host, self._receive, (fetch, version, expires_ms)):
            model.fail(now, fetch.op, NETWORK)

    def _receive(self, now: float, message) -> None:
        fetch, version, expires_ms = message
        asker, model = fetch.asker, self.model
        if not asker.up or asker.incarnation != fetch.asker_incarnation:
            model.fail(now, fetch.op, NODE_DOWN)
            return
        if expires_ms is None:
            expires_ms = now + self.ttl_ms
        held = asker.cache.get(fetch.key)
        if held is None or (version, expires_ms) > held:
            asker.cache[fetch.key] = (version, expires_ms)
        model.recorder.fetch_received(fetch.row, now, version, expires_ms)
        if fetch.downstream is not None:
            self._answer(now, asker, fetch.downstream, version, expires_ms, False)
        else:
            model.reply(now, asker, fetch.op, SERVED, version)

    def lose(self, now: float, job, reason: int) -> None:
        """A node will never finish `job`: the client read it belongs to fails."""
        self.model.fail(now, job.op if job.__class__ is Fetch else job, reason)
