"""A network switch: up or down; the Network drops messages whose path crosses a down one."""

from __future__ import annotations

import mesa


class Switch(mesa.Agent):
    """One switch; hosts attached to it reach the rest of the network through it."""

    def __init__(self, model: mesa.Model, index: int):
        super().__init__(model)
        self.index = index
        self.name = f"switch{index}"

    @property
    def up(self) -> bool:
        return self.model.network.switch_up[self.index]

    def crash(self, now: float) -> None:
        if self.up:
            self.model.network.switch_up[self.index] = False
            self.model.recorder.event(now, "crash", self.name)

    def recover(self, now: float) -> None:
        if not self.up:
            self.model.network.switch_up[self.index] = True
            self.model.recorder.event(now, "recover", self.name)
            self.model.replication.network_healed(now)
