"""Sweep specs: a .toml file naming a base scenario, changes to it, a grid, samples,
replicates and a seed, read as keyword arguments for `replab.sweep`.

The file is read as safely as a scenario file (replab.config.files: a regular UTF-8 file
of at most 2 MB, nesting bounded); its values are typed (a number in quotes is refused,
as in a scenario file); an unknown key is named without its value, and so is one in a
`base_path` file, which may be any file at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replab.config.files import HIDDEN, load_tree
from replab.config.scenario import FIELDS_BY_PATH, Scenario, ScenarioError, refuse_text_in_typed_fields

SPEC_KEYS = ("description", "base", "base_path", "set", "grid", "samples", "replicates", "seed")


def load_spec(path: str | Path) -> dict:
    """A sweep spec (.toml) as keyword arguments for `sweep`: base, grid, samples, replicates, seed.

    Keys: base = "preset" or base_path = "file.toml" (relative to the spec), [set] dotted
    fields for the base, [grid] dotted field = [values], [[samples]], replicates, seed.
    """
    from replab.experiments.sweep import flatten

    spec = load_tree(path, "spec", suffixes=(".toml",))
    unknown = [key for key in spec if key not in SPEC_KEYS]
    if unknown:
        raise ScenarioError(unknown[0], HIDDEN, "is not a sweep spec key; use " + ", ".join(SPEC_KEYS))
    if ("base" in spec) == ("base_path" in spec):
        raise ScenarioError("base", spec.get("base"), "give exactly one of base = 'preset' or base_path = 'file.toml'")
    base = _base(Path(path), spec)
    changes = spec.get("set", {})
    if not isinstance(changes, Mapping):
        raise ScenarioError("set", changes, "must be a table of dotted field = value")
    for key in ("grid", "samples"):
        if key in spec and not isinstance(spec[key], (Mapping if key == "grid" else list)):
            raise ScenarioError(key, spec[key], "must be a table of dotted field = [values]" if key == "grid"
                                else "must be an array of tables: [[samples]]")
    changes = flatten(changes)
    refuse_text_in_typed_fields(changes, "set.")
    for path_, values in flatten(spec.get("grid", {})).items():
        _refuse_text_values(f"grid.{path_}", path_, values if isinstance(values, list) else [values])
    for i, sample in enumerate(spec.get("samples", [])):
        if isinstance(sample, Mapping):
            refuse_text_in_typed_fields(flatten(sample), f"samples[{i}].")
    return {"base": base.replace(**changes), "grid": spec.get("grid"), "samples": spec.get("samples"),
            "replicates": spec.get("replicates", 1), "seed": spec.get("seed", 0)}


def _base(path: Path, spec: dict) -> Scenario:
    if "base" in spec:
        if not isinstance(spec["base"], str):
            raise ScenarioError("base", spec["base"], "must be a preset name")
        try:
            return Scenario.preset(spec["base"])
        except ScenarioError as err:
            raise ScenarioError("base", spec["base"], err.allowed) from None
    if not isinstance(spec["base_path"], str):
        raise ScenarioError("base_path", spec["base_path"], "must be the path of a scenario file")
    try:
        return Scenario.load(path.parent / spec["base_path"])
    except ScenarioError as err:
        if err.field != "path":
            raise  # about a field in the file (an unknown key is named without its value)
        raise ScenarioError("base_path", spec["base_path"], err.allowed) from None


def _refuse_text_values(where: str, path: str, values: list[Any]) -> None:
    field = FIELDS_BY_PATH.get(path)
    if field is None or field.takes_text:
        return
    for value in values:
        if isinstance(value, str):
            refuse_text_in_typed_fields({path: value}, where[: -len(path)])


__all__ = ["SPEC_KEYS", "load_spec"]
