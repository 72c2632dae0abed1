"""Scenario: one frozen, validated description of an experiment.

Every setting is a *field* with a dotted name (``topology.followers``), a kind, a default
and the values it allows (replab.config.fields); rules between fields are in replab.config.rules. The same
table validates TOML and JSON files, ``--set`` on the command line, Python calls and the
Lab's widgets, so they all reject the same values with the same message.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomli_w

from replab.config.fields import FIELDS, FIELDS_BY_PATH, Fault, Field, ScenarioError
from replab.config.files import HIDDEN, MAX_DEPTH, load_tree
from replab.config.rules import as_lists, check_combinations, node_count


def _flatten(tree: Mapping, prefix: str = "", depth: int = 1) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise ScenarioError(f"{prefix}{key!r}", value, "is not a scenario field: field names are text")
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path not in FIELDS_BY_PATH:
            if depth >= MAX_DEPTH:
                raise ScenarioError(path[:100], HIDDEN, f"is not a scenario field (tables nested more than {MAX_DEPTH} deep)")
            if not value and not any(p.startswith(path + ".") for p in FIELDS_BY_PATH):
                flat[path] = value
            flat.update(_flatten(value, path + ".", depth + 1))
        else:
            flat[path] = value
    return flat


def refuse_text_in_typed_fields(flat: Mapping[str, Any], where: str = "") -> None:
    """A typed file (TOML, JSON) gives numbers, booleans and lists as such: "1000" or "yes"
    there is a mistake (text is read as a field's kind only from --set and widgets)."""
    for path, value in flat.items():
        field = FIELDS_BY_PATH.get(path)
        if field is not None and isinstance(value, str) and not field.takes_text:
            kind = {"int": "an integer", "float": "a number", "bool": "true or false"}.get(field.kind, "a list")
            raise ScenarioError(f"{where}{path}", value, f"must be {kind} in a file, not text in quotes "
                                                         f"({field.allowed})")


def _closest(path: str) -> str:
    import difflib

    near = difflib.get_close_matches(path, FIELDS_BY_PATH, n=1, cutoff=0.6)
    return f"is not a scenario field (did you mean {near[0]!r}?)" if near else "is not a scenario field; see Scenario.fields()"


class _Section:
    """Read-only attribute view of one part of a scenario: scenario.topology.followers."""

    __slots__ = ("_values", "_prefix")

    def __init__(self, values: Mapping[str, Any], prefix: str):
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        return _lookup(self._values, f"{self._prefix}{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Scenario is frozen; use scenario.replace(**{{'{self._prefix}{name}': {value!r}}})")

    def __repr__(self) -> str:
        return f"<{self._prefix[:-1]}: " + ", ".join(
            f"{p[len(self._prefix):]}={v!r}" for p, v in self._values.items() if p.startswith(self._prefix)
        ) + ">"


def _lookup(values: Mapping[str, Any], path: str) -> Any:
    if path in values:
        return values[path]
    if any(p.startswith(path + ".") for p in values):
        return _Section(values, path + ".")
    raise AttributeError(f"{path} is not a scenario field")


class Scenario:
    """A frozen, validated experiment. Build it from a preset, a file or keyword fields."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None, **dotted: Any):
        flat = {f.path: f.default for f in FIELDS}
        if values is not None and not isinstance(values, Mapping):
            raise ScenarioError("scenario", values, "must be a table (dict) of dotted fields, e.g. "
                                                    "{'topology.followers': 2}, or nested tables as in a TOML file")
        given = {**_flatten(values or {}), **dotted}
        for path, value in given.items():
            if path not in FIELDS_BY_PATH:
                raise ScenarioError(path, value, _closest(path))
            flat[path] = FIELDS_BY_PATH[path].coerce(value)
        check_combinations(flat)
        object.__setattr__(self, "_values", MappingProxyType(flat))

    # construction -----------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> Scenario:
        """A named scenario from data/scenarios (see `Scenario.presets()`)."""
        names = cls.presets()
        if not isinstance(name, str) or name not in names:
            raise ScenarioError("preset", name, "must be one of " + ", ".join(repr(n) for n in names))
        return cls.load(_presets_dir() / f"{name}.toml")

    @staticmethod
    def presets() -> dict[str, str]:
        """Preset name -> its one-line description."""
        found = {}
        for path in sorted(_presets_dir().iterdir(), key=lambda p: p.name):
            if path.name.endswith(".toml"):
                found[path.name[:-5]] = tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")
        return found

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a scenario from a .toml or .json file; errors name the file and field.

        Only a regular UTF-8 file of at most 2 MB is read (replab.config.files); numbers and
        booleans must be typed as such, and an unknown key is named without its value (the
        file may not be a scenario at all, and its values may be secrets)."""
        return cls.from_file_tree(load_tree(path))

    @classmethod
    def from_file_tree(cls, tree: Mapping) -> Scenario:
        """A scenario from the nested tables of a typed file (see `load`)."""
        flat = _flatten(tree)
        for path in flat:
            if path not in FIELDS_BY_PATH:
                raise ScenarioError(path, HIDDEN, _closest(path))
        refuse_text_in_typed_fields(flat)
        return cls(flat)

    def save(self, path: str | Path) -> None:
        """Write the scenario as .toml (or .json by suffix), every field included."""
        path = Path(path)
        tree = self.to_dict()
        path.write_text(json.dumps(tree, indent=2) if path.suffix == ".json" else tomli_w.dumps(tree), encoding="utf-8")

    def replace(self, **dotted: Any) -> Scenario:
        """A new validated scenario with some dotted fields changed."""
        return Scenario(self.to_dict(), **dotted)

    # reading ----------------------------------------------------------------------------
    @staticmethod
    def fields() -> tuple[Field, ...]:
        return FIELDS

    @staticmethod
    def field(path: str) -> Field:
        if not isinstance(path, str) or path not in FIELDS_BY_PATH:
            raise ScenarioError(path, None, _closest(path))
        return FIELDS_BY_PATH[path]

    def get(self, path: str) -> Any:
        if not isinstance(path, str) or path not in self._values:
            raise ScenarioError(path, None, _closest(path))
        return self._values[path]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _lookup(self._values, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Scenario is frozen; use scenario.replace(**{{'{name}': {value!r}}})")

    def to_flat(self) -> dict[str, Any]:
        """Dotted field -> value (faults as a list of dicts)."""
        return {p: ([f.to_dict() for f in v] if p == "faults.events" else as_lists(v) if isinstance(v, tuple) else v)
                for p, v in self._values.items()}

    def to_dict(self) -> dict:
        """Nested tables, as in a TOML file."""
        tree: dict = {}
        for path, value in self.to_flat().items():
            node = tree
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return tree

    def diff(self, other: Scenario) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: path -> (mine, theirs)."""
        return {p: (v, other._values[p]) for p, v in self._values.items() if other._values[p] != v}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scenario) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted((p, repr(v)) for p, v in self._values.items())))

    def __repr__(self) -> str:
        changed = {p: v for p, v in self._values.items() if v != FIELDS_BY_PATH[p].coerce(FIELDS_BY_PATH[p].default)}
        if "faults.events" in changed:
            changed["faults.events"] = [f.to_dict() for f in changed["faults.events"]]
        return "Scenario(" + ", ".join(f"{p}={v!r}" for p, v in changed.items()) + ")"

    def __reduce__(self):
        return (Scenario, (self.to_dict(),))

    # derived names ----------------------------------------------------------------------
    @property
    def node_names(self) -> list[str]:
        return [f"node{i}" for i in range(node_count(self._values))]


def _presets_dir() -> Path:
    return Path(str(resources.files("replab.data") / "scenarios"))


__all__ = ["FIELDS", "FIELDS_BY_PATH", "Fault", "Field", "Scenario", "ScenarioError", "node_count"]
