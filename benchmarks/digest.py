"""A digest of every preset's Results, to prove a speed-up changed no result.

For every preset (at its own duration) and a set of variants that reach the less-trodden
paths (sync and semi-sync acks, leader-leader keep-both with a crash, buddy with crashes,
pull from a peer, three DCs with a partition, a closed loop with least-outstanding, ...)
it hashes each frame of the Results (`pd.util.hash_pandas_object`, with the column names and
dtypes), every strategy table, the totals and the summary as JSON.

    .venv/bin/python benchmarks/digest.py --save /tmp/digest-before.json   # on the baseline
    .venv/bin/python benchmarks/digest.py --check /tmp/digest-before.json  # after a change

--check prints the cases and frames that differ and exits 1 if any does.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

import pandas as pd

import replab
from replab import Scenario
from replab.analysis.results import FRAMES

CRASH_LEADER = [{"at_ms": 1_000.0, "action": "crash", "target": "leader"},
                {"at_ms": 2_500.0, "action": "recover", "target": "node0"}]
RANDOM_FAILURES = {"faults.mttf_ms": 1_500.0, "faults.mttr_ms": 300.0}
SHORT = {"duration_ms": 3_000.0}
CRASH_NODE1 = [{"at_ms": 800.0, "action": "crash", "target": "node1"}, {"at_ms": 1_900.0, "action": "recover", "target": "node1"}]

VARIANTS = {
    "sync acks, leader crash": ("failover", {**SHORT, "replication.ack": "sync", "faults.events": CRASH_LEADER}),
    "semi-sync k=2, leader crash": ("failover", {**SHORT, "replication.ack": "semi-sync", "replication.semi_sync_k": 2,
                                                 "faults.events": CRASH_LEADER}),
    "semi-sync, random failures": ("semi-sync", {**SHORT, **RANDOM_FAILURES}),
    "leader-follower, random failures, lognormal": ("leader-follower", {**SHORT, **RANDOM_FAILURES,
                                                    "service.read.dist": "lognormal", "network.hop.dist": "lognormal"}),
    "tree chain, sync, relay crash": ("tree", {**SHORT, "replication.fanout": 1, "replication.ack": "sync",
                                                "faults.events": [{"at_ms": 800.0, "action": "crash", "target": "node2"},
                                                                  {"at_ms": 1_900.0, "action": "recover", "target": "node2"}]}),
    "tree, random failures": ("tree", {**SHORT, **RANDOM_FAILURES}),
    "leader-leader keep-both, crash": ("leader-leader", {**SHORT, "replication.conflicts": "keep-both",
                                                         "workload.keys": 20, "faults.events": CRASH_LEADER}),
    "leader-leader sync, session routing, followers": ("leader-leader", {**SHORT, "replication.ack": "sync",
                                                        "replication.write_routing": "session", "topology.followers": 1,
                                                        "workload.keys": 50, **RANDOM_FAILURES}),
    "leader-leader random failures": ("leader-leader", {**SHORT, "workload.keys": 20, **RANDOM_FAILURES}),
    "buddy with crashes": ("buddy", {**SHORT, "faults.events": [], "faults.mttf_ms": 1_000.0, "faults.mttr_ms": 200.0}),
    "buddy pairs layout": ("buddy", {"duration_ms": 6_000.0, "buddy.layout": "pairs"}),
    "pull from a peer": ("push-pull", {**SHORT, "cache.source": "peer", "faults.mttf_ms": 1_000.0,
                                       "faults.mttr_ms": 200.0}),
    "pull ttl 0": ("push-pull", {**SHORT, "cache.ttl_ms": 0.0}),
    "three-dc with a partition": ("three-dc", {**SHORT, "faults.events": [
        {"at_ms": 1_000.0, "action": "partition", "target": "dc1"}, {"at_ms": 2_000.0, "action": "heal", "target": "dc1"}]}),
    "three-dc sticky, ignore-ttl, weighted": ("three-dc", {"duration_ms": 10_000.0, "sessions.sticky_dc": True, "dns.policy": "weighted",
                                                           "dns.ignore_ttl_share": 0.5}),
    "closed loop, least-outstanding": ("leader-follower", {**SHORT, "workload.arrival": "closed",
                                                           "balancer.policy": "least-outstanding", "workload.think_ms": 20.0}),
    "closed loop, zipf, random balancer": ("leader-follower", {**SHORT, "workload.arrival": "closed", "balancer.policy": "random",
                                                               "workload.popularity": "zipf", "workload.think_ms": 5.0}),
    "sticky and key-hash": ("leader-follower", {**SHORT, "balancer.policy": "sticky", "replication.reads": "any"}),
    "key-hash, apply concurrency 2, constant hops": ("leader-follower", {**SHORT, "balancer.policy": "key-hash",
                                                    "topology.apply_concurrency": 2, "network.hop.dist": "constant"}),
    "overloaded follower (timeouts)": ("leader-follower", {**SHORT, "workload.rate_per_s": 9_000.0,
                                                           "workload.timeout_ms": 50.0}),
    "switches 2, lone, switch crash": ("leader-follower", {**SHORT, "topology.switches": 2, "faults.events": [
        {"at_ms": 500.0, "action": "crash", "target": "switch1"}, {"at_ms": 1_500.0, "action": "recover", "target": "switch1"}]}),
    "switch pairs, single-attached": ("switch-pair", {"duration_ms": 7_000.0, "topology.switches": 2, "topology.switching": "pair-single-attached"}),
    "no promotion, sync": ("no-promotion", {**SHORT, "replication.ack": "sync"}),
    "leaderless, 50 keys, R asked, client coordinates": ("leaderless", {**SHORT, "workload.keys": 50, "quorum.read_from": "r",
                                                                       "quorum.coordinator": "client"}),
    "leaderless, W written, no repair, any coordinator": ("leaderless", {**SHORT, "workload.keys": 50, "quorum.write_to": "w",
                                                                        "quorum.read_repair": False, "quorum.r": 1,
                                                                        "quorum.w": 1, "quorum.coordinator": "any"}),
    "leaderless strict, crash, anti-entropy, keep-both": ("leaderless", {**SHORT, "workload.keys": 20, "quorum.sloppy": False,
                                                                        "quorum.anti_entropy_ms": 200.0,
                                                                        "quorum.conflicts": "siblings",
                                                                        "faults.events": CRASH_NODE1}),
}


def _hash_frame(frame: pd.DataFrame | None) -> str:
    if frame is None:
        return "none"
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()[:16]


def digest(results) -> dict[str, str]:
    out = {name: _hash_frame(getattr(results, name)) for name in FRAMES}
    for name, frame in sorted(results.tables.items()):
        out[f"table:{name}"] = _hash_frame(frame)
    out["totals"] = hashlib.sha256(json.dumps(results.totals, sort_keys=True, default=float).encode()).hexdigest()[:16]
    out["summary"] = hashlib.sha256(json.dumps(results.summary, default=float).encode()).hexdigest()[:16]
    return out


def cases() -> dict[str, Scenario]:
    found = {f"preset {name}": Scenario.preset(name) for name in Scenario.presets()}
    for name, (preset, fields) in VARIANTS.items():
        found[name] = Scenario.preset(preset).replace(**fields)
    return found


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", help="write the digests to this JSON file")
    parser.add_argument("--check", help="compare with the digests in this JSON file")
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    args = parser.parse_args(argv)
    got = {}
    start = time.process_time()
    for name, scenario in cases().items():
        if args.only and args.only not in name:
            continue
        got[name] = digest(replab.run(scenario))
    print(f"{len(got)} cases in {time.process_time() - start:.1f} CPU s")
    if args.save:
        with open(args.save, "w") as out:
            json.dump(got, out, indent=1)
    if args.check:
        with open(args.check) as saved:
            want = json.load(saved)
        differ = [(name, part) for name, parts in got.items() for part, value in parts.items()
                  if want.get(name, {}).get(part) != value]
        for name, part in differ:
            print(f"DIFFERS: {name}: {part}")
        print("identical" if not differ else f"{len(differ)} digests differ")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
