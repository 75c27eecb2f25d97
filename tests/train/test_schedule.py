"""The sparsity schedule (warm-up, L0 steering) and dead-latent resampling, against plain
references, and in finetuning runs (they resume to the same weights)."""

import numpy as np
import pandas as pd
import pytest
import torch
from train_data import SMALL, StopAt, activation_store, random_sae

from ssae_core.infra.errors import ConfigError
from ssae_core.infra.workspace import Workspace
from ssae_core.models.sae_stack import SAEStack
from ssae_core.train.finetune import FinetuneConfig, finetune, load_ssaes
from ssae_core.train.resample import ENCODER_SCALE, resample_dead
from ssae_core.train.schedule import STEER_EMA, STEER_GAIN, SparsitySchedule


def test_warmup_is_linear_then_one():
    s = SparsitySchedule(k=2, steps=100, warmup=10, decay_steps=20, target_l0=0.0)
    assert [float(s.factor(t)[0]) for t in (0, 4, 9, 50)] == pytest.approx([0.1, 0.5, 1.0, 1.0])
    assert float(SparsitySchedule(1, 100, 0, 20, 0.0).factor(0)[0]) == 1.0


def test_steering_is_the_integral_controller_on_log_l0():
    """The same recurrence written out by hand: a running mean of L0, then the factor times
    (running L0 / target) ** gain, only between the warm-up and the decay."""
    steps, warmup, decay, target = 60, 10, 15, 8.0
    s = SparsitySchedule(k=2, steps=steps, warmup=warmup, decay_steps=decay, target_l0=target)
    rng = np.random.default_rng(0)
    want, run = np.ones(2), None
    for t in range(steps):
        l0 = rng.uniform(2, 20, size=2)
        s.observe(t, torch.tensor(l0))
        if warmup <= t < steps - decay:
            run = l0 if run is None else (1 - STEER_EMA) * run + STEER_EMA * l0
            want *= (run / target) ** STEER_GAIN
    assert np.allclose(s.steer.numpy(), want, rtol=1e-12)
    up = SparsitySchedule(1, 100, 0, 10, 5.0)
    for t in range(50):
        up.observe(t, torch.tensor([20.0]))
    assert float(up.factor(50)[0]) > 1, "too many active latents raise the coefficient"


def test_resampling_points_dead_latents_at_badly_reconstructed_inputs():
    torch.manual_seed(0)
    stack = SAEStack(random_sae(), [0.5])
    opt = torch.optim.Adam(stack.parameters(), lr=1e-3)
    x = torch.randn(64, 16)
    stack.one(0, x)["loss"].mean().backward()
    opt.step()
    before = {n: getattr(stack, n)[0].detach().clone() for n in ("W_enc", "W_dec", "b_enc")}
    dead = torch.zeros(stack.d_sae, dtype=torch.bool)
    dead[[3, 7, 11]] = True
    n = resample_dead(stack, 0, opt, x, dead, torch.Generator().manual_seed(1))
    assert n == 3
    W_enc, W_dec, b_enc = stack.W_enc[0], stack.W_dec[0], stack.b_enc[0]
    rows = (x - stack.b_dec[0]) / (x - stack.b_dec[0]).norm(dim=-1, keepdim=True)
    live_norm = before["W_enc"][:, ~dead].norm(dim=0).mean()
    for j in (3, 7, 11):
        assert torch.allclose(W_dec[j].norm(), torch.tensor(1.0), atol=1e-6)
        assert torch.isclose((rows @ W_dec[j]).max(), torch.tensor(1.0), atol=1e-5), "an input"
        assert torch.allclose(W_enc[:, j], W_dec[j] * live_norm * ENCODER_SCALE, atol=1e-6)
        assert b_enc[j] == 0
        for p, sl in ((W_enc, (slice(None), j)), (W_dec, j), (b_enc, j)):
            assert all(
                float(opt.state[p][k][sl].abs().max()) == 0 for k in ("exp_avg", "exp_avg_sq")
            )
    assert torch.equal(W_dec[~dead], before["W_dec"][~dead]), "live latents untouched"
    assert torch.equal(W_enc[:, ~dead], before["W_enc"][:, ~dead])


def _dead_gsae():
    """A GSAE with half its latents unable to fire (a very negative encoder bias)."""
    sae = random_sae(seed=3)
    with torch.no_grad():
        sae.b_enc[::2] = -50.0
    return sae


def test_resampling_in_a_run_revives_dead_latents(tmp_path):
    ws = Workspace(tmp_path)
    acts = activation_store(ws)
    base = dict(SMALL, steps=40, log_every=1)
    plain = finetune(ws, _dead_gsae(), "sae/d", acts, FinetuneConfig(sparsity=(0.2,), **base))
    cfg = FinetuneConfig(sparsity=(0.2,), resample_every=10, **base)
    resampled = finetune(ws, _dead_gsae(), "sae/d", acts, cfg)
    dead = [a.summary["val"][0]["dead_fraction"] for a in (plain, resampled)]
    assert dead[0] >= 0.45 and dead[1] < dead[0] / 2, dead


def test_reaiming_revives_silent_latents_and_keeps_l0_near_its_value(tmp_path):
    """Anthropic's resampling (zero bias) suits training from scratch; finetuning re-aims the
    silent latents with a bias at a high quantile, so the revived latents fire rarely."""
    ws = Workspace(tmp_path)
    acts = activation_store(ws)
    run = dict(SMALL, sparsity=(0.2,), steps=40)
    cfgs = {
        "plain": FinetuneConfig(**run),
        "anthropic": FinetuneConfig(resample_every=10, **run),
        "aimed": FinetuneConfig(resample_every=10, reaim=True, **run),
    }
    val = {
        n: finetune(ws, _dead_gsae(), "sae/d", acts, c).summary["val"][0] for n, c in cfgs.items()
    }
    assert val["aimed"]["dead_fraction"] < val["plain"]["dead_fraction"] / 2, val
    assert val["aimed"]["l0"] < val["plain"]["l0"] + 3 < val["anthropic"]["l0"], val


def test_steering_brings_l0_toward_its_target_and_topk_has_no_coefficient(tmp_path):
    ws = Workspace(tmp_path)
    acts = activation_store(ws)
    run = dict(SMALL, steps=400, decay_steps=20, log_every=10)
    free = finetune(ws, random_sae(), "sae/s", acts, FinetuneConfig(sparsity=(0.2,), **run))
    steered_cfg = FinetuneConfig(sparsity=(0.2,), target_l0=4.0, sparsity_warmup=20, **run)
    steered = finetune(ws, random_sae(), "sae/s", acts, steered_cfg)
    l0 = [a.summary["val"][0]["l0"] for a in (free, steered)]
    assert l0[1] < l0[0] - 1 and l0[1] > 4.0, l0
    log = pd.read_parquet(steered.file("log.parquet"))
    assert log.coef_factor.iloc[-1] > 1.5, "too many active latents: the coefficient rose"
    assert log.coef_factor.iloc[0] == pytest.approx(1 / 20), "the warm-up's first step"
    with pytest.raises(ConfigError, match="TopK"):
        topk = FinetuneConfig(sparsity=(6,), target_l0=3, **SMALL)
        finetune(ws, random_sae("topk"), "sae/t", acts, topk)


@pytest.mark.parametrize("extend", [0, 24])
def test_a_run_with_warmup_steering_and_resampling_resumes_to_the_same_weights(tmp_path, extend):
    """Also with an extension's new latents (aimed before the first step)."""
    cfg = FinetuneConfig(
        sparsity=(0.2,), sparsity_warmup=6, target_l0=5.0, resample_every=7, reaim=True, **SMALL
    ).replace(extend=extend)
    ws_a, ws_b = Workspace(tmp_path / "a"), Workspace(tmp_path / "b")
    straight = load_ssaes(finetune(ws_a, _dead_gsae(), "sae/r", activation_store(ws_a), cfg))
    acts_b = activation_store(ws_b)
    with pytest.raises(KeyboardInterrupt):
        finetune(ws_b, _dead_gsae(), "sae/r", acts_b, cfg, progress=StopAt(19))
    resumed = load_ssaes(finetune(ws_b, _dead_gsae(), "sae/r", acts_b, cfg))
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(straight[0], name), getattr(resumed[0], name)), name
