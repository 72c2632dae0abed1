"""Fault buttons: each adds one scheduled fault to the Lab's scenario (faults.events) and re-runs.

    "crash-leader"  crash whichever node leads at t          {"action": "crash", "target": "leader"}
    "recover"       bring a node back at t (default: the last node that crashed)
    "crash-node"    crash a chosen data node at t
    "crash-switch"  crash a chosen switch at t
    "fail-dc"       crash a chosen data centre at t: every switch and node in it (dcs.count > 1)
    "recover-dc"    bring a chosen data centre back at t
    "clear"         remove every scheduled fault
    and the faults that fool a failure detector: "pause-leader", "cut-off", "heal", "slow-node"
    (replab.lab.host_fault_buttons)

`Lab(..., faults=True)` shows crash-leader, recover and clear; pass a list to choose.
The time boxes only accept times inside the run (0 to duration_ms), as the Scenario does.
"""

from __future__ import annotations

import ipywidgets as widgets

from replab.lab.host_fault_buttons import (
    BUTTON_LAYOUT,
    HOST_BUTTONS,
    ROW_LAYOUT,
    SHARE_OF_RUN,
    host_fault,
    host_row,
    host_targets,
)
from replab.topology.switching import switch_names

FAULT_BUTTONS = ("crash-leader", "recover", "crash-node", "crash-switch", "fail-dc", "recover-dc", "clear", *HOST_BUTTONS)
DEFAULT_BUTTONS = ("crash-leader", "recover", "clear")
_SHARE_OF_RUN = {"crash-leader": 0.3, "recover": 0.6, "crash-node": 0.3, "crash-switch": 0.3, "fail-dc": 0.3,
                 "recover-dc": 0.7, **SHARE_OF_RUN}


class FaultPanel:
    """The fault rows of one Lab; `lab.add_fault` and `lab.clear_faults` do the work."""

    def __init__(self, lab, buttons=DEFAULT_BUTTONS):
        unknown = [b for b in buttons if b not in FAULT_BUTTONS]
        if unknown:
            raise ValueError(f"unknown fault button {unknown[0]!r}; choose from {', '.join(FAULT_BUTTONS)}")
        self.lab = lab
        self.times: dict[str, widgets.BoundedFloatText] = {}
        self.targets: dict[str, widgets.Dropdown] = {}
        self.buttons: dict[str, widgets.Button] = {}
        self.extras: dict[str, dict[str, widgets.BoundedFloatText]] = {}  # host faults' duration and delay boxes
        rows = []
        duration = lab.scenario.duration_ms
        for name in buttons:
            if name == "clear":
                button = widgets.Button(description="clear faults", icon="eraser")
                button.on_click(lambda _b: self.lab.clear_faults())
                self.buttons[name] = button
                rows.append(button)
                continue
            at = widgets.BoundedFloatText(value=round(duration * _SHARE_OF_RUN[name]), min=0.0, max=duration,
                                          step=100.0, description="at t (ms)", style={"description_width": "initial"},
                                          layout=widgets.Layout(width="150px"))
            self.times[name] = at
            if name in HOST_BUTTONS:
                rows.append(host_row(self, name, at))
                continue
            row = [at]
            if name != "crash-leader":
                self.targets[name] = widgets.Dropdown(layout=widgets.Layout(width="100px"))
                row.append(self.targets[name])
            text = {"crash-leader": "crash the leader", "recover": "recover",
                    "crash-node": "crash node", "crash-switch": "crash switch", "fail-dc": "fail DC",
                    "recover-dc": "recover DC"}[name]
            button = widgets.Button(description=text, button_style="warning" if "crash" in name or name == "fail-dc" else "success",
                                    layout=BUTTON_LAYOUT)
            button.on_click(lambda _b, name=name: self.click(name))
            self.buttons[name] = button
            rows.append(widgets.HBox([button, *row], layout=ROW_LAYOUT))
        self.listing = widgets.HTML()
        self.widget = widgets.VBox([widgets.HTML("<b>Faults</b>"), *rows, self.listing])
        self.refresh()

    def click(self, name: str):
        """What the button `name` does, callable from code: add its fault and re-run."""
        if name == "clear":
            return self.lab.clear_faults()
        if name in HOST_BUTTONS:
            return self.lab.add_fault(**host_fault(self, name))
        target = "leader" if name == "crash-leader" else self.targets[name].value
        action = "recover" if name in ("recover", "recover-dc") else "crash"
        return self.lab.add_fault(self.times[name].value, action, target)

    def refresh(self) -> None:
        """Follow the scenario: time limits, node and switch names, the list of faults."""
        scenario = self.lab.scenario
        for at in self.times.values():
            at.max = scenario.duration_ms
        for extras in self.extras.values():
            if "duration_ms" in extras:
                extras["duration_ms"].max = scenario.duration_ms
        nodes = scenario.node_names
        switches = switch_names(scenario.topology, scenario.dcs.count)
        dcs = [f"dc{d}" for d in range(scenario.dcs.count)] if scenario.dcs.count > 1 else []
        for name, dropdown in self.targets.items():
            options = (host_targets(scenario, name) if name in HOST_BUTTONS else switches if name == "crash-switch"
                       else dcs if name.endswith("-dc") else nodes)
            if list(dropdown.options) != options:
                dropdown.options = options
            if dropdown.value not in options and options:
                dropdown.value = options[0]  # a button is never left without a target
        if "recover" in self.targets:
            crashed = self._last_crashed()
            if crashed in nodes:
                self.targets["recover"].value = crashed
        faults = scenario.faults.events
        self.listing.value = ("<i>no faults scheduled</i>" if not faults else
                              "scheduled: " + "; ".join(f"{f.action} {f.target} at {f.at_ms:g} ms"
                                                        + (f" for {f.duration_ms:g} ms" if f.duration_ms else "")
                                                        + (f" (+{f.delay_ms:g} ms)" if f.delay_ms else "") for f in faults))

    def _last_crashed(self) -> str | None:
        results = self.lab.results
        if results is None:
            return None
        crashes = results.events[(results.events["kind"] == "crash") & results.events["target"].str.startswith("node")]
        return str(crashes["target"].iloc[-1]) if len(crashes) else None
