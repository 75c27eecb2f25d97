"""Plotly figure builders of single analyses (selection maps and precision, error heatmaps and
FVU splits, autointerp scores, decoder maps, training curves, SHIFT): plain data in, Figure out,
in the comparison figures' style (``plots.layout``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ssae_core.report.plots import PALETTE, SERIES_COLORS, layout

MAP_COLORS = {"corpus": "#ced4da", "selected": "#3b5bdb", "seed": "#e8590c"}


def selection_map(points: pd.DataFrame, method: str) -> go.Figure:
    """UMAP scatter of corpus sample, selected documents and seeds (``maps.selection_map``)."""
    fig = go.Figure()
    for group in ["corpus", "selected", "seed"]:
        part = points[points.group == group]
        fig.add_scatter(
            x=part.x,
            y=part.y,
            mode="markers",
            name=f"{group} ({len(part)})",
            customdata=part.row,
            marker=dict(
                color=MAP_COLORS[group],
                size=4 if group == "corpus" else 6,
                opacity=0.6 if group == "corpus" else 0.9,
            ),
            hovertemplate=group + " #%{customdata}<extra></extra>",
        )
    return layout(
        fig,
        f"Documents by embedding similarity: {method} selection",
        "UMAP 1 (unitless)",
        "UMAP 2 (unitless)",
    )


def selection_precision(precision: dict[str, float]) -> go.Figure:
    """Bars: share of selected documents truly in the subdomain, per method (demo world)."""
    methods = list(precision)
    fig = go.Figure(
        go.Bar(
            x=methods,
            y=[precision[m] * 100 for m in methods],
            text=[f"{precision[m]:.0%}" for m in methods],
            textposition="outside",
            marker_color="#3b5bdb",
        )
    )
    fig.update_layout(yaxis_range=[0, 110])
    return layout(
        fig,
        "Selection precision against the demo world's ground truth",
        "selection method",
        "selected documents in the subdomain (%)",
    )


def selection_overlap(overlap: pd.DataFrame) -> go.Figure:
    """Heatmap of Jaccard overlap between methods' selections at equal budget (square frame)."""
    fig = go.Figure(
        go.Heatmap(
            z=overlap.to_numpy(),
            x=list(overlap.columns),
            y=list(overlap.index),
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar_title="Jaccard",
            texttemplate="%{z:.2f}",
        )
    )
    return layout(
        fig, "Overlap between selections (Jaccard index of document sets)", "method", "method"
    )


def error_heatmap(
    norms: pd.DataFrame,
    tokens: list[str],
    value: str = "error_norm",
    colors_max: float | None = None,
) -> go.Figure:
    """Tokens as cells coloured by SAE error norm, one row per SAE over the same tokens (hover:
    token, value)."""
    wide = norms.pivot(index="sae", columns="token_index", values=value).reindex(
        list(dict.fromkeys(norms.sae))
    )
    text = [[tokens[i] for i in wide.columns]] * len(wide)
    fig = go.Figure(
        go.Heatmap(
            z=wide.to_numpy(),
            x=list(wide.columns),
            y=list(wide.index),
            text=text,
            colorscale="Reds",
            zmin=0,
            zmax=colors_max,
            texttemplate="%{text}" if wide.shape[1] <= 60 else None,
            colorbar_title="‖x − x̂‖" if value == "error_norm" else "‖e‖/‖x‖",
            hovertemplate="%{y}<br>token %{x}: %{text}<br>"
            + value.replace("_", " ")
            + " %{z:.3f}<extra></extra>",
        )
    )
    if 60 < wide.shape[1] <= 150:  # too many for cell text: name the tokens on the axis instead
        fig.update_xaxes(
            tickvals=list(wide.columns), ticktext=text[0], tickangle=-70, tickfont_size=9
        )
    fig.update_yaxes(autorange="reversed")
    label = (
        "error norm ‖x − x̂‖ (activation units)"
        if value == "error_norm"
        else "relative error ‖x − x̂‖ / ‖x‖"
    )
    return layout(fig, f"Per-token SAE {label}", "token (position in the text)", "SAE")


def fvu_breakdown(r2: pd.DataFrame, x: str = "sae") -> go.Figure:
    """Stacked bars per SAE: FVU split into its linearly predictable and nonlinear parts (Eq. 4)."""
    fig = go.Figure()
    fig.add_bar(x=r2[x], y=r2.nonlinear_fvu, name="nonlinear FVU", marker_color="#c92a2a")
    fig.add_bar(x=r2[x], y=r2.linear_fvu, name="linearly predictable FVU", marker_color="#ffa8a8")
    fig.update_layout(barmode="stack")
    return layout(
        fig,
        "SAE error: linearly predictable vs nonlinear (share of activation variance)",
        x.replace("_", " "),
        "fraction of variance unexplained",
    )


def cross_scatter(
    tokens: pd.DataFrame, a: str, b: str, r2: float, max_points: int = 1500
) -> go.Figure:
    """Per-token error norm of SAE ``a`` vs SAE ``b`` on the same held-out tokens (Eq. 5); a
    seeded sample of
    ``max_points`` tokens is drawn (the R² is over all of them)."""
    wide = tokens.pivot(index="token_index", columns="sae", values="error_norm")
    if len(wide) > max_points:
        wide = wide.sample(max_points, random_state=0)
    fig = go.Figure(
        go.Scatter(
            x=wide[a],
            y=wide[b],
            mode="markers",
            marker=dict(size=4, opacity=0.5, color="#3b5bdb"),
            name="tokens",
        )
    )
    top = float(max(wide[a].max(), wide[b].max()))
    fig.add_scatter(
        x=[0, top], y=[0, top], mode="lines", line=dict(dash="dot", color="#adb5bd"), name="y = x"
    )
    return layout(
        fig,
        f"Per-token error norms: {b} vs {a} (R² of ‖e‖² = {r2:.3f})",
        f"{a} error norm (activation units)",
        f"{b} error norm (activation units)",
    )


SCORE_TITLES = {
    "f1": ("F1: predicting held-out activations (paper)", "F1"),
    "detection": ("Detection: does it fire in this context?", "balanced accuracy"),
    "fuzzing": ("Fuzzing: are the marked tokens its own?", "balanced accuracy"),
    "embedding": ("Embedding: MiniLM cosine, active vs silent", "AUROC (0.5 = chance)"),
}


def f1_distribution(
    table: pd.DataFrame, colors: dict[str, str] | None = None, score: str = "f1"
) -> go.Figure:
    """Box plots (with points) of one autointerp score per SAE (paper Fig. 3b for F1); ``table``:
    label, feature and the ``score`` column."""
    fig = go.Figure()
    title, unit = SCORE_TITLES[score]
    for label, part in table.dropna(subset=[score]).groupby("label", sort=False):
        fig.add_box(
            y=part[score],
            name=label,
            boxpoints="all",
            jitter=0.4,
            pointpos=0,
            marker_color=(colors or SERIES_COLORS).get(label),
            customdata=part.feature,
            hovertemplate=f"feature %{{customdata}}: {unit} %{{y:.2f}}<extra>{label}</extra>",
        )
    fig.update_yaxes(range=[-0.05, 1.05])
    return layout(fig, title, "SAE", f"{unit} per feature")


def decoder_map(points: pd.DataFrame) -> go.Figure:
    """UMAP of decoder directions, one point per feature coloured by log10 activation frequency
    (dead: grey)."""
    live = points[points.frequency > 0]
    dead = points[points.frequency <= 0]
    fig = go.Figure()
    fig.add_scatter(
        x=dead.x,
        y=dead.y,
        mode="markers",
        name=f"dead ({len(dead)})",
        customdata=dead.feature,
        marker=dict(size=5, color="#ced4da"),
        hovertemplate="feature %{customdata} (dead)<extra></extra>",
    )
    fig.add_scatter(
        x=live.x,
        y=live.y,
        mode="markers",
        name=f"live ({len(live)})",
        customdata=live.feature,
        marker=dict(
            size=6,
            color=np.log10(live.frequency),
            colorscale="Viridis",
            colorbar=dict(title="log10 frequency"),
        ),
        hovertemplate=(
            "feature %{customdata}<br>fires on %{marker.color:.2f} (log10 share of"
            " tokens)<extra></extra>"
        ),
    )
    return layout(
        fig,
        "Decoder directions (UMAP, cosine); click a point to open the feature",
        "UMAP 1 (unitless)",
        "UMAP 2 (unitless)",
    )


def training_curves(log: pd.DataFrame) -> go.Figure:
    """Loss and L0 per logged step, one line per SAE of the sweep (two stacked panels), named by
    its tilt (a tilt sweep's ``curve`` column) and sparsity value."""
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("training objective", "L0 (active features per token)"),
    )
    for i, (_, part) in enumerate(log.groupby("sae")):
        color = PALETTE[i % len(PALETTE)]
        name = (
            f"{part.curve.iloc[0] if 'curve' in part else ''} λ={part.sparsity.iloc[0]:g}".lstrip()
        )
        fig.add_scatter(x=part.step, y=part.loss, name=name, line=dict(color=color), row=1, col=1)
        fig.add_scatter(
            x=part.step,
            y=part.l0,
            name=name,
            line=dict(color=color),
            showlegend=False,
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="L0", row=2, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    return layout(fig, "Finetuning curves", "step", "loss")


SHIFT_STAGES = {
    "before": "#495057",
    "removed": "#e8590c",
    "retrained": "#3b5bdb",
    "oracle": "#adb5bd",
}


def shift_groups(table: pd.DataFrame) -> go.Figure:
    """SHIFT: accuracy per (label / cue) group on the balanced test split, one panel per SAE, one
    bar per stage (before removal, latents removed, probe retrained, oracle probe)."""
    from plotly.subplots import make_subplots

    saes = list(dict.fromkeys(table.sae))
    fig = make_subplots(rows=1, cols=len(saes), subplot_titles=saes, shared_yaxes=True)
    for col, sae in enumerate(saes, start=1):
        part = table[table.sae == sae]
        for stage, color in SHIFT_STAGES.items():
            rows = part[part.stage == stage]
            fig.add_bar(
                x=rows.group,
                y=rows.accuracy,
                name=stage,
                marker_color=color,
                legendgroup=stage,
                showlegend=col == 1,
                hovertemplate="%{x}: %{y:.3f}<extra>" + stage + "</extra>",
                row=1,
                col=col,
            )
    layout(fig, "Probe accuracy by group, before and after removing latents", "", "")
    fig.update_yaxes(title_text="accuracy on the balanced test split", range=[0, 1], col=1)
    fig.update_xaxes(title_text="group (label / cue)")
    fig.update_layout(barmode="group")
    return fig
