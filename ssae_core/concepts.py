"""Ground-truth concept recall: does some single SAE feature detect a known concept?

For concept c and feature j over a set of tokens, token-level F1 is
``2 * TP / (n_fired_j + n_c)``, with TP the tokens labelled c on which j fires. A concept
is *recalled* when its best feature reaches a threshold (default 0.5). The linear-probe
variant asks the same of a ridge probe on the raw activations: whether the concept is
there in the model at all, SAE or not.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch

RECALL_THRESHOLD = 0.5


def best_feature_f1(
    chunks: Iterable[tuple[torch.Tensor, np.ndarray]], n_concepts: int
) -> pd.DataFrame:
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


def probe_f1(
    acts: torch.Tensor, labels: np.ndarray, n_concepts: int, ridge: float = 1e-3, seed: int = 0
) -> np.ndarray:
    """Held-out F1 of one-vs-rest ridge probes on the activations, per concept.

    Probes and their decision thresholds (the F1-best one) are fit on a random half of
    the tokens and scored on the other half. NaN for concepts absent from either half.
    """
    x = torch.cat([acts.double(), torch.ones(len(acts), 1, dtype=torch.float64)], dim=1)
    lab = torch.as_tensor(labels, dtype=torch.long)
    truth = torch.zeros(len(acts), n_concepts, dtype=torch.bool)
    truth[(lab >= 0).nonzero().squeeze(-1), lab[lab >= 0]] = True
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    fit, score = perm[: len(x) // 2], perm[len(x) // 2 :]
    gram = x[fit].T @ x[fit] + ridge * len(fit) * torch.eye(x.shape[1], dtype=torch.float64)
    w = torch.linalg.solve(gram, x[fit].T @ truth[fit].double())
    threshold = _f1_best_threshold(x[fit] @ w, truth[fit])
    pred = (x[score] @ w) >= threshold
    tp = (pred & truth[score]).sum(0).double()
    f1 = (2 * tp / (pred.sum(0) + truth[score].sum(0)).clamp_min(1)).numpy()
    present = (truth[fit].sum(0) > 0) & (truth[score].sum(0) > 0)
    return np.where(present.numpy(), f1, np.nan)


def _f1_best_threshold(scores: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per column, the score threshold (predict >= it) that maximizes F1 on these rows."""
    ranked, order = scores.sort(dim=0, descending=True)
    tp = truth.gather(0, order).double().cumsum(0)
    predicted = torch.arange(1, len(scores) + 1, dtype=torch.float64)[:, None]
    f1 = 2 * tp / (predicted + truth.sum(0, keepdim=True))
    best = f1.argmax(dim=0)
    return ranked[best, torch.arange(scores.shape[1])]


def recall_by_bucket(
    per_concept: pd.DataFrame, score: str = "best_f1", threshold: float = RECALL_THRESHOLD
) -> pd.DataFrame:
    """Per frequency bucket: concepts present, concepts recalled (score >= threshold), recall."""
    present = per_concept[per_concept[score].notna()]
    grouped = present.groupby("bucket", sort=False)[score]
    table = pd.DataFrame(
        {
            "concepts": grouped.size(),
            "recalled": grouped.apply(lambda s: int((s >= threshold).sum())),
        }
    )
    table["recall"] = table.recalled / table.concepts
    return table.reset_index()
