"""Evaluation against plain references: spliced CE vs a hand-written hook, logit lens vs the model's
own modules, feature statistics and frequency buckets on hand-made data, and the stored artifacts.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import random_sae, standard_sae
from sae_lens import StandardSAE, StandardSAEConfig
from sae_lens.saes.sae import SAEMetadata

from ssae_core.demo.world import world_base
from ssae_core.evaluate import tail
from ssae_core.evaluate.evaluation import (
    EvalConfig,
    TokenSplit,
    evaluate,
    load_features,
    named_split,
    split_docs,
)
from ssae_core.evaluate.features import FeatureStats, count_differences, count_rank
from ssae_core.evaluate.metrics import curve_auc, evaluate_saes, l0_range
from ssae_core.evaluate.sae_set import NamedSAE
from ssae_core.infra.errors import ConfigError
from ssae_core.models import lens
from ssae_core.models.base import BaseSpec


@pytest.fixture(scope="module")
def base(quick_world):
    return world_base(quick_world, BaseSpec(quick=True))


def test_spliced_ce_equals_a_hand_written_hook(base, quick_world):
    docs = quick_world.split_tokens("physics_test")[:12]
    tok = base.tokenizer
    got = evaluate_saes(
        base.model, {"g": base.sae}, base.hook_name, docs, tok.bos_token_id, tok.pad_token_id
    )["g"]
    losses, clean_losses = [], []
    for d in docs:  # one document at a time, no padding, the SAE spliced by a plain hook
        tokens = torch.tensor([[tok.bos_token_id, *d[: base.model.cfg.n_ctx - 1]]])

        def splice(acts, hook):
            out = acts.clone()
            out[:, 1:] = base.sae.decode(base.sae.encode(acts[:, 1:]))
            return out

        losses.append(
            base.model.run_with_hooks(
                tokens,
                return_type="loss",
                loss_per_token=True,
                fwd_hooks=[(base.hook_name, splice)],
            )[0]
        )
        clean_losses.append(base.model(tokens, return_type="loss", loss_per_token=True)[0])
    assert got.ce_spliced == pytest.approx(torch.cat(losses).mean().item(), rel=1e-5)
    assert got.ce_clean == pytest.approx(torch.cat(clean_losses).mean().item(), rel=1e-5)
    assert got.ppl_spliced == pytest.approx(np.exp(got.ce_spliced))


def test_logit_lens_equals_the_models_own_final_norm_and_unembed(base):
    W_dec = base.sae.W_dec.detach()[:40]
    top, bottom = lens.logit_lens(base.model, W_dec, k=5)
    model = base.model
    with torch.no_grad():
        offset = model.unembed(model.ln_final(torch.zeros(1, 1, model.cfg.d_model)))[
            0, 0
        ]  # biases only
        for j in range(len(W_dec)):
            logits = model.unembed(model.ln_final(W_dec[j][None, None]))[0, 0] - offset
            assert list(logits.topk(5).indices) == list(top[j])
            assert list((-logits).topk(5).indices) == list(bottom[j])


def test_feature_stats_on_a_hand_made_batch():
    # two documents (rows), three positions each (position 0 = BOS), two features
    f = torch.tensor([[[0, 0], [0.5, 0], [2.0, 0]], [[0, 0], [0, 3.0], [1.0, 0]]])
    real = torch.tensor([[False, True, True], [False, True, True]])
    stats = FeatureStats(d_sae=2, top_k=3)
    stats.update(f, real, torch.tensor([7, 9]))
    table = stats.table()
    assert list(table["count"]) == [3, 1]
    assert table["max_act"].tolist() == [2.0, 3.0]
    assert table["mean_act"][0] == pytest.approx(3.5 / 3)
    assert (
        table["top_doc"][0] == [7, 9]
        and table["top_pos"][0] == [1, 1]
        and table["top_act"][0] == [2.0, 1.0]
    )
    assert table["top_doc"][1] == [9] and table["top_pos"][1] == [0]
    assert table["hist"][0].sum() == 3 and table["frequency"][1] == pytest.approx(0.25)
    ranks = count_rank({"a": table["count"].to_numpy()})
    assert ranks["count"].tolist() == [3, 1] and ranks["rank"].tolist() == [1, 2]
    assert count_differences(np.array([3, 1]), np.array([1, 1])).tolist() == [2, 0]


def test_frequency_buckets_and_coverage_by_hand():
    tokens = np.array([5] * 100 + [6] * 10 + [7] * 10 + [8] + [9])
    freq = tail.frequency_buckets(tokens, n_buckets=3)
    counts = dict(zip(freq.token, freq["count"]))
    assert counts == {5: 100, 6: 10, 7: 10, 8: 1, 9: 1}
    buckets = dict(zip(freq.token, freq.bucket))
    assert buckets[8] == buckets[9] < buckets[6] == buckets[7] < buckets[5]
    assert ((freq.lo <= freq["count"]) & (freq["count"] < freq.hi)).all()
    top = np.array([[8, 5], [6, 5], [1, 2]])
    covered = tail.covered_tokens(top, live=np.array([True, False, True]))
    assert covered.tolist() == [1, 2, 5, 8]
    by_bucket = tail.coverage_by_bucket(freq, covered).set_index("bucket")
    assert (
        by_bucket.loc[buckets[8], "share"] == 0.5
        and by_bucket.loc[buckets[5], "share"] == 1.0
        and by_bucket.loc[buckets[6], "share"] == 0
    )
    cum = tail.cumulative_coverage(freq, covered)
    assert cum.covered_share.iloc[-1] == 1.0 and cum.covered_share.iloc[0] == 0.5, (
        "rarest token (8) first, covered"
    )


def test_pareto_auc_on_a_hand_made_curve():
    curve = pd.DataFrame({"l0": [10, 20, 40], "ppl_spliced": [30.0, 20.0, 10.0]})
    assert curve_auc(curve, 10, 20) == pytest.approx(250.0)
    assert curve_auc(curve, 15, 30) == pytest.approx(0.5 * (25 + 20) * 5 + 0.5 * (20 + 15) * 10)
    assert np.isnan(curve_auc(curve, 5, 20)), "no extrapolation"
    assert l0_range({"a": curve, "b": curve.assign(l0=[15, 25, 50])}) == (15.0, 40.0)


def test_evaluate_stores_one_artifact_per_sae_and_split(base, quick_world, quick_workspace):
    split = named_split(quick_world, "physics_test")
    noisy = StandardSAE(base.sae.cfg)
    noisy.load_state_dict(
        {k: v + 0.01 * torch.randn_like(v) for k, v in base.sae.state_dict().items()}
    )
    saes = [NamedSAE(base.ref, "GSAE", base.sae), NamedSAE("test/noisy", "noisy", noisy)]
    arts = evaluate(quick_workspace, base, saes, split)
    assert set(arts) == {base.ref, "test/noisy"}
    assert arts[base.ref].path != arts["test/noisy"].path
    m = arts[base.ref].summary
    assert (
        m["label"] == "GSAE" and m["split"] == "physics_test" and m["ce_clean"] <= m["ce_spliced"]
    )
    assert 0 <= m["dense_fraction"] <= 1
    feats = load_features(arts[base.ref])
    assert len(feats) == base.sae.cfg.d_sae and feats["count"].sum() == pytest.approx(
        m["l0"] * m["n_tokens"]
    )
    docs = split_docs(arts[base.ref])
    assert all(np.array_equal(a, b) for a, b in zip(docs, split.docs))
    j = int(feats["count"].idxmax())
    doc, pos, act = feats.top_doc[j][0], feats.top_pos[j][0], feats.top_act[j][0]
    tokens = torch.tensor([[base.tokenizer.bos_token_id, *docs[doc]]])
    with torch.no_grad():
        _, cache = base.model.run_with_cache(tokens, names_filter=base.hook_name)
        again = base.sae.encode(cache[base.hook_name][0, 1:])[:, j]
    assert float(again.max()) == pytest.approx(act, rel=1e-4) and int(again.argmax()) == pos
    assert len(feats.lens_top[j]) == EvalConfig().lens_k
    assert evaluate(quick_workspace, base, saes[:1], split)[base.ref].path == arts[base.ref].path, (
        "computed once"
    )


def test_bad_comparisons_are_explained(base, quick_world):
    split = named_split(quick_world, "physics_test")
    other = StandardSAE(
        StandardSAEConfig(
            d_in=7, d_sae=14, metadata=SAEMetadata(hook_name="blocks.0.hook_resid_post")
        )
    )
    with pytest.raises(ConfigError, match="compare SAEs of one hook"):
        evaluate(None, base, [NamedSAE("x", "other", other)], split)
    with pytest.raises(ConfigError, match="no tokens"):
        evaluate(None, base, [], TokenSplit("empty", "t/empty", []))
    with pytest.raises(ConfigError, match="another tokenizer"):
        evaluate(None, base, [], TokenSplit("oov", "t/oov", [np.array([10**6])]))
    with pytest.raises(ConfigError, match="no split"):
        named_split(quick_world, "astrology_test")


def test_token_top_features_match_a_per_token_sort():
    from ssae_core.evaluate.features import token_top_features

    torch.manual_seed(0)
    saes = {
        "a": standard_sae(8, 32),
        "b": standard_sae(8, 32),
    }
    x = torch.randn(6, 8) * 3
    x[2] = 0.0  # on a zero vector only features with a positive bias fire: maybe fewer than k
    top = token_top_features(saes, x, k=3)
    for name, sae in saes.items():
        acts = sae.encode(x).detach()
        for t in range(len(x)):
            order = [int(j) for j in torch.argsort(acts[t], descending=True) if acts[t, j] > 0][:3]
            got = top[(top.sae == name) & (top.token_index == t)].sort_values("rank")
            assert list(got.feature) == order
            assert np.allclose(got.activation, acts[t, order].numpy())


def test_top_features_grid_is_the_per_token_sort_as_text():
    from ssae_core.evaluate.features import top_features_grid

    torch.manual_seed(1)
    saes = {"a": random_sae(8, 32, seed=1).float(), "b": random_sae(8, 32, seed=2).float()}
    x = torch.randn(5, 8) * 3
    grid = top_features_grid(saes, x, k=2)
    assert list(grid.columns) == ["a", "b"] and list(grid.index) == list(range(5))
    for name, sae in saes.items():
        acts = sae.encode(x).detach()
        for t in range(len(x)):
            order = [int(j) for j in torch.argsort(acts[t], descending=True) if acts[t, j] > 0][:2]
            want = ", ".join(f"{j} ({acts[t, j]:.2f})" for j in order)
            assert grid.loc[t, name] == want


@pytest.mark.slow
def test_decoder_points_are_one_per_feature_and_deterministic():
    from ssae_core.evaluate.features import decoder_points

    W = torch.randn(40, 8)
    frequency = np.linspace(0, 1, 40)
    a, b = decoder_points(W, frequency), decoder_points(W, frequency)
    assert list(a.columns) == ["x", "y", "feature", "frequency"] and len(a) == 40
    assert list(a.feature) == list(range(40)) and np.allclose(a.frequency, frequency)
    assert np.allclose(a[["x", "y"]], b[["x", "y"]]), "seeded UMAP"


def test_feature_search_by_id_token_explanation_and_default():
    import pandas as pd

    from ssae_core.evaluate.features import search_features

    table = pd.DataFrame(
        {
            "feature": [0, 1, 2, 3],
            "count": [5, 0, 9, 2],
            "lens_top": [[10, 11], [10], [12], [13, 10]],
        }
    )
    words = {10: " Quark", 11: "spin", 12: "cell", 13: "field"}
    decode = words.__getitem__
    assert search_features(table, " 2 ", decode) == [2]
    assert search_features(table, "7", decode) == []
    assert search_features(table, "quark", decode) == [0, 3], "live features only, by lens token"
    explained = {2: "Mentions of quarks in physics", 3: "quark-like"}
    assert search_features(table, "quark", decode, explained) == [0, 3, 2]
    assert search_features(table, "", decode, top=2) == [2, 0]
