"""Client sessions (their operations are replab.core.operation.Op).

Open loop: one Poisson stream of operations at the total rate, each given to a session
chosen uniformly (the superposition of per-session Poisson streams). Closed loop: each
session sends, waits for the outcome, thinks (exponential) and sends again.
"""

from __future__ import annotations

import mesa


class ClientSession(mesa.Agent):
    """A client session; in a closed loop it keeps one operation outstanding at a time."""

    def __init__(self, model: mesa.Model, index: int):
        super().__init__(model)
        self.index = index

    def think_then_send(self, after_ms: float) -> None:
        """Closed loop: schedule the next operation after a think time, if the run still admits one."""
        model = self.model
        at = after_ms + model.think_ms()
        if at < model.duration_ms:
            model.calendar.schedule(at, self._send, None)

    def _send(self, now: float, _):
        self.model.workload.send(now, self.index)
