"""The linear probe SHIFT debiases, and accuracy by group.

The probe is L2-regularized logistic regression on mean-pooled activations, z-scored with
the training split's statistics (so the penalty does not depend on the activations' scale).
Its logit is linear in the pooled activation x: ``w · x + b`` with ``w = coef / scale``, which
is what latent attribution differentiates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.linear_model import LogisticRegression


class Probe(NamedTuple):
    """``logit(x) = w · x + b`` on pooled activations (input space)."""

    w: np.ndarray  # (d,)
    b: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        return x @ self.w + self.b

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.logit(x) > 0).astype(np.int64)


def fit_probe(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> Probe:
    """Logistic regression (inverse L2 strength ``c``) on z-scored ``x``, as a probe on raw x."""
    mean = x.mean(0)
    scale = x.std(0) + 1e-6
    model = LogisticRegression(C=c, max_iter=2000, tol=1e-6)
    model.fit((x - mean) / scale, y)
    w = model.coef_[0] / scale
    return Probe(w.astype(np.float64), float(model.intercept_[0] - w @ mean))


class GroupScores(NamedTuple):
    """Accuracy on a split, per group, and the worst group's; ``cue``: how often the prediction
    is the cue's label (0.5 on balanced data when the probe ignores the cue, 1 when it reads
    only the cue: Marks et al.'s "gender accuracy")."""

    accuracy: float
    worst: float
    groups: dict[str, float]
    cue: float


def group_scores(pred: np.ndarray, label: np.ndarray, group: np.ndarray, names) -> GroupScores:
    """Accuracy overall and per group (``names[g]`` for group id g = 2 label + cue); the worst
    over groups present; agreement with the cue."""
    right = pred == label
    present = [g for g in range(len(names)) if (group == g).any()]
    groups = {names[g]: float(right[group == g].mean()) for g in present}
    cue = float((pred == group % 2).mean())
    return GroupScores(float(right.mean()), min(groups.values()), groups, cue)
