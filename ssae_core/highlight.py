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
