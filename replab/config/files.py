"""Reading a file a user named (a scenario, a sweep spec): safely, or one ScenarioError.

A path on the command line may name anything: a FIFO (reading it blocks forever),
/dev/zero (endless), a directory, a 6 GB log, a binary, a file of secrets. Only a regular
file of at most MAX_FILE_BYTES is read, and only as UTF-8. Parsing is bounded too: Python's
TOML parser takes quadratic time in the depth of a dotted key (50,000 levels: over a
minute) and both parsers recurse on nested arrays, so deep nesting is refused before and
after parsing. JSON must be an object at the top, with no key given twice (JSON would
silently keep the last).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replab.core.field import HIDDEN, ScenarioError

MAX_FILE_BYTES = 2 * 1024 * 1024  # the largest preset is ~2 KB; 100,000 fault events fit in 2 MB
MAX_DEPTH = 32  # nested tables and arrays; a scenario needs 4
SUFFIXES = (".toml", ".json")


def read_text(path: str | os.PathLike, field: str = "path") -> str:
    """The text of a regular file of at most MAX_FILE_BYTES, decoded as UTF-8."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise ScenarioError(field, path, "must be a file path (text or pathlib.Path)")
    name = os.fspath(path)
    if not name or "\0" in name:
        raise ScenarioError(field, name, "must be a file path")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise ScenarioError(field, name, f"cannot be read ({err.strerror or err})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ScenarioError(field, name, f"is not a regular file ({_file_kind(mode)})")
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(field, name, f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MB: not a scenario or sweep spec")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(field, name, f"is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a plain file"


def load_tree(path: str | os.PathLike, field: str = "path", suffixes: tuple[str, ...] = SUFFIXES) -> dict:
    """The nested tables of a .toml or .json file (by suffix), read and parsed safely."""
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes) else path
    suffix = Path(name).suffix.lower() if isinstance(name, str) else ""
    if isinstance(name, str) and suffix not in suffixes:
        raise ScenarioError(field, name, "must be a " + " or ".join(suffixes) + " file (by its suffix)"
                            + (f", not {suffix}" if suffix else ""))
    text = read_text(path, field)
    return parse_tree(text, suffix, field, name)


def parse_tree(text: str, suffix: str, field: str, name: Any) -> dict:
    """Parse TOML or JSON text into nested tables; bad syntax, deep nesting or a top level
    that is not a table is a ScenarioError naming the file."""
    language = "JSON" if suffix == ".json" else "TOML"
    if language == "TOML":
        _refuse_deep_dotted_keys(text, field, name)
    try:
        tree = json.loads(text, object_pairs_hook=_unique_keys) if language == "JSON" else tomllib.loads(text)
    except RecursionError:
        tree = None
        problem = f"nests tables or arrays more than {MAX_DEPTH} deep"
    except _DuplicateKey as err:
        raise ScenarioError(field, name, f"is not valid JSON: the key {str(err)!r} is given twice "
                                         "(JSON would keep the last one without a word)") from None
    except ValueError as err:  # JSONDecodeError, TOMLDecodeError, a 5,000-digit integer
        raise ScenarioError(field, name, f"is not valid {language}: {err}") from None
    else:
        problem = None if _depth(tree) <= MAX_DEPTH else f"nests tables or arrays more than {MAX_DEPTH} deep"
    if problem:
        raise ScenarioError(field, name, problem)
    if not isinstance(tree, dict):
        raise ScenarioError(field, name, f"must hold a table of fields at the top, not {_json_kind(tree)}")
    return tree


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    tree: dict = {}
    for key, value in pairs:
        if key in tree:
            raise _DuplicateKey(key)
        tree[key] = value
    return tree


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else type(value).__name__


def _depth(value: Any) -> int:
    """Levels of tables and arrays, counted without recursion (the value may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest


# MAX_DEPTH + 1 key parts joined by dots: bare (a), "quoted" or 'literal'
# (atomic and anchored after a non-key character, so a search is linear in the text's length)
_DOTTED = re.compile(r"""(?<![A-Za-z0-9_-])(?>(?>[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')[ \t]*\.[ \t]*)"""
                     + f"{{{MAX_DEPTH}}}")


def _refuse_deep_dotted_keys(text: str, field: str, name: Any) -> None:
    """A key of many dotted parts (a.a.a...) takes the TOML parser quadratic time: refuse it
    unparsed. (Text inside a string would need MAX_DEPTH dot-joined words to trip this.)"""
    found = _DOTTED.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        raise ScenarioError(field, name, f"nests keys more than {MAX_DEPTH} deep (line {line})")


__all__ = ["HIDDEN", "MAX_DEPTH", "MAX_FILE_BYTES", "load_tree", "parse_tree", "read_text"]
