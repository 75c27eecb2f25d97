"""SAE-TracIn in closed form: ``grad L(token) · grad L(seed)`` with no per-token autograd.

For the ReLU SAE loss ``L = ||x_hat - x||^2 + l1 * sum(f)`` with
``f = relu((x - b_dec) W_enc + b_enc)`` and ``x_hat = f W_dec + b_dec``, write
``e = 2 (x_hat - x)`` and ``g = (e W_dec^T + l1) * [pre > 0]``. One token's gradients are

    dW_dec = f ⊗ e,   dW_enc = (x - b_dec) ⊗ g,   db_enc = g,   db_dec = e - W_enc g,

so its dot product with a fixed gradient G reduces to row-wise products of a few
matrix products over the whole batch of tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ssae_core import sae_math


@dataclass
class SAEGrad:
    """A gradient of the SAE loss, one tensor per parameter (SAELens shapes)."""

    W_enc: torch.Tensor
    b_enc: torch.Tensor
    W_dec: torch.Tensor
    b_dec: torch.Tensor


def params(sae) -> SAEGrad:
    """The SAE's parameters, detached, in the same container as a gradient."""
    return SAEGrad(sae.W_enc.detach(), sae.b_enc.detach(), sae.W_dec.detach(), sae.b_dec.detach())


def mean_gradient(p: SAEGrad, x: torch.Tensor, l1: float) -> SAEGrad:
    """Gradient of the mean per-token loss over ``x`` (the seed set's gradient)."""
    leaves = [t.clone().requires_grad_(True) for t in (p.W_enc, p.b_enc, p.W_dec, p.b_dec)]
    loss, *_ = sae_math.per_token_loss(x, *leaves, l1=l1)
    grads = torch.autograd.grad(loss.mean(), leaves)
    return SAEGrad(*grads)


def token_scores(p: SAEGrad, x: torch.Tensor, G: SAEGrad, l1: float) -> torch.Tensor:
    """Per token of ``x`` (n, d_in): ``grad L(token) · G``, summed over all parameters."""
    centred = x - p.b_dec
    pre = centred @ p.W_enc + p.b_enc
    f = torch.relu(pre)
    e = 2 * (f @ p.W_dec + p.b_dec - x)
    g = (e @ p.W_dec.T + l1) * (pre > 0)
    return (
        ((f @ G.W_dec) * e).sum(-1)
        + ((centred @ G.W_enc) * g).sum(-1)
        + g @ G.b_enc
        + (e - g @ p.W_enc.T) @ G.b_dec
    )


def autograd_token_scores(p: SAEGrad, x: torch.Tensor, G: SAEGrad, l1: float) -> torch.Tensor:
    """The same scores by one autograd pass per token: the slow reference for tests and benches."""
    out = torch.empty(len(x), dtype=x.dtype)
    leaves = [t.clone().requires_grad_(True) for t in (p.W_enc, p.b_enc, p.W_dec, p.b_dec)]
    for i in range(len(x)):
        loss, *_ = sae_math.per_token_loss(x[i : i + 1], *leaves, l1=l1)
        grads = torch.autograd.grad(loss.sum(), leaves)
        out[i] = sum((a * b).sum() for a, b in zip(grads, (G.W_enc, G.b_enc, G.W_dec, G.b_dec)))
    return out
