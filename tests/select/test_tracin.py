"""Closed-form SAE-TracIn against per-token autograd through the SAELens SAE's own forward."""

import pytest
import sae_lens as sl
import torch
from helpers import random_sae

from ssae_core.infra.errors import ConfigError
from ssae_core.select import tracin


@pytest.mark.parametrize("apply_b_dec_to_input", [True, False])
def test_closed_form_matches_the_sae_s_own_gradients(apply_b_dec_to_input):
    sae = random_sae(apply_b_dec_to_input=apply_b_dec_to_input)
    gen = torch.Generator().manual_seed(1)
    seed_x = torch.randn(40, 16, generator=gen, dtype=torch.float64)
    x = torch.randn(25, 16, generator=gen, dtype=torch.float64)
    G = tracin.mean_gradient(sae, seed_x, l1=0.7)
    fast = tracin.token_scores(tracin.params(sae), x, G, l1=0.7)
    slow = tracin.autograd_token_scores(sae, x, G, l1=0.7)
    rel = (fast - slow).abs().max() / slow.abs().max()
    assert rel < 1e-6, rel
    assert (fast.abs() > 0).all()


def test_mean_gradient_is_the_mean_of_token_gradients():
    sae = random_sae(seed=3)
    x = torch.randn(10, 16, dtype=torch.float64)
    G = tracin.mean_gradient(sae, x, l1=0.5)
    # grad · G averaged over the same tokens equals ||G||^2
    score = tracin.token_scores(tracin.params(sae), x, G, l1=0.5).mean()
    norm2 = sum((t * t).sum() for t in (G.W_enc, G.b_enc, G.W_dec, G.b_dec))
    assert torch.isclose(score, norm2, rtol=1e-8)


@pytest.mark.parametrize(
    "sae",
    [
        sl.TopKSAE(sl.TopKSAEConfig(d_in=8, d_sae=16, k=4)),
        sl.JumpReLUSAE(sl.JumpReLUSAEConfig(d_in=8, d_sae=16)),
        sl.StandardSAE(sl.StandardSAEConfig(d_in=8, d_sae=16, normalize_activations="layer_norm")),
    ],
    ids=["topk", "jumprelu", "normalized"],
)
def test_saes_the_closed_form_does_not_describe_are_refused(sae):
    with pytest.raises(ConfigError, match="without \\+tracin"):
        tracin.params(sae)
