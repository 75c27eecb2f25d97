"""Plotly figure builders: plain data in, Figure out (dashboard, reports and tests alike)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

SERIES_COLORS = {"GSAE": "#495057", "linear probe": "#adb5bd", "SSAE": "#3b5bdb", "SSAE (TERM)": "#e8590c"}


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title, xaxis_title=x, yaxis_title=y, template="plotly_white", legend_title_text="", margin=dict(t=60, l=60, r=20, b=60)
    )
    return fig


def concept_recall_bars(table: pd.DataFrame, series: dict[str, str]) -> go.Figure:
    """Grouped bars: share of concepts recalled per frequency bucket, one bar per series.

    ``table`` has a ``bucket`` column, a ``concepts`` column and one recall column (0-1)
    per entry of ``series`` (label -> column).
    """
    fig = go.Figure()
    for label, column in series.items():
        fig.add_bar(
            x=table.bucket,
            y=table[column] * 100,
            name=label,
            marker_color=SERIES_COLORS.get(label),
            customdata=table.concepts,
            text=[f"{v:.0f}%" for v in table[column] * 100],
            textposition="outside",
            hovertemplate="%{x}<br>%{y:.0f}% of %{customdata} concepts<extra>" + label + "</extra>",
        )
    fig.update_layout(barmode="group", yaxis_range=[0, 110])
    return _layout(fig, "Ground-truth concepts detected with token-level F1 ≥ 0.5", "concept frequency in the general corpus (mentions per million tokens)", "concepts recalled (%)")
