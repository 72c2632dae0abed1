"""A network switch: up or down; the Network drops messages whose path crosses a down one.

A switch may be one of a redundant pair (see replab.topology.switching): hosts cabled to both
members of the pair reroute through the partner while one is down; hosts cabled only to
the dead one are cut off until it returns.
"""

from __future__ import annotations

import mesa


class Switch(mesa.Agent):
    """One switch; hosts attached to it reach the rest of the network through it."""

    def __init__(self, model: mesa.Model, index: int, partner: int | None = None):
        super().__init__(model)
        self.index = index
        self.name = f"switch{index}"
        self.partner = partner  # the other switch of its redundant pair, None for a lone switch

    @property
    def up(self) -> bool:
        return self.model.network.switch_up[self.index]

    def crash(self, now: float) -> None:
        if self.up:
            self.model.network.switch_up[self.index] = False
            self.model.recorder.event(now, "crash", self.name, self._cut_off())

    def recover(self, now: float, heal: bool = True) -> None:
        """Back up; replication resends what the outage dropped (unless `heal` is False: the
        caller, a whole DC coming back, does that once its nodes are back too)."""
        if not self.up:
            self.model.network.switch_up[self.index] = True
            self.model.recorder.event(now, "recover", self.name, self._cut_off())
            if heal:
                self.model.replication.network_healed(now)

    def _cut_off(self) -> str:
        """For a switch of a pair: which hosts now have no live switch (lone switches: '',
        as the events of single-switch runs always read)."""
        if self.partner is None:
            return ""
        model = self.model
        net = model.network
        hosts = [(node.name, node.host) for node in model.nodes]
        if model.dcs is None:
            hosts += [("balancer", model.balancer.host), ("clients", model.client_host)]
        else:  # one balancer per DC; the clients are on their regions' access switches
            hosts += [(f"dc{b.dc} balancer", b.host) for b in model.balancer.by_dc]
        cut = [name for name, host in hosts if not any(net.switch_up[s] for s in net.switches_of[host])]
        return "cut off: " + (", ".join(cut) if cut else "none")
