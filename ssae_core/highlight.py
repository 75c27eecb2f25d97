"""HTML for token windows with per-token activations (the feature browser's examples)."""

from __future__ import annotations

import html


def example_html(tokens: list[str], acts: list[float], scale: float) -> str:
    """Tokens as inline spans shaded by activation / ``scale`` (hover: the value); word tokens get spaces."""
    spaced = not any(t[:1].isspace() for t in tokens)
    spans = []
    for tok, act in zip(tokens, acts):
        alpha = min(max(act / scale, 0.0), 1.0) if scale > 0 else 0.0
        style = f"background: rgba(232, 89, 12, {alpha:.2f}); border-radius: 3px; padding: 0 1px;" if act > 0 else ""
        text = html.escape(tok) + (" " if spaced else "")
        spans.append(f'<span title="{act:.3f}" style="{style}">{text}</span>' if act > 0 else text)
    return '<div style="font-family: ui-monospace, monospace; font-size: 13px; line-height: 1.9; white-space: pre-wrap;">' + "".join(spans) + "</div>"


def error_rows_html(norms, tokens: list[str], value: str = "error_norm") -> str:
    """The per-token error heatmap as HTML: one row of shaded tokens per SAE, one colour scale for all
    rows (hover: the value). Light in the browser, unlike a chart with a text label per cell."""
    wide = norms.pivot(index="sae", columns="token_index", values=value).reindex(list(dict.fromkeys(norms.sae)))
    top = float(wide.to_numpy().max()) if wide.size else 0.0
    rows = []
    for name, values in wide.iterrows():
        spans = []
        for i, v in values.items():
            alpha = v / top if top > 0 else 0.0
            spans.append(f'<span title="{html.escape(tokens[i])}: {v:.3f}" style="background: rgba(201, 42, 42, {alpha:.2f}); border-radius: 3px; padding: 0 1px;">{html.escape(tokens[i])}</span>')
        rows.append(f'<div style="margin: 2px 0;"><b style="display: inline-block; min-width: 14em;">{html.escape(str(name))}</b> {" ".join(spans)}</div>')
    legend = f'<div style="font-size: 12px; color: #495057;">shade: {value.replace("_", " ")} from 0 (white) to {top:.3g} (darkest red); hover a token for its value</div>'
    return '<div style="font-family: ui-monospace, monospace; font-size: 13px; line-height: 1.9;">' + "".join(rows) + legend + "</div>"
