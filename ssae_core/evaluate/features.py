"""Per-feature statistics of one SAE on a token set, accumulated batch by batch (paper Fig. 3a, 7).

Per feature: how many tokens it fires on, its mean and max activation, a histogram of
its activations on log-spaced bins, and its top-activating documents (one example per
document: the position of its peak). The data behind the feature browser and autointerp.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from ssae_core.models.sae_math import encode_rows
from ssae_core.select.maps import umap_2d

HIST_EDGES = np.logspace(
    -3, 3, 31
)  # activation histogram bins (activations below 1e-3 go to bin 0)


class FeatureStats:
    """Streaming per-feature counts, sums, maxima, histograms and top-k documents."""

    def __init__(self, d_sae: int, top_k: int = 50, device="cpu"):
        self.top_k = top_k
        self.count = torch.zeros(d_sae, dtype=torch.long, device=device)
        self.total = torch.zeros(d_sae, dtype=torch.float64, device=device)
        self.max = torch.zeros(d_sae, device=device)
        self.hist = torch.zeros(d_sae, len(HIST_EDGES) - 1, dtype=torch.long, device=device)
        self.top_act = torch.full((top_k, d_sae), -1.0, device=device)
        self.top_doc = torch.full((top_k, d_sae), -1, dtype=torch.long, device=device)
        self.top_pos = torch.full((top_k, d_sae), -1, dtype=torch.long, device=device)
        self.edges = torch.tensor(HIST_EDGES[1:-1], dtype=torch.float32, device=device)
        self.tokens = 0

    @torch.no_grad()
    def update(self, f_padded: torch.Tensor, real: torch.Tensor, doc_index: torch.Tensor) -> None:
        """Add a batch: activations (rows, seq, d_sae) with zeros off ``real``; row r is document
        ``doc_index[r]``.

        Position p of a row is token p - 1 of its document (position 0 is BOS).
        """
        f = f_padded[real]
        self.tokens += len(f)
        active = f > 0
        self.count += active.sum(0)
        self.total += f.sum(0, dtype=torch.float64)
        self.max = torch.maximum(self.max, f.max(0).values if len(f) else self.max)
        token_idx, feature_idx = active.nonzero(as_tuple=True)
        bins = torch.bucketize(f[token_idx, feature_idx], self.edges)
        self.hist.index_put_((feature_idx, bins), torch.ones_like(bins), accumulate=True)
        peak, at = f_padded.max(dim=1)  # (rows, d_sae): each document's peak and its position
        docs = doc_index.to(peak.device)[:, None].expand_as(peak)
        acts = torch.cat([self.top_act, peak])
        best = acts.topk(min(self.top_k, len(acts)), dim=0)
        self.top_act = best.values
        self.top_doc = torch.cat([self.top_doc, docs]).gather(0, best.indices)
        self.top_pos = torch.cat([self.top_pos, at - 1]).gather(0, best.indices)

    def table(self) -> pd.DataFrame:
        """One row per feature: count, frequency, mean / max activation, histogram, top examples."""
        acts, docs, pos = (
            t.cpu().numpy().T for t in (self.top_act, self.top_doc, self.top_pos)
        )  # (d_sae, top_k), one copy each
        keep = acts > 0
        cols = [
            (docs[j][keep[j]].tolist(), pos[j][keep[j]].tolist(), acts[j][keep[j]].tolist())
            for j in range(len(acts))
        ]
        count = self.count.cpu().numpy()
        return pd.DataFrame(
            {
                "feature": np.arange(len(count)),
                "count": count,
                "frequency": count / max(self.tokens, 1),
                "mean_act": (self.total.cpu().numpy() / np.maximum(count, 1)).astype(np.float32),
                "max_act": self.max.cpu().numpy(),
                "hist": list(self.hist.cpu().numpy()),
                "top_doc": [c[0] for c in cols],
                "top_pos": [c[1] for c in cols],
                "top_act": [c[2] for c in cols],
            }
        )


def count_rank(counts: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long table (sae, rank, count) of activation counts sorted descending, live features only
    (Fig. 3a)."""
    parts = []
    for name, c in counts.items():
        live = np.sort(np.asarray(c)[np.asarray(c) > 0])[::-1]
        parts.append(
            pd.DataFrame({"sae": name, "rank": np.arange(1, len(live) + 1), "count": live})
        )
    return pd.concat(parts, ignore_index=True)


def count_differences(counts: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Per feature (same index: SSAEs start from the GSAE), count minus the baseline's (Fig. 7).
    An extended SSAE is wider than its GSAE: its new latents, past the baseline's width, count 0
    there."""
    if len(counts) < len(baseline):
        from ssae_core.infra.errors import ConfigError

        raise ConfigError(
            f"Count differences need an SSAE at least as wide as its baseline ({len(counts)} vs"
            f" {len(baseline)} features)."
        )
    return np.asarray(counts, dtype=np.int64) - pad_to(baseline, len(counts))


def pad_to(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` (int64) followed by zeros up to length ``n``: per-latent counts of a GSAE laid
    against an extension of it, whose latents past the GSAE's width are new."""
    out = np.zeros(n, dtype=np.int64)
    out[: len(values)] = values
    return out


def breadth(counts: np.ndarray) -> dict[str, float]:
    """How broadly an SAE's features fire: the live share, and the effective share of features
    (exp of the entropy of the firing-count distribution, over d_sae: 1 when all fire equally)."""
    counts = np.asarray(counts, dtype=np.float64)
    live = counts > 0
    p = counts[live] / counts[live].sum() if live.any() else np.ones(1)
    return {
        "live_share": float(live.mean()),
        "effective_share": float(np.exp(-(p * np.log(p)).sum()) / len(counts)),
    }


@torch.no_grad()
def token_top_features(saes: dict, x: torch.Tensor, k: int = 3) -> pd.DataFrame:
    """Per token and SAE, the ``k`` most active features that fire (token_index, sae, rank, feature,
    activation); tokens where fewer than ``k`` fire get fewer rows."""
    parts = []
    for name, sae in saes.items():
        acts = encode_rows(sae, x)
        values, ids = acts.topk(min(k, acts.shape[1]), dim=1)
        token, rank = np.nonzero(values.numpy() > 0)
        parts.append(
            pd.DataFrame(
                {
                    "token_index": token,
                    "sae": name,
                    "rank": rank,
                    "feature": ids.numpy()[token, rank],
                    "activation": values.numpy()[token, rank],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def top_features_grid(saes: dict, x: torch.Tensor, k: int = 3) -> pd.DataFrame:
    """``token_top_features`` as one row per token and one column per SAE, each cell its ``k``
    features as ``id (activation)``, most active first (empty where none fires)."""
    top = token_top_features(saes, x, k)
    cells = (
        top.assign(cell=top.feature.astype(str) + " (" + top.activation.map("{:.2f}".format) + ")")
        .groupby(["token_index", "sae"], sort=False)
        .cell.agg(", ".join)
    )
    return cells.unstack("sae").reindex(index=range(len(x)), columns=list(saes)).fillna("")


def decoder_points(W_dec: torch.Tensor, frequency: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """The decoder map's points: a 2-D UMAP of the decoder directions (x, y), each feature's id
    and firing frequency."""
    W = W_dec.detach().cpu().numpy()
    xy = umap_2d(W, seed)
    return pd.DataFrame(
        {"x": xy[:, 0], "y": xy[:, 1], "feature": np.arange(len(W)), "frequency": frequency}
    )


def search_features(
    table: pd.DataFrame,
    query: str,
    decode: Callable[[int], str],
    explanations: dict[int, str] | None = None,
    top: int = 50,
) -> list[int]:
    """Features of a ``features.parquet`` table that match a browser query: an id (that feature,
    if it exists), a token (live features with it among their logit-lens top tokens, then
    features whose explanation contains the words), or nothing (the ``top`` most frequent live
    features)."""
    q = query.strip().lower()
    if q.isdigit():
        return [int(q)] if int(q) < len(table) else []
    live = table[table["count"] > 0]
    if not q:
        return live.sort_values("count", ascending=False).feature.head(top).tolist()
    lens_hit = [
        int(j)
        for j, tokens in zip(live.feature, live.lens_top)
        if any(q == decode(int(t)).strip().lower() for t in tokens)
    ]
    described = [j for j, text in (explanations or {}).items() if q in text.lower()]
    return lens_hit + [j for j in described if j not in lens_hit]
