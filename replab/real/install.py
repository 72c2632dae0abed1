"""Is real Redis here? Where, and if not, the one line that says how to get it."""

from __future__ import annotations

import shutil

INSTALL_HINT = ("real Redis is not installed: run `sudo apt-get install redis-server redis-sentinel` "
                "(Debian/Ubuntu; Binder and .ci/run do it for you), then run this again")


class RedisMissing(RuntimeError):
    """redis-server (or redis-sentinel, or the redis-py client) is not installed; the message says how."""

    def __init__(self, line: str = INSTALL_HINT):
        super().__init__(line)

    def _render_traceback_(self) -> list[str]:
        """In Jupyter: the one line, not a traceback (IPython asks exceptions for this)."""
        return [f"RedisMissing: {self}"]


def missing() -> str | None:
    """None if real runs can start, else the one-line reason and how to install what is missing."""
    for program in ("redis-server", "redis-sentinel"):
        if shutil.which(program) is None:
            return f"{program} not found; {INSTALL_HINT}"
    try:
        import redis  # noqa: F401  (the client, redis-py)
    except ImportError:
        return "the redis-py client is missing: pip install redis (replab's dependencies include it)"
    return None


def available() -> bool:
    """True when redis-server, redis-sentinel and redis-py are all here."""
    return missing() is None


def require() -> None:
    reason = missing()
    if reason:
        raise RedisMissing(reason)


def binary(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RedisMissing(f"{program} not found; {INSTALL_HINT}")
    return path
