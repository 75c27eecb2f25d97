"""The ReLU + L1 SAE as plain tensor math, shared by training, selection and evaluation.

Shapes follow SAELens: ``W_enc`` (d_in, d_sae), ``W_dec`` (d_sae, d_in), decoder rows
are feature directions. The per-token loss is the paper's Eq. 1,
``||x - x_hat||^2 + l1 * ||f||_1``, with unit-norm decoder rows.

Also what any SAELens SAE needs on many rows: ``encode_rows`` (its activations, chunk by
chunk) and ``Variance`` (the denominator of the fraction of variance unexplained).
"""

from __future__ import annotations

import torch


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


def tilted_mean(losses: torch.Tensor, tilt: float) -> torch.Tensor:
    """TERM's tilted loss ``(1/t) log mean exp(t L_i)`` over the last dim; the mean at t = 0.

    Finite for any tilt: computed as ``a + (logsumexp(t (L - a)) - log N) / t`` with
    ``a`` the max (t > 0) or min (t < 0) in float64, and as ``mean + t var / 2`` where
    ``t * range(L)`` is too small for the log-sum-exp to resolve (chosen per row on the
    device, without a host sync). Its gradient is the softmax(t L)-weighted mean of the
    per-item gradients; it tends to max L as t grows.
    """
    if tilt == 0:
        return losses.mean(-1)
    wide = losses.double()
    anchor = (wide.amax(-1, keepdim=True) if tilt > 0 else wide.amin(-1, keepdim=True)).detach()
    log_n = torch.log(
        torch.tensor(float(losses.shape[-1]), dtype=torch.float64, device=losses.device)
    )
    exact = anchor.squeeze(-1) + (torch.logsumexp(tilt * (wide - anchor), -1) - log_n) / tilt
    expansion = wide.mean(-1) + 0.5 * tilt * wide.var(-1, unbiased=False)
    tiny = abs(tilt) * (wide.amax(-1) - wide.amin(-1)).detach() < 1e-6
    return torch.where(tiny, expansion, exact).to(losses.dtype)


@torch.no_grad()
def tilt_ess(losses: torch.Tensor, tilt: float) -> torch.Tensor:
    """Effective sample size of TERM's item weights softmax(t L), as a fraction of N (1 = ERM)."""
    w = torch.softmax(tilt * losses, -1)
    return 1.0 / (w.pow(2).sum(-1) * losses.shape[-1])


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
