"""What every replab chart shares: colours, the layout, and filling a figure in place."""

from __future__ import annotations

import plotly.graph_objects as go

OUTCOME_COLOURS = {"served": "#2ca02c", "refused": "#ff7f0e", "failed": "#d62728"}
OP_COLOURS = {"read": "#1f77b4", "write": "#9467bd"}
ROLE_COLOURS = {"leader": "#f2a900", "follower": "#4682b4", "server": "#2ca02c", "down": "#b0b0b0"}
PERCENTILES = (50, 95, 99)
_TEMPLATE = "plotly_white"
_BASE_LAYOUT = dict(height=350, margin=dict(l=55, r=20, t=75, b=45),  # room for a legend wrapped on two rows
                    legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.0, font=dict(size=10)))


def fill(fig, traces: list[dict], layout: dict):
    """Write traces and layout into `fig` in place (one batch_update); a new Figure if None."""
    fig = go.Figure() if fig is None else fig
    same_shape = [t.type for t in fig.data] == [t.get("type", "scatter") for t in traces]
    with fig.batch_update():
        if same_shape:
            for trace, spec in zip(fig.data, traces):
                trace.update({k: v for k, v in spec.items() if k != "type"}, overwrite=True)
        else:
            fig.data = []
            fig.add_traces([go.Scatter(**{k: v for k, v in spec.items() if k != "type"}) for spec in traces])
            fig.update_layout(template=_TEMPLATE)  # costly to re-apply (deep copies), so only when new
        title = {"y": 0.98, "yanchor": "top", "x": 0.02, "xanchor": "left", **layout.pop("title", {})}
        fig.update_layout({**_BASE_LAYOUT, **layout, "title": title})  # title above the legend row
    return fig
