import numpy as np
import pandas as pd
import torch

from ssae_core.concepts import best_feature_f1, probe_f1, recall_by_bucket


def test_best_feature_f1_on_a_hand_made_example():
    # 6 tokens, 3 features, concepts 0 and 1 (concept 2 never appears).
    labels = np.array([0, 0, 1, -1, 1, -1])
    acts = torch.tensor(
        [
            [1.0, 0.0, 0.0],  # concept 0
            [2.0, 0.0, 0.5],  # concept 0
            [0.0, 1.0, 0.0],  # concept 1
            [0.5, 0.0, 0.0],  # nothing; feature 0 misfires
            [0.0, 0.0, 0.0],  # concept 1; nothing fires
            [0.0, 0.0, 0.0],
        ]
    )
    # Split in two chunks: the result must not depend on chunking.
    table = best_feature_f1([(acts[:3], labels[:3]), (acts[3:], labels[3:])], n_concepts=3)
    # concept 0: feature 0 -> TP 2, fired 3, n 2 -> F1 = 4/5
    assert table.loc[0, "best_feature"] == 0 and np.isclose(table.loc[0, "best_f1"], 0.8)
    # concept 1: feature 1 -> TP 1, fired 1, n 2 -> F1 = 2/3
    assert table.loc[1, "best_feature"] == 1 and np.isclose(table.loc[1, "best_f1"], 2 / 3)
    assert np.isnan(table.loc[2, "best_f1"]) and table.loc[2, "best_feature"] == -1
    assert list(table.n_tokens) == [2, 2, 0]


def test_probe_recovers_a_linearly_encoded_concept_not_noise():
    gen = torch.Generator().manual_seed(0)
    n = 4000
    labels = np.full(n, -1)
    labels[:400] = 0
    labels[400:440] = 1  # concept 1 is there but not encoded in the activations
    acts = torch.randn(n, 8, generator=gen)
    acts[:400, 3] += 6.0
    f1 = probe_f1(acts, labels, n_concepts=2)
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
