"""The finetuning objective: ERM's mean or TERM's tilted mean of per-item losses (SSAE paper
Eq. 2, ``L~(t; theta) = (1/t) log(mean_i exp(t L(z_i; theta)))``), over tokens or documents,
with a fixed tilt t, t applied to losses divided by their batch mean, or the t each batch that
gives a target effective sample share (``models.sae_math``: the tilted mean, finite for any t,
and the weights' ESS)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ssae_core.models.sae_math import relative_tilted_mean, tilt_ess, tilt_for_ess, tilted_mean


class Tilt(NamedTuple):
    """How one SSAE weighs its items: a fixed t (on the losses, or on losses / their batch mean
    if ``relative``) or, if ``ess`` > 0, the t each batch that gives that effective sample
    share. ``Tilt()`` is ERM."""

    t: float = 0.0
    ess: float = 0.0
    relative: bool = False

    @property
    def label(self) -> str:
        if self.ess:
            return f"ESS {self.ess:g}"
        return f"t={self.t:g}" + (" rel" if self.relative else "")


class Objective(NamedTuple):
    value: torch.Tensor
    """Per SAE (K,): the mean or tilted mean of the item losses."""
    tilt: torch.Tensor
    """Per SAE (K,): the tilt t applied (to the losses, or to losses / their mean if relative)."""
    ess: torch.Tensor
    """Per SAE (K,): effective sample share of the item weights (1 for ERM)."""


def objective(token_loss: torch.Tensor, doc: np.ndarray, item: str, tilt: Tilt) -> Objective:
    """ERM's mean or TERM's tilted mean (absolute or relative, fixed t or t picked per batch for
    a target share) of the per-item losses (``item``: tokens or documents)."""
    items = token_loss if item == "token" else _doc_means(token_loss, doc)
    relative = tilt.relative or tilt.ess > 0
    tilted = items.detach()  # what t multiplies
    if relative:
        tilted = tilted / tilted.mean(-1, keepdim=True).clamp_min(torch.finfo(items.dtype).tiny)
    if tilt.ess:
        t = tilt_for_ess(tilted, tilt.ess)
    else:
        t = torch.full(items.shape[:-1], tilt.t, dtype=items.dtype, device=items.device)
    value = relative_tilted_mean(items, t) if relative else tilted_mean(items, tilt.t)
    return Objective(value, t, tilt_ess(tilted, t))


def _doc_means(token_loss: torch.Tensor, doc: np.ndarray) -> torch.Tensor:
    _, group = np.unique(doc, return_inverse=True)
    group = torch.from_numpy(group).to(token_loss.device)
    n = int(group.max()) + 1
    sums = torch.zeros(
        token_loss.shape[0], n, dtype=token_loss.dtype, device=token_loss.device
    ).index_add(1, group, token_loss)
    return sums / torch.bincount(group, minlength=n).to(token_loss.dtype)
