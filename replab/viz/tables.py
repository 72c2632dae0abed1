"""Tables for reading, not for computing: counts as whole numbers, measurements to a few figures.

    summary(results, keys=None)      the run's summary: metric, value in words' precision, what it means
    readable(frame, digits=3)        a copy of `frame` with every number written for a person
                                     (12,345 not 12345.000000; 0.0123 not 0.012345678)

A chapter shows the columns its prose talks about, through these, so the table a student
reads is narrow enough to see and says each number once.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import pandas as pd

from replab.analysis.results import Results
from replab.analysis.summary import SUMMARY_DOC


def number(value, digits: int = 3) -> str:
    """One value as a person writes it: whole numbers with thousands separators, others to `digits` figures."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, Integral):
        return f"{value:,}"
    if isinstance(value, Real):
        value = float(value)
        if math.isnan(value):
            return "–"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 10 ** digits:
            return f"{value:,.0f}"
        return f"{value:,.{digits}g}"
    return str(value)


def readable(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """`frame` with every number written as `number` writes it (index and column names kept)."""
    return frame.map(lambda v: number(v, digits))


def summary(results: Results, keys=None) -> pd.DataFrame:
    """The summary of one run, one row per metric: its value, written for reading, and what it means."""
    keys = list(keys) if keys is not None else list(results.summary)
    return pd.DataFrame({"value": [number(results.summary[k]) for k in keys],
                         "meaning": [SUMMARY_DOC.get(k, "") for k in keys]}, index=pd.Index(keys, name="metric"))


__all__ = ["number", "readable", "summary"]
