"""K copies of one SAELens SAE stacked on a leading dim: a whole sparsity sweep trained as one
module.

Every copy starts from the GSAE's weights and has its own sparsity value, whose meaning
follows the architecture: the L1 coefficient (standard, ReLU + L1), the L0 coefficient
(JumpReLU, trained with straight-through estimators of the threshold's gradient, as in
Rajamanoharan et al. 2024) or k (TopK, no sparsity term). The copies share nothing but
the batch (read once per step for all of them), so one Adam step on the stack equals K
separate steps.

With ``extend=N`` (SAE Boost, arXiv 2507.12990) every copy is the GSAE's
latents plus N new ones, and only the new ones learn: the GSAE's encoder columns, biases,
thresholds, decoder rows and decoder bias get no gradient (so Adam leaves them bit for bit), so
the new latents learn what the frozen GSAE leaves in its residual ``x - GSAE(x)``, and each copy
exports as one SAE of width ``d_sae + N`` whose first ``d_sae`` latents compute what the GSAE's
do. A TopK SAE cannot be extended: its k would be shared by old and new latents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import torch
from sae_lens import SAE
from torch import nn

from ssae_core.infra.errors import ConfigError
from ssae_core.models import sae_math

ARCHITECTURES = ("standard", "topk", "jumprelu")


class _Kept(NamedTuple):
    """An extended stack's frozen GSAE part on one batch: its latents' pre-activations and
    activations (batch, frozen), reconstruction with the decoder bias (batch, d_in), sparsity term
    and L0 per token, and which of its latents fired."""

    pre: torch.Tensor
    f: torch.Tensor
    recon: torch.Tensor
    sparsity: torch.Tensor
    l0: torch.Tensor
    fired: torch.Tensor


class _JumpReLU(torch.autograd.Function):
    """``pre * (pre > theta)``; the threshold's gradient through a rectangle kernel of
    width ``bw``."""

    @staticmethod
    def forward(ctx, pre, theta, bw):
        ctx.save_for_backward(pre, theta)
        ctx.bw = bw
        return pre * (pre > theta)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        window = ((pre - theta).abs() < ctx.bw / 2).to(grad.dtype) / ctx.bw
        return grad * (pre > theta), (-theta * window * grad).sum(0), None


class _Step(torch.autograd.Function):
    """``1[pre > theta]`` (the L0 count); gradient only to the threshold, through the same
    kernel."""

    @staticmethod
    def forward(ctx, pre, theta, bw):
        ctx.save_for_backward(pre, theta)
        ctx.bw = bw
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        window = ((pre - theta).abs() < ctx.bw / 2).to(grad.dtype) / ctx.bw
        return None, (-window * grad).sum(0), None


def check_trainable(sae: SAE) -> str:
    """The SAE's architecture if this project can finetune it; ConfigError saying why not
    otherwise."""
    arch = sae.cfg.architecture()
    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"Finetuning supports {', '.join(ARCHITECTURES)} SAEs; this GSAE is {arch!r}."
        )
    if getattr(sae.cfg, "normalize_activations", "none") not in ("none", None):
        raise ConfigError(
            f"This GSAE normalizes its inputs ({sae.cfg.normalize_activations!r}); finetuning"
            " supports SAEs with normalize_activations='none'."
        )
    if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
        raise ConfigError(
            "TopK SAEs with rescale_acts_by_decoder_norm are not supported for finetuning."
        )
    return arch


class SAEStack(nn.Module):
    """K SAEs of one architecture and shape, initialised from ``sae``, one per sparsity value."""

    def __init__(
        self,
        sae: SAE,
        sparsity: Sequence[float],
        bandwidth: float = 0.001,
        normalize_decoder: bool = True,
        extend: int = 0,
    ):
        super().__init__()
        self.arch = check_trainable(sae)
        if extend and self.arch == "topk":
            raise ConfigError(
                "A TopK SAE cannot be extended: its k would be shared by the GSAE's latents and"
                " the new ones, so the GSAE's behaviour would not be kept. Finetune it instead"
                " (--extend 0), or extend a standard or JumpReLU GSAE."
            )
        self.template = sae
        self.bandwidth = bandwidth
        self.unit_norm = (
            normalize_decoder and self.arch != "topk"
        )  # rescaling would change TopK's choice
        self.subtract_b_dec = bool(sae.cfg.apply_b_dec_to_input)
        k = len(sparsity)
        w = {
            n: getattr(sae, n).detach().float().cpu().clone()
            for n in ("W_enc", "b_enc", "W_dec", "b_dec")
        }
        threshold = (
            sae.threshold.detach().float().cpu().clone() if self.arch == "jumprelu" else None
        )
        if self.unit_norm:  # fold decoder norms into the encoder: the same function, unit-norm rows
            norms = w["W_dec"].norm(dim=-1).clamp_min(1e-8)
            w["W_dec"] /= norms[:, None]
            w["W_enc"] *= norms
            w["b_enc"] *= norms
            threshold = threshold * norms if threshold is not None else None
        self.frozen = int(w["W_enc"].shape[-1]) if extend else 0
        """Latents ``[0, frozen)`` (and the decoder bias) do not learn; 0 unless extended."""
        if extend:
            w, threshold = _grown(w, threshold, extend)
        # One parameter per SAE (not one stacked tensor): a slice's backward would write a
        # full (K, ...) gradient per SAE, K^2 memory traffic per step.
        for name, value in w.items():
            setattr(self, name, nn.ParameterList([value.clone() for _ in range(k)]))
        if threshold is not None:
            self.log_threshold = nn.ParameterList(
                [threshold.clamp_min(1e-6).log() for _ in range(k)]
            )
        self.register_buffer("coef", torch.tensor(list(sparsity), dtype=torch.float32))
        self._kept_of: tuple[torch.Tensor, _Kept] | None = None
        """(batch, its ``_kept`` part): the last batch's frozen part, when extended."""
        self.d_sae = int(w["W_enc"].shape[-1])

    def __len__(self) -> int:
        return len(self.coef)

    def encode(self, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-activations and feature activations of SAE ``i``, both (batch, d_sae)."""
        n = self.frozen
        if n:
            kept, (pre, f) = self._kept(x), self._encode_new(i, x)
            return torch.cat([kept.pre, pre], 1), torch.cat([kept.f, f], 1)
        pre = torch.addmm(self.b_enc[i], self._sae_in(i, x), self.W_enc[i])
        if self.arch == "topk":
            values, index = pre.topk(int(self.coef[i]), dim=-1)
            return pre, torch.zeros_like(pre).scatter(-1, index, torch.relu(values))
        return pre, self._activate(i, pre, slice(None))

    def decode(self, i: int, f: torch.Tensor) -> torch.Tensor:
        n = self.frozen
        if not n:
            return torch.addmm(self.b_dec[i], f, self.W_dec[i])
        with torch.no_grad():  # the GSAE's part: no graph, no gradient to compute
            kept = torch.addmm(self.b_dec[i], f[:, :n], self.W_dec[i][:n])
        return torch.addmm(kept, f[:, n:], self.W_dec[i][n:])

    def _encode_new(self, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-activations and activations of SAE ``i``'s new latents (an extension's)."""
        n = self.frozen
        pre = torch.addmm(self.b_enc[i][n:], self._sae_in(i, x), self.W_enc[i][:, n:])
        return pre, self._activate(i, pre, slice(n, None))

    def _sae_in(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return x - self.b_dec[i] if self.subtract_b_dec else x

    def _activate(self, i: int, pre: torch.Tensor, cols: slice) -> torch.Tensor:
        """Feature activations of SAE ``i``'s latents ``cols`` from their pre-activations
        (standard, jumprelu)."""
        if self.arch == "standard":
            return torch.relu(pre)
        return _JumpReLU.apply(pre, self.log_threshold[i][cols].exp(), self.bandwidth)

    @torch.no_grad()
    def _kept(self, x: torch.Tensor) -> _Kept:
        """The frozen GSAE part on batch ``x``, computed once for all the copies: they share it
        bit for bit, since it never learns."""
        if self._kept_of is None or self._kept_of[0] is not x:
            n = self.frozen
            pre = torch.addmm(self.b_enc[0][:n], self._sae_in(0, x), self.W_enc[0][:, :n])
            f = self._activate(0, pre, slice(0, n))
            l0, fired = _active(f)
            sparsity = f.sum(-1) if self.arch == "standard" else l0
            recon = torch.addmm(self.b_dec[0], f, self.W_dec[0][:n])
            kept = _Kept(pre, f, recon, sparsity, l0, fired)
            self._kept_of = (x, kept)
        return self._kept_of[1]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per token and SAE: ``loss``, squared error ``mse``, ``sparsity`` term, ``l0`` (each (K,
        batch)); and ``fired`` (K, d_sae): which features were active on the batch.

        The SAEs run one after another on the shared batch: on CPU this beats one batched
        matmul over (K, batch, d_sae) tensors, which thrash the cache.
        """
        rows = [self.one(i, x) for i in range(len(self))]
        return {key: torch.stack([r[key] for r in rows]) for key in rows[0]}

    def one(self, i: int, x: torch.Tensor, coef_factor: float = 1.0) -> dict[str, torch.Tensor]:
        """``forward`` for SAE ``i`` alone: each output without the leading K dim
        (``coef_factor``: multiplies its sparsity coefficient, e.g. during a warm-up)."""
        if self.frozen:
            return self._one_extended(i, x, coef_factor)
        pre, f = self.encode(i, x)
        mse = (self.decode(i, f) - x).pow(2).sum(-1)
        return self._outputs(
            i, coef_factor, mse, self._sparsity(i, pre, f, slice(None)), *_active(f)
        )

    def _one_extended(self, i: int, x: torch.Tensor, coef_factor: float) -> dict[str, torch.Tensor]:
        """``one`` for an extended copy: the GSAE's part of every output (reconstruction, sparsity
        term, L0, which latents fired) from ``_kept``, plus the new latents' own, so no copy builds
        (batch, d_sae) tensors for latents that do not learn."""
        n, kept = self.frozen, self._kept(x)
        pre, f = self._encode_new(i, x)
        mse = (torch.addmm(kept.recon, f, self.W_dec[i][n:]) - x).pow(2).sum(-1)
        sparsity = kept.sparsity + self._sparsity(i, pre, f, slice(n, None))
        l0, fired = _active(f)
        return self._outputs(
            i, coef_factor, mse, sparsity, kept.l0 + l0, torch.cat([kept.fired, fired])
        )

    def _outputs(self, i, coef_factor, mse, sparsity, l0, fired) -> dict[str, torch.Tensor]:
        """``one``'s outputs; the loss is the squared error plus SAE ``i``'s (scaled) sparsity
        coefficient times the sparsity term."""
        loss = mse + (self.coef[i] * coef_factor) * sparsity
        return {"loss": loss, "mse": mse, "sparsity": sparsity, "l0": l0, "fired": fired}

    def _sparsity(self, i: int, pre: torch.Tensor, f: torch.Tensor, cols: slice) -> torch.Tensor:
        """Per token, the sparsity term of SAE ``i``'s latents ``cols``: L1 (standard), L0
        through the straight-through step (jumprelu), 0 (topk)."""
        if self.arch == "standard":
            return f.sum(-1)
        if self.arch == "jumprelu":
            return _Step.apply(pre, self.log_threshold[i][cols].exp(), self.bandwidth).sum(-1)
        return torch.zeros(len(f), dtype=f.dtype, device=f.device)

    def before_step(self) -> None:
        if self.unit_norm:
            for W in self.W_dec:
                sae_math.remove_parallel_grad_(W)
        if self.frozen:
            self._freeze_grads()

    def after_step(self) -> None:
        if self.unit_norm:
            for W in self.W_dec:
                sae_math.normalize_decoder_(W[self.frozen :])

    @torch.no_grad()
    def _freeze_grads(self) -> None:
        """Zero the gradients of the GSAE's part: with no gradient ever, Adam's moments stay 0 and
        so does its update."""
        n = self.frozen
        parts = [(p, (slice(None), slice(0, n))) for p in self.W_enc]
        parts += [(p, slice(0, n)) for name in ("b_enc", "W_dec") for p in getattr(self, name)]
        parts += [(p, slice(None)) for p in self.b_dec]
        if self.arch == "jumprelu":
            parts += [(p, slice(0, n)) for p in self.log_threshold]
        for param, index in parts:
            if param.grad is not None:
                param.grad[index] = 0

    @property
    def learning(self) -> torch.Tensor:
        """(d_sae,) bool: the latents that learn (all of them unless extended)."""
        mask = torch.ones(self.d_sae, dtype=torch.bool, device=self.coef.device)
        mask[: self.frozen] = False
        return mask

    @torch.no_grad()
    def export(self, i: int) -> SAE:
        """Copy ``i`` as a SAELens SAE of the GSAE's class and config (float32, CPU)."""
        changes = {"device": "cpu", "dtype": "float32", "d_sae": self.d_sae}
        if self.arch == "topk":
            changes["k"] = int(self.coef[i])
        sae = type(self.template)(dataclasses.replace(self.template.cfg, **changes))
        state = {
            n: getattr(self, n)[i].detach().cpu().clone()
            for n in ("W_enc", "b_enc", "W_dec", "b_dec")
        }
        if self.arch == "jumprelu":
            state["threshold"] = self.log_threshold[i].exp().detach().cpu().clone()
        sae.load_state_dict(state)
        return sae


@torch.no_grad()
def _active(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L0 per token (float), which latents fired) from activations ``f >= 0`` (every
    architecture's are): through sign and max, several times faster on a CPU than summing or
    reducing a boolean mask."""
    return f.sign().sum(-1), f.amax(0) > 0


def _grown(w: dict, threshold: torch.Tensor | None, n: int):
    """The weights with ``n`` new latents appended, silent until aimed (``train.resample``):
    encoder columns, biases and decoder rows zero (a new decoder row gets its direction when it is
    aimed), thresholds at the GSAE's median."""
    d_in = w["W_enc"].shape[0]
    w = dict(w)
    w["W_enc"] = torch.cat([w["W_enc"], torch.zeros(d_in, n)], 1)
    w["b_enc"] = torch.cat([w["b_enc"], torch.zeros(n)])
    w["W_dec"] = torch.cat([w["W_dec"], torch.zeros(n, d_in)])
    if threshold is not None:
        threshold = torch.cat([threshold, threshold.median().expand(n)])
    return w, threshold
