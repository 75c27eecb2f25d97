"""SAE latents on SHIFT's task: mean-pooled activations, attribution to the probe, ablation.

Every document is pooled over its tokens (BOS excluded): x̄ = mean_t x_t, f̄ = mean_t f(x_t).
The SAE writes latent i into the activation as ``d_i = decode(e_i) - decode(0)`` (its decoder
row, after any output scaling), so with the SAE's error term kept,

    x_t = decode(f(x_t)) + e_t   and   x_t^{-M} = x_t - sum_{i in M} f_i(x_t) d_i

is the activation with the latents M removed. Pooling is linear, so x̄^{-M} = x̄ - f̄_M D_M
exactly: ablation needs only the pooled latents, not the tokens (``ablate_tokens`` is the
per-token reference the tests hold it against).

For the probe ``z = w · x̄ + b``, activation × gradient of latent i in document n is
``sum_t f_i(x_t) * dz/df_i(x_t) = f̄_{n,i} (w · d_i)`` (exact, the probe being linear).
``attribution`` averages it over the training split, signed towards each document's label
(how much the latent helps the probe be right); ``scr`` is SAEBench's selection score,
``(mean f̄_i | cue 1 - mean f̄_i | cue 0) (w · d_i)``: how far the latent moves the logit
between the cue's two values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

from ssae_core.infra.errors import ConfigError
from ssae_core.models.activations import collect, kept_tokens, pad_id

NONLINEAR_OUTPUT = ("layer_norm", "constant_norm_rescale")


class Pooled(NamedTuple):
    """Mean-pooled activations and latents of a task's documents."""

    x: np.ndarray
    """(documents, d_model) mean activation over each document's tokens."""
    f: np.ndarray
    """(documents, active) mean activation of each active latent."""
    active: np.ndarray
    """(active,) ids of the latents that fire on some token of the task."""
    dirs: np.ndarray
    """(active, d_model) what each active latent adds to the activation per unit."""
    cue_share: np.ndarray
    """(active,) share of each latent's activation mass on cue tokens (nan without cue
    tokens)."""
    l0: float
    """Mean number of latents active per token."""


def check_linear(sae) -> None:
    """ConfigError if the SAE's output scaling depends on each token (no pooled ablation)."""
    kind = getattr(sae.cfg, "normalize_activations", "none")
    if kind in NONLINEAR_OUTPUT:
        raise ConfigError(
            f"This SAE rescales each token ({kind!r} activation normalization), so removing a"
            " latent is not linear in its activation; SHIFT needs an SAE without per-token"
            " normalization."
        )


@torch.no_grad()
def directions(sae, latents: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``decode(e_i) - decode(0)`` for each latent id: its write into the activation."""
    zero = sae.decode(torch.zeros(1, sae.cfg.d_sae, device=sae.W_dec.device, dtype=sae.W_dec.dtype))
    parts = []
    for ids in np.array_split(latents, max(1, -(-len(latents) // chunk))):
        basis = torch.zeros(len(ids), sae.cfg.d_sae, device=sae.W_dec.device, dtype=sae.W_dec.dtype)
        basis[torch.arange(len(ids)), torch.as_tensor(ids, dtype=torch.long)] = 1
        parts.append((sae.decode(basis) - zero).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, sae.cfg.d_in), np.float32)


@torch.no_grad()
def pool(
    model,
    sae,
    hook: str,
    docs: Sequence[np.ndarray],
    cue_ids: set[int],
    progress: Callable[[int], None] | None = None,
    chunk_docs: int = 256,
) -> Pooled:
    """Pool the activations at ``hook`` and the SAE's latents over each document."""
    check_linear(sae)
    bos, pad = model.tokenizer.bos_token_id, pad_id(model.tokenizer)
    n_ctx = model.cfg.n_ctx
    d_sae = sae.cfg.d_sae
    xs, fs = [], []
    cue_mass = torch.zeros(d_sae, dtype=torch.float64)
    mass = torch.zeros(d_sae, dtype=torch.float64)
    active_count = tokens_seen = 0
    cue_lookup = torch.tensor(sorted(cue_ids), dtype=torch.long)
    for start in range(0, len(docs), chunk_docs):
        part = docs[start : start + chunk_docs]
        acts, doc, _ = collect(model, hook, part, bos, pad)
        f = sae.encode(acts.to(sae.W_enc.device, sae.W_enc.dtype)).float().cpu()
        index = torch.from_numpy(doc)
        counts = torch.bincount(index, minlength=len(part)).clamp(min=1)[:, None].float()
        xs.append(torch.zeros(len(part), acts.shape[1]).index_add_(0, index, acts) / counts)
        fs.append(torch.zeros(len(part), d_sae).index_add_(0, index, f) / counts)
        on_cue = torch.isin(torch.from_numpy(kept_tokens(part, n_ctx)), cue_lookup)
        cue_mass += f[on_cue].sum(0, dtype=torch.float64)
        mass += f.sum(0, dtype=torch.float64)
        active_count += int((f > 0).sum())
        tokens_seen += len(f)
        if progress:
            progress(len(part))
    f_all = torch.cat(fs).numpy()
    active = np.flatnonzero(mass.numpy() > 0)
    share = (cue_mass / mass.clamp(min=1e-12)).numpy()[active] if cue_ids else None
    return Pooled(
        torch.cat(xs).numpy(),
        np.ascontiguousarray(f_all[:, active]),
        active,
        directions(sae, active),
        share if share is not None else np.full(len(active), np.nan),
        active_count / max(tokens_seen, 1),
    )


def cue_token_ids(tokenizer, words: Sequence[str]) -> set[int]:
    """Ids of vocabulary tokens that spell one of ``words`` (case and a leading space or
    word-start marker ignored)."""
    wanted = {w.lower() for w in words}
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return {i for i, t in enumerate(vocab) if t and t.lstrip("Ġ▁ ").lower() in wanted}


def attribution(f: np.ndarray, dirs: np.ndarray, w: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Mean over documents of activation × gradient of each latent on the probe's logit,
    signed towards the document's label (+ for label 1, - for label 0)."""
    sign = 2.0 * label - 1.0
    return (sign @ f) / len(label) * (dirs @ w)


def scr(f: np.ndarray, dirs: np.ndarray, w: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """SAEBench's SCR selection score: mean-activation gap between the cue's values times the
    latent's effect on the logit."""
    gap = f[cue == 1].mean(0) - f[cue == 0].mean(0)
    return gap * (dirs @ w)


def r2(f: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per column of ``f``: the share of its variance a binary ``values`` explains (squared
    correlation; 0 for a constant column)."""
    fc = f - f.mean(0)
    vc = values - values.mean()
    cov = vc @ fc
    denom = np.sqrt((fc**2).sum(0) * (vc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (cov / np.where(denom > 0, denom, 1)) ** 2, 0.0)


def ablate(x: np.ndarray, f: np.ndarray, dirs: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Pooled activations with the latents in columns ``cols`` removed (error term kept)."""
    cols = np.asarray(cols, dtype=np.int64)
    return x - f[:, cols] @ dirs[cols] if len(cols) else x.copy()


@torch.no_grad()
def ablate_tokens(sae, x: torch.Tensor, latents: Sequence[int]) -> torch.Tensor:
    """Reference: token activations with ``latents`` zeroed in the SAE's code, decoded, plus the
    SAE's error term (what ``ablate`` computes after pooling)."""
    f = sae.encode(x)
    error = x - sae.decode(f)
    f[:, list(latents)] = 0
    return sae.decode(f) + error
