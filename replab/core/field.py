"""One setting of a scenario: its dotted name, kind, default and allowed values, and the
coercion that turns a value from a file, the command line, Python or a widget into the
field's type or a ScenarioError naming the field, the value and what is allowed.

The table of every field is replab.config.fields; replication strategies declare their own
fields with this same type.
"""

from __future__ import annotations

import json
import math
import numbers
import reprlib
import unicodedata
from collections.abc import Iterable, Mapping, Sized
from dataclasses import dataclass
from typing import Any

DISTRIBUTIONS = ("constant", "exponential", "lognormal")
# partition/heal: a data centre's WAN links, or hosts inside one DC (replab.sim.host_faults);
# pause, isolate and slow: hosts inside one DC. Actions are only ever appended.
FAULT_ACTIONS = ("crash", "recover", "partition", "heal", "pause", "isolate", "slow")
HOST_ACTIONS = ("pause", "isolate", "slow")  # act on hosts only (partition and heal act on hosts or a DC)
# Hosts a partition, isolate or slow fault may name ('+' joins several: 'node0+app1'); 'leader'
# is whichever node leads when the fault happens. Which numbers exist is checked by the
# scenario's rules (replab.config.rules).
HOST_PREFIXES = ("node", "app")
HOST_NAMES = ("leader", "controller", "balancer", "clients", "all")  # all: every host (heal only)
LIST_KINDS = ("numbers", "ints", "matrix")  # tuples of numbers (or of rows of numbers), each within [low, high]
MAX_TEXT_CHARS = 1_000  # a description is one line; a 50 MB one would be echoed to every terminal
MAX_ITEMS = 100_000  # items of a list field (faults, weights, rows): more is a mistake, not a scenario
SHOWN_CHARS = 200  # a message shows at most this much of a value
HIDDEN = object()  # a value an error must not show (it may come from a file that is not a scenario)


def shown(value: Any) -> str:
    """A value as an error message shows it: its repr, cut short if long (or too deeply nested)."""
    try:
        text = repr(value)
    except RecursionError:
        text = reprlib.repr(value)
    if len(text) > SHOWN_CHARS:
        text = f"{text[:SHOWN_CHARS - 40]}... ({len(text):,} characters)"
    return text


class ScenarioError(ValueError):
    """A bad scenario value: names the dotted field, the value and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str):
        hidden = value is HIDDEN
        self.field, self.value, self.allowed = field, None if hidden else value, allowed
        name = field if len(field) <= SHOWN_CHARS else f"{field[:SHOWN_CHARS - 40]}... ({len(field):,} characters)"
        super().__init__(f"{name}: {allowed}" if hidden else f"{name} = {shown(value)}: {allowed}")


@dataclass(frozen=True)
class Field:
    """One setting: its dotted name, kind, default and allowed values (bounds inclusive)."""

    path: str
    kind: str  # "int", "float", "choice", "bool", "str", "faults", or a list: "numbers", "ints", "matrix"
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    low_open: bool = False  # True: the value must be strictly above `low`

    @property
    def allowed(self) -> str:
        if self.kind == "choice":
            return "must be one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "must be true or false"
        if self.kind == "str":
            return "must be text"
        if self.kind == "faults":
            return "must be a list of {at_ms, action, target} tables"
        if self.kind in LIST_KINDS:
            what = "integers" if self.kind == "ints" else "numbers"
            shape = "a list of lists (rows) of " if self.kind == "matrix" else "a list of "
            bounds = f"{int(self.low)} to {int(self.high)}" if self.kind == "ints" else f"{self.low:g} to {self.high:g}"
            return f"must be {shape}{what} from {bounds}"
        if self.kind == "int":
            return f"must be an integer from {int(self.low)} to {int(self.high)}"
        low = f"above {self.low:g}" if self.low_open else f"from {self.low:g}"
        return f"must be a number {low} to {self.high:g}"

    @property
    def takes_text(self) -> bool:
        """True when text is this field's own type (str, choice): a typed file may give text."""
        return self.kind in ("str", "choice")

    def coerce(self, value: Any) -> Any:
        """The value in this field's type, or ScenarioError naming what is allowed.
        Text is read as the field's kind (the command line and widgets give text)."""
        if self.kind == "faults":
            return _coerce_faults(self, value)
        if self.kind in LIST_KINDS:
            return _coerce_list(self, value)
        if isinstance(value, str) and self.kind in ("int", "float", "bool"):
            value = _parse_text(self, value)
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if getattr(getattr(value, "dtype", None), "kind", "") == "b" and getattr(value, "shape", None) == ():
                return bool(value)  # numpy's boolean scalar, e.g. from a DataFrame cell
            raise ScenarioError(self.path, value, self.allowed)
        if self.kind in ("choice", "str"):
            if not isinstance(value, str) or (self.kind == "choice" and value not in self.choices):
                raise ScenarioError(self.path, value, self.allowed)
            return _check_text(self, value) if self.kind == "str" else str(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ScenarioError(self.path, value, self.allowed)
        if self.kind == "int":
            if not isinstance(value, numbers.Integral):
                raise ScenarioError(self.path, value, self.allowed)
            value = int(value)
        else:
            try:
                value = float(value)
            except (OverflowError, ValueError):  # an int of 400 digits, an odd Real
                raise ScenarioError(self.path, value, self.allowed) from None
            if not math.isfinite(value):
                raise ScenarioError(self.path, value, self.allowed)
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or value > self.high:
            raise ScenarioError(self.path, value, self.allowed)
        return value


def _check_text(field: Field, text: str) -> str:
    """One line of printable text: no control characters (a terminal obeys ANSI escapes), no
    lone surrogates (they cannot be written as UTF-8), at most MAX_TEXT_CHARS characters."""
    if len(text) > MAX_TEXT_CHARS:
        raise ScenarioError(field.path, text, f"must be at most {MAX_TEXT_CHARS:,} characters (it has {len(text):,})")
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs"):
            what = "a lone surrogate" if unicodedata.category(char) == "Cs" else "a control character"
            raise ScenarioError(field.path, text, f"must be one line of printable text (it holds {what}, "
                                                  f"U+{ord(char):04X})")
    return str(text)


def _parse_text(field: Field, text: str) -> Any:
    """Text from the command line or a widget, read as the field's kind."""
    cleaned = text.strip()
    if field.kind == "bool":
        lowered = cleaned.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ScenarioError(field.path, text, field.allowed)
    try:
        return int(cleaned) if field.kind == "int" else float(cleaned)
    except (ValueError, OverflowError):  # not a number, or an int past Python's 4,300 digits
        raise ScenarioError(field.path, text, field.allowed) from None


def _coerce_list(field: Field, value: Any) -> tuple:
    """A list field as a tuple (of tuples, for a matrix); text is read as JSON ("[1, 2]")."""
    if isinstance(value, str):
        value = parse_json_text(field.path, value, field.allowed)
    _check_sized(field.path, value, field.allowed)
    item = Field(field.path, "int" if field.kind == "ints" else "float", 0, "", field.low, field.high)
    rows = []
    for row in value:
        if field.kind != "matrix":
            rows.append(_coerce_item(field, item, row, value))
        else:
            _check_sized(field.path, row, field.allowed, whole=value)
            rows.append(tuple(_coerce_item(field, item, x, value) for x in row))
    return tuple(rows)


def parse_json_text(path: str, text: str, allowed: str) -> Any:
    """A list field's text (from --set or a widget) read as JSON; deep nesting is refused."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ScenarioError(path, text, allowed) from None


def _check_sized(path: str, value: Any, allowed: str, whole: Any = None) -> None:
    """A list of at most MAX_ITEMS items (a generator could be endless: refused, not iterated)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable) or not isinstance(value, Sized):
        raise ScenarioError(path, value if whole is None else whole, allowed)
    if len(value) > MAX_ITEMS:
        raise ScenarioError(path, HIDDEN, f"{allowed}; it has {len(value):,} items, at most {MAX_ITEMS:,} are allowed")


def _coerce_item(field: Field, item: Field, x: Any, whole: Any) -> Any:
    try:
        return item.coerce(x)
    except ScenarioError:
        raise ScenarioError(field.path, whole, field.allowed) from None


@dataclass(frozen=True)
class Fault:
    """A scheduled fault: at `at_ms`, `action` hits `target`.

    crash/recover a node, a switch or a DC; partition/heal a DC's WAN links, or split hosts
    ('node0+app1') from the rest of their DC; isolate one host (a partition of one); pause
    a node for `duration_ms` (a stop-the-world garbage collection: it resumes with its old
    beliefs); slow every message to or from a host by `delay_ms`. A partition, isolate or
    slow with a `duration_ms` heals itself that long after; without one it lasts until a heal.
    """

    at_ms: float
    action: str
    target: str
    duration_ms: float = 0.0
    delay_ms: float = 0.0

    def to_dict(self) -> dict:
        fault = {"at_ms": self.at_ms, "action": self.action, "target": self.target}
        if self.duration_ms:  # only when set, so every fault written before them reads the same
            fault["duration_ms"] = self.duration_ms
        if self.delay_ms:
            fault["delay_ms"] = self.delay_ms
        return fault

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts a host-level fault names ('node0+app1' -> ('node0', 'app1'))."""
        return tuple(self.target.split("+"))

    @property
    def on_hosts(self) -> bool:
        """True for a fault on hosts inside one DC (not a crash of a node or switch, not a DC's)."""
        return self.action in HOST_ACTIONS or (self.action in ("partition", "heal") and not self.target.startswith("dc"))


def _coerce_faults(field: Field, value: Any) -> tuple[Fault, ...]:
    _check_sized(field.path, value, field.allowed)
    faults = []
    for i, item in enumerate(value):
        where = f"{field.path}[{i}]"
        if isinstance(item, Fault):
            item = item.to_dict()
        if not isinstance(item, Mapping):
            raise ScenarioError(where, item, "must be a table with at_ms, action and target")
        unknown = set(item) - {"at_ms", "action", "target", "duration_ms", "delay_ms"}
        if unknown:
            raise ScenarioError(f"{where}.{sorted(unknown)[0]}", item[sorted(unknown)[0]],
                                "is not a fault field; use at_ms, action, target (and duration_ms, delay_ms)")
        for key in ("at_ms", "action", "target"):
            if key not in item:
                raise ScenarioError(f"{where}.{key}", None, "is required")
        at_ms = Field(f"{where}.at_ms", "float", 0.0, "", 0.0, 1e8).coerce(item["at_ms"])
        action = Field(f"{where}.action", "choice", "crash", "", choices=FAULT_ACTIONS).coerce(item["action"])
        target = item["target"]
        if not isinstance(target, str) or not (_is_target(target) or _is_hosts(target)):
            raise ScenarioError(f"{where}.target", target, "must be 'leader', 'nodeN' or 'switchN', or 'dcN' for a data "
                                "centre, or hosts joined by '+' for a partition (nodeN, appN, controller, balancer, clients)")
        duration_ms = Field(f"{where}.duration_ms", "float", 0.0, "", 0.0, 1e8).coerce(item.get("duration_ms", 0.0))
        delay_ms = Field(f"{where}.delay_ms", "float", 0.0, "", 0.0, 1e6).coerce(item.get("delay_ms", 0.0))
        _check_fault_shape(where, action, target, duration_ms, delay_ms)
        faults.append(Fault(at_ms, action, target, duration_ms, delay_ms))
    return tuple(sorted(faults, key=lambda f: f.at_ms))


def _check_fault_shape(where: str, action: str, target: str, duration_ms: float, delay_ms: float) -> None:
    """Which targets and extra keys each action takes (which numbers exist: replab.config.rules)."""
    hosts = _is_hosts(target)
    if action in ("partition", "heal") and not (target.startswith("dc") or hosts) or action in ("isolate", "slow") and not hosts:
        raise ScenarioError(f"{where}.action", action, "needs a data centre target ('dcN') or hosts ('node1', 'node0+app1'); "
                            "switches crash and recover" if action in ("partition", "heal") else
                            "needs a host target ('nodeN', 'appN', 'controller', 'balancer', 'clients', joined by '+')")
    if action == "pause" and not (target == "leader" or target.startswith("node") and "+" not in target):
        raise ScenarioError(f"{where}.target", target, "must be one data node ('nodeN' or 'leader') to pause")
    if action == "pause" and duration_ms <= 0:
        raise ScenarioError(f"{where}.duration_ms", duration_ms, "must be above 0 for a pause (how long the node stops, ms)")
    if duration_ms and action not in ("pause", "partition", "isolate", "slow") or duration_ms and target.startswith("dc"):
        raise ScenarioError(f"{where}.duration_ms", duration_ms, "is for pause, and for partition, isolate or slow of hosts "
                            "(heal after this long)")
    if "all" in target.split("+") and (action != "heal" or target != "all"):
        raise ScenarioError(f"{where}.target", target, "'all' stands alone, and only to heal every host")
    if action == "slow" and delay_ms <= 0:
        raise ScenarioError(f"{where}.delay_ms", delay_ms, "must be above 0 for a slow host (extra ms on every message)")
    if delay_ms and action != "slow":
        raise ScenarioError(f"{where}.delay_ms", delay_ms, "is only for a slow fault")


def _is_hosts(target: str) -> bool:
    """'node0', 'app1', 'controller' or several joined by '+' ('node0+app1')."""
    for part in target.split("+"):
        if part in HOST_NAMES:
            continue
        prefix = next((p for p in HOST_PREFIXES if part.startswith(p)), None)
        number = part[len(prefix):] if prefix else ""
        if not (number.isascii() and number.isdigit() and len(number) <= 6):  # a host number, not 5,000 digits
            return False
    return True


def _is_target(target: str) -> bool:
    if target == "leader":
        return True
    for prefix in ("node", "switch", "dc"):
        number = target[len(prefix):]
        if target.startswith(prefix) and number.isascii() and number.isdigit() and len(number) <= 6:  # '2', not '²'
            return True
    return False
