"""HTML for the pages: token windows shaded by activation, per-token error rows, a small activation
histogram."""

from __future__ import annotations

import html
import math

from ssae_core.models.activations import word_level


def example_html(tokens: list[str], acts: list[float], scale: float) -> str:
    """Tokens as inline spans shaded by activation / ``scale`` (hover: the value); word tokens get
    spaces."""
    spaced = word_level(tokens)
    spans = []
    for tok, act in zip(tokens, acts):
        alpha = min(max(act / scale, 0.0), 1.0) if scale > 0 else 0.0
        style = (
            f"background: rgba(232, 89, 12, {alpha:.2f}); border-radius: 3px; padding: 0 1px;"
            if act > 0
            else ""
        )
        text = html.escape(tok) + (" " if spaced else "")
        spans.append(f'<span title="{act:.3f}" style="{style}">{text}</span>' if act > 0 else text)
    return (
        '<div style="font-family: ui-monospace, monospace; font-size: 13px; line-height: 1.9;'
        ' white-space: pre-wrap; padding: 4px 0; border-bottom: 1px solid #e9ecef;">'
        + "".join(spans)
        + "</div>"
    )


def error_rows_html(norms, tokens: list[str], value: str = "error_norm") -> str:
    """The per-token error heatmap as HTML: one row of shaded tokens per SAE, one colour scale for
    all rows (hover: the value). Light in the browser, unlike a chart with a text label per cell."""
    wide = norms.pivot(index="sae", columns="token_index", values=value).reindex(
        list(dict.fromkeys(norms.sae))
    )
    top = float(wide.to_numpy().max()) if wide.size else 0.0
    sep = " " if word_level(tokens) else ""
    rows = []
    for name, values in wide.iterrows():
        spans = []
        for i, v in values.items():
            alpha = v / top if top > 0 else 0.0
            spans.append(
                f'<span title="{html.escape(tokens[i])}: {v:.3f}" style="background: rgba(201, 42,'
                f" 42, {alpha:.2f}); border-radius: 3px; padding: 0"
                f' 1px;">{html.escape(tokens[i])}</span>'
            )
        rows.append(
            '<div style="margin: 2px 0;"><b style="display: inline-block; min-width:'
            f' 14em;">{html.escape(str(name))}</b> {sep.join(spans)}</div>'
        )
    legend = (
        f'<div style="font-size: 12px; color: #495057;">shade: {value.replace("_", " ")} from 0'
        f" (white) to {top:.3g} (darkest red); hover a token for its value</div>"
    )
    return (
        '<div style="font-family: ui-monospace, monospace; font-size: 13px; line-height: 1.9;">'
        + "".join(rows)
        + legend
        + "</div>"
    )


def histogram_html(hist, edges, title: str, height_px: int = 120) -> str:
    """A feature's activation histogram on log-spaced bins as plain HTML bars (the occupied bins
    with one empty bin each side, decade ticks, axis labels; hover: a bin's range and count). No
    chart library and no SVG, which the page's HTML sanitizer drops."""
    hist = [int(c) for c in hist]
    occupied = [i for i, c in enumerate(hist) if c > 0]
    if not occupied:
        return (
            f'<div style="font-size: 13px; color: #495057;">{html.escape(title)}: no'
            " activations.</div>"
        )
    lo, hi = max(occupied[0] - 1, 0), min(occupied[-1] + 2, len(hist))
    peak = max(hist)
    bars = "".join(
        f'<div title="activation {edges[i]:.3g}–{edges[i + 1]:.3g}: {hist[i]:,} tokens"'
        f' style="flex: 1; margin: 0 1px; height: {100 * hist[i] / peak:.1f}%; background:'
        ' #e8590c;"></div>'
        for i in range(lo, hi)
    )
    ticks = "".join(
        f'<span style="position: absolute; left: {100 * (i - lo) / (hi - lo):.1f}%; transform:'
        f' translateX(-50%);">{edges[i]:g}</span>'
        for i in range(lo, hi + 1)
        if abs(math.log10(edges[i]) - round(math.log10(edges[i]))) < 1e-9
    )
    axis = "1px solid #868e96"
    return (
        '<div style="font-family: sans-serif; font-size: 12px; color: #343a40; max-width:'
        ' 560px;"><div style="font-weight: 600; font-size: 13px; margin-bottom:'
        f' 4px;">{html.escape(title)}</div><div style="display: flex;"><div style="writing-mode:'
        " vertical-rl; transform: rotate(180deg); text-align: center; height:"
        f' {height_px}px;">tokens</div><div style="display: flex; flex-direction: column;'
        " justify-content: space-between; text-align: right; width: 44px; padding-right: 4px;"
        f' height: {height_px}px;"><span>{peak:,}</span><span>0</span></div><div style="flex:'
        f' 1;"><div style="display: flex; align-items: flex-end; height: {height_px}px;'
        f' border-left: {axis}; border-bottom: {axis};">{bars}</div><div style="position: relative;'
        f' height: 16px;">{ticks}</div><div style="text-align: center;">activation (log'
        " scale)</div></div></div></div>"
    )
