"""Aiming latents at what the SAE reconstructs badly.

``resample_dead`` is dead-latent resampling (Anthropic's "Towards Monosemanticity", 2023,
simplified): a latent that has not fired for a while gets the direction of an input the SAE
reconstructs badly, drawn with probability proportional to its squared error; its encoder row
points the same way at a fifth of the live latents' mean encoder norm, its bias is zeroed and so
are its Adam moments, so that it starts small and learns from there.

``aim_new`` starts an extension's new latents (SAE Boost, arXiv 2507.12990), and
``resample_dead(aimed=True)`` re-aims a trained SAE's latents that are silent on the selection:
each gets the direction of the residual error ``x - SAE(x)`` of a different badly reconstructed
token, and a bias (for JumpReLU, a margin over its threshold) at the ``1 - FIRE_SHARE`` quantile
of its pre-activation on the batch, so it fires on about ``FIRE_SHARE`` of the tokens and N aimed
latents add about ``N * FIRE_SHARE`` to L0 instead of ``N / 2``.

With ``clusters``, the directions are instead the centres of a spherical k-means (N clusters) of
the unit residual errors of the ``WORST_SHARE`` worst-reconstructed tokens: a latent starts on a
group of tokens the SAE gets wrong the same way (a concept it lacks) rather than on one token.
"""

from __future__ import annotations

import torch

from ssae_core.models.sae_stack import SAEStack

ENCODER_SCALE = 0.2
"""A resampled latent's encoder norm, as a share of the live latents' mean."""
FIRE_SHARE = 0.005
"""The share of a batch's tokens on which a newly aimed extension latent fires."""
WORST_SHARE = 0.25
"""With ``clusters``: the share of the tokens (the worst reconstructed) whose errors are
clustered."""
KMEANS_ITERATIONS = 20
"""Lloyd iterations of ``spherical_kmeans``."""


@torch.no_grad()
def resample_dead(
    stack: SAEStack,
    i: int,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    dead: torch.Tensor,
    gen: torch.Generator,
    aimed: bool = False,
    clusters: bool = False,
) -> int:
    """Re-initialize SAE ``i``'s latents where ``dead`` (d_sae,) is true toward rows of the batch
    ``x``; returns how many. Latents that do not learn (an extension's GSAE part) are left.
    ``aimed``: as ``aim_new`` aims new latents (residual-error directions, a bias that keeps L0
    near its value: for finetuning a trained SAE) instead of Anthropic's recipe (for training
    from scratch); ``clusters`` (with ``aimed``): at k-means centres, as ``aim_new``."""
    idx = (dead.to(x.device) & stack.learning).nonzero().squeeze(-1)
    if not len(idx):
        return 0
    if aimed:
        _aim(stack, i, opt, x, idx, gen, clusters)
        return len(idx)
    err = _errors(stack, i, x)
    weight = err.pow(2).sum(-1).double().cpu() + 1e-12
    pick = torch.multinomial(weight, len(idx), replacement=True, generator=gen)
    dirs = _unit(x[pick.to(x.device)] - stack.b_dec[i])
    alive = ~dead.to(x.device)
    W_enc = stack.W_enc[i]
    enc_norm = W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
    _set(stack, i, opt, idx, dirs, dirs.T * enc_norm * ENCODER_SCALE, torch.zeros(len(idx)))
    return len(idx)


@torch.no_grad()
def aim_new(
    stack: SAEStack,
    i: int,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    gen: torch.Generator,
    clusters: bool = False,
) -> None:
    """Aim SAE ``i``'s learning latents (an extension's new ones) at the residual errors of
    distinct tokens of ``x``, drawn with probability proportional to their squared error (with
    replacement only when the batch has fewer tokens than there are latents); ``clusters``: at
    the k-means centres of the worst-reconstructed tokens' errors."""
    _aim(stack, i, opt, x, stack.learning.nonzero().squeeze(-1), gen, clusters)


def _aim(stack, i, opt, x, idx, gen, clusters=False) -> None:
    err = _errors(stack, i, x)
    n_worst = int(WORST_SHARE * len(x))
    if clusters and n_worst > len(idx):
        worst = err.norm(dim=-1).topk(n_worst).indices
        dirs = spherical_kmeans(_unit(err[worst]), len(idx), gen)
    else:
        weight = err.pow(2).sum(-1).double().cpu() + 1e-12
        pick = torch.multinomial(weight, len(idx), replacement=len(idx) > len(x), generator=gen)
        dirs = _unit(err[pick.to(x.device)])
    sae_in = x - stack.b_dec[i] if stack.subtract_b_dec else x
    floor = stack.log_threshold[i][idx].exp() if stack.arch == "jumprelu" else 0.0
    _set(stack, i, opt, idx, dirs, dirs.T, floor - _upper_quantile(sae_in, dirs))


def spherical_kmeans(
    points: torch.Tensor, k: int, gen: torch.Generator, iterations: int = KMEANS_ITERATIONS
) -> torch.Tensor:
    """(k, d) unit centres of unit ``points`` (n > k, d): Lloyd's algorithm on the sphere, each
    point to the centre of highest cosine, each centre the normalized mean of its points,
    from k distinct points drawn by ``gen``; a centre that loses all its points stays put."""
    start = torch.randperm(len(points), generator=gen)[:k].to(points.device)
    centres = points[start]
    for _ in range(iterations):
        assign = (points @ centres.T).argmax(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        empty = torch.bincount(assign, minlength=k) == 0
        centres = torch.where(empty[:, None], centres, _unit(sums))
    return centres


def _upper_quantile(x: torch.Tensor, dirs: torch.Tensor, block: int = 256) -> torch.Tensor:
    """Per direction (rows of ``dirs``), the ``1 - FIRE_SHARE`` quantile of ``x``'s projections
    onto it (the k-th smallest, computed a block of directions at a time)."""
    k = min(len(x), max(1, round((1 - FIRE_SHARE) * len(x))))
    parts = [(x @ d.T).kthvalue(k, dim=0).values for d in dirs.split(block)]
    return torch.cat(parts)


def _errors(stack: SAEStack, i: int, x: torch.Tensor) -> torch.Tensor:
    """(batch, d_in): ``x`` minus SAE ``i``'s reconstruction."""
    return x - stack.decode(i, stack.encode(i, x)[1])


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def _set(stack, i, opt, idx, w_dec, w_enc, b_enc) -> None:
    """Write latents ``idx`` of SAE ``i`` and zero their Adam moments."""
    W_enc, W_dec, b_enc_param = stack.W_enc[i], stack.W_dec[i], stack.b_enc[i]
    W_dec[idx] = w_dec
    W_enc[:, idx] = w_enc
    b_enc_param[idx] = b_enc
    for param, dim in ((W_enc, 1), (W_dec, 0), (b_enc_param, 0)):
        for moment in opt.state.get(param, {}).values():
            if torch.is_tensor(moment) and moment.shape == param.shape:
                moment.index_fill_(dim, idx, 0)
