"""Ground-truth concept recall: does some single SAE feature detect a known concept?

For concept c and feature j over a set of tokens, token-level F1 is
``2 * TP / (n_fired_j + n_c)``, with TP the tokens labelled c on which j fires. A concept
is *recalled* when its best feature reaches a threshold (default 0.5). The linear-probe
variant asks the same of a ridge probe on the raw activations: whether the concept is
there in the model at all, SAE or not.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import torch

RECALL_THRESHOLD = 0.5


def best_feature_f1(chunks: Iterable[tuple[torch.Tensor, np.ndarray]], n_concepts: int) -> pd.DataFrame:
    """Best feature and its F1 per concept, from (feature acts (n, F), labels (n,)) chunks.

    Labels are concept ids, -1 for none. Concepts absent from the tokens get NaN F1.
    """
    tp = fired = counts = None
    for acts, labels in chunks:
        active = (acts > 0).float()
        lab = torch.as_tensor(labels, dtype=torch.long, device=active.device)
        keep = lab >= 0
        onehot = torch.zeros(int(keep.sum()), n_concepts, device=active.device)
        onehot[torch.arange(len(onehot)), lab[keep]] = 1
        chunk_tp = onehot.T @ active[keep]
        tp = chunk_tp if tp is None else tp + chunk_tp
        fired = active.sum(0) if fired is None else fired + active.sum(0)
        c = onehot.sum(0)
        counts = c if counts is None else counts + c
    f1 = 2 * tp / (fired[None, :] + counts[:, None]).clamp_min(1)
    best, feature = f1.max(dim=1)
    present = counts > 0
    return pd.DataFrame(
        {
            "concept_id": np.arange(n_concepts),
            "n_tokens": counts.cpu().numpy().astype(int),
            "best_feature": np.where(present.cpu().numpy(), feature.cpu().numpy(), -1),
            "best_f1": np.where(present.cpu().numpy(), best.cpu().numpy(), np.nan),
        }
    )


def probe_f1(acts: torch.Tensor, labels: np.ndarray, n_concepts: int, ridge: float = 1e-2, seed: int = 0) -> np.ndarray:
    """Held-out F1 of one-vs-rest ridge probes (fit on half the tokens, scored on the other).

    The probe predicts the concept when its output exceeds 0.5. NaN for concepts absent
    from the scoring half.
    """
    x = torch.cat([acts.double(), torch.ones(len(acts), 1, dtype=torch.float64)], dim=1)
    y = torch.zeros(len(acts), n_concepts, dtype=torch.float64)
    lab = torch.as_tensor(labels, dtype=torch.long)
    y[(lab >= 0).nonzero().squeeze(-1), lab[lab >= 0]] = 1
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    fit, score = perm[: len(x) // 2], perm[len(x) // 2 :]
    gram = x[fit].T @ x[fit] + ridge * len(fit) * torch.eye(x.shape[1], dtype=torch.float64)
    w = torch.linalg.solve(gram, x[fit].T @ y[fit])
    pred = (x[score] @ w) > 0.5
    truth = y[score] > 0.5
    tp = (pred & truth).sum(0).double()
    denom = pred.sum(0) + truth.sum(0)
    f1 = (2 * tp / denom.clamp_min(1)).numpy()
    return np.where(truth.sum(0).numpy() > 0, f1, np.nan)


def recall_by_bucket(per_concept: pd.DataFrame, score: str = "best_f1", threshold: float = RECALL_THRESHOLD) -> pd.DataFrame:
    """Per frequency bucket: concepts present, concepts recalled (score >= threshold), recall."""
    present = per_concept[per_concept[score].notna()]
    grouped = present.groupby("bucket", sort=False)[score]
    table = pd.DataFrame({"concepts": grouped.size(), "recalled": grouped.apply(lambda s: int((s >= threshold).sum()))})
    table["recall"] = table.recalled / table.concepts
    return table.reset_index()
