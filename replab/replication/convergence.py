"""How leaderless replicas converge, and how far apart they are.

- Hinted handoff: a fallback node that took a write for an unreachable home replica keeps a
  hint (home -> versions) and sends those versions home whenever the failure detector's view
  changes or a switch comes back; once the home replica acknowledges one, the hint is dropped,
  and so is the fallback's copy of the key if it is not a home replica of it and holds no
  other hint for it.
- Anti-entropy: every `interval_ms` each live node sends a digest of the keys it shares with
  one other node (the next one in turn), which stands for the Merkle tree real systems
  exchange; the peer sends back its own, and each ships the other every version of their
  shared keys the other has not seen nor received (compared as the stores are when each
  digest arrives).
- Divergence: which home replicas lack the newest version (by write id) some node holds of a
  key, and since when: the timeline's lag_ms / lag_writes and divergent_keys.
- `everywhere_ms`: from the frames alone, how long each write took to be on all N of its home
  replicas (it, or a newer version); `convergence_figures` is the summary made of it and of
  the deliveries table (hints, hand-offs, repairs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replab.replication.ring import Ring
from replab.replication.versions import ANTI_ENTROPY, DELIVERY_KINDS, HANDOFF, HINTED_WRITE, READ_REPAIR, covers


class Divergence:
    """Home replicas lacking the newest version of a key that some node holds."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.newest: dict[int, int] = {}  # key -> newest write id any node holds
        self.behind: list[dict[int, float]] = [{} for _ in strategy.nodes]  # node -> {key: since_ms}

    def stored(self, now: float, node, key: int) -> None:
        """`node` changed what it holds of `key`."""
        held = node.store.get(key, 0)
        strategy = self.strategy
        if held > self.newest.get(key, 0):
            self.newest[key] = held
            for home in strategy.ring.replicas(key, strategy.n):
                if strategy.nodes[home].store.get(key, 0) < held:
                    self.behind[home].setdefault(key, now)
        if held >= self.newest[key]:
            self.behind[node.index].pop(key, None)

    def lag(self, now: float, node) -> tuple[float, int]:
        """(ms since the oldest version it lacks was first held somewhere, keys it lacks one of)."""
        behind = self.behind[node.index]
        if not behind:
            return 0.0, 0
        return now - min(behind.values()), len(behind)

    def keys_behind(self) -> int:
        """Keys on which some home replica lacks the newest version."""
        return len(set().union(*self.behind))


class HintedHandoff:
    """Hints held by fallback nodes, sent home when the home replica can be reached."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.in_flight: set[tuple[int, int, int]] = set()  # (fallback, home, write_id) sent, not yet acked

    def offer(self, now: float) -> None:
        """Every live fallback sends its hints to every home replica not known to be down."""
        for fallback in self.strategy.nodes:
            if fallback.up and fallback.hints:
                for home in list(fallback.hints):
                    self.offer_to(now, fallback, self.strategy.nodes[home])

    def offer_to(self, now: float, fallback, home) -> None:
        if home.index in self.strategy.model.controller.known_down:
            return
        for write_id, version in list(fallback.hints.get(home.index, {}).items()):
            mark = (fallback.index, home.index, write_id)
            if mark not in self.in_flight and self.strategy.send_version(now, fallback, home, version, HANDOFF, home):
                self.in_flight.add(mark)

    def dropped(self, delivery) -> None:
        """The hand-off or its ack was lost: offer it again next time."""
        self.in_flight.discard((delivery.sender.index, delivery.receiver.index, delivery.write_id))

    def acked(self, now: float, delivery) -> None:
        """The home replica has the version: drop the hint (and the copy, if it was only a guest)."""
        fallback, home, key = delivery.sender, delivery.receiver, delivery.key
        self.in_flight.discard((fallback.index, home.index, delivery.write_id))
        if not fallback.up:
            return  # the ack is lost with the node; the hint stays and is offered again
        self.strategy.model.recorder.deliveries.acked_ms[delivery.row] = now
        hinted = fallback.hints.get(home.index, {})
        hinted.pop(delivery.write_id, None)
        if not hinted:
            fallback.hints.pop(home.index, None)
        strategy = self.strategy
        guest = fallback.index not in strategy.ring.replicas(key, strategy.n)
        if guest and not any(v.key == key for held in fallback.hints.values() for v in held.values()):
            fallback.versions.pop(key, None)
            fallback.seen.pop(key, None)
            fallback.store.pop(key, None)


class AntiEntropy:
    """Periodic pairwise comparisons of the keys two replicas share; each sends what the other lacks."""

    def __init__(self, strategy, interval_ms: float):
        self.strategy = strategy
        self.interval_ms = interval_ms
        self.rounds = 0

    @staticmethod
    def timer_events(scenario, writes: float) -> tuple[float, str, str]:
        """The rounds' work in a run, in events of the default workload's cost (Strategy.timer_events).
        Each round every node looks at every key it holds, and each key written is held by its N
        homes: measured 0.8-2.2 events' worth a key looked at (5 nodes, 1 and 10 ms rounds, 100
        and 1,000 keys, two passes: benchmarks/size_estimate.py), and a few per node for the digests."""
        q = scenario.quorum
        if not 0 < q.anti_entropy_ms < scenario.duration_ms:
            return 0.0, "", ""
        rounds = scenario.duration_ms / q.anti_entropy_ms
        keys_looked_at = q.n * min(scenario.workload.keys, writes)
        return (rounds * (3.0 * keys_looked_at + 10.0 * q.nodes), "quorum.anti_entropy_ms",
                "quorum.anti_entropy_ms, duration_ms and workload.keys")

    def begin(self) -> None:
        if self.interval_ms > 0 and self.interval_ms < self.strategy.model.duration_ms:
            self.strategy.model.calendar.schedule(self.interval_ms, self._round, None)

    def _round(self, now: float, _) -> None:
        strategy = self.strategy
        nodes, down = strategy.nodes, strategy.model.controller.known_down
        self.rounds += 1
        if len(nodes) > 1:
            step = 1 + (self.rounds - 1) % (len(nodes) - 1)  # each round, everyone's next partner in turn
            for node in nodes:
                peer = nodes[(node.index + step) % len(nodes)]
                if node.up and node.index not in down and peer.index not in down:
                    strategy.send(now, node, peer, 0.0, self._digest, (node, peer))
        if now + self.interval_ms < strategy.model.duration_ms:
            strategy.model.calendar.schedule(now + self.interval_ms, self._round, None)

    def _digest(self, now: float, pair) -> None:
        node, peer = pair
        if peer.up:
            self._ship(now, peer, node)
            self.strategy.send(now, peer, node, 0.0, self._digest_back, pair)

    def _digest_back(self, now: float, pair) -> None:
        node, peer = pair
        if node.up:
            self._ship(now, node, peer)

    def _ship(self, now: float, sender, receiver) -> None:
        """Send `receiver` every version `sender` holds of a key both are home replicas of, that `receiver` has not seen."""
        strategy = self.strategy
        for key, versions in list(sender.versions.items()):
            homes = strategy.ring.replicas(key, strategy.n)
            if sender.index in homes and receiver.index in homes:
                seen, arriving = receiver.seen.get(key), receiver.arriving
                for version in versions:
                    # what it has received but not yet applied counts as there: sending it again
                    # would only lengthen the apply queue that is holding it back
                    if (seen is None or not covers(seen, version.vector)) and version.write_id not in arriving:
                        strategy.send_version(now, sender, receiver, version, ANTI_ENTROPY, receiver)


def everywhere_ms(writes: pd.DataFrame, applies: pd.DataFrame, ring, n: int) -> np.ndarray:
    """Per write (in write id order): from when it was sent until every one of its key's N home
    replicas held it or a newer version (by write id), in ms; NaN if one never did."""
    if not len(writes):
        return np.empty(0)
    keys = writes["key"].to_numpy()
    homes = np.array([ring.replicas(int(k), n) for k in keys], dtype=np.int64).reshape(len(keys), n)
    span = ring.nodes
    left = pd.DataFrame({"write_id": np.repeat(writes["write_id"].to_numpy(), n),
                         "group": np.repeat(keys, n) * span + homes.ravel()})
    key_of = keys[applies["write_id"].to_numpy() - 1] if len(applies) else np.empty(0, dtype=np.int64)
    right = pd.DataFrame({"write_id": applies["write_id"].to_numpy(),
                          "group": key_of * span + applies["node"].cat.codes.to_numpy(),
                          "held_ms": applies["applied_ms"].to_numpy()})
    # per (key, node): the earliest time it held any version at least as new as each write id
    right = right.sort_values(["group", "write_id"], ascending=[True, False], kind="stable")
    right["held_ms"] = right.groupby("group", sort=False)["held_ms"].cummin()
    joined = pd.merge_asof(left.sort_values("write_id", kind="stable"), right.sort_values("write_id", kind="stable"),
                           on="write_id", by="group", direction="forward")
    held = joined.sort_values("write_id", kind="stable")["held_ms"].to_numpy().reshape(len(keys), n)
    return held.max(axis=1) - writes["commit_ms"].to_numpy()  # NaN where a home replica never held it


def convergence_figures(results) -> dict:
    """Hints, hand-offs, repairs and how long writes took to reach all their replicas, from the
    frames of a leaderless run (the summary keys of replab.replication.leaderless)."""
    deliveries = results.tables["deliveries"]
    kind = deliveries["kind"].to_numpy()  # by label: a run read back from Parquet keeps labels, not codes
    taken = ~np.isnan(deliveries["applied_ms"].to_numpy())
    hinted = deliveries[(kind == DELIVERY_KINDS[HINTED_WRITE]) & taken]
    handed = deliveries[(kind == DELIVERY_KINDS[HANDOFF]) & ~np.isnan(deliveries["acked_ms"].to_numpy())]
    handed = handed.drop_duplicates(["write_id", "sender", "receiver"])
    back = handed.merge(hinted, left_on=["write_id", "sender", "receiver"], right_on=["write_id", "receiver", "home"],
                        suffixes=("", "_hint"))
    q = results.scenario.quorum
    everywhere = everywhere_ms(results.writes, results.applies, Ring(q.nodes, q.vnodes), q.n)
    reached = everywhere[~np.isnan(everywhere)]
    return {
        "hinted_writes": int(len(hinted.drop_duplicates(["write_id", "receiver", "home"]))),
        "hints_handed_off": int(len(handed)),
        "hints_pending": int(results.totals.get("hints_pending", 0)),
        "handoff_mean_ms": float((back["applied_ms"] - back["applied_ms_hint"]).mean()) if len(back) else math.nan,
        "read_repairs": int((kind == DELIVERY_KINDS[READ_REPAIR]).sum()),
        "anti_entropy_repairs": int((kind == DELIVERY_KINDS[ANTI_ENTROPY]).sum()),
        "everywhere_p50_ms": float(np.percentile(reached, 50)) if len(reached) else math.nan,
        "everywhere_p99_ms": float(np.percentile(reached, 99)) if len(reached) else math.nan,
        "not_everywhere": int(np.isnan(everywhere).sum()),
    }
