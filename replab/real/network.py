"""Where the real servers live: each host in its own network namespace, or all on 127.0.0.1.

With namespaces (root only) every Redis host, the client and the Sentinels get a network
namespace of their own, joined by a bridge that lives in a namespace of its own too, so the
root namespace gets no address at all and nothing is routed anywhere else. That is what
makes a *host* crash possible: cut a host's link, and whatever its kernel had not yet
delivered is gone with it, as when a machine dies. Killing a process is not the same: its
kernel still delivers every byte the process had written to its sockets.

Names start with ``replab-<pid>-`` so a run's leftovers can be found and deleted
(``cleanup_leftovers``) even after the process that made them was killed.

Without root, `LoopbackNetwork` puts every server on 127.0.0.1 and offers process-level
faults only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import subprocess
from pathlib import Path

PREFIX = "replab-"
NETNS_DIR = Path("/run/netns")
SUBNET = "10.250.0"  # inside the run's own namespaces only: nothing routes it anywhere else
CLIENT, SENTINELS, BRIDGE = "client", "sentinels", "bridge"
CLONE_NEWNET = 0x40000000
# Every host's kernel gives a TCP connection a fixed receive buffer of 128 KB (Linux's usual
# starting size) and send buffer of 1 MB, with no autotuning: how much a crash can lose then
# depends on the run, not on how far autotuning happened to grow the buffers before it.
RECEIVE_BUFFER_BYTES, SEND_BUFFER_BYTES = 131_072, 1_048_576
_IP_TIMEOUT_S = 10


class NetworkUnavailable(RuntimeError):
    """A fault or mode needs network namespaces that this machine (or user) cannot make."""


def namespaces_possible() -> str | None:
    """None if this process can make network namespaces, else one line saying why not."""
    if os.geteuid() != 0:
        return "network namespaces need root; this run uses 127.0.0.1 and process-level faults only"
    if not _which("ip"):
        return "the 'ip' command (iproute2) is missing; this run uses 127.0.0.1 and process-level faults only"
    return None


def _which(name: str) -> str | None:
    from shutil import which

    return which(name)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT_S)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


class LoopbackNetwork:
    """Every host on 127.0.0.1 (servers on distinct ports): no links to cut."""

    namespaced = False

    def __init__(self, hosts: list[str]):
        self.hosts = list(hosts)

    def address(self, host: str) -> str:
        return "127.0.0.1"

    def command_prefix(self, host: str) -> list[str]:
        return []

    def enter(self, host: str) -> None:
        """Nothing to enter: the loopback is everyone's."""

    def cut(self, host: str) -> None:
        raise NetworkUnavailable(f"cutting {host}'s links needs network namespaces (root)")

    def reconnect(self, host: str) -> None:
        raise NetworkUnavailable(f"restoring {host}'s links needs network namespaces (root)")

    def isolate(self, host: str, others: list[str]) -> None:
        raise NetworkUnavailable(f"isolating {host} needs network namespaces (root)")

    def rejoin(self, host: str, others: list[str]) -> None:
        raise NetworkUnavailable(f"rejoining {host} needs network namespaces (root)")

    def destroy(self) -> None:
        """Nothing was made."""


class NamespaceNetwork:
    """One namespace per host plus one for the bridge; addresses 10.250.0.x inside them only."""

    namespaced = True

    def __init__(self, hosts: list[str], pid: int | None = None):
        self.pid = os.getpid() if pid is None else pid
        self.hosts = list(hosts)
        self.made: list[str] = []  # namespaces created so far, deleted by destroy() whatever happened
        self._addresses = {host: f"{SUBNET}.{10 + i}" for i, host in enumerate(self.hosts)}
        self._blocked: set[tuple[str, str]] = set()

    def namespace(self, host: str) -> str:
        return f"{PREFIX}{self.pid}-{host}"

    def address(self, host: str) -> str:
        return self._addresses[host]

    def create(self) -> NamespaceNetwork:
        bridge = self._add(BRIDGE)
        _ip("-n", bridge, "link", "add", "br0", "type", "bridge")
        _ip("-n", bridge, "link", "set", "br0", "up")
        for i, host in enumerate(self.hosts):
            ns = self._add(host)
            port = f"port{i}"
            # both ends are made inside their namespaces: the root namespace never sees them
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", bridge)
            _ip("-n", bridge, "link", "set", port, "master", "br0")
            _ip("-n", bridge, "link", "set", port, "up")
            _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _fixed_socket_buffers(ns)
        return self

    def _add(self, host: str) -> str:
        name = self.namespace(host)
        _ip("netns", "add", name)
        self.made.append(name)
        return name

    def command_prefix(self, host: str) -> list[str]:
        """Run a command inside `host`'s namespace (ip execs it: the pid is the command's)."""
        return ["ip", "netns", "exec", self.namespace(host)]

    def enter(self, host: str) -> None:
        """Move the calling *thread* into `host`'s namespace: sockets it opens live there."""
        enter_namespace(self.namespace(host))

    # faults --------------------------------------------------------------------------------
    def cut(self, host: str) -> None:
        """Take the host's bridge port down: its kernel can neither send nor receive."""
        _ip("-n", self.namespace(BRIDGE), "link", "set", f"port{self.hosts.index(host)}", "down")

    def reconnect(self, host: str) -> None:
        _ip("-n", self.namespace(BRIDGE), "link", "set", f"port{self.hosts.index(host)}", "up")

    def isolate(self, host: str, others: list[str]) -> None:
        """Drop traffic between `host` and each of `others`, both ways, leaving the rest of
        its links alone (a partial partition: no netfilter needed, blackhole routes do it)."""
        for other in others:
            if (host, other) in self._blocked:
                continue
            _ip("-n", self.namespace(host), "route", "add", "blackhole", f"{self.address(other)}/32")
            _ip("-n", self.namespace(other), "route", "add", "blackhole", f"{self.address(host)}/32")
            self._blocked.add((host, other))

    def rejoin(self, host: str, others: list[str]) -> None:
        for other in others:
            if (host, other) not in self._blocked:
                continue
            _ip("-n", self.namespace(host), "route", "del", "blackhole", f"{self.address(other)}/32", check=False)
            _ip("-n", self.namespace(other), "route", "del", "blackhole", f"{self.address(host)}/32", check=False)
            self._blocked.discard((host, other))

    def destroy(self) -> None:
        """Delete every namespace this network made (processes inside must be dead first)."""
        while self.made:
            delete_namespace(self.made.pop())


def _fixed_socket_buffers(ns: str) -> None:
    settings = {"tcp_rmem": RECEIVE_BUFFER_BYTES, "tcp_wmem": SEND_BUFFER_BYTES}
    script = "; ".join(f"echo '4096 {size} {size}' > /proc/sys/net/ipv4/{name}" for name, size in settings.items())
    done = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", script], capture_output=True, text=True,
                          timeout=_IP_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"socket buffers in {ns}: {done.stderr.strip() or done.returncode}")


def enter_namespace(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


def delete_namespace(name: str) -> None:
    """Kill whatever still runs in the namespace, then delete it."""
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)
    _ip("netns", "del", name, check=False)


def run_namespaces(pid: int | None = None) -> list[str]:
    """Namespaces named after a run (every replab run's if pid is None)."""
    if not NETNS_DIR.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")
    return sorted(p.name for p in NETNS_DIR.iterdir()
                  if (m := pattern.match(p.name)) and (pid is None or int(m.group(1)) == pid))


def cleanup_leftovers() -> list[str]:
    """Delete the namespaces of replab runs whose process is gone; returns their names."""
    deleted = []
    for name in run_namespaces():
        owner = int(name[len(PREFIX):].split("-", 1)[0])
        if not _alive(owner):
            delete_namespace(name)
            deleted.append(name)
    return deleted


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
