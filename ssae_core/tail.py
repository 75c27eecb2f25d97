"""Logit lens of SAE features and tail-token coverage (paper Fig. 2).

Logit lens: a feature's tokens are the top entries of ``LN(W_dec[j]) @ W_U``, the
direct effect of its decoder direction on the logits. The final LayerNorm is applied
without its bias and without the per-token division by the norm: the division is a
positive scale (the ranking is unchanged) and the bias adds the same vector to every
feature's logits. What remains is LN's centering (LN, not RMSNorm) and its learned
scale (already folded into ``W_U`` when TransformerLens loaded the model with
``fold_ln``, in which case the model reports no final-LN weight).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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


def frequency_buckets(tokens: np.ndarray, n_buckets: int = 8) -> pd.DataFrame:
    """Distinct tokens of a text with their count and a log-spaced count bucket (0 = rarest).

    Columns: token, count, bucket, lo, hi (the bucket's count range, lo <= count < hi).
    """
    ids, counts = np.unique(tokens, return_counts=True)
    edges = np.unique(np.floor(np.geomspace(1, counts.max() + 1, n_buckets + 1)).astype(np.int64))
    edges[-1] = counts.max() + 1
    bucket = np.searchsorted(edges, counts, side="right") - 1
    return pd.DataFrame(
        {
            "token": ids,
            "count": counts,
            "bucket": bucket,
            "lo": edges[bucket],
            "hi": edges[bucket + 1],
        }
    )


def covered_tokens(top_tokens: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Distinct token ids in the logit-lens top-k of at least one live feature."""
    return np.unique(top_tokens[live])


def coverage_by_bucket(freq: pd.DataFrame, covered: np.ndarray) -> pd.DataFrame:
    """Per frequency bucket: distinct tokens, how many have a feature, and that share (Fig. 2a)."""
    has = freq.token.isin(covered)
    table = (
        freq.assign(covered=has)
        .groupby(["bucket", "lo", "hi"], as_index=False)
        .agg(tokens=("token", "size"), covered=("covered", "sum"))
    )
    table["share"] = table.covered / table.tokens
    return table


def cumulative_coverage(freq: pd.DataFrame, covered: np.ndarray) -> pd.DataFrame:
    """Distinct tokens from rarest to most frequent: cumulative share of tokens (x) vs cumulative
    share of this SAE's covered tokens (y, reaching 1 at the end: normalized per SAE, Fig. 2b).

    A curve that rises earlier puts more of its features on tail tokens.
    """
    order = freq.sort_values(["count", "token"], kind="stable")
    has = order.token.isin(covered).to_numpy()
    x = np.arange(1, len(order) + 1) / len(order)
    y = np.cumsum(has) / max(has.sum(), 1)
    return pd.DataFrame({"token_share": x, "covered_share": y})
