"""Widgets generated from the Scenario's fields, so a control cannot hold a value the model rejects.

    control_for(field, value) -> ipywidgets widget
        int -> IntSlider (seed: BoundedIntText), float -> FloatSlider, choice -> Dropdown,
        bool -> Checkbox, str -> Text; "faults" fields have no control (the Lab's fault
        buttons edit them).
    teaching_range(field) -> (low, high, step)
        The slider's range: a per-field table of ranges that make sense in a classroom,
        always inside the field's validation range (e.g. topology.followers 0-12, not 0-32;
        workload.rate_per_s 100-20 000, not up to 1e7). Fields not in the table get
        [low, min(high, 10 x default)].
    narrow_to_valid(widget, field, scenario)
        Rules that tie fields together (semi-sync needs a follower; reads on followers need
        one; apply_concurrency <= workers; more than one leader needs leader-leader) are honoured by narrowing a slider's range and a
        dropdown's options to the values valid with the rest of the current scenario.
"""

from __future__ import annotations

import math

import ipywidgets as widgets

from replab.config.rules import as_lists
from replab.config.scenario import Field, Scenario, ScenarioError
from replab.replication.legs import LEGS

# path -> (low, high, step) for sliders; every bound must pass Field.coerce (tested).
TEACHING_RANGES: dict[str, tuple[float, float, float]] = {
    "duration_ms": (500.0, 60_000.0, 500.0),
    "seed": (0, 1_000_000, 1),
    "topology.leaders": (1, 8, 1),
    "topology.followers": (0, 12, 1),
    "topology.workers": (1, 32, 1),
    "topology.apply_concurrency": (1, 16, 1),
    "topology.switches": (1, 4, 1),
    "replication.semi_sync_k": (1, 12, 1),
    "replication.ship_ms": (0.0, 2.0, 0.01),
    "replication.fanout": (0, 12, 1),
    "buddy.nodes": (2, 12, 1),
    "buddy.copies": (1, 6, 1),
    "buddy.state_bytes": (256, 65_536, 256),
    "workload.sessions": (1, 1_000, 1),
    "workload.rate_per_s": (100.0, 20_000.0, 100.0),
    "workload.think_ms": (0.0, 500.0, 5.0),
    "workload.write_ratio": (0.0, 1.0, 0.01),
    "workload.keys": (1, 10_000, 1),
    "workload.zipf_s": (0.1, 3.0, 0.05),
    "workload.timeout_ms": (50.0, 5_000.0, 50.0),
    "service.read.mean_ms": (0.1, 20.0, 0.1),
    "service.write.mean_ms": (0.1, 20.0, 0.1),
    "service.apply.mean_ms": (0.1, 20.0, 0.1),
    "network.hop.mean_ms": (0.01, 5.0, 0.01),
    "service.read.sigma": (0.0, 2.0, 0.05),
    "service.write.sigma": (0.0, 2.0, 0.05),
    "service.apply.sigma": (0.0, 2.0, 0.05),
    "network.hop.sigma": (0.0, 2.0, 0.05),
    "failover.detection_ms": (0.0, 5_000.0, 50.0),
    "failover.promotion_ms": (0.0, 5_000.0, 50.0),
    "failover.heartbeat_ms": (10.0, 1_000.0, 10.0),
    "failover.timeout_ms": (50.0, 5_000.0, 50.0),
    "failover.lease_ms": (0.0, 5_000.0, 50.0),
    "failover.quorum": (1, 9, 1),
    "failover.reboot_ms": (0.0, 20_000.0, 500.0),
    "failover.operator_ms": (0.0, 60_000.0, 500.0),
    "failover.copy_ms_per_key": (0.0, 20.0, 0.1),
    "replication.semi_sync_timeout_ms": (0.0, 2_000.0, 10.0),
    "replication.min_replicas": (0, 12, 1),
    "replication.min_replicas_max_lag_ms": (50.0, 10_000.0, 50.0),
    "topology.app_servers": (1, 8, 1),
    "faults.mttf_ms": (0.0, 60_000.0, 500.0),
    "faults.mttr_ms": (100.0, 10_000.0, 100.0),
    "record.sample_ms": (10.0, 1_000.0, 10.0),
    "dns.health_interval_ms": (50.0, 5_000.0, 50.0),
    "quorum.anti_entropy_ms": (0.0, 5_000.0, 50.0),
    # a leg's delay: PBS's LinkedIn legs have means of 0.6-5.46 ms and a Pareto tail of alpha 1.51
    **{f"quorum.legs.{leg}.{name}": bounds for leg in LEGS
       for name, bounds in (("mean_ms", (0.0, 20.0, 0.01)), ("pareto_alpha", (0.5, 10.0, 0.01)))},
}
_STYLE = {"description_width": "initial"}
_WIDTH = widgets.Layout(width="340px")


def teaching_range(field: Field) -> tuple[float, float, float]:
    """(low, high, step) of a numeric field's slider, within its validation range."""
    if field.path in TEACHING_RANGES:
        low, high, step = TEACHING_RANGES[field.path]
    else:
        high = min(field.high, max(field.default * 10, field.low + 1))
        step = 1 if field.kind == "int" else _round_step((high - field.low) / 100)
        # the first multiple of the step in the field's range, so every notch is a round number
        low = math.ceil(field.low / step) * step
        if field.low_open and low <= field.low:
            low += step
        low = round(low, decimals(step))
    return low, high, step


def _round_step(raw: float) -> float:
    """The step of the 1-2-5 series nearest `raw` (0.199 -> 0.2, 49.99 -> 50)."""
    power = 10.0 ** math.floor(math.log10(raw))
    step = min((1, 2, 5, 10), key=lambda m: abs(math.log(raw / (m * power)))) * power
    return round(step, decimals(step))


def label(path: str) -> str:
    """A control's short label: the path without its section ('read.mean_ms', 'followers')."""
    parts = path.split(".")
    return ".".join(parts[1:]) if len(parts) > 1 else path


def decimals(step: float) -> int:
    """Decimal places a slider of this step shows (and holds)."""
    return max(0, -math.floor(math.log10(step))) if step < 1 else 0


def control_for(field: Field, value) -> widgets.Widget:
    """An ipywidgets control for one field, holding `value`; its range widens to include it."""
    common = dict(description=label(field.path), tooltip=f"{field.path}: {field.doc} ({field.allowed})",
                  style=_STYLE, layout=_WIDTH)
    if field.kind in ("int", "float"):
        low, high, step = teaching_range(field)
        low, high = min(low, value), max(high, value)
        if field.path == "seed":
            return widgets.BoundedIntText(value=value, min=low, max=high, step=1, **common)
        if field.kind == "int":
            return widgets.IntSlider(value=value, min=low, max=high, step=step, continuous_update=False, **common)
        return widgets.FloatSlider(value=value, min=low, max=high, step=step, continuous_update=False,
                                   readout_format=f".{decimals(step)}f", **common)
    if field.kind == "choice":
        return widgets.Dropdown(options=list(field.choices), value=value, **common)
    if field.kind == "bool":
        return widgets.Checkbox(value=value, indent=False, **common)
    if field.kind == "str":
        return widgets.Text(value=value, continuous_update=False, **common)
    if field.kind == "faults":
        raise ScenarioError(field.path, value, "has no control; use the Lab's fault buttons (faults=True)")
    raise ScenarioError(field.path, as_lists(value), "is a list and has no control; set it in the scenario you give "
                        f"the Lab: scenario.replace(**{{{field.path!r}: [...]}})")


def widen_to(widget: widgets.Widget, value) -> None:
    """Stretch a slider's range so it can hold `value` (already validated for the field)."""
    if hasattr(widget, "max") and isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > widget.max:
            widget.max = value
        if value < widget.min:
            widget.min = value


def replaced(scenario: Scenario, path: str, value) -> Scenario | None:
    """`scenario` with one field changed, or None if the rules refuse the value there."""
    try:
        return scenario.replace(**{path: value})
    except ScenarioError:
        return None


def narrow_to_valid(widget: widgets.Widget, field: Field, scenario: Scenario) -> None:
    """Keep only the values valid together with the rest of `scenario` (cross-field rules)."""
    current = scenario.get(field.path)
    if field.kind == "choice":
        options = [c for c in field.choices if c == current or replaced(scenario, field.path, c) is not None]
        if list(widget.options) != options:
            widget.options = options
            widget.value = current
    elif field.kind == "int" and isinstance(widget, widgets.IntSlider):
        low, high, _ = teaching_range(field)
        low, high = min(low, current), max(high, current)
        while low < current and replaced(scenario, field.path, low) is None:
            low += 1
        while high > current and replaced(scenario, field.path, high) is None:
            high -= 1
        if (widget.min, widget.max) != (low, high):
            # widen first so the widget never clamps its value on the way
            widget.max = max(widget.max, high)
            widget.min, widget.max = low, high
