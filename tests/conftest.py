"""Hypothesis draws the same examples on every run (CI is reproducible, as the simulation is).
To look for new counter-examples instead: HYPOTHESIS_PROFILE=explore make test."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
