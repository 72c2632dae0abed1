"""How big a run will be, estimated from its scenario alone, before anything runs.

A valid scenario can still ask for more than a machine has: `duration_ms = 1e8` at the
default rate is 200 million requests (~60 GB of history), `record.sample_ms = 1` over a long
run is a timeline row per node per millisecond, and some values make a loop that takes
no simulated time at all (random crashes every 1e-300 ms, a closed loop whose operations
time out after 1e-300 ms): the event calendar would never reach the end of the run.

`estimate(scenario)` counts requests, writes, replica applies and reads, timeline samples,
fault events and the work of timers that tick whatever the workload does (DNS health checks,
a strategy's heartbeats and anti-entropy rounds: `Strategy.timer_events`) from the fields,
with the per-row costs measured on this code (see MEASURED), and
`check_size(scenario)` refuses a run past what the machine has (its available memory) or
past MAX_EVENTS, naming the fields behind the largest term; `force=True` (`--force`)
overrides that, but never a run past CEILING_EVENTS, which no machine finishes.
The estimate is deliberately simple and on the high side; the event calendar's own guard
(replab.core.calendar) stops a run whose simulated time stops advancing anyway.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass
from pathlib import Path

from replab.core.field import ScenarioError
from replab.replication import STRATEGIES

# Measured on this code (benchmarks: leader-follower preset, 50 to 200 s simulated, peak RSS):
# bytes of history and frames per request, committed write, replica apply, timeline row,
# and events of the calendar per request and per apply; the process's own size at start.
MEASURED = {"request_bytes": 250, "write_bytes": 250, "apply_bytes": 200, "sample_bytes": 450,
            "event_row_bytes": 300, "events_per_request": 5.0, "events_per_apply": 3.0,
            "replica_read_bytes": 120, "events_per_replica_read": 3.5,  # leaderless: README, "Size guard"
            "base_bytes": 300 * 2**20, "events_per_s": 500_000}
MAX_EVENTS = 2e9  # about an hour of one core (benchmarks/README.md: ~600,000 events/s): past it, ask for --force
CEILING_EVENTS = 1e12  # months of computing: refused even when forced
MEMORY_SHARE = 0.8  # of the available memory a run may plan to use (the rest: the OS, the notebook)


@dataclass(frozen=True)
class RunSize:
    """The expected size of one run (counts are expectations, not bounds)."""

    requests: float
    writes: float
    applies: float
    samples: float
    fault_events: float
    events: float
    memory_bytes: float
    wall_s: float  # on a machine like the one MEASURED was taken on
    drivers: dict  # term -> the fields that set it, e.g. {"requests": "duration_ms x workload.rate_per_s"}
    replica_reads: float = 0.0  # replicas asked by client reads (leaderless quorum reads)
    health_events: float = 0.0  # the DNS health checks' events (inside `events`)
    timer_events: float = 0.0  # the strategy's own timers' work, in events (inside `events`)
    timer_field: str = ""  # the field that sets it most directly

    def describe(self) -> str:
        memory = _bytes(self.memory_bytes)
        return (f"about {_count(self.requests)} requests, {_count(self.events)} events and "
                + ("unbounded memory" if memory == "unbounded" else f"{memory} of memory"))


def estimate(scenario) -> RunSize:
    """The size of one run of `scenario` (a Scenario), from its fields alone (~0.3 ms)."""
    s = scenario
    duration_ms, end_ms = s.duration_ms, s.duration_ms + s.workload.timeout_ms
    nodes = len(s.node_names)
    requests, request_fields = _requests(s, nodes)
    writes = requests * s.workload.write_ratio
    strategy = STRATEGIES[s.replication.kind].for_scenario(s)
    applies = writes * strategy.copies_per_write(s)
    replica_reads = (requests - writes) * strategy.replica_reads_per_read(s)
    samples = nodes * (math.floor(end_ms / s.record.sample_ms) + 1)
    fault_events = 2.0 * len(s.faults.events)
    fault_fields = "faults.events"
    if s.faults.mttf_ms > 0:
        fault_events += 2.0 * nodes * duration_ms / (s.faults.mttf_ms + s.faults.mttr_ms)
        fault_fields = "faults.mttf_ms and faults.mttr_ms"
    health = s.dcs.count * end_ms / s.dns.health_interval_ms * 4 if s.dcs.count > 1 else 0.0
    timers, timer_field, timer_fields = strategy.timer_events(s, writes)
    m = MEASURED
    events = (requests * m["events_per_request"] + applies * m["events_per_apply"]
              + replica_reads * m["events_per_replica_read"] + fault_events * 4 + health + timers)
    memory = (m["base_bytes"] + requests * m["request_bytes"] + writes * m["write_bytes"] + applies * m["apply_bytes"]
              + replica_reads * m["replica_read_bytes"]
              + samples * m["sample_bytes"] + (fault_events + health) * m["event_row_bytes"])
    drivers = {"requests": request_fields, "applies": f"{request_fields}, workload.write_ratio and the replicas",
               "samples": "record.sample_ms and duration_ms", "fault_events": fault_fields,
               "health": "dns.health_interval_ms and duration_ms", "timers": timer_fields}
    return RunSize(requests, writes, applies, samples, fault_events, events, memory,
                   (events + samples) / m["events_per_s"], drivers, replica_reads, health, timers, timer_field)


def _requests(s, nodes: int) -> tuple[float, str]:
    """Expected client operations. Open loop: rate x duration. Closed loop: each session
    thinks, then waits for its answer or its time-out, whichever is first; the answer takes
    at least the unloaded round trip, and longer when the sessions outnumber what the
    workers can serve (Little's law)."""
    w = s.workload
    if w.arrival == "open":
        return w.rate_per_s * s.duration_ms / 1000.0, "duration_ms and workload.rate_per_s"
    service_ms = (1 - w.write_ratio) * s.service.read.mean_ms + w.write_ratio * s.service.write.mean_ms
    round_trip_ms = 4 * s.network.hop.mean_ms + service_ms + (2 * s.dcs.wan_ms if s.dcs.count > 1 else 0.0)
    capacity_per_ms = nodes * s.topology.workers / service_ms if service_ms > 0 else math.inf
    queued_ms = w.sessions / capacity_per_ms - w.think_ms
    answer_ms = min(w.timeout_ms, max(round_trip_ms, queued_ms))
    cycle_ms = w.think_ms + answer_ms
    fields = ("duration_ms, workload.sessions and workload.think_ms, workload.timeout_ms, "
              "service.*.mean_ms and network.hop.mean_ms")
    return (math.inf if cycle_ms <= 0 else w.sessions * s.duration_ms / cycle_ms), fields


def available_memory_bytes() -> float | None:
    """Memory this process may still use: the least of what the OS has available, the
    cgroup's limit left (containers) and the address-space limit (ulimit -v); None if unknown."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit, used = (Path("/sys/fs/cgroup", name).read_text().strip() for name in ("memory.max", "memory.current"))
        if limit != "max":
            found.append(int(limit) - int(used))
    except (OSError, ValueError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft not in (resource.RLIM_INFINITY, -1):
        found.append(soft - _address_space_in_use())
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return float(max(0, min(found)))


def _address_space_in_use() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class RunTooBig(ScenarioError):
    """A valid scenario this machine cannot run (or not without being told to try)."""


def check_size(scenario, force: bool = False, at_once: int = 1, what: str = "the run") -> RunSize:
    """Refuse a run that cannot end, or (unless `force`) one past the memory this machine has
    available or past MAX_EVENTS; `at_once` runs of it share the memory (a sweep's workers)."""
    size = estimate(scenario)
    field, driver = _largest_term(scenario, size)
    if not size.events < CEILING_EVENTS or not math.isfinite(size.memory_bytes):
        raise RunTooBig(field, scenario.get(field), f"{what} would never end: {size.describe()} "
                                                    f"(set by {driver}); no --force makes that finish")
    if force:
        return size
    available = available_memory_bytes()
    needed = size.memory_bytes * at_once
    if available is not None and needed > MEMORY_SHARE * available:
        shared = f" for {at_once} runs at once" if at_once > 1 else ""
        raise RunTooBig(field, scenario.get(field), f"{what} would need {size.describe()}{shared}, "
                        f"more than this machine has available ({_bytes(available)}); the largest part is set by "
                        f"{driver}. Make it smaller, or force it (--force; force=True)")
    if size.events > MAX_EVENTS:
        raise RunTooBig(field, scenario.get(field), f"{what} would take {size.describe()}, about "
                        f"{size.wall_s / 3600:,.1f} hours; the largest part is set by {driver}. Make it smaller, "
                        "or force it (--force; force=True)")
    return size


class TimeStopped(ScenarioError):
    """The run's simulated time stopped advancing (a loop of events that takes no time)."""


TINY_MS = 1e-3  # a microsecond: time fields below it are the usual suspects of a stalled run


def time_stopped(scenario, at_ms: float, events: int) -> TimeStopped:
    """The error for a run whose simulated time stopped at `at_ms`, naming the time fields
    small enough to make a loop of events that takes no time."""
    tiny = [(f.path, scenario.get(f.path)) for f in scenario.fields()
            if f.kind == "float" and f.path.endswith("_ms") and 0 < scenario.get(f.path) < TINY_MS]
    field, value = tiny[0] if tiny else ("duration_ms", scenario.duration_ms)
    suspects = (" - look at " + ", ".join(f"{p} = {v:g}" for p, v in tiny)) if tiny else ""
    return TimeStopped(field, value, f"simulated time stopped advancing at {at_ms:g} ms ({events:,} events "
                                     f"within a nanosecond of it): a loop of events that takes no time{suspects}")


def _largest_term(scenario, size: RunSize) -> tuple[str, str]:
    """The field to name (the first of the fields behind the largest term) and the fields."""
    m = MEASURED
    terms = {"requests": size.requests * m["request_bytes"] + size.replica_reads * m["replica_read_bytes"],
             "applies": size.applies * m["apply_bytes"],
             "samples": size.samples * m["sample_bytes"], "fault_events": size.fault_events * m["event_row_bytes"] * 4,
             "health": size.health_events * m["event_row_bytes"], "timers": size.timer_events * m["event_row_bytes"]}
    term = max(terms, key=lambda t: math.inf if math.isnan(terms[t]) else terms[t])
    driver = size.drivers[term]
    first = {"requests": "duration_ms", "applies": "duration_ms", "samples": "record.sample_ms",
             "fault_events": "faults.mttf_ms" if scenario.faults.mttf_ms > 0 else "faults.events",
             "health": "dns.health_interval_ms", "timers": size.timer_field}[term]
    w = scenario.workload
    if term in ("requests", "applies") and w.arrival == "closed" and w.sessions * scenario.duration_ms / size.requests < TINY_MS:
        # a closed loop whose cycle takes no time: name what makes it short
        first = "workload.timeout_ms" if w.timeout_ms < TINY_MS else "network.hop.mean_ms" \
            if scenario.network.hop.mean_ms < TINY_MS else "service.read.mean_ms"
    return first, driver


def _count(n: float) -> str:
    if not math.isfinite(n) or n >= 1e15:
        return "unboundedly many" if not math.isfinite(n) else f"{n:.1e}"
    return f"{n:,.0f}"


def _bytes(n: float) -> str:
    if not math.isfinite(n) or n >= 2**60:
        return "unbounded"
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 1024:,.0f} KB"


__all__ = ["CEILING_EVENTS", "MAX_EVENTS", "MEASURED", "RunSize", "RunTooBig", "TimeStopped", "available_memory_bytes",
           "check_size", "estimate", "time_stopped"]
