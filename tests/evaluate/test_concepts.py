import numpy as np
import pandas as pd
import pytest
import torch

from ssae_core.evaluate.concepts import (
    context_truth,
    fit_thresholds,
    halves,
    heldout_feature_f1,
    probe_f1,
    recall_by_bucket,
    token_truth,
)


def test_probe_recovers_a_linearly_encoded_concept_not_noise():
    gen = torch.Generator().manual_seed(0)
    n = 4000
    labels = np.full(n, -1)
    labels[:400] = 0
    labels[400:440] = 1  # concept 1 is there but not encoded in the activations
    acts = torch.randn(n, 8, generator=gen)
    acts[:400, 3] += 6.0
    f1 = probe_f1(acts, token_truth(labels, 2))
    assert f1[0] > 0.95
    assert f1[1] < 0.2


def test_recall_by_bucket_counts_only_present_concepts():
    per_concept = pd.DataFrame(
        {
            "bucket": ["head", "head", "tail", "tail", "tail"],
            "best_f1": [0.9, 0.4, 0.6, np.nan, 0.1],
        }
    )
    table = recall_by_bucket(per_concept).set_index("bucket")
    assert table.loc["head", "concepts"] == 2 and table.loc["head", "recalled"] == 1
    assert table.loc["tail", "concepts"] == 2 and table.loc["tail", "recalled"] == 1
    assert table.loc["tail", "recall"] == 0.5


def test_token_and_context_truth_against_a_plain_loop():
    # rows deliberately out of document order: the truth follows (doc, pos), not row order
    doc = np.array([1, 0, 0, 1, 0, 2, 1])
    pos = np.array([0, 2, 0, 1, 1, 0, 2])
    labels = np.array([2, -1, 0, -1, 1, -1, 0])
    n = 3
    tokens, context = token_truth(labels, n), context_truth(labels, doc, pos, n)
    for i in range(len(doc)):
        for c in range(n):
            assert tokens[i, c] == (labels[i] == c)
            mentioned = any(
                doc[j] == doc[i] and pos[j] <= pos[i] and labels[j] == c for j in range(len(doc))
            )
            assert context[i, c] == mentioned, (i, c)


def _plain_fit(acts, truth):
    """Every feature, every distinct positive activation as threshold: the F1-best pair."""
    best = np.zeros(truth.shape[1])
    feature = np.full(truth.shape[1], -1)
    threshold = np.full(truth.shape[1], np.inf)
    for c in range(truth.shape[1]):
        for j in range(acts.shape[1]):
            for t in sorted(set(acts[:, j][acts[:, j] > 0].tolist()), reverse=True):
                pred = acts[:, j] >= t
                f1 = 2 * (pred & truth[:, c]).sum() / max(1, pred.sum() + truth[:, c].sum())
                if f1 > best[c]:
                    best[c], feature[c], threshold[c] = f1, j, t
    return best, feature, threshold


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_thresholds_against_a_plain_loop(seed):
    gen = np.random.default_rng(seed)
    acts = gen.exponential(1.0, (60, 9)) * (gen.random((60, 9)) < 0.3)
    acts[:5, 2] = 1.5  # ties: a threshold keeps every tied value or none
    truth = gen.random((60, 4)) < 0.2
    truth[:, 1] = acts[:, 4] > 0.8  # concept 1 is feature 4 above a threshold
    truth[:, 3] = False  # absent
    best, feature, threshold = fit_thresholds(torch.tensor(acts), torch.tensor(truth))
    ref_best, ref_feature, ref_threshold = _plain_fit(acts, truth)
    assert np.allclose(best.numpy(), ref_best)
    assert (feature.numpy() == ref_feature).all() and np.allclose(threshold.numpy(), ref_threshold)
    assert feature[1] == 4 and best[1] == 1.0 and feature[3] == -1


def test_heldout_f1_scores_the_fit_half_choice_on_the_other_half():
    gen = np.random.default_rng(1)
    acts = torch.tensor(gen.exponential(1.0, (200, 6)) * (gen.random((200, 6)) < 0.4))
    truth = torch.tensor(gen.random((200, 3)) < 0.15)
    truth[:, 0] = acts[:, 5] > 0.5
    table = heldout_feature_f1(acts, truth, seed=3)
    fit, score = halves(200, seed=3)
    _, feature, threshold = _plain_fit(acts[fit].numpy(), truth[fit].numpy())
    for c in range(3):
        pred = acts[score][:, feature[c]].numpy() >= threshold[c]
        target = truth[score][:, c].numpy()
        f1 = 2 * (pred & target).sum() / max(1, pred.sum() + target.sum())
        assert np.isclose(table.loc[c, "heldout_f1"], f1)
    assert table.loc[0, "best_feature"] == 5 and table.loc[0, "heldout_f1"] > 0.9
    assert table.loc[1, "heldout_f1"] < 0.6, "noise chosen in-sample does not carry over"
