"""What a real run will do: the scenario checked for what Redis can show, the run's own
options, its faults and the arrival plan of the workload.

Every refusal is one ScenarioError naming the field (a scenario field, a keyword of
`replab.real.run`, or ``faults[i].field`` for its extra faults), the value and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from replab import Scenario, ScenarioError

MAX_FOLLOWERS = 8  # two cores: a primary, eight replicas, Sentinels and the client already crowd them
MAX_RATE_PER_S = 5_000.0  # one Python client sends about this many operations a second at most
MAX_DURATION_MS = 600_000.0  # real time: ten minutes
MAX_CLOSED_SESSIONS = 1_000  # closed loop: one task per session
FAULT_ACTIONS = {
    "crash": "a host crash: the host's links are cut, then its process is killed (needs namespaces)",
    "kill": "a process kill (SIGKILL): the kernel still delivers what the process had written",
    "recover": "restart the node (links back up) as a replica of the current primary",
    "partition": "the host's links go down (needs namespaces); heal brings them back",
    "isolate": "cut the host off from the other nodes and the Sentinels, while clients still reach it (needs namespaces)",
    "heal": "end a partition or an isolation",
    "pause": "SIGSTOP the process; resume sends SIGCONT",
    "resume": "SIGCONT a paused process",
    "sleep": "DEBUG SLEEP: the server stops serving for duration_ms",
    "switchover": "make the target replica the primary (Redis' FAILOVER command: no acknowledged write lost) without "
                  "telling the clients, whose writes to the old primary are then refused (READONLY); runs without Sentinels",
}
NEEDS_NAMESPACES = ("crash", "partition", "isolate")
UNDO = {"partition": "heal", "isolate": "heal", "pause": "resume"}


@dataclass(frozen=True)
class RealFault:
    """One fault done for real: at `at_ms` after the workload starts, `action` hits `target`
    ('leader': whichever node is the primary then, or 'nodeN'). `duration_ms`: how long a
    sleep lasts; for partition, isolate and pause, when it is undone (0: not by itself)."""

    at_ms: float
    action: str
    target: str
    duration_ms: float = 0.0
    undoes: str = ""  # set on the heal/resume that ends a fault with a duration: that fault's action


@dataclass(frozen=True)
class RealOptions:
    """What a real run needs beyond the scenario (see `replab.real.run`)."""

    sentinels: int
    crash: str
    network: str
    persistence: str
    min_replicas_to_write: int
    min_replicas_max_lag_s: int
    value_bytes: int
    connections_per_node: int


def check_options(scenario: Scenario, sentinels, crash, network, persistence, min_replicas_to_write,
                  min_replicas_max_lag_s, value_bytes, connections_per_node) -> RealOptions:
    promote = scenario.failover.promote
    if sentinels is None:
        sentinels = 3 if promote else 0
    sentinels = _whole("sentinels", sentinels, 0, 7)
    if promote and sentinels == 0:
        raise ScenarioError("sentinels", 0, "failover.promote = true needs at least one Sentinel (1 to 7)")
    return RealOptions(
        sentinels=sentinels,
        crash=_choice("crash", crash, ("host", "process")),
        network=_choice("network", network, ("auto", "namespaces", "loopback")),
        persistence=_choice("persistence", persistence, ("none", "aof-everysec", "aof-always")),
        min_replicas_to_write=_whole("min_replicas_to_write", min_replicas_to_write, 0, scenario.topology.followers),
        min_replicas_max_lag_s=_whole("min_replicas_max_lag_s", min_replicas_max_lag_s, 1, 3600),
        value_bytes=_whole("value_bytes", value_bytes, 0, 1_000_000),
        connections_per_node=_whole("connections_per_node", connections_per_node, 1, 512),
    )


def check_scenario(scenario: Scenario) -> None:
    """Refuse what real Redis replication cannot run (one line naming the field)."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"replab.real.run needs a Scenario, not {type(scenario).__name__}")
    rules = [
        ("replication.kind", "leader-follower", "real runs are Redis leader-follower replication: must be 'leader-follower'"),
        ("replication.propagation", "push", "Redis pushes every write to its replicas: must be 'push'"),
        ("replication.fanout", 0, "real runs replicate every follower from the primary: must be 0"),
        ("dcs.count", 1, "real runs have one data centre: must be 1"),
        ("faults.mttf_ms", 0.0, "real runs take scheduled faults only: must be 0"),
    ]
    for path, wanted, allowed in rules:
        if scenario.get(path) != wanted:
            raise ScenarioError(path, scenario.get(path), allowed)
    followers = scenario.topology.followers
    if followers > MAX_FOLLOWERS:
        raise ScenarioError("topology.followers", followers, f"real runs start 0 to {MAX_FOLLOWERS} replicas")
    if scenario.replication.ack != "async" and followers == 0:
        raise ScenarioError("replication.ack", scenario.replication.ack, "needs at least one follower to wait for (or 'async')")
    if scenario.replication.reads == "followers" and followers == 0:
        raise ScenarioError("replication.reads", "followers", "needs at least one follower (or 'leader' / 'any')")
    if scenario.workload.arrival == "open" and scenario.workload.rate_per_s > MAX_RATE_PER_S:
        raise ScenarioError("workload.rate_per_s", scenario.workload.rate_per_s,
                            f"a real run's client sends at most {MAX_RATE_PER_S:,.0f} operations per second")
    if scenario.workload.arrival == "closed" and scenario.workload.sessions > MAX_CLOSED_SESSIONS:
        raise ScenarioError("workload.sessions", scenario.workload.sessions,
                            f"a closed-loop real run has 1 to {MAX_CLOSED_SESSIONS:,} sessions")
    if scenario.duration_ms > MAX_DURATION_MS:
        raise ScenarioError("duration_ms", scenario.duration_ms, f"a real run lasts at most {MAX_DURATION_MS:,.0f} ms of real time")
    for i, fault in enumerate(scenario.faults.events):
        if fault.target.startswith(("switch", "dc")):
            raise ScenarioError(f"faults.events[{i}].target", fault.target, "real runs crash and recover nodes ('leader' or 'nodeN')")
        if fault.target != "leader" and int(fault.target[4:]) > followers:
            raise ScenarioError(f"faults.events[{i}].target", fault.target, f"must be 'leader' or node0 to node{followers}")


def all_faults(scenario: Scenario, extra: Iterable, crash: str, namespaced: bool, sentinels: int) -> list[RealFault]:
    """The scenario's crash/recover faults (a crash done as `crash`: 'host' or 'process'; the
    caller makes it 'process' where namespaces cannot be made) and the extra real faults,
    checked, with their undo steps, in time order."""
    faults = [RealFault(f.at_ms, ("crash" if crash == "host" else "kill") if f.action == "crash" else f.action, f.target)
              for f in scenario.faults.events]
    nodes = scenario.topology.followers + 1
    if isinstance(extra, (str, bytes, Mapping)) or not isinstance(extra, Iterable):
        raise ScenarioError("faults", extra, "must be a list of {at_ms, action, target[, duration_ms]} tables")
    for i, item in enumerate(extra):
        faults.append(_fault(f"faults[{i}]", item, nodes))
    scheduled = len(scenario.faults.events)
    for i, fault in enumerate(faults[scheduled:]):
        if fault.action == "switchover" and sentinels:
            raise ScenarioError(f"faults[{i}].action", "switchover",
                                "is done by hand without Sentinels (sentinels=0); with them, crash the primary")
        if fault.action in NEEDS_NAMESPACES and not namespaced:
            raise ScenarioError(f"faults[{i}].action", fault.action,
                                "needs network namespaces (root); without them use 'kill', 'pause' or 'sleep'")
    undone = [RealFault(f.at_ms + f.duration_ms, UNDO[f.action], f.target, undoes=f.action)
              for f in faults if f.action in UNDO and f.duration_ms > 0]
    return sorted(faults + undone, key=lambda f: f.at_ms)


def _fault(where: str, item: Any, nodes: int) -> RealFault:
    if isinstance(item, RealFault):
        item = {k: v for k, v in item.__dict__.items() if k != "undoes"}
    if not isinstance(item, Mapping):
        raise ScenarioError(where, item, "must be a table with at_ms, action, target (and duration_ms)")
    unknown = set(item) - {"at_ms", "action", "target", "duration_ms"}
    if unknown:
        name = sorted(unknown)[0]
        raise ScenarioError(f"{where}.{name}", item[name], "is not a fault field; use at_ms, action, target, duration_ms")
    for key in ("at_ms", "action", "target"):
        if key not in item:
            raise ScenarioError(f"{where}.{key}", None, "is required")
    at_ms = _number(f"{where}.at_ms", item["at_ms"], 0.0, MAX_DURATION_MS)
    action = _choice(f"{where}.action", item["action"], tuple(FAULT_ACTIONS))
    target = item["target"]
    valid = [f"node{i}" for i in range(nodes)]
    if target != "leader" and target not in valid:
        raise ScenarioError(f"{where}.target", target, f"must be 'leader' or node0 to node{nodes - 1}")
    duration_ms = _number(f"{where}.duration_ms", item.get("duration_ms", 0.0), 0.0, MAX_DURATION_MS)
    if action == "switchover" and target == "leader":
        raise ScenarioError(f"{where}.target", target, "a switchover promotes a replica: name it ('nodeN')")
    if action == "sleep" and duration_ms <= 0:
        raise ScenarioError(f"{where}.duration_ms", duration_ms, "a sleep needs how long it lasts, above 0 ms")
    return RealFault(at_ms, action, target, duration_ms)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ScenarioError(name, value, "must be one of " + ", ".join(repr(c) for c in choices))
    return value


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise ScenarioError(name, value, f"must be a whole number from {low} to {high}")
    return int(value)


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ScenarioError(name, value, f"must be a number from {low:g} to {high:g}")
    return float(value)


# the workload's arrival plan -------------------------------------------------------------

@dataclass
class Arrivals:
    """The open-loop plan: per operation, its start (ms after the workload starts), session,
    whether it writes, and its key (1..keys, key 1 the hottest under Zipf)."""

    start_ms: np.ndarray
    session: np.ndarray
    is_write: np.ndarray
    key: np.ndarray


def key_weights(scenario: Scenario) -> np.ndarray | None:
    """The cumulative key popularity for Zipf, None for uniform."""
    w = scenario.workload
    if w.popularity == "uniform":
        return None
    cdf = np.cumsum(1.0 / np.arange(1, w.keys + 1, dtype=float) ** w.zipf_s)
    return cdf / cdf[-1]


def draw_keys(rng: np.random.Generator, scenario: Scenario, count: int, cdf: np.ndarray | None) -> np.ndarray:
    if cdf is None:
        return rng.integers(1, scenario.workload.keys + 1, count)
    return np.searchsorted(cdf, rng.random(count), side="right") + 1


def open_arrivals(scenario: Scenario) -> Arrivals:
    """Poisson arrivals at workload.rate_per_s during duration_ms, drawn from the scenario's seed."""
    w = scenario.workload
    rng = np.random.default_rng(scenario.seed)
    mean_gap_ms = 1000.0 / w.rate_per_s
    expected = scenario.duration_ms / mean_gap_ms
    gaps = rng.exponential(mean_gap_ms, int(expected + 6 * math.sqrt(expected) + 16))
    start = np.cumsum(gaps)
    start = start[start < scenario.duration_ms]
    n = len(start)
    return Arrivals(start, rng.integers(0, w.sessions, n).astype(np.int32), rng.random(n) < w.write_ratio,
                    draw_keys(rng, scenario, n, key_weights(scenario)).astype(np.int64))
