"""K copies of one SAELens SAE stacked on a leading dim: a whole sparsity sweep trained as one module.

Every copy starts from the GSAE's weights and has its own sparsity value, whose meaning
follows the architecture: the L1 coefficient (standard, ReLU + L1), the L0 coefficient
(JumpReLU, trained with straight-through estimators of the threshold's gradient, as in
Rajamanoharan et al. 2024) or k (TopK, no sparsity term). The copies share nothing but
the batch, so one Adam step on the stack equals K separate steps.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
from sae_lens import SAE
from torch import nn

from ssae_core import sae_math
from ssae_core.errors import ConfigError

ARCHITECTURES = ("standard", "topk", "jumprelu")


class _JumpReLU(torch.autograd.Function):
    """``pre * (pre > theta)``; the threshold's gradient through a rectangle kernel of width ``bw``."""

    @staticmethod
    def forward(ctx, pre, theta, bw):
        ctx.save_for_backward(pre, theta)
        ctx.bw = bw
        return pre * (pre > theta)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        window = ((pre - theta).abs() < ctx.bw / 2).to(grad.dtype) / ctx.bw
        return grad * (pre > theta), (-theta * window * grad).sum(1, keepdim=True), None


class _Step(torch.autograd.Function):
    """``1[pre > theta]`` (the L0 count); gradient only to the threshold, through the same kernel."""

    @staticmethod
    def forward(ctx, pre, theta, bw):
        ctx.save_for_backward(pre, theta)
        ctx.bw = bw
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        window = ((pre - theta).abs() < ctx.bw / 2).to(grad.dtype) / ctx.bw
        return None, (-window * grad).sum(1, keepdim=True), None


def check_trainable(sae: SAE) -> str:
    """The SAE's architecture if this project can finetune it; ConfigError saying why not otherwise."""
    arch = sae.cfg.architecture()
    if arch not in ARCHITECTURES:
        raise ConfigError(f"Finetuning supports {', '.join(ARCHITECTURES)} SAEs; this GSAE is {arch!r}.")
    if getattr(sae.cfg, "normalize_activations", "none") not in ("none", None):
        raise ConfigError(f"This GSAE normalizes its inputs ({sae.cfg.normalize_activations!r}); finetuning supports SAEs with normalize_activations='none'.")
    if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
        raise ConfigError("TopK SAEs with rescale_acts_by_decoder_norm are not supported for finetuning.")
    return arch


class SAEStack(nn.Module):
    """K SAEs of one architecture and shape, initialised from ``sae``, one per sparsity value."""

    def __init__(self, sae: SAE, sparsity: Sequence[float], bandwidth: float = 0.001, normalize_decoder: bool = True):
        super().__init__()
        self.arch = check_trainable(sae)
        self.template = sae
        self.bandwidth = bandwidth
        self.unit_norm = normalize_decoder and self.arch != "topk"  # rescaling would change TopK's choice
        self.subtract_b_dec = bool(sae.cfg.apply_b_dec_to_input)
        k = len(sparsity)
        w = {n: getattr(sae, n).detach().float().cpu().clone() for n in ("W_enc", "b_enc", "W_dec", "b_dec")}
        threshold = sae.threshold.detach().float().cpu().clone() if self.arch == "jumprelu" else None
        if self.unit_norm:  # fold decoder norms into the encoder: the same function, unit-norm rows
            norms = w["W_dec"].norm(dim=-1).clamp_min(1e-8)
            w["W_dec"] /= norms[:, None]
            w["W_enc"] *= norms
            w["b_enc"] *= norms
            threshold = threshold * norms if threshold is not None else None
        for name, value in w.items():
            setattr(self, name, nn.Parameter(value.expand(k, *value.shape).clone()))
        if threshold is not None:
            self.log_threshold = nn.Parameter(threshold.clamp_min(1e-6).log().expand(k, -1).clone())
        self.register_buffer("coef", torch.tensor(list(sparsity), dtype=torch.float32))

    def __len__(self) -> int:
        return len(self.coef)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-activations and feature activations, both (K, batch, d_sae), for x (batch, d_in)."""
        sae_in = x[None] - self.b_dec[:, None] if self.subtract_b_dec else x[None].expand(len(self), -1, -1)
        pre = torch.baddbmm(self.b_enc[:, None], sae_in, self.W_enc)
        if self.arch == "standard":
            return pre, torch.relu(pre)
        if self.arch == "jumprelu":
            return pre, _JumpReLU.apply(pre, self.log_threshold.exp()[:, None], self.bandwidth)
        kmax = int(self.coef.max())
        values, index = pre.topk(kmax, dim=-1)
        keep = torch.arange(kmax, device=pre.device) < self.coef[:, None, None]
        return pre, torch.zeros_like(pre).scatter(-1, index, torch.relu(values) * keep)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-token (loss, squared error, sparsity term) each (K, batch), and the feature acts."""
        pre, f = self.features(x)
        x_hat = torch.baddbmm(self.b_dec[:, None], f, self.W_dec)
        mse = (x_hat - x[None]).pow(2).sum(-1)
        if self.arch == "standard":
            sparsity = f.sum(-1)
        elif self.arch == "jumprelu":
            sparsity = _Step.apply(pre, self.log_threshold.exp()[:, None], self.bandwidth).sum(-1)
        else:
            sparsity = torch.zeros_like(mse)
        return mse + self.coef[:, None] * sparsity, mse, sparsity, f

    def before_step(self) -> None:
        if self.unit_norm:
            sae_math.remove_parallel_grad_(self.W_dec)

    def after_step(self) -> None:
        if self.unit_norm:
            sae_math.normalize_decoder_(self.W_dec)

    @torch.no_grad()
    def export(self, i: int) -> SAE:
        """Copy ``i`` as a SAELens SAE of the GSAE's class and config (float32, CPU)."""
        changes = {"device": "cpu", "dtype": "float32"}
        if self.arch == "topk":
            changes["k"] = int(self.coef[i])
        sae = type(self.template)(dataclasses.replace(self.template.cfg, **changes))
        state = {n: getattr(self, n)[i].detach().cpu().clone() for n in ("W_enc", "b_enc", "W_dec", "b_dec")}
        if self.arch == "jumprelu":
            state["threshold"] = self.log_threshold[i].exp().detach().cpu().clone()
        sae.load_state_dict(state)
        return sae
