"""The recorder's columns as pandas frames, read with the declaration they were written with.

Each recorded table (replab.core.recorder.TABLES, and any table a strategy declares) becomes
one frame: numbers as numpy arrays of the declared type, coded columns as categories of
their labels, node numbers as node names (and CLIENT as "client"). Columns computed from
the recorded ones (latency_ms, acked, lost, replicas, conflicted, cache, staleness_ms) are
added by replab.analysis.results.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from replab.core.codes import RESOLUTIONS, ROLES, Codes
from replab.core.recorder import CLIENT, CONFLICT_COLUMNS, EVENT_COLUMNS, NODE, NODE_OR_CLIENT, TIMELINE_COLUMNS, Table


@lru_cache(maxsize=64)
def category_dtype(labels: tuple[str, ...]) -> pd.CategoricalDtype:
    """The (unordered) categorical dtype of these labels, built once per label set: building one
    builds and checks an Index of its labels (arrow strings), which was ~20 % of a Results when
    each of its ~17 coded columns built its own. A dtype cannot change, so frames may share it;
    keyed by the labels themselves, as a Codes set may still gain labels."""
    return pd.CategoricalDtype(list(labels), ordered=False)


def codes(values, categories) -> pd.Categorical:
    """Codes as a categorical of their labels."""
    return pd.Categorical.from_codes(np.asarray(values, dtype=np.int16), dtype=category_dtype(tuple(categories)))


def is_label(column: pd.Series, label: str) -> np.ndarray:
    """Mask of a categorical column's rows that have `label`, by its code (comparing the column
    with the label went through pandas' operators, ~0.1-0.3 ms a comparison)."""
    categories = column.cat.categories
    codes = column.cat.codes.to_numpy()
    return codes == categories.get_loc(label) if label in categories else np.zeros(len(codes), dtype=bool)


def rows_by_category(column: pd.Series, keep: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
    """(label, mask of its rows) for each label of a categorical column that has rows (among
    `keep`, if given), in category order, as groupby(observed=True) gives them: masks over the
    codes, where grouping a frame cost ~1-5 ms a chart."""
    codes = column.cat.codes.to_numpy()
    masks = [(str(label), codes == code) for code, label in enumerate(column.cat.categories)]
    if keep is not None:
        masks = [(label, rows & keep) for label, rows in masks]
    return [(label, rows) for label, rows in masks if rows.any()]


def drain(table: Table, store, names: list[str], order: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A recorded table's columns as arrays (reordered by `order` if given), typed as declared.
    The recorder lets go of each array as it is read, so the history is never held three
    times at once."""
    columns = {}
    for column in table.columns:
        recorded = getattr(store, column.name)
        view = np.frombuffer(recorded, dtype=column.dtype) if len(recorded) else np.empty(0, dtype=column.dtype)
        values = view[order] if order is not None else view.copy()
        del view
        setattr(store, column.name, None)
        if column.codes == NODE:
            values = codes(values, names)
        elif column.codes == NODE_OR_CLIENT:
            values = codes(np.where(values == CLIENT, len(names), values), [*names, "client"])
        elif isinstance(column.codes, Codes):
            values = codes(values, column.codes.categories)
        columns[column.name] = values
    return columns


def table_frame(table: Table, store, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(drain(table, store, names), copy=False)


def timeline_frame(samples: list[tuple], names: list[str]) -> pd.DataFrame:
    if not samples:
        timeline = pd.DataFrame(samples, columns=list(TIMELINE_COLUMNS))
        timeline["node"] = codes(timeline["node"].to_numpy(), names)
        timeline["upstream"] = codes(timeline["upstream"].to_numpy(), names)
        timeline["role"] = pd.Categorical(timeline["role"], dtype=category_dtype(ROLES.categories))
        return timeline
    # column by column, the coded ones straight to categories (a role not among ROLES: NaN, as
    # pd.Categorical makes it): building the frame from the rows and then replacing three of
    # its columns took twice as long
    columns = dict(zip(TIMELINE_COLUMNS, zip(*samples)))
    columns["node"] = codes(columns["node"], names)
    columns["upstream"] = codes(columns["upstream"], names)
    role = {label: code for code, label in enumerate(ROLES.categories)}
    columns["role"] = pd.Categorical.from_codes(np.array([role.get(r, -1) for r in columns["role"]], dtype=np.int16),
                                                dtype=category_dtype(ROLES.categories))
    return pd.DataFrame(columns)


def events_frame(events: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(events, columns=list(EVENT_COLUMNS))


def conflicts_frame(rows: list[tuple], names: list[str]) -> pd.DataFrame:
    columns = dict(zip(CONFLICT_COLUMNS, zip(*rows))) if rows else {c: () for c in CONFLICT_COLUMNS}
    return pd.DataFrame({
        "t_ms": np.array(columns["t_ms"], dtype=np.float64),
        "node": codes(columns["node"], names),
        "key": np.array(columns["key"], dtype=np.int64),
        "incoming": np.array(columns["incoming"], dtype=np.int64),
        "existing": np.array(columns["existing"], dtype=np.int64),
        "resolution": codes(columns["resolution"], RESOLUTIONS.categories),
    })
