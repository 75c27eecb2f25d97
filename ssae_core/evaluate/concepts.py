"""Ground-truth concept recall: does some single SAE feature detect a known concept?

Two ground truths (``KINDS``): token-level (the token expresses concept c) and context-level
(c has been mentioned earlier in the same document, this token included). For concept c,
every feature j and every threshold t among j's activations define a detector
``acts[:, j] >= t``; its F1 is ``2 * TP / (n_predicted + n_c)``. The best detector is chosen
on a random half of the tokens and its F1 is reported on the other half
(``heldout_feature_f1``), so a choice among thousands of features and thresholds is not
scored on the tokens it was chosen on. A concept is *recalled* when that held-out F1 reaches
a threshold (default 0.5). The linear-probe ceiling asks the same of a ridge probe on the raw
activations, fit and thresholded on the same half: whether the concept is there in the model
at all, SAE or not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ssae_core.infra.progress import Progress
from ssae_core.models.activations import collect
from ssae_core.models.sae_math import encode_rows
from ssae_core.models.source import BaseData

if TYPE_CHECKING:
    from sae_lens import SAE

BUCKETS = [
    "head (>=1e4/M)",
    "mid (1e3-1e4/M)",
    "low (1e2-1e3/M)",
    "tail (1e1-1e2/M)",
    "rare (<1e1/M)",
]
"""Concept-frequency buckets (mentions per million tokens of the general corpus), common first."""

RECALL_THRESHOLD = 0.5


def probe_f1(acts: torch.Tensor, truth: torch.Tensor, ridge: float = 1e-3, seed: int = 0):
    """Held-out F1 of one-vs-rest ridge probes on the activations, per concept of ``truth``
    ((n, C) bool, token- or context-level).

    Probes and their decision thresholds (the F1-best one) are fit on the fit half of the tokens
    (``halves``) and scored on the other half. NaN for concepts absent from either half.
    """
    x = torch.cat([acts.double(), torch.ones(len(acts), 1, dtype=torch.float64)], dim=1)
    fit, score = halves(len(x), seed)
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


KINDS = ("token", "context")
"""The two ground truths: the token expresses the concept; the concept was mentioned earlier in
the document (this token included)."""


def truths(labels: np.ndarray, doc: np.ndarray, pos: np.ndarray, n_concepts: int) -> dict:
    """Kind (``KINDS``) -> (n, C) bool ground truth of the rows (``doc``, ``pos``)."""
    return {
        "token": token_truth(labels, n_concepts),
        "context": context_truth(labels, doc, pos, n_concepts),
    }


def token_truth(labels: np.ndarray, n_concepts: int) -> torch.Tensor:
    """(n, C) bool ground truth at the token level: row i is on for concept ``labels[i]`` (-1:
    none)."""
    lab = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    truth = torch.zeros(len(lab), n_concepts, dtype=torch.bool)
    rows = (lab >= 0).nonzero().squeeze(-1)
    truth[rows, lab[rows]] = True
    return truth


def context_truth(labels: np.ndarray, doc: np.ndarray, pos: np.ndarray, n_concepts: int):
    """(n, C) bool ground truth at the context level: concept c is on at a token when c has been
    mentioned in the token's document at or before it (rows in any order; ``doc``, ``pos`` say
    where each row is)."""
    order = np.lexsort((np.asarray(pos), np.asarray(doc)))
    tokens = token_truth(np.asarray(labels)[order], n_concepts).to(torch.int32)
    seen = tokens.cumsum(0)
    d = np.asarray(doc)[order]
    first = np.r_[0, np.flatnonzero(d[1:] != d[:-1]) + 1]  # each document's first row
    start = np.repeat(first, np.diff(np.r_[first, len(d)]))
    before = torch.where(
        torch.as_tensor(start > 0)[:, None], seen[torch.as_tensor(start - 1).clamp_min(0)], 0
    )
    out = torch.empty_like(tokens, dtype=torch.bool)
    out[torch.as_tensor(order)] = (seen - before) > 0
    return out


def halves(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A random split of ``n`` rows into a fit half and a score half (the same for every scorer)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[: n // 2], perm[n // 2 :]


def heldout_feature_f1(acts: torch.Tensor, truth: torch.Tensor, seed: int = 0) -> pd.DataFrame:
    """Per concept: the single feature and activation threshold (fires ``>= threshold``) with the
    best F1 on the fit half of the tokens, and that detector's F1 on the score half.

    A feature that only reaches F1 0.5 by an in-sample choice among thousands of features and
    thresholds does not count as recalled: the choice is made on one half and judged on the
    other. NaN for concepts absent from either half.
    """
    fit, score = halves(len(acts), seed)
    fit_f1, feature, threshold = fit_thresholds(acts[fit], truth[fit])
    chosen = feature.clamp_min(0)
    pred = (acts[score][:, chosen] >= threshold[None, :]) & (feature >= 0)[None, :]
    target = truth[score]
    tp = (pred & target).sum(0).double()
    f1 = 2 * tp / (pred.sum(0) + target.sum(0)).clamp_min(1)
    present = (truth[fit].sum(0) > 0) & (target.sum(0) > 0)
    return pd.DataFrame(
        {
            "concept_id": np.arange(truth.shape[1]),
            "best_feature": feature.numpy(),
            "threshold": threshold.numpy(),
            "fit_f1": np.where(present.numpy(), fit_f1.numpy(), np.nan),
            "heldout_f1": np.where(present.numpy(), f1.numpy(), np.nan),
        }
    )


def fit_thresholds(
    acts: torch.Tensor, truth: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per concept, over every feature j and threshold t among j's positive activations, the
    best F1 of ``acts[:, j] >= t`` against ``truth``: (best F1, feature (-1: none), threshold).

    Ties go to the lower feature index, then the higher threshold. Sparse: for a fixed feature
    and concept, F1 over thresholds peaks right after a true positive, so only the (active
    token, concept it is labelled with) pairs are candidates; the work is linear in their
    number, not in tokens x features x concepts.
    """
    n_concepts = truth.shape[1]
    positives = truth.sum(0).double()
    rows, feats, vals = _ranked_activations(acts)
    start, tie_end = _prefix_bounds(feats, vals)
    entry, concept = _labelled_pairs(rows, truth)
    key = feats[entry] * n_concepts + concept
    order = torch.argsort(key, stable=True)  # (feature, concept) groups, ranked order inside
    entry, concept, key = entry[order], concept[order], key[order]
    tp = (torch.arange(len(key)) - _run_starts(key) + 1).double()
    k = (tie_end[entry] - start[entry] + 1).double()
    f1 = 2 * tp / (k + positives[concept])
    best = torch.zeros(n_concepts, dtype=torch.float64)
    feature = torch.full((n_concepts,), -1, dtype=torch.long)
    threshold = torch.full((n_concepts,), float("inf"), dtype=acts.dtype)
    if len(f1):
        pick = np.lexsort((entry.numpy(), -f1.numpy(), concept.numpy()))
        first = pick[np.r_[True, concept.numpy()[pick][1:] != concept.numpy()[pick][:-1]]]
        c = concept[first]
        best[c], feature[c], threshold[c] = f1[first], feats[entry[first]], vals[entry[first]]
    return best, feature, threshold


def _ranked_activations(acts: torch.Tensor):
    """(row, feature, value) of every positive activation, by feature, then value descending."""
    rows, feats = (acts > 0).nonzero(as_tuple=True)
    vals = acts[rows, feats]
    order = torch.argsort(-vals, stable=True)
    order = order[torch.argsort(feats[order], stable=True)]
    return rows[order], feats[order], vals[order]


def _prefix_bounds(feats: torch.Tensor, vals: torch.Tensor):
    """Per ranked activation: the index where its feature's run starts, and the last index of its
    run of tied values (a threshold keeps every tied value or none)."""
    idx = torch.arange(len(feats))
    start = _run_starts(feats)
    last = torch.ones_like(feats, dtype=torch.bool)
    last[:-1] = (feats[1:] != feats[:-1]) | (vals[1:] != vals[:-1])
    marks = torch.where(last, idx, len(feats)).flip(0)
    tie_end = torch.cummin(marks, 0).values.flip(0)
    return start, tie_end


def _run_starts(values: torch.Tensor) -> torch.Tensor:
    """Per position, the index where its run of equal consecutive ``values`` starts."""
    new = torch.ones_like(values, dtype=torch.bool)
    new[1:] = values[1:] != values[:-1]
    return torch.cummax(torch.where(new, torch.arange(len(values)), 0), 0).values


def _labelled_pairs(rows: torch.Tensor, truth: torch.Tensor):
    """Every (ranked activation index, concept) with ``truth[row, concept]``, in ranked order."""
    t_rows, t_cols = truth.nonzero(as_tuple=True)  # row-major
    degree = torch.bincount(t_rows, minlength=len(truth))
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), degree.cumsum(0)])
    count = degree[rows]
    entry = torch.repeat_interleave(torch.arange(len(rows)), count)
    within = torch.arange(len(entry)) - torch.repeat_interleave(count.cumsum(0) - count, count)
    return entry, t_cols[ptr[rows][entry] + within]


PROBE = "linear probe"
"""The linear-probe ceiling's name in recall tables."""


RECALL_SCORES = {
    "gsae": "best_f1",
    "probe": "probe_f1",
    **{f"gsae_{kind}": f"{kind}_f1" for kind in KINDS},
    **{f"probe_{kind}": f"probe_{kind}_f1" for kind in KINDS},
}
"""Recall-table prefix -> per-concept score column (``gsae`` / ``probe``: the better kind)."""


def recall_table(per_concept: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per frequency bucket: concepts, then ``<prefix>_recalled`` and ``<prefix>_recall`` for
    every entry of ``RECALL_SCORES``."""
    table = None
    for prefix, column in RECALL_SCORES.items():
        part = recall_by_bucket(per_concept, column, threshold).rename(
            columns={"recalled": f"{prefix}_recalled", "recall": f"{prefix}_recall"}
        )
        table = part if table is None else table.merge(part.drop(columns="concepts"), "outer")
    order = {b: i for i, b in enumerate(BUCKETS)}
    return table.sort_values("bucket", key=lambda s: s.map(order)).reset_index(drop=True)


def recall_by_kind(table: pd.DataFrame) -> pd.DataFrame:
    """``recall_table`` as one row per kind and bucket with ``GSAE`` and ``PROBE`` recall columns
    (what ``plots.concept_recall_bars`` draws)."""
    return pd.concat(
        table[["bucket", "concepts"]].assign(
            kind=kind, GSAE=table[f"gsae_{kind}_recall"], **{PROBE: table[f"probe_{kind}_recall"]}
        )
        for kind in KINDS
    )


def concept_scores(
    model, hook_name: str, data: BaseData, sae: SAE, progress: Progress
) -> pd.DataFrame:
    """Per concept and ground-truth kind: the GSAE's held-out best-feature F1
    (``concepts.heldout_feature_f1``) and a linear probe's held-out F1, each concept on its own
    domain's test text; ``best_f1`` / ``probe_f1`` are the better of the two kinds.

    General-topic concepts are scored on ``general_test``, each subdomain's concepts on
    that subdomain's in-domain test split.
    """
    n = len(data.concepts)
    parts = []
    for split, keep, acts, truth in _concept_split_acts(model, hook_name, data, progress):
        feats = encode_rows(sae, acts)
        part = pd.DataFrame({"concept_id": np.arange(n), "split": split})
        part["n_tokens"] = truth["token"].sum(0).numpy()
        for kind in KINDS:
            scored = heldout_feature_f1(feats, truth[kind])
            part[f"{kind}_f1"] = scored.heldout_f1
            part[f"{kind}_feature"] = scored.best_feature
            part[f"probe_{kind}_f1"] = probe_f1(acts, truth[kind])
        part["best_f1"] = np.fmax(part.token_f1, part.context_f1)
        part["probe_f1"] = np.fmax(part.probe_token_f1, part.probe_context_f1)
        parts.append(part[keep])
    scores = pd.concat(parts).sort_values("concept_id")
    return data.concepts.merge(scores, on="concept_id", suffixes=("", "_test"))


def sae_concept_f1(
    model, hook_name: str, data: BaseData, saes: dict, progress: Progress
) -> pd.DataFrame:
    """Long table (sae, kind, concept_id, bucket, domain, best_feature, best_f1) for any SAEs at
    ``hook_name``, and the linear probe (sae ``PROBE``) as the ceiling.

    Scored as ``concept_scores`` scores the GSAE (each concept on its own domain's test split,
    held-out thresholds, both ground-truth kinds).
    """
    parts = []
    for split, keep, acts, truth in _concept_split_acts(model, hook_name, data, progress):
        for name, sae in saes.items():
            feats = encode_rows(sae, acts)
            for kind in KINDS:
                scored = heldout_feature_f1(feats, truth[kind])
                part = scored.rename(columns={"heldout_f1": "best_f1"})[keep]
                parts.append(part.assign(sae=name, kind=kind, split=split))
        for kind in KINDS:
            probe = pd.DataFrame({"concept_id": np.arange(truth[kind].shape[1])})
            probe["best_f1"], probe["best_feature"] = probe_f1(acts, truth[kind]), -1
            parts.append(probe[keep].assign(sae=PROBE, kind=kind, split=split))
    scores = pd.concat(parts, ignore_index=True)
    return scores.merge(data.concepts[["concept_id", "domain", "bucket"]], on="concept_id")


def _concept_split_acts(model, hook_name: str, data: BaseData, progress: Progress):
    """Per scoring split: (split, which concepts it scores, activations, ground truths by kind)."""
    concepts = data.concepts
    tokenizer = model.tokenizer
    for split, domains in data.concept_splits().items():
        docs = data.split_tokens(split)
        progress.stage(f"concept recall on {split}", len(docs))
        acts, doc, pos = collect(
            model,
            hook_name,
            docs,
            tokenizer.bos_token_id,
            tokenizer.pad_token_id,
            progress.update,
        )
        per_doc = data.split_labels(split)
        labels = np.concatenate(per_doc)[_flat_index(per_doc, doc, pos)]
        truth = truths(labels, doc, pos, len(concepts))
        yield split, concepts.domain.isin(domains).to_numpy(), acts, truth


def _flat_index(per_doc: list[np.ndarray], doc: np.ndarray, pos: np.ndarray) -> np.ndarray:
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in per_doc])])
    return offsets[doc] + pos
