"""Fault buttons for the faults that fool a failure detector (the Lab's FaultPanel shows them by name).

    "pause-leader"  pause whichever node leads at t, for a while (a garbage-collection pause)
    "cut-off"       cut a host, or the leader with an app server's clients, off from the rest
                    of the DC at t, for a while (0: until healed)
    "heal"          heal every cut and slow host at t
    "slow-node"     slow every message to or from a node by some ms, from t, for a while

Each row is a time box, what it needs besides (a target, a duration, a delay) and the button.
"""

from __future__ import annotations

import ipywidgets as widgets

HOST_BUTTONS = ("pause-leader", "cut-off", "heal", "slow-node")
SHARE_OF_RUN = {"pause-leader": 0.3, "cut-off": 0.3, "heal": 0.6, "slow-node": 0.2}
_TEXT = {"pause-leader": "pause the leader", "cut-off": "cut off", "heal": "heal hosts", "slow-node": "slow node"}
_SMALL = widgets.Layout(width="120px")
# a button keeps its width (its words were cut to "c" and "sl" in a narrow column); a row too wide wraps
BUTTON_LAYOUT = widgets.Layout(width="140px", flex="0 0 auto")
ROW_LAYOUT = widgets.Layout(flex_flow="row wrap")


def _number(description: str, value: float, high: float) -> widgets.BoundedFloatText:
    return widgets.BoundedFloatText(value=value, min=0.0, max=high, step=100.0, description=description,
                                    style={"description_width": "initial"}, layout=_SMALL)


def host_row(panel, name: str, at: widgets.BoundedFloatText) -> widgets.HBox:
    """The widgets of one host-fault button; its extra boxes go in panel.extras[name]."""
    duration = panel.lab.scenario.duration_ms
    extras = {}
    if name in ("cut-off", "slow-node"):
        panel.targets[name] = widgets.Dropdown(layout=widgets.Layout(width="120px"))
    if name != "heal":
        extras["duration_ms"] = _number("for (ms)", round(duration * 0.2), duration)
    if name == "slow-node":
        extras["delay_ms"] = _number("+ms", 50.0, 10_000.0)
    panel.extras[name] = extras
    button = widgets.Button(description=_TEXT[name], button_style="success" if name == "heal" else "warning",
                            layout=BUTTON_LAYOUT)
    button.on_click(lambda _b: panel.click(name))
    panel.buttons[name] = button
    target = [panel.targets[name]] if name in panel.targets else []
    return widgets.HBox([button, at, *target, *extras.values()], layout=ROW_LAYOUT)


def host_fault(panel, name: str) -> dict:
    """The fault a host-fault button adds, as {at_ms, action, target, ...}."""
    fault = {"at_ms": panel.times[name].value}
    extras = {key: box.value for key, box in panel.extras[name].items()}
    if name == "pause-leader":
        return fault | {"action": "pause", "target": "leader", "duration_ms": max(extras["duration_ms"], 1.0)}
    if name == "heal":
        return fault | {"action": "heal", "target": "all"}
    fault |= {"action": "partition" if name == "cut-off" else "slow", "target": panel.targets[name].value}
    fault |= {key: value for key, value in extras.items() if value}
    return fault


def host_targets(scenario, name: str) -> list[str]:
    """What a host-fault button can hit in this scenario."""
    nodes = list(scenario.node_names)
    if name == "slow-node":
        return nodes
    apps = [f"app{a}" for a in range(scenario.topology.app_servers)]
    return ["leader", *nodes, *(f"leader+{app}" for app in apps[1:]), *apps[1:], *_controller(scenario)]


def _controller(scenario) -> list[str]:
    return ["controller"] if scenario.failover.policy in ("naive", "manual") else []
