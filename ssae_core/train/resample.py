"""Dead-latent resampling (Anthropic's "Towards Monosemanticity", 2023, simplified): a latent
that has not fired for a while gets the direction of an input the SAE reconstructs badly, drawn
with probability proportional to its squared error; its encoder row points the same way at a
fifth of the live latents' mean encoder norm, its bias is zeroed and so are its Adam moments, so
that it starts small and learns from there."""

from __future__ import annotations

import torch

from ssae_core.models.sae_stack import SAEStack

ENCODER_SCALE = 0.2
"""A resampled latent's encoder norm, as a share of the live latents' mean."""


@torch.no_grad()
def resample_dead(
    stack: SAEStack,
    i: int,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    dead: torch.Tensor,
    gen: torch.Generator,
) -> int:
    """Re-initialize SAE ``i``'s latents where ``dead`` (d_sae,) is true toward rows of the batch
    ``x``; returns how many."""
    idx = dead.nonzero().squeeze(-1)
    if not len(idx):
        return 0
    _, f = stack.encode(i, x)
    err = (stack.decode(i, f) - x).pow(2).sum(-1)
    pick = torch.multinomial(err.double().cpu() + 1e-12, len(idx), replacement=True, generator=gen)
    dirs = x[pick.to(x.device)] - stack.b_dec[i]
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    W_enc, W_dec, b_enc = stack.W_enc[i], stack.W_dec[i], stack.b_enc[i]
    alive = ~dead.to(x.device)
    enc_norm = W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
    W_dec[idx] = dirs
    W_enc[:, idx] = dirs.T * enc_norm * ENCODER_SCALE
    b_enc[idx] = 0
    for param, dim in ((W_enc, 1), (W_dec, 0), (b_enc, 0)):
        for moment in opt.state.get(param, {}).values():
            if torch.is_tensor(moment) and moment.shape == param.shape:
                moment.index_fill_(dim, idx, 0)
    return len(idx)
