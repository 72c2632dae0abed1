"""The Results of a run that is still going: everything recorded up to the model's present.

    results_so_far(model) -> Results      the model runs on afterwards, untouched

A stopgap until the analysis layer offers it: `Results.from_model` takes the history out of
the recorder (so a finished run's history is never held twice), which mid-run would empty
the recorder under the model's feet. Here `from_model` reads a copy of the recorder instead,
through a view of the model that answers `recorder` with the copy and everything else
with the model itself. Copying the typed arrays is a memcpy (a few ms for 20,000
operations); operations still in flight are not in it yet, so the last moments before the
present are thinner than they will be.
"""

from __future__ import annotations

import copy
from array import array

from replab.analysis.results import Results


class _RecordedSoFar:
    """The model, seen through a copy of its recorder."""

    def __init__(self, model, recorder):
        self._model = model
        self.recorder = recorder

    def __getattr__(self, name):
        return getattr(self._model, name)


def _copy_of(recorder):
    """A copy whose columns (typed arrays and lists) are the recorder's own, copied."""
    twin = copy.copy(recorder)
    for name, value in vars(recorder).items():
        if isinstance(value, array | list):
            setattr(twin, name, value[:])
    return twin


def _finished_only(recorder) -> None:
    """A pull cache's lookups of operations still in flight: the requests frame has no row for them yet."""
    if not len(getattr(recorder, "c_request", ())):
        return
    done = set(recorder.req_id)
    keep = [i for i, request in enumerate(recorder.c_request) if request in done]
    for name in ("c_request", "c_node", "c_hit"):
        column = getattr(recorder, name)
        setattr(recorder, name, array(column.typecode, (column[i] for i in keep)))


def results_so_far(model) -> Results:
    """Results of everything `model` has recorded so far; the model itself is left as it was."""
    twin = _copy_of(model.recorder)
    _finished_only(twin)
    return Results.from_model(_RecordedSoFar(model, twin))


__all__ = ["results_so_far"]
