"""2-D maps of high-dimensional vectors (UMAP), for the dashboard's scatter plots."""

from __future__ import annotations

import numpy as np
import pandas as pd


def umap_2d(
    vectors: np.ndarray, seed: int = 0, n_neighbors: int = 15, metric: str = "cosine"
) -> np.ndarray:
    """(n, 2) UMAP coordinates; deterministic for a seed (single-threaded UMAP)."""
    import umap

    n_neighbors = max(2, min(n_neighbors, len(vectors) - 1))
    reducer = umap.UMAP(
        n_components=2, n_neighbors=n_neighbors, metric=metric, random_state=seed, n_jobs=1
    )
    return reducer.fit_transform(np.asarray(vectors, dtype=np.float32))


def selection_map(
    seed_vecs: np.ndarray,
    corpus_vecs: np.ndarray,
    selected_rows: np.ndarray,
    sample: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Map of seeds, selected corpus documents and a random sample of the rest.

    Returns columns x, y, group ('seed' | 'selected' | 'corpus') and row (the corpus row,
    or the seed index for seeds).
    """
    rng = np.random.default_rng(seed)
    selected_rows = np.asarray(selected_rows)
    rest = np.setdiff1d(np.arange(len(corpus_vecs)), selected_rows)
    rest = np.sort(rng.choice(rest, size=min(sample, len(rest)), replace=False))
    rows = np.concatenate([np.arange(len(seed_vecs)), selected_rows, rest])
    groups = ["seed"] * len(seed_vecs) + ["selected"] * len(selected_rows) + ["corpus"] * len(rest)
    xy = umap_2d(np.concatenate([seed_vecs, corpus_vecs[selected_rows], corpus_vecs[rest]]), seed)
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "group": groups, "row": rows})
