"""Faults done for real, each logged as an event of the run.

- crash: a host crash. The host's links are cut first, then its process is SIGKILLed, so
  whatever its kernel had not yet delivered dies with it (as when a machine dies). A bare
  process kill loses nothing the process had written to a socket: its kernel delivers it.
- kill: the process alone is SIGKILLed; its links stay up.
- partition / heal: the host's links go down / come back; isolate cuts it off from the
  other nodes and the Sentinels only, so clients still reach it (split brain).
- pause / resume: SIGSTOP / SIGCONT. sleep: DEBUG SLEEP (the server stops serving a while).
- switchover: a replica made the primary by Redis' own FAILOVER command (it waits for the
  replica to catch up, so nothing acknowledged is lost); no Sentinel tells the clients.
- recover: links back up, and a dead process restarted as a replica of the current primary
  (the primary itself if nobody took over), empty unless the run keeps an AOF.
"""

from __future__ import annotations

import asyncio
import signal

from replab.real.plan import RealFault
from replab.real.servers import Server

SENTINELS = "sentinels"


class FaultDoer:
    """Applies a run's faults to its servers and network, on the thread that started them
    (so a restarted server's parent-death signal is tied to a thread that lives on)."""

    def __init__(self, servers: list[Server], network, log, restart, sleeper, sentinels: bool, switch_over):
        self.servers, self.network, self.log = servers, network, log
        self.restart = restart  # restart(node index, primary index or None): start the process again
        self.sleeper = sleeper  # sleeper(node index, seconds): DEBUG SLEEP, sent from the client's loop
        self.sentinels = sentinels
        self.switch_over = switch_over  # switch_over(node index): that replica leads, the others follow it
        self.cut: set[int] = set()
        self.isolated: set[int] = set()
        self._leader_hit: dict[str, int] = {}  # action -> the node 'leader' meant when it was done

    def apply(self, fault: RealFault) -> None:
        node = self.log.primary if fault.target == "leader" else int(fault.target[4:])
        if fault.target == "leader":
            # a fault's own undo hits the node the fault hit, even if another leads by then
            node = self._leader_hit.pop(fault.undoes, node) if fault.undoes else node
            self._leader_hit[fault.action] = node
        server = self.servers[node]
        name, role = server.name, "leader" if node == self.log.primary else "follower"
        action = fault.action
        if action in ("crash", "kill"):
            if server.killed:
                return  # dead already: nothing happens, as in the model
            if action == "crash" and node not in self.cut:
                self.network.cut(server.host)
                self.cut.add(node)
            server.child.kill()
            server.killed = True
            how = "host crash: links cut, then SIGKILL" if action == "crash" else "process killed (SIGKILL); links stay up"
            self.log.event("crash", name, f"{role}; {how}")
        elif action == "recover":
            self._recover(node, server)
        elif action == "partition":
            self.network.cut(server.host)
            self.cut.add(node)
            self.log.event("partition", name, f"{role}; its links are down: nobody reaches it")
        elif action == "isolate":
            self.network.isolate(server.host, self._peers(node))
            self.isolated.add(node)
            self.log.event("isolate", name, f"{role}; cut off from the other nodes and the Sentinels, clients still reach it")
        elif action == "heal":
            self._heal(node, server)
        elif action in ("pause", "resume"):
            if not server.killed:
                server.child.signal(signal.SIGSTOP if action == "pause" else signal.SIGCONT)
                self.log.event(action, name, f"{role}; {'SIGSTOP' if action == 'pause' else 'SIGCONT'}")
        elif action == "switchover" and not server.killed and node != self.log.primary:
            self.switch_over(node)
            self.log.primary = node
            self.log.event("promote", name, "switchover (FAILOVER TO): the primary waited for it to catch up, "
                                            "then they swapped roles; nobody tells the clients")
        elif action == "sleep" and not server.killed:
            self.sleeper(node, fault.duration_ms / 1000.0)
            self.log.event("sleep", name, f"{role}; DEBUG SLEEP {fault.duration_ms / 1000.0:g} s")

    def _peers(self, node: int) -> list[str]:
        hosts = [s.host for i, s in enumerate(self.servers) if i != node]
        return hosts + ([SENTINELS] if self.sentinels else [])

    def _heal(self, node: int, server: Server) -> None:
        what = []
        if node in self.cut:
            self.network.reconnect(server.host)
            self.cut.discard(node)
            what.append("links up")
        if node in self.isolated:
            self.network.rejoin(server.host, self._peers(node))
            self.isolated.discard(node)
            what.append("rejoined the other nodes and the Sentinels")
        if what:
            self.log.event("heal", server.name, "; ".join(what))

    def _recover(self, node: int, server: Server) -> None:
        if not server.killed:
            if server.child.stopped:
                server.child.signal(signal.SIGCONT)
            self._heal(node, server)
            return
        if node in self.cut:
            self.network.reconnect(server.host)
            self.cut.discard(node)
        primary = self.log.primary
        self.restart(node, None if primary == node else primary)
        upstream = "as the primary (nobody took over)" if primary == node else f"as a replica of {self.servers[primary].name}"
        self.log.event("recover", server.name, f"restarted {upstream}")

    def end(self) -> None:
        """The workload is over: wake paused processes so the read-back can reach them."""
        for server in self.servers:
            if not server.killed and server.child.stopped:
                server.child.signal(signal.SIGCONT)
                self.log.event("resume", server.name, "SIGCONT at the end of the run, for the read-back")


async def debug_sleep(client, seconds: float) -> None:
    """DEBUG SLEEP on a connection of its own; the reply comes when the sleep is over."""
    try:
        async with asyncio.timeout(seconds + 5.0):
            await client.execute_command("DEBUG", "SLEEP", f"{seconds:.3f}")
    except Exception:
        pass  # the node died or was cut off meanwhile: the sleep is moot
