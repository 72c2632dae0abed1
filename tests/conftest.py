"""Hypothesis draws the same examples on every run (CI is reproducible, as the simulation is).
To look for new counter-examples instead: HYPOTHESIS_PROFILE=explore make test."""

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Labs run ahead of a student in a background process (replab.lab.lookahead); the suite's Labs,
# and the kernels and JupyterLab it starts, do not: tests/test_lookahead.py asks for it.
os.environ["REPLAB_LOOKAHEAD"] = "0"


def pytest_collection_modifyitems(config, items):
    """The browser's chapters first. `make test` gives each worker a test file at a time, in
    this order (--no-loadscope-reorder): the longest file (4-6 minutes) starts at once on one
    worker while the other takes the rest. Sorted by tests per file, as xdist does by default,
    it started a minute or two late and the suite ended that much later."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] != "tests/test_browser.py")


class Hung(Exception):
    """A call that should end quickly did not (a hang is a failure, not a stuck test suite)."""


@pytest.fixture
def no_hang():
    """`with no_hang(seconds):` raises Hung in the test if the block has not ended by then.
    A bound on hangs, not a speed assertion: the limits are many times what the code needs."""
    import contextlib
    import signal

    @contextlib.contextmanager
    def guard(seconds: float = 60.0):
        def fire(signum, frame):
            raise Hung(f"still running after {seconds:g} s")

        previous = signal.signal(signal.SIGALRM, fire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return guard
