"""The one GSAE trainer (``train.gsae``): the sparsity coefficient steered to a target L0 lands
there (GSAEs of several widths at one L0), from a fresh tied initialization."""

import torch
from train_data import activation_store

from ssae_core.infra.workspace import Workspace
from ssae_core.models.activations import ActivationStore
from ssae_core.train.finetune import finetune, load_ssaes
from ssae_core.train.gsae import GSAETrainConfig, fresh_sae


def test_steering_the_l1_coefficient_lands_on_the_target_l0(tmp_path):
    ws = Workspace(tmp_path)
    acts = activation_store(ws, n_docs=400)
    x = ActivationStore(acts).rows(torch.arange(16_000).numpy())
    base = GSAETrainConfig(
        expansion=3, sparsity=0.3, steps=2000, batch_tokens=256, sparsity_warmup=0.1
    )
    l0 = {}
    for target in (0.0, 3.0, 8.0):
        cfg = base.replace(target_l0=target)
        sae = fresh_sae(cfg, 16, "blocks.0.hook_resid_post", "test", 32, x.mean(0))
        (trained,) = load_ssaes(
            finetune(ws, sae, f"init/{cfg.digest()}", acts, cfg.finetune_config())
        )
        with torch.no_grad():
            l0[target] = float((trained.encode(x) > 0).sum(-1).float().mean())
    for target in (3.0, 8.0):
        assert abs(l0[target] / target - 1) < 0.25, l0
    assert abs(l0[0.0] - 3.0) > 1 and abs(l0[0.0] - 8.0) > 1, "the targets are not the default"
