"""SAE quality on a set of documents: sparsity, reconstruction and spliced-in CE.

Several SAEs at one hook share the LM forward pass up to the hook; for a
``hook_resid_post`` hook the rest of the model then runs from the next block on the
replaced residual, otherwise the replacement goes in through a forward hook.
BOS positions are kept clean (see ``activations``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from transformer_lens import HookedTransformer

from ssae_core.activations import doc_batches, hook_activations, hook_lock, layer_of
from ssae_core.sae_math import Variance

if TYPE_CHECKING:
    from ssae_core.features import FeatureStats


def _loss_from(model, hook_name, tokens, acts):
    """Per-token next-token loss (batch, seq-1) with ``acts`` placed at ``hook_name``."""
    if hook_name.endswith("hook_resid_post"):
        return model(
            acts,
            start_at_layer=layer_of(hook_name) + 1,
            tokens=tokens,
            return_type="loss",
            loss_per_token=True,
        )

    def put(_, hook):
        return acts

    with hook_lock(model):
        return model.run_with_hooks(
            tokens, return_type="loss", loss_per_token=True, fwd_hooks=[(hook_name, put)]
        )


@torch.no_grad()
def evaluate_saes(
    model: HookedTransformer,
    saes: Mapping[str, torch.nn.Module],
    hook_name: str,
    docs: Sequence[np.ndarray],
    bos: int,
    pad: int,
    progress: Callable[[int], None] | None = None,
    stats: Mapping[str, FeatureStats] | None = None,
    batch_tokens: int = 16384,
) -> dict[str, dict[str, float]]:
    """Per SAE: L0, MSE, FVU, explained variance, dead / dense fractions, CE (clean, spliced,
    zero-ablated), CE recovered, and ``ppl_spliced`` = exp(spliced CE), the paper's y-axis.

    ``stats`` (optional, per SAE name) receive every batch's feature activations.
    A feature is dense when it fires on more than 10% of tokens.
    """
    device = model.cfg.device
    sums = {name: _Totals(sae.cfg.d_sae) for name, sae in saes.items()}
    clean = zero = 0.0
    n_pred = 0
    variance = Variance()
    for batch in doc_batches(docs, bos, pad, model.cfg.n_ctx, batch_tokens):
        tokens = batch.tokens.to(device)
        mask = batch.mask.to(device)
        real = mask.clone()
        real[:, 0] = False  # BOS is never encoded or spliced
        pred_mask = mask[:, 1:]
        acts = hook_activations(model, tokens, hook_name)
        x = acts[real].float()
        variance.add(x)
        n_pred += int(pred_mask.sum())
        clean += _masked_sum(_loss_from(model, hook_name, tokens, acts), pred_mask)
        ablated = acts.clone()
        ablated[real] = 0
        zero += _masked_sum(_loss_from(model, hook_name, tokens, ablated), pred_mask)
        for name, sae in saes.items():
            f = sae.encode(x.to(sae.dtype))
            x_hat = sae.decode(f).to(acts.dtype)
            spliced = acts.clone()
            spliced[real] = x_hat
            t = sums[name]
            t.l0 += (f > 0).sum().item()
            t.sq_err += (x_hat - x).double().pow(2).sum().item()
            t.fired += (f > 0).sum(0).cpu()
            t.ce += _masked_sum(_loss_from(model, hook_name, tokens, spliced), pred_mask)
            if stats is not None:
                padded = torch.zeros(*real.shape, f.shape[-1], dtype=f.dtype, device=f.device)
                padded[real] = f
                stats[name].update(padded, real, torch.from_numpy(batch.doc_index))
        if progress:
            progress(len(batch.doc_index))
    n_tok = variance.n
    clean_ce, zero_ce = clean / n_pred, zero / n_pred
    results = {}
    for name, t in sums.items():
        ce = t.ce / n_pred
        fvu = variance.fvu(t.sq_err)
        results[name] = {
            "l0": t.l0 / n_tok,
            "mse": t.sq_err / n_tok,
            "fvu": fvu,
            "explained_variance": 1 - fvu,
            "dead_fraction": (t.fired == 0).float().mean().item(),
            "dense_fraction": (t.fired > 0.1 * n_tok).float().mean().item(),
            "ce_clean": clean_ce,
            "ce_spliced": ce,
            "ce_zero_ablation": zero_ce,
            "ce_loss_recovered": ce_recovered(clean_ce, ce, zero_ce),
            "ppl_spliced": math.exp(ce),
            "n_tokens": n_tok,
        }
    return results


def ce_recovered(clean: float, spliced: float, zero: float) -> float:
    """Share of the CE gap between zero ablation and the clean model that the SAE closes."""
    return (zero - spliced) / (zero - clean) if zero != clean else float("nan")


class _Totals:
    def __init__(self, d_sae: int):
        self.l0 = 0.0
        self.sq_err = 0.0
        self.ce = 0.0
        self.fired = torch.zeros(d_sae, dtype=torch.long)  # tokens each feature fired on


def _masked_sum(loss: torch.Tensor, mask: torch.Tensor) -> float:
    return float(loss[mask].double().sum())


def l0_range(curves: Mapping[str, pd.DataFrame]) -> tuple[float, float]:
    """The L0 interval every curve spans (their overlap): the default range for comparing AUCs."""
    lo = max(float(c.l0.min()) for c in curves.values())
    hi = min(float(c.l0.max()) for c in curves.values())
    return lo, hi


def curve_auc(curve: pd.DataFrame, lo: float, hi: float, y: str = "ppl_spliced") -> float:
    """Area under ``y`` vs L0 between ``lo`` and ``hi`` (linear interpolation; lower is better).

    NaN when the curve does not span the whole range (no extrapolation).
    """
    points = curve.sort_values("l0")
    x, v = points.l0.to_numpy(float), points[y].to_numpy(float)
    if hi <= lo or x.min() > lo or x.max() < hi:
        return float("nan")
    inside = (x > lo) & (x < hi)
    xs = np.concatenate([[lo], x[inside], [hi]])
    return float(np.trapezoid(np.interp(xs, x, v), xs))
