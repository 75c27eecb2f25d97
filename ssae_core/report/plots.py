"""Plotly figure builders: plain data in, Figure out (dashboard, reports and tests alike)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

SERIES_COLORS = {
    "GSAE": "#495057",
    "linear probe": "#adb5bd",
    "SSAE": "#3b5bdb",
    "SSAE (TERM)": "#e8590c",
}
PALETTE = [
    "#3b5bdb",
    "#e8590c",
    "#2b8a3e",
    "#ae3ec9",
    "#f08c00",
    "#0c8599",
    "#c2255c",
    "#5c940d",
    "#1864ab",
    "#862e9c",
]


def palette(names) -> dict[str, str]:
    """A fixed colour per series name (GSAE grey, the rest in order): pass it to every figure of a
    comparison."""
    others = [n for n in dict.fromkeys(names) if n not in SERIES_COLORS]
    return {**SERIES_COLORS, **{n: PALETTE[i % len(PALETTE)] for i, n in enumerate(others)}}


MAP_COLORS = {"corpus": "#ced4da", "selected": "#3b5bdb", "seed": "#e8590c"}


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        legend_title_text="",
        margin=dict(t=60, l=60, r=20, b=60),
    )
    return fig


RECALL_KINDS = {
    "token": "token level: the token expresses the concept",
    "context": "context level: the concept was mentioned earlier in the document",
}


def concept_recall_bars(
    table: pd.DataFrame, series: dict[str, str], colors: dict[str, str] | None = None
) -> go.Figure:
    """Grouped bars: share of concepts recalled per frequency bucket, one bar per series, one
    panel per ground-truth kind (``RECALL_KINDS``) side by side.

    ``table`` has ``kind``, ``bucket`` and ``concepts`` columns and one recall column (0-1)
    per entry of ``series`` (label -> column); rows of other kinds are not drawn.
    """
    from plotly.subplots import make_subplots

    kinds = [k for k in RECALL_KINDS if k in set(table.kind)]
    fig = make_subplots(
        rows=1, cols=len(kinds), shared_yaxes=True, subplot_titles=[RECALL_KINDS[k] for k in kinds]
    )
    for col, kind in enumerate(kinds, start=1):
        part = table[table.kind == kind]
        for i, (label, column) in enumerate(series.items()):
            fig.add_bar(
                x=part.bucket,
                y=part[column] * 100,
                name=label,
                legendgroup=label,
                showlegend=col == 1,
                marker_color=(colors or SERIES_COLORS).get(label, PALETTE[i % len(PALETTE)]),
                customdata=part.concepts,
                text=[f"{v:.0f}%" for v in part[column] * 100],
                textposition="outside",
                hovertemplate="%{x}<br>%{y:.0f}% of %{customdata} concepts<extra>"
                + f"{label} ({kind})</extra>",
                row=1,
                col=col,
            )
        fig.update_xaxes(
            title_text="concept frequency (mentions per million tokens)", row=1, col=col
        )
    fig.update_layout(barmode="group", yaxis_range=[0, 110])
    fig.update_annotations(font_size=12)
    return _layout(
        fig,
        "Ground-truth concepts detected by one feature (held-out F1 ≥ 0.5) vs a linear probe",
        "concept frequency (mentions per million tokens)",
        "concepts recalled (%)",
    )


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
    return _layout(
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
    return _layout(
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
    return _layout(
        fig, "Overlap between selections (Jaccard index of document sets)", "method", "method"
    )


def pareto(points: pd.DataFrame, split: str, colors: dict[str, str] | None = None) -> go.Figure:
    """Spliced-in perplexity vs L0, one line per curve (``group``), points = SAEs of a sweep
    (paper Fig. 1, 4-6).

    ``points``: group, label, l0, ppl_spliced; a ``GSAE`` group is drawn as a single marker.
    """
    fig = go.Figure()
    for group, part in points.groupby("group", sort=False):
        part = part.sort_values("l0")
        fig.add_scatter(
            x=part.l0,
            y=part.ppl_spliced,
            name=group,
            mode="markers" if len(part) == 1 else "lines+markers",
            customdata=part.label,
            marker=dict(
                size=11 if group == "GSAE" else 7,
                symbol="star" if group == "GSAE" else "circle",
                color=(colors or SERIES_COLORS).get(group),
            ),
            line=dict(color=(colors or SERIES_COLORS).get(group)),
            hovertemplate="%{customdata}<br>L0 %{x:.1f}, perplexity %{y:.3f}<extra></extra>",
        )
    return _layout(
        fig,
        f"Spliced-in perplexity vs L0 · {split}",
        "L0 (active features per token)",
        "perplexity, SAE spliced in (lower is better)",
    )


def tail_coverage(table: pd.DataFrame, colors: dict[str, str] | None = None) -> go.Figure:
    """Grouped bars: share of distinct tokens per frequency bucket in some feature's logit-lens
    top-k (Fig. 2a).

    ``table``: sae, lo, hi (bucket count range), tokens, share.
    """
    fig = go.Figure()
    for sae, part in table.groupby("sae", sort=False):
        names = [f"{lo}–{hi - 1}" if hi - 1 > lo else f"{lo}" for lo, hi in zip(part.lo, part.hi)]
        fig.add_bar(
            x=names,
            y=part.share * 100,
            name=sae,
            customdata=part.tokens,
            marker_color=(colors or SERIES_COLORS).get(sae),
            hovertemplate="%{x} occurrences: %{y:.0f}% of %{customdata} tokens<extra>"
            + sae
            + "</extra>",
        )
    fig.update_layout(barmode="group")
    return _layout(
        fig,
        "Tokens with an SAE feature (logit-lens top-10), by token frequency",
        "occurrences of the token in the test data (log-spaced buckets)",
        "distinct tokens with a feature (%)",
    )


def cumulative_coverage(curves: pd.DataFrame, colors: dict[str, str] | None = None) -> go.Figure:
    """Cumulative share of each SAE's covered tokens vs cumulative share of tokens, rarest first
    (Fig. 2b)."""
    fig = go.Figure()
    for sae, part in curves.groupby("sae", sort=False):
        fig.add_scatter(
            x=part.token_share * 100,
            y=part.covered_share,
            name=sae,
            mode="lines",
            line=dict(color=(colors or SERIES_COLORS).get(sae)),
        )
    fig.add_scatter(
        x=[0, 100], y=[0, 1], name="uniform", mode="lines", line=dict(dash="dot", color="#adb5bd")
    )
    return _layout(
        fig,
        "Where each SAE's feature tokens sit in the frequency ranking (higher early = more tail"
        " tokens)",
        "distinct tokens, rarest first (cumulative %)",
        "share of the SAE's covered tokens (cumulative)",
    )


def count_rank(table: pd.DataFrame, colors: dict[str, str] | None = None) -> go.Figure:
    """Log-log activation count vs rank of live features, one line per SAE (Fig. 3a)."""
    fig = go.Figure()
    for sae, part in table.groupby("sae", sort=False):
        fig.add_scatter(
            x=part["rank"],
            y=part["count"],
            name=sae,
            mode="lines",
            line=dict(color=(colors or SERIES_COLORS).get(sae)),
        )
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return _layout(
        fig,
        "Feature activation count vs rank (live features)",
        "feature rank (by activation count)",
        "tokens the feature fires on",
    )


def error_tail(curves: pd.DataFrame, colors: dict[str, str] | None = None) -> go.Figure:
    """The upper tail of each SAE's per-token squared error (``compare.error_tail``)."""
    fig = go.Figure()
    for sae, part in curves.groupby("sae", sort=False):
        fig.add_scatter(
            x=part.tail_share,
            y=part.squared_error,
            name=sae,
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=(colors or SERIES_COLORS).get(sae)),
        )
    fig.update_xaxes(type="log", autorange="reversed")
    fig.update_yaxes(type="log")
    return _layout(
        fig,
        "Worst tokens' reconstruction error (upper tail of the per-token distribution)",
        "share of tokens with a larger error (1 − quantile; log, worst to the right)",
        "‖x − x̂‖² at that quantile (squared activation units)",
    )


def error_by_frequency(table: pd.DataFrame, colors: dict[str, str] | None = None) -> go.Figure:
    """Mean per-token squared error by how often the token occurs in the split
    (``dark_matter.error_by_frequency``), rarest first."""
    fig = go.Figure()
    for sae, part in table.groupby("sae", sort=False):
        fig.add_scatter(
            x=np.sqrt(part.lo * (part.hi - 1).clip(lower=part.lo)),
            y=part.mean_squared_error,
            name=sae,
            mode="lines+markers",
            customdata=np.stack([part.lo, part.hi - 1, part.tokens], axis=-1),
            hovertemplate="tokens seen %{customdata[0]}-%{customdata[1]} times: %{y:.4g}"
            " (%{customdata[2]} tokens)<extra>" + sae + "</extra>",
            line=dict(color=(colors or SERIES_COLORS).get(sae)),
        )
    fig.update_xaxes(type="log")
    return _layout(
        fig,
        "Reconstruction error by token frequency (rare tokens on the left)",
        "times the token occurs in the split (log; bucket's geometric middle)",
        "mean ‖x − x̂‖² per token (squared activation units)",
    )


def error_by_concept(table: pd.DataFrame, colors: dict[str, str] | None = None) -> go.Figure:
    """Grouped bars: mean per-token squared error on tokens of each ground-truth concept-frequency
    bucket (``dark_matter.error_by_concept_bucket``)."""
    fig = go.Figure()
    for sae, part in table.groupby("sae", sort=False):
        fig.add_bar(
            x=part.bucket,
            y=part.mean_squared_error,
            name=sae,
            customdata=part.tokens,
            hovertemplate="%{x}: %{y:.4g} over %{customdata} tokens<extra>" + sae + "</extra>",
            marker_color=(colors or SERIES_COLORS).get(sae),
        )
    fig.update_layout(barmode="group")
    return _layout(
        fig,
        "Reconstruction error on tokens of frequent vs rare ground-truth concepts",
        "concept frequency in the general corpus (mentions per million tokens)",
        "mean ‖x − x̂‖² per token (squared activation units)",
    )


def count_differences(
    diffs: dict[str, np.ndarray], baseline: str, colors: dict[str, str] | None = None
) -> go.Figure:
    """Overlaid histograms of per-feature activation-count differences against ``baseline`` (Fig.
    7)."""
    fig = go.Figure()
    for sae, d in diffs.items():
        fig.add_histogram(
            x=d, name=sae, opacity=0.6, nbinsx=60, marker_color=(colors or SERIES_COLORS).get(sae)
        )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(type="log")
    return _layout(
        fig,
        f"Activation-count change per feature vs {baseline} (same feature index)",
        f"tokens fired on minus {baseline}'s",
        "features (log scale)",
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
    return _layout(fig, f"Per-token SAE {label}", "token (position in the text)", "SAE")


def fvu_breakdown(r2: pd.DataFrame, x: str = "sae") -> go.Figure:
    """Stacked bars per SAE: FVU split into its linearly predictable and nonlinear parts (Eq. 4)."""
    fig = go.Figure()
    fig.add_bar(x=r2[x], y=r2.nonlinear_fvu, name="nonlinear FVU", marker_color="#c92a2a")
    fig.add_bar(x=r2[x], y=r2.linear_fvu, name="linearly predictable FVU", marker_color="#ffa8a8")
    fig.update_layout(barmode="stack")
    return _layout(
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
    return _layout(
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
    return _layout(fig, title, "SAE", f"{unit} per feature")


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
    return _layout(
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
    return _layout(fig, "Finetuning curves", "step", "loss")


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
    _layout(fig, "Probe accuracy by group, before and after removing latents", "", "")
    fig.update_yaxes(title_text="accuracy on the balanced test split", range=[0, 1], col=1)
    fig.update_xaxes(title_text="group (label / cue)")
    fig.update_layout(barmode="group")
    return fig


def max_cos(latents: pd.DataFrame, theta: float, colors: dict[str, str] | None = None) -> go.Figure:
    """Histogram of each SSAE latent's largest decoder cosine to any GSAE latent, one series per
    SSAE, with the novel / reconstruction threshold θ marked."""
    fig = go.Figure()
    for group, part in latents.groupby("group", sort=False):
        fig.add_histogram(
            x=part.max_cos,
            name=group,
            opacity=0.6,
            xbins=dict(start=-1, end=1.0001, size=0.02),
            marker_color=(colors or SERIES_COLORS).get(group),
        )
    fig.add_vline(
        x=theta, line_dash="dash", annotation_text=f"θ = {theta:g}: novel ← | → reconstruction"
    )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(type="log")
    return _layout(
        fig,
        "Each SSAE latent's closest GSAE latent (decoder cosine)",
        "max cosine of the latent's decoder direction to any GSAE latent",
        "latents (log scale)",
    )
