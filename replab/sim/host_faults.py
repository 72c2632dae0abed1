"""Faults on hosts inside one data centre: pauses, partitions, isolation and slow links.

    pause     nodeN/leader for duration_ms: a stop-the-world garbage collection; it resumes
              with the beliefs it had (replab.agents.node)
    partition hosts ('node0+app1'): cut them off from every other host; they still reach
              each other. isolate: the same, said of one host.
    slow      hosts: every message to or from them takes delay_ms longer
    heal      hosts: undo every partition that cut any of them off, and their slowness ('all': every host)

A partition or isolate with duration_ms heals itself that long after; a slow with duration_ms
ends that long after (event slow-end), leaving any partition of the same hosts in place. A host name
stands for every host of its machine (`model.machines`): a data node and the monitor beside
it, an application server's clients and balancer. 'leader' is whichever node leads when
the fault happens. Each fault is an event (pause/resume, partition/isolate/heal, slow/slow-end) whose
target names the hosts with 'leader' resolved, so the history says who was cut off.
"""

from __future__ import annotations


class HostFaults:
    """Applies one model's host faults to its nodes and network."""

    def __init__(self, model):
        self.model = model
        self.network = model.network

    def names(self, fault) -> list[str]:
        if fault.target == "all":
            return list(self.model.machines)
        return [self.model.leader.name if host == "leader" else host for host in fault.hosts]

    def hosts(self, names: list[str]) -> set[int]:
        return {host for name in names for host in self.model.machines[name]}

    def apply(self, now: float, fault) -> None:
        model = self.model
        names = self.names(fault)
        target = "+".join(names)
        if fault.action == "pause":
            node = model.nodes[int(names[0][4:])]
            if node.up and not node.paused:
                model.recorder.event(now, "pause", node.name, f"for {fault.duration_ms:g} ms")
                node.pause(now)
                model.calendar.schedule(now + fault.duration_ms, self._resume, node)
        elif fault.action in ("partition", "isolate"):
            side = self.network.split(self.hosts(names))
            model.recorder.event(now, fault.action, target, "cut off from the rest of the DC"
                                 + (f" for {fault.duration_ms:g} ms" if fault.duration_ms else ""))
            if fault.duration_ms:
                model.calendar.schedule(now + fault.duration_ms, self._unsplit, (side, target))
        elif fault.action == "slow":
            self.network.slow(self.hosts(names), fault.delay_ms)
            model.recorder.event(now, "slow", target, f"+{fault.delay_ms:g} ms a message"
                                 + (f" for {fault.duration_ms:g} ms" if fault.duration_ms else ""))
            if fault.duration_ms:
                model.calendar.schedule(now + fault.duration_ms, self._unslow, names)
        else:  # heal
            self._heal(now, names, fault.target)

    def _resume(self, now: float, node) -> None:
        if node.paused:
            self.model.recorder.event(now, "resume", node.name, "")
            node.resume(now)

    def _unsplit(self, now: float, job) -> None:
        side, target = job
        if side in self.network.splits:
            self.network.unsplit(side)
            self.model.recorder.event(now, "heal", target, "")
            self.model.replication.network_healed(now)

    def _unslow(self, now: float, names: list[str]) -> None:
        """A timed slow ends: its hosts' messages go at full speed again (a partition of them stays)."""
        if self.network.unslow(self.hosts(names)):
            self.model.recorder.event(now, "slow-end", "+".join(names), "")

    def _heal(self, now: float, names: list[str], target: str | None = None) -> None:
        if self.network.heal_hosts(self.hosts(names)):
            self.model.recorder.event(now, "heal", target or "+".join(names), "")
            self.model.replication.network_healed(now)
