"""Plotly figure builders: plain data in, Figure out (dashboard, reports and tests alike)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

SERIES_COLORS = {"GSAE": "#495057", "linear probe": "#adb5bd", "SSAE": "#3b5bdb", "SSAE (TERM)": "#e8590c"}
MAP_COLORS = {"corpus": "#ced4da", "selected": "#3b5bdb", "seed": "#e8590c"}


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


def selection_map(points: pd.DataFrame, method: str) -> go.Figure:
    """UMAP scatter of corpus sample, selected documents and seeds (``maps.selection_map``)."""
    fig = go.Figure()
    for group in ["corpus", "selected", "seed"]:
        part = points[points.group == group]
        fig.add_scattergl(
            x=part.x, y=part.y, mode="markers", name=f"{group} ({len(part)})", customdata=part.row,
            marker=dict(color=MAP_COLORS[group], size=4 if group == "corpus" else 6, opacity=0.6 if group == "corpus" else 0.9),
            hovertemplate=group + " #%{customdata}<extra></extra>",
        )
    return _layout(fig, f"Documents by embedding similarity: {method} selection", "UMAP 1 (unitless)", "UMAP 2 (unitless)")


def selection_precision(precision: dict[str, float]) -> go.Figure:
    """Bars: share of selected documents truly in the subdomain, per method (demo world)."""
    methods = list(precision)
    fig = go.Figure(go.Bar(x=methods, y=[precision[m] * 100 for m in methods], text=[f"{precision[m]:.0%}" for m in methods], textposition="outside", marker_color="#3b5bdb"))
    fig.update_layout(yaxis_range=[0, 110])
    return _layout(fig, "Selection precision against the demo world's ground truth", "selection method", "selected documents in the subdomain (%)")


def selection_overlap(overlap: pd.DataFrame) -> go.Figure:
    """Heatmap of Jaccard overlap between methods' selections at equal budget (square frame)."""
    fig = go.Figure(go.Heatmap(z=overlap.to_numpy(), x=list(overlap.columns), y=list(overlap.index), zmin=0, zmax=1, colorscale="Blues", colorbar_title="Jaccard", texttemplate="%{z:.2f}"))
    return _layout(fig, "Overlap between selections (Jaccard index of document sets)", "method", "method")
