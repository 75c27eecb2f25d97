"""What specialization changed, latent by latent: an SSAE against the GSAE it was finetuned from.

For SSAE latent i with decoder direction d_i (rows of ``W_dec``, compared as unit vectors):

- ``drift`` = cos(d_i, g_i), the same index in the GSAE (1: the latent kept its direction; NaN
  past the GSAE's width, for an extension's new latents, and for an SSAE narrower than the GSAE,
  whose indices do not correspond);
- ``max_cos`` = max_j cos(d_i, g_j) over every GSAE latent, and ``match`` = that j;
- ``kind``: *reconstruction* when ``max_cos >= θ`` (a GSAE direction kept or refined), *novel*
  when below (a direction the GSAE does not have). These are the SAE-stitching terms (Bussmann
  et al.; ../shared/papers/sae-variants-glossary.txt), read with the SSAE in the larger SAE's place;
- ``count_gsae`` / ``count_ssae``: tokens latent i fires on in a split for each SAE (``count``
  of the ``sae_eval`` features table; an extension's new latents count 0 in the GSAE), and
  ``count_change`` their difference.

The guarantee: ``max_cos`` is the exact maximum over all GSAE latents (computed in row blocks, so
a 16K x 16K comparison needs no 16K x 16K matrix at once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ssae_core.evaluate.features import pad_to
from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError


@dataclass(frozen=True)
class ChangeConfig(Config):
    """How latents are split into novel and reconstruction latents."""

    theta: float = 0.7
    """A latent is novel when its decoder direction's largest cosine to any GSAE latent is below
    theta."""

    def validate(self) -> None:
        if not -1.0 <= self.theta <= 1.0:
            raise ConfigError(f"theta is a cosine: give a value in [-1, 1], not {self.theta}.")


@dataclass(frozen=True)
class ChangeSummary:
    """One SSAE against its GSAE."""

    latents: int
    novel: int
    reconstruction: int
    theta: float
    median_drift: float
    fire_more: int  # latents that fire on more tokens of the split than in the GSAE
    fire_less: int


def unit_rows(w: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(w.detach().double().cpu(), dim=-1)


def max_cosine(a: torch.Tensor, b: torch.Tensor, block: int = 4096):
    """(max_j cos(a_i, b_j), argmax j) for every row i of ``a``, in blocks of ``block`` rows."""
    a, b = unit_rows(a), unit_rows(b)
    values, index = [], []
    for start in range(0, len(a), block):
        best = (a[start : start + block] @ b.T).max(dim=1)
        values.append(best.values)
        index.append(best.indices)
    return torch.cat(values).numpy(), torch.cat(index).numpy()


def latent_changes(
    gsae_w_dec: torch.Tensor,
    ssae_w_dec: torch.Tensor,
    cfg: ChangeConfig = ChangeConfig(),
    counts: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per SSAE latent: feature, drift, max_cos, match, kind and, with ``counts`` (the
    GSAE's and the SSAE's per-latent token counts on one split), count_gsae, count_ssae and
    count_change."""
    cfg.validate()
    if gsae_w_dec.shape[1] != ssae_w_dec.shape[1]:
        raise ConfigError(
            f"The SAEs read different widths ({gsae_w_dec.shape[1]} vs {ssae_w_dec.shape[1]});"
            " compare an SSAE with the GSAE of its hook."
        )
    best, match = max_cosine(ssae_w_dec, gsae_w_dec)
    n = len(gsae_w_dec)
    indexed = len(ssae_w_dec) >= n  # the same index is the same latent (an extension adds after)
    drift = np.full(len(ssae_w_dec), np.nan)
    if indexed:
        drift[:n] = (unit_rows(ssae_w_dec[:n]) * unit_rows(gsae_w_dec)).sum(-1).numpy()
    table = pd.DataFrame(
        {
            "feature": np.arange(len(ssae_w_dec)),
            "drift": drift,
            "max_cos": best,
            "match": match,
            "kind": np.where(best >= cfg.theta, "reconstruction", "novel"),
        }
    )
    if counts is not None:
        gsae_counts, ssae_counts = counts
        table["count_gsae"] = pad_to(gsae_counts, len(table)) if indexed else np.nan
        table["count_ssae"] = ssae_counts
        table["count_change"] = table.count_ssae - table.count_gsae
    return table


def summarize(table: pd.DataFrame, cfg: ChangeConfig = ChangeConfig()) -> ChangeSummary:
    change = table["count_change"] if "count_change" in table else pd.Series(dtype=float)
    return ChangeSummary(
        latents=len(table),
        novel=int((table.kind == "novel").sum()),
        reconstruction=int((table.kind == "reconstruction").sum()),
        theta=cfg.theta,
        median_drift=float(table.drift.median()),
        fire_more=int((change > 0).sum()),
        fire_less=int((change < 0).sum()),
    )


def ranked(table: pd.DataFrame, show: str) -> pd.DataFrame:
    """The latents a browser lists for ``show``: ``novel`` (novel latents that fire on the split,
    most active first) or ``changed`` (firing latents by drift, most turned first)."""
    live = table[table.count_ssae > 0] if "count_ssae" in table else table
    if show == "novel":
        return live[live.kind == "novel"].sort_values("count_ssae", ascending=False)
    if show == "changed":
        return live.sort_values("drift" if live.drift.notna().any() else "max_cos")
    raise ConfigError(f"show is 'novel' or 'changed', not {show!r}.")
