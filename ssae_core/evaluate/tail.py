"""Tail-token coverage by token frequency (paper Fig. 2): which test tokens are among the
logit-lens top tokens (``lens.logit_lens``) of some feature that fires on the split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
