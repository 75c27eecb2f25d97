"""Train the demo world's general SAE (GSAE): a SAELens StandardSAE, ReLU + L1.

Plain Adam on the paper's Eq. 1 loss with unit-norm decoder rows, tied initialization
(W_enc = W_dec^T), b_dec at the data mean, the L1 coefficient warmed up linearly and
the learning rate decayed linearly at the end. Features that have not fired for a
while are re-initialized towards badly reconstructed inputs, so that few stay dead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from sae_lens import StandardSAE, StandardSAEConfig
from sae_lens.saes.sae import SAEMetadata

from ssae_core.infra.config import Config
from ssae_core.models import sae_math


@dataclass(frozen=True)
class GSAEConfig(Config):
    expansion: int = 8
    l1: float = 5.0
    steps: int = 20000
    batch_size: int = 1024
    lr: float = 1e-3
    l1_warmup: float = 0.2  # share of steps
    lr_decay: float = 0.2  # share of steps
    resample_every: int = 1000  # steps; 0 turns resampling off
    resample_until: float = 0.8  # share of steps after which no more resampling
    seed: int = 0
    layer: int = -1  # block whose hook_resid_post is encoded; -1: the middle block
    version: int = 2  # bump when the code that builds this artifact changes its output
    """2: many small steps (20,000 of 1,024 tokens): concept features need the updates."""


@dataclass(frozen=True)
class MatchedL0Config(Config):
    """A GSAE trained like ``gsae`` but with its L1 coefficient steered during training so that
    its L0 lands near ``target_l0``: GSAEs of several widths at one L0 (a width series)."""

    gsae: GSAEConfig = field(default_factory=GSAEConfig)
    target_l0: float = 10.0
    version: int = 1


STEER_GAIN = 0.002  # per step: L1 *= (L0 / target) ** gain; ~500 steps to halve an L0 error
STEER_EMA = 0.02  # weight of the newest batch's L0 in the running L0 the steering reads


def new_sae(
    d_in: int, d_sae: int, hook_name: str, model_name: str, context_size: int
) -> StandardSAE:
    cfg = StandardSAEConfig(
        d_in=d_in,
        d_sae=d_sae,
        metadata=SAEMetadata(
            hook_name=hook_name, model_name=model_name, context_size=context_size, prepend_bos=True
        ),
    )
    return StandardSAE(cfg)


def train_gsae(
    cfg: GSAEConfig,
    acts: torch.Tensor,
    sae: StandardSAE,
    device: torch.device,
    progress: Callable[[int, dict], None] | None = None,
    target_l0: float = 0.0,
) -> dict:
    """Train ``sae`` in place on the rows of ``acts``; returns the final step's stats.

    With ``target_l0`` > 0 the L1 coefficient is steered from ``cfg.l1`` after its warm-up and
    until the learning rate decays: each step it is multiplied by (running L0 / target) **
    ``STEER_GAIN``, an integral controller on log L0; then it stays where it is."""
    gen = torch.Generator().manual_seed(cfg.seed)
    sae.to(device)
    with torch.no_grad():
        W_dec = torch.randn(sae.cfg.d_sae, sae.cfg.d_in, generator=gen)
        sae_math.normalize_decoder_(W_dec)
        sae.W_dec.copy_(W_dec)
        sae.W_enc.copy_(W_dec.T)
        sae.b_enc.zero_()
        sae.b_dec.copy_(acts[:100_000].mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    last_fired = torch.zeros(sae.cfg.d_sae, dtype=torch.long)
    stats: dict = {}
    warmup = max(1, cfg.l1_warmup * cfg.steps)
    steer, l0_run = 1.0, None
    for step in range(cfg.steps):
        x = acts[torch.randint(len(acts), (cfg.batch_size,), generator=gen)].to(device)
        l1 = cfg.l1 * steer * min(1.0, (step + 1) / warmup)
        loss, mse, sparsity, f = sae_math.per_token_loss(
            x, sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec, l1
        )
        opt.zero_grad(set_to_none=True)
        loss.mean().backward()
        sae_math.remove_parallel_grad_(sae.W_dec)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * _decay(step, cfg.steps, cfg.lr_decay)
        opt.step()
        sae_math.normalize_decoder_(sae.W_dec.data)
        fired = (f > 0).any(0).cpu()
        last_fired[fired] = step
        if (
            cfg.resample_every
            and step
            and step % cfg.resample_every == 0
            and step < cfg.resample_until * cfg.steps
        ):
            _resample(sae, opt, x, last_fired < step - cfg.resample_every, gen)
        l0 = (f > 0).float().sum(-1).mean().item()
        if target_l0 and warmup <= step < (1 - cfg.lr_decay) * cfg.steps:
            l0_run = l0 if l0_run is None else (1 - STEER_EMA) * l0_run + STEER_EMA * l0
            steer *= (max(l0_run, 1e-3) / target_l0) ** STEER_GAIN
        stats = {
            "step": step + 1,
            "loss": loss.mean().item(),
            "mse": mse.mean().item(),
            "l0": l0,
            "l1_coefficient": l1,
        }
        if progress:
            progress(step + 1, stats)
    return stats


def _decay(step: int, total: int, share: float) -> float:
    start = total * (1 - share)
    return 1.0 if step < start else max(0.0, (total - step) / max(total - start, 1))


@torch.no_grad()
def _resample(sae, opt, x: torch.Tensor, dead: torch.Tensor, gen: torch.Generator) -> None:
    """Point dead features at inputs the SAE reconstructs worst (Anthropic-style resampling)."""
    idx = dead.nonzero().squeeze(-1)
    if len(idx) == 0:
        return
    err = (sae.decode(sae.encode(x)) - x).pow(2).sum(-1)
    pick = torch.multinomial(err.cpu() + 1e-12, len(idx), replacement=True, generator=gen)
    dirs = x[pick.to(x.device)] - sae.b_dec
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    alive_norm = sae.W_enc[:, ~dead.to(x.device)].norm(dim=0).mean() if (~dead).any() else 1.0
    sae.W_dec[idx] = dirs
    sae.W_enc[:, idx] = dirs.T * alive_norm * 0.2
    sae.b_enc[idx] = 0
    for p in (sae.W_enc, sae.W_dec, sae.b_enc):
        state = opt.state.get(p, {})
        for k in ("exp_avg", "exp_avg_sq"):
            if k in state:
                if p is sae.W_enc:
                    state[k][:, idx] = 0
                else:
                    state[k][idx] = 0
