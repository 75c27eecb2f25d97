"""The ReLU + L1 SAE as plain tensor math, shared by training, selection and evaluation.

Shapes follow SAELens: ``W_enc`` (d_in, d_sae), ``W_dec`` (d_sae, d_in), decoder rows
are feature directions. The per-token loss is the paper's Eq. 1,
``||x - x_hat||^2 + l1 * ||f||_1``, with unit-norm decoder rows.

TERM's tilted mean (Eq. 2) in the paper's absolute form and in a scale-free form (losses
divided by their batch mean), the effective sample share of its weights, and the tilt
that reaches a given share.

Also what any SAELens SAE needs on many rows: ``encode_rows`` (its activations, chunk by
chunk) and ``Variance`` (the denominator of the fraction of variance unexplained).
"""

from __future__ import annotations

import torch

DEFAULT_L1 = 5.0
"""The L1 coefficient of Eq. 1 the product uses unless told otherwise: the demo GSAE was trained
with it, the default recipe finetunes with it, and SAE-TracIn's gradients are taken with it, so
that they are gradients of the loss the finetune optimizes."""


def encode(x: torch.Tensor, W_enc, b_enc, b_dec) -> torch.Tensor:
    """Feature activations ``relu((x - b_dec) @ W_enc + b_enc)``."""
    return torch.relu((x - b_dec) @ W_enc + b_enc)


def decode(f: torch.Tensor, W_dec, b_dec) -> torch.Tensor:
    return f @ W_dec + b_dec


def per_token_loss(x: torch.Tensor, W_enc, b_enc, W_dec, b_dec, l1: float):
    """(loss, mse, l1 term, feature acts) per token; mse is the summed squared error."""
    f = encode(x, W_enc, b_enc, b_dec)
    x_hat = decode(f, W_dec, b_dec)
    mse = (x_hat - x).pow(2).sum(-1)
    sparsity = f.sum(-1)  # f >= 0, so this is ||f||_1
    return mse + l1 * sparsity, mse, sparsity, f


@torch.no_grad()
def normalize_decoder_(W_dec: torch.Tensor) -> None:
    """Rescale decoder rows to unit norm, in place."""
    W_dec.div_(W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8))


@torch.no_grad()
def remove_parallel_grad_(W_dec: torch.nn.Parameter) -> None:
    """Drop the gradient component along each decoder row (keeps norms at 1 to first order)."""
    if W_dec.grad is not None:
        along = (W_dec.grad * W_dec).sum(-1, keepdim=True)
        W_dec.grad.sub_(along * W_dec)


def tilted_mean(losses: torch.Tensor, tilt: float | torch.Tensor) -> torch.Tensor:
    """TERM's tilted loss ``(1/t) log mean exp(t L_i)`` over the last dim; the mean at t = 0.

    ``tilt`` is a number or a tensor of one tilt per row (shape ``losses.shape[:-1]``, >= 0).
    Finite for any tilt: computed as ``a + (logsumexp(t (L - a)) - log N) / t`` with
    ``a`` the max (t > 0) or min (t < 0) in float64, and as ``mean + t var / 2`` where
    ``t * range(L)`` is too small for the log-sum-exp to resolve (chosen per row on the
    device, without a host sync). Its gradient is the softmax(t L)-weighted mean of the
    per-item gradients; it tends to max L as t grows.
    """
    if not torch.is_tensor(tilt) and tilt == 0:
        return losses.mean(-1)
    wide = losses.double()
    t = torch.as_tensor(tilt, dtype=torch.float64, device=losses.device)
    upward = bool(t.min() >= 0) if t.ndim else tilt > 0
    anchor = (wide.amax(-1, keepdim=True) if upward else wide.amin(-1, keepdim=True)).detach()
    log_n = torch.log(
        torch.tensor(float(losses.shape[-1]), dtype=torch.float64, device=losses.device)
    )
    tiny = t.abs() * (wide.amax(-1) - wide.amin(-1)).detach() < 1e-6
    safe = torch.where(tiny, torch.ones_like(t), t)  # no 0/0 in the branch where() drops
    exact = (
        anchor.squeeze(-1)
        + (torch.logsumexp(safe.unsqueeze(-1) * (wide - anchor), -1) - log_n) / safe
    )
    expansion = wide.mean(-1) + 0.5 * t * wide.var(-1, unbiased=False)
    return torch.where(tiny, expansion, exact).to(losses.dtype)


def relative_tilted_mean(losses: torch.Tensor, tilt: float | torch.Tensor) -> torch.Tensor:
    """The scale-free tilt: ``m * tilted_mean(L / m, t)`` with ``m`` the (detached) mean of each
    row's losses.

    Its gradient is the softmax(t L / m)-weighted mean of the per-item gradients, so the
    weights, and what a tilt t means, are the same when every loss is multiplied by a
    constant (activations in other units, another model's residual norm); its value is the
    plain mean at t = 0 and tends to max L as t grows, like the absolute tilt.
    """
    scale = losses.mean(-1, keepdim=True).detach().clamp_min(torch.finfo(losses.dtype).tiny)
    return tilted_mean(losses / scale, tilt) * scale.squeeze(-1)


@torch.no_grad()
def tilt_ess(losses: torch.Tensor, tilt: float | torch.Tensor) -> torch.Tensor:
    """Effective sample size of TERM's item weights softmax(t L), as a fraction of N (1 = ERM)."""
    t = torch.as_tensor(tilt, dtype=losses.dtype, device=losses.device)
    w = torch.softmax(t.unsqueeze(-1) * losses if t.ndim else t * losses, -1)
    return 1.0 / (w.pow(2).sum(-1) * losses.shape[-1])


@torch.no_grad()
def tilt_for_ess(losses: torch.Tensor, target: float, iters: int = 50) -> torch.Tensor:
    """Per row, the tilt t >= 0 at which the weights softmax(t L) have effective sample share
    ``target`` (in (0, 1]); found by bisection on log t, the share falling as t grows.

    Rows whose losses are all equal (no tilt changes the weights) get t = 0; a target below
    the smallest reachable share (1 / number of tied maxima) gets the largest t searched.
    """
    wide = losses.double()
    spread = (wide.amax(-1) - wide.amin(-1)).clamp_min(1e-300)
    lo = torch.full_like(spread, -12.0)  # log10 of t * spread: from no tilt ...
    hi = torch.full_like(spread, 6.0)  # ... to all weight on the worst items
    for _ in range(iters):
        mid = (lo + hi) / 2
        above = tilt_ess(wide, 10**mid / spread) > target
        lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
    t = 10 ** ((lo + hi) / 2) / spread
    flat = (wide.amax(-1) - wide.amin(-1)) == 0
    return torch.where(flat | (target >= 1), torch.zeros_like(t), t).to(losses.dtype)


@torch.no_grad()
def encode_rows(
    sae, x: torch.Tensor, features: list[int] | None = None, chunk: int = 8192
) -> torch.Tensor:
    """``sae.encode`` of every row of ``x``, ``chunk`` rows at a time on the SAE's device and
    dtype (memory of one chunk); float32 on the CPU, only the columns ``features`` if given."""
    parts = []
    for part in x.split(chunk):
        f = sae.encode(part.to(sae.W_enc.device, sae.W_enc.dtype))
        parts.append((f if features is None else f[:, features]).float().cpu())
    if not parts:
        return torch.zeros(0, sae.cfg.d_sae if features is None else len(features))
    return torch.cat(parts)


class Variance:
    """Total squared deviation of rows from their mean, accumulated batch by batch in float64:
    FVU = summed squared error / ``total`` (Var(x) summed over dimensions, times N)."""

    def __init__(self) -> None:
        self.n = 0
        self.sum_x: torch.Tensor | float = 0.0
        self.sum_sq = 0.0

    def add(self, x: torch.Tensor) -> None:
        x = x.double()
        self.n += len(x)
        self.sum_x = self.sum_x + x.sum(0)
        self.sum_sq += x.pow(2).sum().item()

    @property
    def total(self) -> float:
        if not self.n:
            return 0.0
        return self.sum_sq - float(torch.as_tensor(self.sum_x).pow(2).sum()) / self.n

    def fvu(self, sq_err):
        """Fraction of variance unexplained for a summed squared error (a float or a tensor)."""
        return sq_err / max(self.total, 1e-12)
