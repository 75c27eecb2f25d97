"""SAE-TracIn in closed form: ``grad L(token) · grad L(seed)`` with no per-token autograd.

Derived for the ReLU SAE loss ``L = ||x_hat - x||^2 + l1 * sum(f)`` (SAELens ``standard``,
inputs not normalized) with ``f = relu((x - s b_dec) W_enc + b_enc)`` and
``x_hat = f W_dec + b_dec``, where ``s = 1`` when the SAE subtracts ``b_dec`` from its input
(``apply_b_dec_to_input``) and 0 otherwise. Write ``e = 2 (x_hat - x)`` and
``g = (e W_dec^T + l1) * [pre > 0]``. One token's gradients are

    dW_dec = f ⊗ e,   dW_enc = (x - s b_dec) ⊗ g,   db_enc = g,   db_dec = e - s W_enc g,

so its dot product with a fixed gradient G reduces to row-wise products of a few
matrix products over the whole batch of tokens. Other architectures (TopK, JumpReLU) have
other gradients and are refused (``params``) rather than scored with this formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ssae_core.infra.errors import ConfigError


@dataclass
class SAEGrad:
    """A gradient of the SAE loss, one tensor per parameter (SAELens shapes)."""

    W_enc: torch.Tensor
    b_enc: torch.Tensor
    W_dec: torch.Tensor
    b_dec: torch.Tensor


@dataclass(frozen=True)
class ReLUSAE:
    """The parameters of a ReLU + L1 SAE the closed form reads (detached)."""

    W_enc: torch.Tensor
    b_enc: torch.Tensor
    W_dec: torch.Tensor
    b_dec: torch.Tensor
    subtract_b_dec: bool
    """The encoder sees ``x - b_dec`` (SAELens ``apply_b_dec_to_input``)."""


def params(sae) -> ReLUSAE:
    """The SAE's parameters for ``token_scores``; ConfigError when the closed form does not
    describe its loss."""
    arch = sae.cfg.architecture()
    if arch != "standard":
        raise ConfigError(
            f"SAE-TracIn reranking is derived for ReLU + L1 SAEs; this GSAE is {arch!r}. Select"
            " with bm25 or dense (without +tracin)."
        )
    if getattr(sae.cfg, "normalize_activations", "none") not in ("none", None):
        raise ConfigError(
            f"SAE-TracIn reranking needs an SAE that does not normalize its inputs (this one uses"
            f" {sae.cfg.normalize_activations!r}). Select with bm25 or dense (without +tracin)."
        )
    W_enc, b_enc, W_dec, b_dec = (t.detach() for t in _leaves(sae))
    return ReLUSAE(W_enc, b_enc, W_dec, b_dec, bool(sae.cfg.apply_b_dec_to_input))


def sae_loss(sae, x: torch.Tensor, l1: float) -> torch.Tensor:
    """Per-token loss ``||x_hat - x||^2 + l1 * sum(f)`` computed by the SAE's own forward."""
    f = sae.encode(x)
    return (sae.decode(f) - x).pow(2).sum(-1) + l1 * f.sum(-1)


def mean_gradient(sae, x: torch.Tensor, l1: float) -> SAEGrad:
    """Gradient of the mean per-token loss over ``x`` (the seed set's gradient), by autograd
    through the SAE's own forward."""
    with torch.enable_grad():
        return SAEGrad(*torch.autograd.grad(sae_loss(sae, x, l1).mean(), _leaves(sae)))


def token_scores(p: ReLUSAE, x: torch.Tensor, G: SAEGrad, l1: float) -> torch.Tensor:
    """Per token of ``x`` (n, d_in): ``grad L(token) · G``, summed over all parameters."""
    s = float(p.subtract_b_dec)
    centred = x - s * p.b_dec
    pre = centred @ p.W_enc + p.b_enc
    f = torch.relu(pre)
    e = 2 * (f @ p.W_dec + p.b_dec - x)
    g = (e @ p.W_dec.T + l1) * (pre > 0)
    return (
        ((f @ G.W_dec) * e).sum(-1)
        + ((centred @ G.W_enc) * g).sum(-1)
        + g @ G.b_enc
        + (e - s * (g @ p.W_enc.T)) @ G.b_dec
    )


def autograd_token_scores(sae, x: torch.Tensor, G: SAEGrad, l1: float) -> torch.Tensor:
    """The same scores by one autograd pass per token through the SAE's own forward: the slow
    reference for tests and benches."""
    out = torch.empty(len(x), dtype=x.dtype)
    leaves = _leaves(sae)
    with torch.enable_grad():
        for i in range(len(x)):
            grads = torch.autograd.grad(sae_loss(sae, x[i : i + 1], l1).sum(), leaves)
            out[i] = sum((a * b).sum() for a, b in zip(grads, (G.W_enc, G.b_enc, G.W_dec, G.b_dec)))
    return out


def _leaves(sae) -> list[torch.Tensor]:
    return [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec]
