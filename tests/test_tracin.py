"""Closed-form SAE-TracIn against plain per-token autograd."""

import torch

from ssae_core import tracin
from ssae_core.demo import gsae


def _random_sae(d_in=16, d_sae=48, seed=0):
    torch.manual_seed(seed)
    sae = gsae.new_sae(d_in, d_sae, "blocks.0.hook_resid_post", "t", 32)
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        sae.b_enc.sub_(0.2)  # some features off, some on
    return sae.double()


def test_closed_form_matches_autograd():
    sae = _random_sae()
    p = tracin.params(sae)
    gen = torch.Generator().manual_seed(1)
    seed_x = torch.randn(40, 16, generator=gen, dtype=torch.float64)
    x = torch.randn(25, 16, generator=gen, dtype=torch.float64)
    G = tracin.mean_gradient(p, seed_x, l1=0.7)
    fast = tracin.token_scores(p, x, G, l1=0.7)
    slow = tracin.autograd_token_scores(p, x, G, l1=0.7)
    rel = (fast - slow).abs().max() / slow.abs().max()
    assert rel < 1e-4, rel
    assert (fast.abs() > 0).all()


def test_mean_gradient_is_the_mean_of_token_gradients():
    sae = _random_sae(seed=3)
    p = tracin.params(sae)
    x = torch.randn(10, 16, dtype=torch.float64)
    G = tracin.mean_gradient(p, x, l1=0.5)
    # grad · G averaged over the same tokens equals ||G||^2
    score = tracin.token_scores(p, x, G, l1=0.5).mean()
    norm2 = sum((t * t).sum() for t in (G.W_enc, G.b_enc, G.W_dec, G.b_dec))
    assert torch.isclose(score, norm2, rtol=1e-8)
