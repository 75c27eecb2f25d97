"""The demo GSAE trainer: L1 steered to a target L0 (width series at matched L0)."""

import numpy as np
import torch

from ssae_core.demo.gsae import GSAEConfig, new_sae, train_gsae


def sparse_data(n: int = 20_000, d_in: int = 16, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    codes = rng.exponential(1.0, (n, 64)) * (rng.random((n, 64)) < 0.15)
    x = codes @ rng.normal(size=(64, d_in)) + rng.normal(scale=0.05, size=(n, d_in))
    return torch.tensor(x, dtype=torch.float32)


def test_steering_the_l1_coefficient_lands_on_the_target_l0():
    x = sparse_data()
    cfg = GSAEConfig(l1=1.0, steps=3000, batch_size=256, resample_every=0)
    l0 = {}
    for target in (0.0, 4.0, 10.0):
        sae = new_sae(16, 48, "blocks.0.hook_resid_post", "test", 32)
        stats = train_gsae(cfg, x, sae, torch.device("cpu"), target_l0=target)
        with torch.no_grad():
            l0[target] = float((sae.encode(x) > 0).sum(-1).float().mean())
        assert (stats["l1_coefficient"] == cfg.l1) == (target == 0)
    for target in (4.0, 10.0):
        assert abs(l0[target] / target - 1) < 0.25, l0
    assert abs(l0[0.0] - 4.0) > 1 and abs(l0[0.0] - 10.0) > 1, "the targets are not the default"
