"""Extension (SAE Boost): new latents trained on the frozen GSAE's residual. The GSAE's part of
every SSAE stays bit for bit what it was, the new latents start aimed at residual errors and fire
rarely, the run lowers the error (and resumes to the same weights: test_schedule), and a TopK
GSAE is refused."""

import pytest
import torch
from train_data import D_IN, D_SAE, SMALL, activation_store, random_sae

from ssae_core.infra.errors import ConfigError
from ssae_core.infra.workspace import Workspace
from ssae_core.models.activations import ActivationStore
from ssae_core.models.sae_stack import SAEStack
from ssae_core.train.finetune import FinetuneConfig, finetune, load_ssaes
from ssae_core.train.resample import FIRE_SHARE, aim_new, spherical_kmeans

N = 24
GSAE_PART = {"W_enc": (slice(None), slice(0, D_SAE)), "b_enc": slice(0, D_SAE)}
GSAE_PART |= {"W_dec": slice(0, D_SAE), "b_dec": slice(None)}


@pytest.mark.parametrize("arch", ["standard", "jumprelu"])
def test_an_extended_run_keeps_the_gsae_and_lowers_the_error(tmp_path, arch):
    """A random GSAE leaves most of the data in its residual; the new latents learn it."""
    ws = Workspace(tmp_path)
    acts = activation_store(ws)
    gsae = random_sae(arch)
    cfg = FinetuneConfig(sparsity=(0.05, 0.2), extend=N, **dict(SMALL, steps=300))
    ssaes = load_ssaes(finetune(ws, gsae, "sae/g", acts, cfg))
    start = SAEStack(gsae, [0.05]).export(0)  # the GSAE with unit-norm decoder rows, untrained
    x = ActivationStore(acts).rows(range(2400))
    with torch.no_grad():
        before = (start.decode(start.encode(x)) - x).pow(2).sum(-1).mean()
        for sae in ssaes:
            assert sae.cfg.d_sae == D_SAE + N
            parts = dict(GSAE_PART, threshold=slice(0, D_SAE)) if arch == "jumprelu" else GSAE_PART
            for name, index in parts.items():
                assert torch.equal(getattr(sae, name)[index], getattr(start, name)), name
            f = sae.encode(x)
            assert torch.allclose(f[:, :D_SAE], start.encode(x), atol=1e-6)
            after = (sae.decode(f) - x).pow(2).sum(-1).mean()
            assert after < 0.5 * before, (float(after), float(before))


def test_new_latents_start_on_residual_errors_and_fire_rarely():
    torch.manual_seed(0)
    gsae = random_sae()
    stack = SAEStack(gsae, [0.1], extend=N)
    assert stack.d_sae == D_SAE + N and stack.learning.sum() == N
    x = torch.randn(2000, D_IN)
    f0 = stack.encode(0, x)[1]
    assert (f0[:, D_SAE:] == 0).all(), "silent until aimed"
    opt = torch.optim.Adam(stack.parameters(), lr=1e-3)
    with torch.no_grad():
        err = x - stack.decode(0, f0)
    aim_new(stack, 0, opt, x, torch.Generator().manual_seed(0))
    W_dec = stack.W_dec[0][D_SAE:]
    unit_err = err / err.norm(dim=-1, keepdim=True)
    assert torch.allclose((unit_err @ W_dec.T).max(0).values, torch.ones(N), atol=1e-5)
    assert len({tuple(r.tolist()) for r in W_dec}) == N, "distinct tokens"
    fires = (stack.encode(0, x)[1][:, D_SAE:] > 0).float().mean(0)
    assert torch.allclose(fires, torch.full((N,), FIRE_SHARE), atol=1.5 / len(x))


def test_spherical_kmeans_finds_the_directions_points_gather_around():
    """Points scattered around 6 random unit directions: the 6 centres are those directions."""
    gen = torch.Generator().manual_seed(0)
    truth = torch.nn.functional.normalize(torch.randn(6, D_IN, generator=gen), dim=-1)
    points = truth.repeat_interleave(200, 0) + 0.15 * torch.randn(1200, D_IN, generator=gen)
    points = torch.nn.functional.normalize(points, dim=-1)
    centres = spherical_kmeans(points, 6, torch.Generator().manual_seed(3))
    assert torch.allclose(centres.norm(dim=-1), torch.ones(6), atol=1e-5)
    cos = truth @ centres.T
    assert (cos.max(1).values > 0.99).all() and (cos.max(0).values > 0.99).all(), cos


def test_new_latents_aimed_at_clusters_start_on_groups_of_errors():
    """With ``clusters`` each new latent starts on a direction that many badly reconstructed
    tokens' errors share (a planted concept the GSAE lacks), and fires about as rarely."""
    torch.manual_seed(0)
    stack = SAEStack(random_sae(), [0.1], extend=4)
    concepts = torch.nn.functional.normalize(torch.randn(4, D_IN), dim=-1)
    x = 0.1 * torch.randn(8000, D_IN)
    x[:2000] += 6 * concepts.repeat_interleave(500, 0)  # the worst quarter: 4 concepts
    opt = torch.optim.Adam(stack.parameters(), lr=1e-3)
    with torch.no_grad():
        err = x - stack.decode(0, stack.encode(0, x)[1])
    aim_new(stack, 0, opt, x, torch.Generator().manual_seed(0), clusters=True)
    W_dec = stack.W_dec[0][D_SAE:]
    planted = torch.nn.functional.normalize(err[:2000], dim=-1).view(4, 500, D_IN).mean(1)
    cos = torch.nn.functional.normalize(planted, dim=-1) @ W_dec.T
    assert (cos.max(1).values > 0.95).all(), cos
    fires = (stack.encode(0, x)[1][:, D_SAE:] > 0).float().mean(0)
    assert torch.allclose(fires, torch.full((4,), FIRE_SHARE), atol=1.5 / len(x))


def test_a_topk_gsae_is_not_extended():
    with pytest.raises(ConfigError, match="TopK SAE cannot be extended"):
        SAEStack(random_sae("topk"), [6], extend=N)
    with pytest.raises(ConfigError, match="extend must be >= 0|must be >= 0"):
        FinetuneConfig(extend=-1).validate()


@pytest.mark.parametrize("arch", ["standard", "jumprelu"])
def test_each_copy_computes_what_its_export_does(arch):
    """The frozen part is computed once per batch for all copies: each copy's error and L0 still
    equal those of the SAELens SAE it exports as, with its own new latents."""
    torch.manual_seed(1)
    stack = SAEStack(random_sae(arch), [0.1, 0.3, 1.0], extend=N)
    opt = torch.optim.Adam(stack.parameters(), lr=1e-3)
    x = torch.randn(500, D_IN)
    for i in range(len(stack)):
        aim_new(stack, i, opt, x, torch.Generator().manual_seed(i))
    for i in range(len(stack)):
        out, sae = stack.one(i, x), stack.export(i)
        with torch.no_grad():
            f = sae.encode(x)
            mse = (sae.decode(f) - x).pow(2).sum(-1)
        assert torch.allclose(out["mse"], mse, rtol=1e-5, atol=1e-5), i
        assert torch.equal(out["l0"], (f > 0).sum(-1).float()), i
        assert torch.equal(out["fired"], (f > 0).any(0)), i
        l1 = f.sum(-1) if arch == "standard" else (f > 0).sum(-1).float()
        assert torch.allclose(out["sparsity"], l1, rtol=1e-5), i
        loss = mse + stack.coef[i] * l1
        assert torch.allclose(out["loss"], loss, rtol=1e-5, atol=1e-5), i
    assert not torch.equal(stack.W_dec[0][D_SAE:], stack.W_dec[1][D_SAE:]), "copies differ"
