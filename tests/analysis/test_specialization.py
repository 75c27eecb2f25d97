"""What specialization changed: decoder cosines held against a plain loop, and the split into
novel and reconstruction latents."""

import math

import numpy as np
import pytest
import torch

from ssae_core.analysis.specialization import (
    ChangeConfig,
    latent_changes,
    max_cosine,
    ranked,
    summarize,
)
from ssae_core.evaluate.features import count_differences
from ssae_core.infra.errors import ConfigError


def _plain_max_cos(a, b):
    """max_j cos(a_i, b_j) and its j, one pair at a time."""
    values, index = [], []
    for row in a.tolist():
        cos = [
            sum(x * y for x, y in zip(row, other))
            / math.sqrt(sum(x * x for x in row) * sum(y * y for y in other))
            for other in b.tolist()
        ]
        values.append(max(cos))
        index.append(cos.index(max(cos)))
    return np.array(values), np.array(index)


def test_max_cosine_equals_a_plain_loop_across_blocks():
    torch.manual_seed(0)
    a, b = torch.randn(11, 5), torch.randn(7, 5) * 3
    values, index = max_cosine(a, b, block=3)
    want_values, want_index = _plain_max_cos(a, b)
    assert np.allclose(values, want_values, atol=1e-12) and (index == want_index).all()


def test_latents_split_into_novel_and_reconstruction_at_theta():
    torch.manual_seed(1)
    gsae = torch.randn(6, 4)
    ssae = gsae.clone() * 2  # same directions, another scale
    ssae[1] = -gsae[1]  # turned around: novel unless another GSAE latent lies close
    ssae[4] = gsae[0]  # moved onto another latent's direction
    counts = (np.array([5, 0, 3, 3, 2, 9]), np.array([5, 4, 0, 3, 8, 9]))
    table = latent_changes(gsae, ssae, ChangeConfig(theta=0.9), counts)
    want_values, want_index = _plain_max_cos(ssae, gsae)
    assert np.allclose(table.max_cos, want_values) and (table["match"] == want_index).all()
    assert np.allclose(table.drift[[0, 2, 3, 5]], 1.0) and math.isclose(table.drift[1], -1.0)
    assert table["match"][4] == 0 and table.max_cos[4] == pytest.approx(1.0)
    assert list(table.kind == "novel") == list(want_values < 0.9)
    assert list(table.count_change) == [0, 4, -3, 0, 6, 0]
    summary = summarize(table, ChangeConfig(theta=0.9))
    assert (summary.novel + summary.reconstruction, summary.fire_more, summary.fire_less) == (
        6,
        2,
        1,
    )
    assert ranked(table, "changed").feature.iloc[0] == 1, "the turned-around latent first"
    assert 2 not in set(ranked(table, "novel").feature), "a latent that never fires is not listed"


def test_an_extension_keeps_indices_and_a_narrower_sae_has_no_drift():
    """An extended SSAE's first latents are the GSAE's (drift 1 where kept); its new latents have
    no counterpart (drift NaN, GSAE count 0). A narrower SAE's indices mean nothing."""
    torch.manual_seed(2)
    gsae = torch.randn(4, 3)
    wider = torch.cat([gsae, torch.randn(5, 3)])
    counts = (np.array([1, 2, 3, 4]), np.arange(9) * 10)
    table = latent_changes(gsae, wider, counts=counts)
    assert np.allclose(table.drift[:4], 1.0) and table.drift[4:].isna().all() and len(table) == 9
    assert table.count_gsae.tolist() == [1, 2, 3, 4, 0, 0, 0, 0, 0]
    assert table.count_change.tolist()[4:] == [40, 50, 60, 70, 80]
    assert count_differences(counts[1], counts[0]).tolist()[:5] == [-1, 8, 17, 26, 40]
    assert latent_changes(gsae, torch.randn(3, 3)).drift.isna().all()
    with pytest.raises(ConfigError, match="at least as wide"):
        count_differences(counts[0], counts[1])
    with pytest.raises(ConfigError, match="theta is a cosine"):
        latent_changes(gsae, wider, ChangeConfig(theta=1.5))
    with pytest.raises(ConfigError, match="different widths"):
        latent_changes(gsae, torch.randn(4, 5))


def test_a_comparison_without_an_ssae_has_no_specialization_tables():
    import pandas as pd

    from ssae_core.report.compare import specialization

    chosen = pd.DataFrame({"group": ["GSAE"], "label": ["GSAE"], "ref": ["base/x"]})
    summary, latents = specialization([], {}, chosen, ChangeConfig())
    assert summary.empty and latents.empty


def test_gained_concepts_are_the_ones_the_gsae_misses_and_an_ssae_finds():
    """Hand-made scores: per SAE and concept, the better kind counts; the GSAE's misses that an
    SSAE finds are listed rarest bucket first, with whether the detecting latent is novel."""
    import pandas as pd

    from ssae_core.evaluate.concepts import BUCKETS, PROBE
    from ssae_core.report.compare import gained_concepts

    rows = [  # sae, concept, kind, feature, f1
        ("GSAE", 0, "token", 3, 0.9),  # found by the GSAE: never gained
        ("SSAE", 0, "token", 3, 0.95),
        ("GSAE", 1, "token", 4, 0.2),
        ("GSAE", 1, "context", 4, 0.4),
        ("SSAE", 1, "token", 7, 0.3),
        ("SSAE", 1, "context", 9, 0.6),  # gained through the context kind, latent 9 (novel)
        ("GSAE", 2, "token", 5, 0.1),
        ("SSAE", 2, "token", 8, 0.8),  # gained, latent 8 (a reconstruction latent)
        ("GSAE", 3, "token", 5, 0.1),
        ("SSAE", 3, "token", 8, 0.49),  # under the threshold
        (PROBE, 3, "token", -1, 0.99),  # the probe is never an SSAE
    ]
    scores = pd.DataFrame(rows, columns=["sae", "concept_id", "kind", "best_feature", "best_f1"])
    buckets = {0: BUCKETS[0], 1: BUCKETS[2], 2: BUCKETS[4], 3: BUCKETS[4]}
    scores["bucket"] = scores.concept_id.map(buckets)
    concepts = pd.DataFrame({"concept_id": range(4), "key": ["a", "b", "c", "d"]})
    latents = pd.DataFrame(
        {"group": "SSAE", "feature": [8, 9], "kind": ["reconstruction", "novel"]}
    )
    table = gained_concepts(scores, concepts, latents)
    assert table.concept.tolist() == ["c", "b"], "rarest bucket first"
    assert table.truth.tolist() == ["token", "context"] and table.feature.tolist() == [8, 9]
    assert table.gsae_f1.tolist() == [0.1, 0.4] and table.novel_latent.tolist() == [False, True]
    assert (table.sae == "SSAE").all() and table.f1.tolist() == [0.8, 0.6]
    assert gained_concepts(scores, concepts).novel_latent.tolist() == [False, False]


def test_specialization_against_forgetting_counts_by_hand():
    """Hand-made scores over a subdomain and a general domain: tail + rare recall of the
    subdomain (and over the probe's), head + mid recall of the general domain, the better truth
    kind per concept, and general L0 against the GSAE's from the matched SAEs' metrics."""
    import pandas as pd

    from ssae_core.evaluate.concepts import BUCKETS, PROBE
    from ssae_core.report.compare import specialization_forgetting

    head, tail = BUCKETS[0], BUCKETS[-1]
    concepts = pd.DataFrame(
        {
            "concept_id": range(6),
            "domain": ["physics"] * 3 + ["general"] * 2 + ["medicine"],
            "subdomain": [True] * 3 + [False] * 2 + [True],
            "bucket": [tail, tail, head, head, head, tail],
        }
    )
    f1 = {  # sae -> per concept, (token, context) F1
        "GSAE": [(0.1, 0.2), (0.0, 0.0), (0.9, 0.9), (0.8, 0.1), (0.6, 0.0), (0.9, 0.9)],
        "SSAE": [(0.2, 0.7), (0.6, 0.0), (0.9, 0.9), (0.8, 0.1), (0.4, 0.3), (0.0, 0.0)],
        PROBE: [(0.9, 0.9), (0.9, 0.9), (0.9, 0.9), (0.9, 0.9), (0.9, 0.9), (0.9, 0.9)],
    }
    scores = pd.DataFrame(
        [
            (sae, c, kind, f)
            for sae, rows in f1.items()
            for c, pair in enumerate(rows)
            for kind, f in zip(("token", "context"), pair)
        ],
        columns=["sae", "concept_id", "kind", "best_f1"],
    )
    metrics = pd.DataFrame(
        {
            "split": ["general_test"] * 3 + ["physics_test"],
            "ref": ["g", "s0", "s1", "s0"],
            "l0": [10.0, 12.0, 30.0, 99.0],
            "ce_loss_recovered": [0.99, 0.98, 0.9, 0.5],
        }
    )
    matched = pd.DataFrame({"group": ["GSAE", "SSAE"], "ref": ["g", "s0"]})
    table = specialization_forgetting(scores, concepts, "physics", metrics, matched, "general_test")
    assert table.sae.tolist() == ["GSAE", "SSAE"], "the probe is the ceiling, not a row"
    gsae, ssae = table.iloc[0], table.iloc[1]
    assert gsae.tail_rare == 0 and ssae.tail_rare == 1.0 and ssae.of_probe == 1.0
    assert gsae.head_mid == 1.0 and ssae.head_mid == 0.5, "medicine is not general"
    assert ssae.general_l0 == 12.0 and ssae.general_l0_vs_gsae == 1.2
    assert ssae.general_ce_rec == 0.98
    plain = specialization_forgetting(scores, concepts, "physics")
    assert "general_l0" not in plain and plain.of_probe.tolist() == [0.0, 1.0]
