"""The switch layout of one data centre: which switches exist and which ones each host is cabled to.

`topology.switching` chooses it; `topology.switches` (N) says how many switch positions:

    "single"                N lone switches. Data node i is on switch i mod N; the balancer
                            and the clients are on the first. (replab's original layout.)
    "pair-single-attached"  each position is a redundant pair: switches 2k and 2k+1, joined
                            to each other. A host has one cable, to one member of its pair:
                            the nodes of a pair alternate between its members; the balancer
                            and the clients are on the first member of the first pair.
    "pair-dual-attached"    the same pairs, but every host has a cable to both members
                            (primary first, alternating as above): it uses the first one
                            that is up, so losing one switch of a pair cuts nobody off.

A DC with a layout has `switch_count(...)` switches, numbered from `first_switch`, so a
model with several data centres calls `switch_layout` once per DC with consecutive
first switches and gets the same layout in each.
"""

from __future__ import annotations

from dataclasses import dataclass

SWITCHING = ("single", "pair-single-attached", "pair-dual-attached")


def switch_count(switches: int, switching: str) -> int:
    """Switches in one data centre: `switches` positions, two switches each when paired."""
    return switches if switching == "single" else 2 * switches


@dataclass(frozen=True)
class SwitchLayout:
    """One DC's switches, grouped into lone switches or redundant pairs, and each host's cables.

    Each attachment is a tuple of switch numbers, primary first (the order `Network.attach`
    takes them in).
    """

    switching: str
    groups: tuple[tuple[int, ...], ...]  # each a lone switch (s,) or a redundant pair (s, s + 1)

    @property
    def switches(self) -> tuple[int, ...]:
        return tuple(s for group in self.groups for s in group)

    def node(self, i: int) -> tuple[int, ...]:
        """The switches data node `i` (counted within this DC) is cabled to, primary first."""
        group = self.groups[i % len(self.groups)]
        if self.switching == "single":
            return group
        side = (i // len(self.groups)) % 2  # alternate between the pair's members
        if self.switching == "pair-single-attached":
            return (group[side],)
        return (group[side], group[1 - side])

    @property
    def balancer(self) -> tuple[int, ...]:
        """The DB load balancer's switches: the first group's first member (and its partner if dual)."""
        first = self.groups[0]
        return first if self.switching == "pair-dual-attached" else first[:1]

    @property
    def clients(self) -> tuple[int, ...]:
        """Where the clients' traffic enters the DC: cabled like the balancer."""
        return self.balancer

    def partner(self, switch: int) -> int | None:
        """The other member of `switch`'s redundant pair (None for a lone switch)."""
        for group in self.groups:
            if switch in group and len(group) == 2:
                return group[1 - group.index(switch)]
        return None


def switch_layout(topology, first_switch: int = 0) -> SwitchLayout:
    """The layout `topology.switches` and `topology.switching` describe, numbered from `first_switch`.

    `topology` is a Scenario's topology section (or anything with those two attributes).
    """
    per_group = 1 if topology.switching == "single" else 2
    groups = tuple(tuple(first_switch + per_group * k + m for m in range(per_group)) for k in range(topology.switches))
    return SwitchLayout(topology.switching, groups)


def switch_names(topology, dcs: int = 1) -> list[str]:
    """The fault targets of the switches of `dcs` data centres alike: switch0, switch1, ...
    (DC d's are numbered from d x switch_count)."""
    return [f"switch{s}" for s in range(switch_count(topology.switches, topology.switching) * dcs)]


__all__ = ["SWITCHING", "SwitchLayout", "switch_count", "switch_layout", "switch_names"]
