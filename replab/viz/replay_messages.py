"""Every message of a run, from its recorded history: who sent it to whom, when, and what it carried.

    _legs(results, hosts) -> dict of columns, one entry per message (the replay's flows are counted from it)
    messages_in(results, from_ms, to_ms) -> the messages in flight in that window, each with what it carries

A message is one leg of an operation: a client's read or write to the balancer and on to a
node, the reply or refusal back, a request that never arrived; a replication entry from
sender to replica (the applies frame); a pull cache's fetch and its answer; where clients
coordinate (leaderless, quorum.coordinator = 'client'), their requests to the replicas and
the answers (the responses table). Hosts are indices in `_hosts(results)`: the data nodes
first, then the clients and the balancer (or, with several DCs, each region and each DC's
balancer).
"""

from __future__ import annotations

import numpy as np

from replab.analysis.results import Results
from replab.replication import STRATEGIES

KINDS = ("read", "write", "reply", "refused", "lost", "replicate", "fetch", "stale reply")


def _hosts(results: Results) -> list[str]:
    """Everything a message can leave or reach: the data nodes first (their index is their number)."""
    count = results.scenario.dcs.count
    if count > 1:
        return list(results.scenario.node_names) + [f"region{d}" for d in range(count)] + \
            [f"dc{d} balancer" for d in range(count)]
    return list(results.scenario.node_names) + ["clients", "balancer"]


def _legs(results: Results, hosts: list[str]) -> dict[str, np.ndarray]:
    """Every message as columns: kind (index in KINDS), src, via (the balancer passed, or -1), dst
    (indices in `hosts`), sent_ms, received_ms, and ref: the row of the requests frame it belongs to
    (applies: the write_id; fetches: the fetches row; a replica's response to a client: -1 - its
    responses row)."""
    req = results.requests
    index = {h: i for i, h in enumerate(hosts)}
    if "dc" in req:
        client = np.array([index[f"region{r}"] for r in range(results.scenario.dcs.count)])[req["region"].to_numpy()]
        balancer = np.array([index[f"{d} balancer"] for d in req["dc"].cat.categories])[req["dc"].cat.codes.to_numpy()]
    else:
        client, balancer = np.full(len(req), index["clients"]), np.full(len(req), index["balancer"])
    node = req["node"].cat.codes.to_numpy().astype(np.int64)  # -1: refused at the balancer
    is_write = (req["op"] == "write").to_numpy()
    arrived, answered = req["arrived_ms"].to_numpy(), req["answered_ms"].to_numpy()
    start, end = req["start_ms"].to_numpy(), req["end_ms"].to_numpy()
    outcome = req["outcome"].cat.codes.to_numpy()  # 0 served, 1 refused, 2 failed
    at_balancer, reached = node < 0, ~np.isnan(arrived)
    stub = float(np.nanmedian(arrived - start)) / 2 if reached.any() else 0.5
    parts = []

    def add(mask, *columns):
        """The messages where `mask` holds; each column an array or one value for all."""
        count = np.count_nonzero(mask)
        if count:  # one value filled in, not broadcast and masked: a gather per constant cost ~1 ms a replay
            parts.append([np.full(count, c) if np.isscalar(c) else c[mask] for c in columns])

    row = np.arange(len(req))
    if STRATEGIES[results.scenario.replication.kind].clients_coordinate(results.scenario):
        _client_reads(results, client, add)  # nothing goes through the balancer
    else:
        to_node = reached & ~at_balancer
        add(to_node, np.where(is_write, 1, 0), client, balancer, node, start, arrived, row)
        add(reached & at_balancer, 3, client, -1, balancer, start, arrived, row)
        add(~reached, 4, client, np.where(at_balancer, -1, balancer), np.where(at_balancer, balancer, node), start,
            start + stub, row)
        stale = (req["staleness_ms"].fillna(0.0).to_numpy() > 0) & ~is_write
        add(to_node & (outcome != 2), np.where(outcome == 1, 3, np.where(stale, 7, 2)), node, balancer, client,
            answered, end, row)
        add(reached & at_balancer & (outcome == 1), 3, balancer, -1, client, answered, end, row)
    applies, sent_ms = results.applies, results.applies["sent_ms"].to_numpy()
    sender = applies["sender"].cat.codes.to_numpy()
    sender = np.where(sender < 0, index.get("clients", -1), sender)  # sent, by no node: by a client coordinating
    add(~np.isnan(sent_ms), 5, sender, -1, applies["node"].cat.codes.to_numpy(),  # a mask, not a filtered frame copy
        sent_ms, applies["received_ms"].to_numpy(), applies["write_id"].to_numpy())
    fetches = results.fetches
    if fetches is not None and len(fetches):
        asked = fetches["answered_ms"].notna().to_numpy()
        back = asked & fetches["received_ms"].notna().to_numpy()
        node_of, source = fetches["node"].cat.codes.to_numpy(), fetches["source"].cat.codes.to_numpy()
        rows = np.arange(len(fetches))
        add(asked, 6, node_of, -1, source, fetches["sent_ms"].to_numpy(), fetches["answered_ms"].to_numpy(), rows)
        add(back, 6, source, -1, node_of, fetches["answered_ms"].to_numpy(), fetches["received_ms"].to_numpy(), rows)
    columns = ("kind", "src", "via", "dst", "sent_ms", "received_ms", "ref")
    if not parts:
        return {c: np.empty(0) for c in columns}
    legs = {c: np.concatenate([p[i] for p in parts]) for i, c in enumerate(columns)}
    for c in ("kind", "src", "via", "dst", "ref"):
        legs[c] = legs[c].astype(np.int64, copy=False)
    return legs


def _client_reads(results: Results, client: np.ndarray, add) -> None:
    """A client's read requests to the replicas (until each read its store) and their answers back."""
    responses = results.tables["responses"]
    rows = np.arange(len(responses))
    request_row = responses["request_id"].to_numpy() - 1  # the requests frame is in request_id order
    replica = responses["replica"].cat.codes.to_numpy()
    read_ms, arrived_ms = responses["read_ms"].to_numpy(), responses["arrived_ms"].to_numpy()
    add(~np.isnan(read_ms), 0, client[request_row], -1, replica, responses["asked_ms"].to_numpy(), read_ms, request_row)
    add(~np.isnan(arrived_ms), 2, replica, -1, client[request_row], read_ms, arrived_ms, -1 - rows)


def _carried(results: Results):
    """what(kind, ref, back): what one message carries, in a few words.

    The frames' columns are read into lists once: a row looked up per message cost ~50 µs, and
    a fetch's key a scan of every request (a short run has a few thousand messages).
    """
    req = {c: results.requests[c].tolist() for c in ("key", "op", "version", "reason", "staleness_ms")}
    fetches, responses = results.fetches, results.tables.get("responses")
    if responses is not None:
        response_version, response_replica = responses["version"].tolist(), responses["replica"].tolist()
    if fetches is not None and len(fetches):
        key_of: dict = {}
        for request, key in zip(results.requests["request_id"].tolist(), req["key"]):
            key_of.setdefault(request, key)  # the first request with that id, as .loc[...].iloc[0] took
        fetch_request, fetch_version = fetches["request_id"].tolist(), fetches["version"].tolist()

    def what(kind: int, ref: int, back: bool) -> str:
        name = KINDS[kind]
        if ref < 0:  # a replica's response to a client coordinating the read
            return f"v{response_version[-1 - ref]} from {response_replica[-1 - ref]}"
        if name == "replicate":
            return f"write {ref}"
        if name == "fetch":
            key = key_of[fetch_request[ref]]  # looked up only for a fetch shown: one still in flight has no request
            return f"v{fetch_version[ref]} of key {key}" if back else f"fetch key {key}"
        if name in ("read", "write"):
            return f"{name} key {req['key'][ref]}"
        if name == "refused":
            return f"refused: {req['reason'][ref]}" if back else f"{req['op'][ref]} key {req['key'][ref]}"
        if name == "lost":
            return f"{req['op'][ref]} key {req['key'][ref]} (lost)"
        if req["op"][ref] == "write":
            return f"ok: write {req['version'][ref]}"
        return f"v{req['version'][ref]}" + (f", stale by {req['staleness_ms'][ref]:.1f} ms" if name == "stale reply" else "")

    return what


def messages_in(results: Results, from_ms: float, to_ms: float, legs: dict | None = None) -> list[list]:
    """Every message in flight at some moment of [from_ms, to_ms]: [kind, src, via, dst, sent_ms, received_ms,
    what it carries] (kind an index in KINDS, hosts indices in the replay's `hosts`)."""
    legs = _legs(results, _hosts(results)) if legs is None else legs
    shown = np.flatnonzero((legs["sent_ms"] <= to_ms) & (legs["received_ms"] >= from_ms))
    shown = shown[np.argsort(legs["sent_ms"][shown], kind="stable")]
    hosts = _hosts(results)
    what = _carried(results)
    fetched_by = results.fetches["node"].astype(str).tolist() if results.fetches is not None else []
    out = []
    columns = [legs[c][shown].tolist() for c in ("kind", "src", "via", "dst", "sent_ms", "received_ms", "ref")]
    for kind, src, via, dst, sent_ms, received_ms, ref in zip(*columns):  # Python numbers, not a numpy scalar each
        # back: a fetch's answer ends at the node that asked; a reply or a refusal leaves a node or a balancer
        back = hosts[dst] == fetched_by[ref] if KINDS[kind] == "fetch" else not hosts[src].startswith(("clients", "region"))
        out.append([kind, src, via, dst, round(sent_ms, 4), round(received_ms, 4), what(kind, ref, back)])
    return out


__all__ = ["KINDS", "messages_in"]
