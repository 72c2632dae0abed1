"""Checks of the arguments of replab's analysis functions (compare_layouts, push_vs_pull,
switch_loss_table): a bad one is a ScenarioError naming the argument, the value and what
is allowed, as a bad scenario field is."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from replab.config.fields import ScenarioError


def number(name: str, value: Any, low: float = 0.0, high: float = math.inf) -> float:
    """A real number from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high \
            or not math.isfinite(value):
        allowed = f"from {low:g} to {high:g}" if math.isfinite(high) else f"of at least {low:g}"
        raise ScenarioError(name, value, f"must be a number {allowed}")
    return float(value)


def whole(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """A whole number from `low` to `high` (no upper bound when None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
            or (high is not None and value > high):
        allowed = f"of at least {low}" if high is None else f"from {low} to {high}"
        raise ScenarioError(name, value, f"must be a whole number {allowed}")
    return int(value)


def number_list(name: str, values: Any, low: float = 0.0, high: float = math.inf) -> list[float]:
    """A non-empty list of numbers, each from `low` to `high`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ScenarioError(name, values, "must be a list of numbers")
    values = list(values)
    if not values:
        raise ScenarioError(name, values, "must list at least one number")
    for value in values:
        try:
            number(name, value, low, high)
        except ScenarioError:
            raise ScenarioError(name, values, f"must be numbers from {low:g} to {high:g}; {value!r} is not") from None
    return [float(v) for v in values]


def choice_list(name: str, values: Any, choices: Iterable[str]) -> list[str]:
    """A non-empty list of names, each one of `choices`."""
    choices = tuple(choices)
    allowed = "must list some of " + ", ".join(repr(c) for c in choices)
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ScenarioError(name, values, allowed)
    values = list(values)
    if not values or any(v not in choices for v in values):
        raise ScenarioError(name, values, allowed)
    return values
