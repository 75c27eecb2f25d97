"""SAE quality on a set of documents: sparsity, reconstruction, spliced-in CE, and SAEBench's
core metrics.

Several SAEs at one hook share the LM forward pass up to the hook; for a
``hook_resid_post`` hook the rest of the model then runs from the next block on the
replaced residual, otherwise the replacement goes in through a forward hook.
BOS positions are kept clean (see ``activations``) and left out of every mean.

SAEBench's core metrics, with its names (``sae_bench/evals/core/main.py``; x the activation, x̂
the reconstruction, means over tokens):

- ``kl_div_with_sae`` / ``kl_div_with_ablation``: mean over predicted tokens of
  KL(p_clean || p_spliced), resp. with the hook zero-ablated; ``kl_div_score`` =
  (kl_ablation - kl_sae) / kl_ablation (1 = the SAE changes no next-token distribution);
- ``cossim``: mean cos(x, x̂); ``l2_ratio``: mean ||x̂|| / ||x|| (shrinkage; ||x|| < 1e-4 counts
  as 1, as SAEBench does);
- ``relative_reconstruction_bias``: E||x̂||² / E[x·x̂], the γ that best rescales x̂ towards x
  (Rajamanoharan et al. 2024, Eq. 10; 1 = unbiased, < 1 shrinks). SAEBench averages this ratio
  over its batches; here it is one ratio over all tokens, so it does not depend on batching;
- ``frac_alive``: share of latents that fire (activation > 0) on at least one token of the
  documents; ``active_latents`` the count (the summary paper's 908 vs 602 on Bias in Bios).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import torch
from transformer_lens import HookedTransformer

from ssae_core.infra.heap import trim
from ssae_core.models.activations import doc_batches, hook_activations, hook_lock, layer_of
from ssae_core.models.sae_math import Variance

if TYPE_CHECKING:
    from ssae_core.evaluate.features import FeatureStats


LOGITS_BUDGET = 2**27
"""Most next-token log-probabilities (batch x positions x vocabulary) held at once per tensor:
batches shrink to fit it (512 MiB of float32; a 49K vocabulary gets about 2,700 tokens)."""


def _log_probs_from(model, hook_name, tokens, acts) -> torch.Tensor:
    """Next-token log-probabilities (batch, seq, vocab) with ``acts`` placed at ``hook_name`` (the
    last position predicts past the input; the functions below drop it after reducing, so no
    vocabulary-sized tensor is sliced and copied)."""
    if hook_name.endswith("hook_resid_post"):
        logits = model(acts, start_at_layer=layer_of(hook_name) + 1, tokens=tokens)
    else:

        def put(_, hook):
            return acts

        with hook_lock(model):
            logits = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, put)])
    return logits.float().log_softmax(-1)


class _Clean(NamedTuple):
    """The clean run's next-token distribution p, kept to score the other runs against."""

    p: torch.Tensor  # (batch, seq, vocab)
    neg_entropy: torch.Tensor  # (batch, seq): sum_v p log p


def _ce(logp: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> float:
    """Summed next-token CE over the masked predicting positions."""
    following = torch.cat([tokens[:, 1:], tokens[:, :1]], dim=1)  # the last one is never read
    return _masked_sum(-logp.gather(-1, following[..., None])[:, :-1, 0], mask)


def _clean(logp: torch.Tensor) -> _Clean:
    p = logp.exp()
    return _Clean(p, _dot(p, logp))


def _kl(clean: _Clean, logq: torch.Tensor, mask: torch.Tensor) -> float:
    """Summed KL(p_clean || q) over the masked positions: sum_v p log p - sum_v p log q."""
    return _masked_sum((clean.neg_entropy - _dot(clean.p, logq))[:, :-1], mask)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum over the last axis of a * b, as batched dot products (no temporary of their size)."""
    return (a.unsqueeze(-2) @ b.unsqueeze(-1))[..., 0, 0]


@dataclass(frozen=True)
class SAEMetrics:
    """One SAE's numbers on one split: the row of the evaluation table."""

    l0: float
    """Mean active latents per token."""
    mse: float
    """Mean squared reconstruction error per token (summed over dimensions)."""
    fvu: float
    """Fraction of variance unexplained: squared error / total variance of the activations."""
    explained_variance: float
    """1 - FVU."""
    dead_fraction: float
    """Latents that never fire on the split."""
    dense_fraction: float
    """Latents that fire on more than 10% of its tokens."""
    ce_clean: float
    """Next-token CE of the model (nats per predicted token)."""
    ce_spliced: float
    """CE with the SAE's reconstruction spliced in at its hook (BOS never spliced)."""
    ce_zero_ablation: float
    """CE with the hook's activations zeroed."""
    ce_loss_recovered: float
    """(zero - spliced) / (zero - clean)."""
    ppl_spliced: float
    """exp(spliced CE): the paper's y-axis."""
    kl_div_with_sae: float
    """KL(clean || spliced) per predicted token (SAEBench)."""
    kl_div_with_ablation: float
    """KL(clean || zero-ablated) per predicted token."""
    kl_div_score: float
    """(KL ablation - KL SAE) / KL ablation (SAEBench)."""
    cossim: float
    """Mean cosine of x and its reconstruction."""
    l2_ratio: float
    """Mean ||x_hat|| / ||x||."""
    relative_reconstruction_bias: float
    """sum ||x_hat||^2 / sum <x, x_hat> (1: no shrinkage)."""
    frac_alive: float
    """Latents that fire at least once."""
    active_latents: int
    """How many latents fire at least once."""
    n_tokens: int
    """Tokens encoded (BOS excluded)."""

    @classmethod
    def from_dict(cls, values: Mapping) -> SAEMetrics:
        """The metrics of a stored row (extra keys, such as its label, ignored)."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})


METRICS = tuple(f.name for f in fields(SAEMetrics))
"""The evaluation table's metric columns, in order."""


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
) -> dict[str, SAEMetrics]:
    """Per SAE: L0, MSE, FVU, explained variance, dead / dense fractions, CE (clean, spliced,
    zero-ablated), CE recovered, ``ppl_spliced`` = exp(spliced CE) (the paper's y-axis), and
    SAEBench's core metrics (module docstring).

    ``stats`` (optional, per SAE name) receive every batch's feature activations.
    A feature is dense when it fires on more than 10% of tokens.
    """
    device = model.cfg.device
    sums = {name: _Totals(sae.cfg.d_sae) for name, sae in saes.items()}
    clean = zero = kl_zero = 0.0
    n_pred = 0
    variance = Variance()
    batch_tokens = min(batch_tokens, max(1, LOGITS_BUDGET // model.cfg.d_vocab))
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
        clean_logp = _log_probs_from(model, hook_name, tokens, acts)
        clean += _ce(clean_logp, tokens, pred_mask)
        reference = _clean(clean_logp)
        del clean_logp
        ablated = acts.clone()
        ablated[real] = 0
        logq = _log_probs_from(model, hook_name, tokens, ablated)
        zero += _ce(logq, tokens, pred_mask)
        kl_zero += _kl(reference, logq, pred_mask)
        for name, sae in saes.items():
            f = sae.encode(x.to(sae.dtype))
            x_hat = sae.decode(f).to(acts.dtype)
            spliced = acts.clone()
            spliced[real] = x_hat
            t = sums[name]
            t.add_reconstruction(x, x_hat.float(), f)
            logq = _log_probs_from(model, hook_name, tokens, spliced)
            t.ce += _ce(logq, tokens, pred_mask)
            t.kl += _kl(reference, logq, pred_mask)
            if stats is not None:
                padded = torch.zeros(*real.shape, f.shape[-1], dtype=f.dtype, device=f.device)
                padded[real] = f
                stats[name].update(padded, real, torch.from_numpy(batch.doc_index))
        if progress:
            progress(len(batch.doc_index))
        trim()  # batch shapes vary: give the freed blocks back (heap.py)
    n_tok = variance.n
    clean_ce, zero_ce, kl_ablation = clean / n_pred, zero / n_pred, kl_zero / n_pred
    results = {}
    for name, t in sums.items():
        ce, kl = t.ce / n_pred, t.kl / n_pred
        fvu = variance.fvu(t.sq_err)
        results[name] = SAEMetrics(
            l0=t.l0 / n_tok,
            mse=t.sq_err / n_tok,
            fvu=fvu,
            explained_variance=1 - fvu,
            dead_fraction=(t.fired == 0).float().mean().item(),
            dense_fraction=(t.fired > 0.1 * n_tok).float().mean().item(),
            ce_clean=clean_ce,
            ce_spliced=ce,
            ce_zero_ablation=zero_ce,
            ce_loss_recovered=ce_recovered(clean_ce, ce, zero_ce),
            ppl_spliced=math.exp(ce),
            kl_div_with_sae=kl,
            kl_div_with_ablation=kl_ablation,
            kl_div_score=(kl_ablation - kl) / kl_ablation if kl_ablation else float("nan"),
            cossim=t.cos / n_tok,
            l2_ratio=t.l2_ratio / n_tok,
            relative_reconstruction_bias=t.hat_sq / t.dot if t.dot else float("nan"),
            frac_alive=(t.fired > 0).float().mean().item(),
            active_latents=int((t.fired > 0).sum()),
            n_tokens=n_tok,
        )
    return results


def ce_recovered(clean: float, spliced: float, zero: float) -> float:
    """Share of the CE gap between zero ablation and the clean model that the SAE closes."""
    return (zero - spliced) / (zero - clean) if zero != clean else float("nan")


class _Totals:
    """One SAE's sums over the tokens seen so far."""

    def __init__(self, d_sae: int):
        self.l0 = self.sq_err = self.ce = self.kl = 0.0
        self.cos = self.l2_ratio = self.hat_sq = self.dot = 0.0
        self.fired = torch.zeros(d_sae, dtype=torch.long)  # tokens each feature fired on

    def add_reconstruction(self, x: torch.Tensor, x_hat: torch.Tensor, f: torch.Tensor) -> None:
        """Add one batch's tokens: per-token norms and dot products once, sums in float64."""
        norm, hat_norm, dot = x.norm(dim=-1), x_hat.norm(dim=-1), (x * x_hat).sum(-1)
        self.l0 += (f > 0).sum().item()
        self.sq_err += (x_hat - x).double().pow(2).sum().item()
        self.fired += (f > 0).sum(0).cpu()
        self.cos += (dot / (norm * hat_norm).clamp_min(1e-8)).double().sum().item()
        self.l2_ratio += (hat_norm / torch.where(norm < 1e-4, 1.0, norm)).double().sum().item()
        self.hat_sq += hat_norm.double().pow(2).sum().item()
        self.dot += dot.double().sum().item()


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
