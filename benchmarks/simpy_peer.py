"""replab beside a SimPy model of the same leader-follower workload, in one process.

The peer is written plainly, the way a SimPy user would: a process per client request, a
`Resource` of workers per node, a `Store` per follower for its replication stream drained
by one applier process (single-threaded apply), a `Resource` for the leader's outbound
link, stdlib `random` draws, and every request and apply kept as a row (then a DataFrame).

What both model (replab's `leader-follower` preset, the issue's workload):
- open-loop Poisson arrivals, 2000 per simulated s, 20 % writes, uniform keys of 1000;
- one leader and 3 followers, 4 workers each; reads round-robin over the followers,
  writes to the leader; exponential service: read 1 ms, write 2 ms, apply 1 ms;
- every message (client -> balancer -> node -> balancer -> client) crosses one switch:
  two hops of exponential 0.1 ms each;
- async acks; at commit the leader ships the entry to each follower over its one outbound
  link (0.05 ms an entry), on an ordered channel (an entry never overtakes the one before);
- each follower applies one entry at a time, its applies competing with reads for workers;
- arrivals stop at the duration; the run goes on for the 1 s client time-out after it.

Checked to be the same model by the means printed beside the ratio (read and write latency,
lag from commit to apply, requests and applies, utilisation of the followers): they agree within
sampling noise (different random draws). One known difference: replab queues an apply at its
arrival (FIFO with the reads by arrival time, one apply at a time), while the peer's applier
asks for a worker only when it takes the next entry, after the previous apply; at ~35 %
utilisation the two orders rarely differ.

    .venv/bin/python benchmarks/simpy_peer.py [--repeat 5] [--durations 20 60]

Reports, per simulated duration, the best of N CPU times of each (runs interleaved: the
machine is shared) and the ratio peer / replab. replab's time includes building its Results
(every frame and the summary); the peer's includes its two DataFrames.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import time

import numpy as np
import pandas as pd
import simpy

from replab import ReplicationModel, Results, Scenario

RATE_PER_S = 2000.0
WRITE_RATIO = 0.2
KEYS = 1000
SESSIONS = 100
FOLLOWERS = 3
WORKERS = 4
READ_MS, WRITE_MS, APPLY_MS = 1.0, 2.0, 1.0
HOP_MS = 0.1
SHIP_MS = 0.05
TIMEOUT_MS = 1000.0
SAMPLE_MS = 100.0


def replab_scenario(duration_ms: float) -> Scenario:
    """replab's side: the leader-follower preset, checked field by field against the peer's constants."""
    s = Scenario.preset("leader-follower").replace(duration_ms=duration_ms)
    assert (s.workload.rate_per_s, s.workload.write_ratio, s.workload.keys, s.workload.sessions) == (RATE_PER_S, WRITE_RATIO, KEYS, SESSIONS)
    assert (s.topology.followers, s.topology.workers, s.topology.apply_concurrency, s.topology.switches) == (FOLLOWERS, WORKERS, 1, 1)
    assert [(d.dist, d.mean_ms) for d in (s.service.read, s.service.write, s.service.apply, s.network.hop)] == \
        [("exponential", READ_MS), ("exponential", WRITE_MS), ("exponential", APPLY_MS), ("exponential", HOP_MS)]
    assert (s.replication.ack, s.replication.reads, s.replication.ship_ms, s.balancer.policy) == ("async", "followers", SHIP_MS, "round-robin")
    assert (s.workload.arrival, s.workload.popularity, s.workload.timeout_ms, s.record.sample_ms) == ("open", "uniform", TIMEOUT_MS, SAMPLE_MS)
    return s


def run_replab(duration_ms: float) -> Results:
    model = ReplicationModel(replab_scenario(duration_ms)).run()
    return Results.from_model(model)


# the SimPy peer --------------------------------------------------------------------------------
class Node:
    def __init__(self, env: simpy.Environment, index: int):
        self.index = index
        self.workers = simpy.Resource(env, capacity=WORKERS)
        self.link = simpy.Resource(env, capacity=1)  # outbound replication link
        self.inbox = simpy.Store(env)  # replicated writes waiting to be applied, in log order
        self.store: dict[int, int] = {}  # key -> write id visible here
        self.channel_clear = 0.0  # ordered stream to this node: when the last entry arrives


class Peer:
    """The same system in SimPy: arrivals -> balancer -> node -> back; ship and apply."""

    def __init__(self, duration_ms: float, seed: int = 1):
        self.env = env = simpy.Environment()
        self.duration_ms = duration_ms
        self.rng = random.Random(seed)
        self.leader = Node(env, 0)
        self.followers = [Node(env, i) for i in range(1, FOLLOWERS + 1)]
        self.next_follower = 0
        self.commit_ms: list[float] = []  # per write id - 1
        self.requests: list[tuple] = []
        self.applies: list[tuple] = []
        self.samples: list[tuple] = []
        env.process(self.arrivals())
        env.process(self.monitor())
        for follower in self.followers:
            env.process(self.applier(follower))

    def hop(self) -> float:
        return self.rng.expovariate(1.0 / HOP_MS)

    def arrivals(self):
        env, rng = self.env, self.rng
        request_id = 0
        while True:
            yield env.timeout(rng.expovariate(RATE_PER_S / 1000.0))
            if env.now >= self.duration_ms:
                return
            request_id += 1
            session = rng.randrange(SESSIONS)
            is_write = rng.random() < WRITE_RATIO
            key = rng.randint(1, KEYS)
            env.process(self.request(request_id, session, is_write, key))

    def request(self, request_id: int, session: int, is_write: bool, key: int):
        env, rng = self.env, self.rng
        start = env.now
        yield env.timeout(self.hop() + self.hop())  # client -> balancer
        if is_write:
            node = self.leader
        else:
            self.next_follower = (self.next_follower + 1) % FOLLOWERS
            node = self.followers[self.next_follower]
        yield env.timeout(self.hop() + self.hop())  # balancer -> node
        with node.workers.request() as worker:
            yield worker
            yield env.timeout(rng.expovariate(1.0 / (WRITE_MS if is_write else READ_MS)))
        if is_write:
            self.commit_ms.append(env.now)
            version = len(self.commit_ms)
            node.store[key] = version
            for follower in self.followers:
                env.process(self.ship(follower, version, key))
        else:
            version = node.store.get(key, 0)
        yield env.timeout(self.hop() + self.hop() + self.hop() + self.hop())  # node -> balancer -> client
        self.requests.append((request_id, session, is_write, key, node.index, start, env.now, version))

    def ship(self, follower: Node, write_id: int, key: int):
        env = self.env
        with self.leader.link.request() as link:
            yield link
            yield env.timeout(SHIP_MS)
        arrives = max(env.now + self.hop() + self.hop(), follower.channel_clear)  # never overtakes the entry before
        follower.channel_clear = arrives
        yield env.timeout(arrives - env.now)
        follower.inbox.put((write_id, key, env.now))

    def applier(self, node: Node):
        env, rng = self.env, self.rng
        while True:
            write_id, key, received = yield node.inbox.get()
            with node.workers.request() as worker:
                yield worker
                yield env.timeout(rng.expovariate(1.0 / APPLY_MS))
            if write_id > node.store.get(key, 0):
                node.store[key] = write_id
            self.applies.append((write_id, node.index, received, env.now))

    def monitor(self):
        env = self.env
        while True:
            yield env.timeout(SAMPLE_MS)
            for node in [self.leader, *self.followers]:
                self.samples.append((env.now, node.index, len(node.workers.queue), node.workers.count))

    def run(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        self.env.run(until=self.duration_ms + TIMEOUT_MS)
        requests = pd.DataFrame(self.requests, columns=["request_id", "session", "is_write", "key", "node",
                                                        "start_ms", "end_ms", "version"])
        requests["latency_ms"] = requests["end_ms"] - requests["start_ms"]
        applies = pd.DataFrame(self.applies, columns=["write_id", "node", "received_ms", "applied_ms"])
        applies["lag_ms"] = applies["applied_ms"] - np.asarray(self.commit_ms)[applies["write_id"].to_numpy() - 1]
        return requests, applies


# the comparison ---------------------------------------------------------------------------------
def _cpu(fn, *args):
    gc.collect()
    start = time.process_time()
    out = fn(*args)
    return time.process_time() - start, out


def same_model(results: Results, peer: tuple[pd.DataFrame, pd.DataFrame], duration_ms: float) -> list[tuple]:
    """Figures both should agree on (within sampling noise): (what, replab, peer)."""
    requests, applies = peer
    served = results.requests[results.requests["outcome"] == "served"]
    replab_lag = results.applies["applied_ms"].to_numpy() - \
        results.writes["commit_ms"].to_numpy()[results.applies["write_id"].to_numpy() - 1]
    run_ms = duration_ms + TIMEOUT_MS
    return [
        ("requests", len(results.requests), len(requests)),
        ("applies", len(results.applies), len(applies)),
        ("mean read latency ms", served.loc[served["op"] == "read", "latency_ms"].mean(),
         requests.loc[~requests["is_write"], "latency_ms"].mean()),
        ("mean write latency ms", served.loc[served["op"] == "write", "latency_ms"].mean(),
         requests.loc[requests["is_write"], "latency_ms"].mean()),
        ("mean commit-to-apply lag ms", float(np.mean(replab_lag)), applies["lag_ms"].mean()),
        ("follower utilisation", float(results.timeline.loc[results.timeline["role"] == "follower", "utilisation"].mean()),
         # busy worker-ms per follower: reads and applies over the run, out of 4 workers
         ((~requests["is_write"]).sum() * READ_MS + len(applies) * APPLY_MS) / (FOLLOWERS * WORKERS * run_ms)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each per duration (best CPU time kept)")
    parser.add_argument("--durations", type=float, nargs="+", default=[20.0, 60.0], help="simulated seconds")
    args = parser.parse_args()
    run_replab(200.0)  # warm lazy imports and caches on both sides
    Peer(200.0).run()
    for duration_s in args.durations:
        duration_ms = duration_s * 1000.0
        best_replab = best_peer = math.inf
        for _ in range(args.repeat):  # interleaved, so both see the same load
            cpu, results = _cpu(run_replab, duration_ms)
            best_replab = min(best_replab, cpu)
            cpu, peer = _cpu(lambda d: Peer(d).run(), duration_ms)
            best_peer = min(best_peer, cpu)
        print(f"{duration_s:g} s simulated: replab {best_replab:.3f} CPU s, SimPy peer {best_peer:.3f} CPU s, "
              f"ratio {best_peer / best_replab:.2f}x (best of {args.repeat}, interleaved)")
        for what, ours, theirs in same_model(results, peer, duration_ms):
            print(f"    {what:<30}{ours:>12.4g}{theirs:>12.4g}")
        del results, peer


if __name__ == "__main__":
    main()
