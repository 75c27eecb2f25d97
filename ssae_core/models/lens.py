"""Logit lens of SAE features (the tokens a feature's decoder direction promotes).

A feature's tokens are the top entries of ``LN(W_dec[j]) @ W_U``, the
direct effect of its decoder direction on the logits. The final LayerNorm is applied
without its bias and without the per-token division by the norm: the division is a
positive scale (the ranking is unchanged) and the bias adds the same vector to every
feature's logits. What remains is LN's centering (LN, not RMSNorm) and its learned
scale (already folded into ``W_U`` when TransformerLens loaded the model with
``fold_ln``, in which case the model reports no final-LN weight).
"""

from __future__ import annotations

import numpy as np
import torch


def unembed_directions(model, directions: torch.Tensor) -> torch.Tensor:
    """Logits (n, vocab) of residual directions (n, d_model) through the final LN (no bias, no norm)
    and W_U."""
    v = directions.to(model.W_U.dtype)
    norm = model.cfg.normalization_type
    if norm in ("LN", "LNPre"):
        v = v - v.mean(-1, keepdim=True)
    ln = getattr(model, "ln_final", None)
    if norm in ("LN", "RMS") and hasattr(ln, "w"):
        v = v * ln.w
    return v @ model.W_U


@torch.no_grad()
def logit_lens(
    model, W_dec: torch.Tensor, k: int = 10, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """(top, bottom): token ids (d_sae, k) with the highest and lowest logit-lens logits per
    feature."""
    tops, bottoms = [], []
    for start in range(0, len(W_dec), chunk):
        logits = unembed_directions(model, W_dec[start : start + chunk].to(model.W_U.device))
        tops.append(logits.topk(k, dim=-1).indices.cpu())
        bottoms.append((-logits).topk(k, dim=-1).indices.cpu())
    return torch.cat(tops).numpy(), torch.cat(bottoms).numpy()
