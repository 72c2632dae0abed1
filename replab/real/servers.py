"""Real Redis servers and Sentinels as child processes: their configuration and start-up.

Each node is a `redis-server` with no persistence unless asked (no RDB snapshots, no AOF),
diskless full syncs with no delay (Redis waits 5 s by default, to batch replicas), and the
DEBUG command enabled (for DEBUG SLEEP, a replica that stops serving for a while).
Sentinels monitor the primary under the name ``replab``; each writes its own config file,
as Sentinel insists on.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from replab.real.install import binary
from replab.real.processes import Child, Cleanup

MASTER_NAME = "replab"
REDIS_PORT, SENTINEL_PORT = 6379, 26379
READY_TIMEOUT_S = 10.0
PERSISTENCE = ("none", "aof-everysec", "aof-always")


class ServerFailed(RuntimeError):
    """A server did not start; the message ends with the tail of its log."""


@dataclass
class Server:
    """One redis-server or redis-sentinel of a run: where it listens and its process."""

    name: str  # node0, node1, ... or sentinel0, ...
    host: str  # the network host it lives on (its namespace)
    address: str
    port: int
    folder: Path
    child: Child | None = None
    killed: bool = False  # SIGKILLed by a fault (and not restarted)
    extra: dict = field(default_factory=dict)

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (loopback runs give each server its own)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_config(server: Server, primary: Server | None, persistence: str, min_replicas_to_write: int,
                 min_replicas_max_lag_s: int) -> str:
    lines = [
        f"bind {server.address}",
        f"port {server.port}",
        "protected-mode no",
        "daemonize no",
        f"dir {server.folder}",
        f"logfile {server.folder / 'redis.log'}",
        'save ""',
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
        "repl-timeout 10",
        "enable-debug-command yes",
    ]
    if persistence == "none":
        lines.append("appendonly no")
    else:
        lines += ["appendonly yes", f"appendfsync {persistence.split('-')[1]}"]
    if min_replicas_to_write:
        lines += [f"min-replicas-to-write {min_replicas_to_write}", f"min-replicas-max-lag {min_replicas_max_lag_s}"]
    if primary is not None:
        lines.append(f"replicaof {primary.address} {primary.port}")
    return "\n".join(lines) + "\n"


def sentinel_config(sentinel: Server, primary: Server, quorum: int, down_after_ms: int, failover_timeout_ms: int) -> str:
    return "\n".join([
        f"bind {sentinel.address}",
        f"port {sentinel.port}",
        "protected-mode no",
        "daemonize no",
        f"dir {sentinel.folder}",
        f"logfile {sentinel.folder / 'sentinel.log'}",
        f"sentinel monitor {MASTER_NAME} {primary.address} {primary.port} {quorum}",
        f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}",
        f"sentinel failover-timeout {MASTER_NAME} {failover_timeout_ms}",
        f"sentinel parallel-syncs {MASTER_NAME} 1",
    ]) + "\n"


def start(cleanup: Cleanup, prefix: list[str], server: Server, config: str, program: str = "redis-server") -> Child:
    """Write the config, start the server and wait until its log says it listens."""
    server.folder.mkdir(parents=True, exist_ok=True)
    conf = server.folder / ("sentinel.conf" if program == "redis-sentinel" else "redis.conf")
    conf.write_text(config)
    log = server.folder / ("sentinel.log" if program == "redis-sentinel" else "redis.log")
    console = server.folder / "console.log"
    seen = log.stat().st_size if log.exists() else 0  # a restart appends: read only what is new
    child = cleanup.child(server.name, [*prefix, binary(program), str(conf)], console)
    child.log = log
    server.child, server.killed = child, False
    ready = "+monitor master" if program == "redis-sentinel" else "Ready to accept connections"
    _wait_for_log(child, log, console, ready, seen)
    return child


def _wait_for_log(child: Child, log: Path, console: Path, marker: str, seen: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if log.exists() and marker.encode() in log.read_bytes()[seen:]:
            return
        if not child.alive():
            break
        time.sleep(0.01)
    child.log = log if log.exists() else console
    tail = child.log_tail() or Path(console).read_text(errors="replace").strip()[-300:]
    state = "exited" if not child.alive() else f"not ready after {READY_TIMEOUT_S:g} s"
    raise ServerFailed(f"{child.name} {state}: {tail}")
