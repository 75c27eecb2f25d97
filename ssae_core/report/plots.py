"""Plotly figure builders of the comparison (the HTML report, Compare, Evaluate and the study):
plain data in, Figure out; the shared series colours and layout (``palette``, ``layout``)."""

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


def layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
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
    return layout(
        fig,
        "Ground-truth concepts detected by one feature (held-out F1 ≥ 0.5) vs a linear probe",
        "concept frequency (mentions per million tokens)",
        "concepts recalled (%)",
    )


def specialization_forgetting(
    table: pd.DataFrame, colors: dict[str, str] | None = None
) -> go.Figure:
    """One point per SAE: the subdomain's tail and rare concepts it detects (as a share of the
    linear probe's) against the general head and mid concepts it still detects; up is
    specialization, left is forgetting, and a label's ×L0 is how often it fires on general text
    against the GSAE. ``table``: ``compare.specialization_forgetting``."""
    fig = go.Figure()
    ratio = table.general_l0_vs_gsae if "general_l0_vs_gsae" in table else None
    for i, row in enumerate(table.itertuples()):
        times = ratio.iloc[i] if ratio is not None else float("nan")
        label = row.sae + (f" (L0 ×{times:.2f})" if pd.notna(times) else "")
        fig.add_scatter(
            x=[row.head_mid * 100],
            y=[row.of_probe * 100],
            mode="markers+text",
            text=[label],
            textposition="top center",
            name=row.sae,
            marker={"size": 14, "color": (colors or {}).get(row.sae, PALETTE[i % len(PALETTE)])},
            hovertemplate=(
                f"{row.sae}<br>tail + rare: {row.tail_rare:.0%} of the concepts,"
                f" {row.of_probe:.0%} of the probe's<br>general head + mid: {row.head_mid:.0%}"
                + (f"<br>general L0 ×{times:.2f} the GSAE's" if pd.notna(times) else "")
                + "<extra></extra>"
            ),
        )
    fig.add_hline(y=100, line_dash="dot", annotation_text="linear probe")
    gsae = table.head_mid[table.sae == "GSAE"]
    if len(gsae):
        fig.add_vline(
            x=gsae.iloc[0] * 100 - 10,
            line_dash="dash",
            line_color="#adb5bd",
            annotation_text="10 points below the GSAE",
        )
    low = max(0.0, table.head_mid.min() * 100 - 15)  # the GSAE is one of the rows
    fig.update_layout(xaxis_range=[low, 104], yaxis_range=[0, 115], showlegend=False)
    return layout(
        fig,
        "Specialization against forgetting",
        "general head + mid concepts still detected (%)",
        "subdomain tail + rare concepts detected (% of the linear probe's)",
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
    return layout(
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
    return layout(
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
    return layout(
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
    return layout(
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
    return layout(
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
    return layout(
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
    return layout(
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
    return layout(
        fig,
        f"Activation-count change per feature vs {baseline} (same feature index)",
        f"tokens fired on minus {baseline}'s",
        "features (log scale)",
    )


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
    return layout(
        fig,
        "Each SSAE latent's closest GSAE latent (decoder cosine)",
        "max cosine of the latent's decoder direction to any GSAE latent",
        "latents (log scale)",
    )
