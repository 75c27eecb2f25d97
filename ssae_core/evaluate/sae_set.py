"""A set of SAEs to compare: the GSAE and the SSAEs finetuned from it, each with its workspace ref,
display label and curve name (the sweep it belongs to)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from sae_lens import SAE

from ssae_core.infra.workspace import Artifact, Workspace
from ssae_core.train.finetune import FinetuneConfig

if TYPE_CHECKING:
    from ssae_core.models.base import Base


@dataclass
class NamedSAE:
    """An SAE with its workspace ref (``sae/KEY`` or ``ssae/KEY#i``), display label and curve
    (group)."""

    ref: str
    label: str
    sae: SAE
    group: str = ""


def sae_set(
    ws: Workspace, base: Base, ssae_arts: list[Artifact], include_gsae: bool = True
) -> list[NamedSAE]:
    """The GSAE and every SSAE of the given finetuning artifacts, with unique labels for plots."""
    from ssae_core.train.finetune import load_ssaes

    out = [NamedSAE(base.ref, "GSAE", base.sae, "GSAE")] if include_gsae else []
    device = str(base.model.cfg.device)
    groups = [ssae_groups(ws, art) for art in ssae_arts]
    everywhere = [g for gs in groups for g in dict.fromkeys(gs)]
    for art, names in zip(ssae_arts, groups):
        sparsity = FinetuneConfig.from_dict(art.manifest["config"]).stack_sparsity
        for i, sae in enumerate(load_ssaes(art, device)):
            group = names[i]
            if everywhere.count(group) > 1:  # sweeps that differ in steps, lr, ...: tell apart
                group = f"{group} [{art.key[:4]}]"
            out.append(NamedSAE(f"{art.ref}#{i}", f"{group} λ={sparsity[i]:g}", sae, group))
    return out


def ssae_groups(ws: Workspace, art: Artifact) -> list[str]:
    """The curve name of each SSAE of a finetuning artifact (in SAE order): its selection method
    and objective, e.g. ``dense ERM``, ``dense TERM t=500``, ``dense TERM ESS 0.2``."""
    cfg = FinetuneConfig.from_dict(art.manifest["config"])
    method = "?"
    for ref in art.manifest["inputs"]:
        if ref.startswith("activations/"):
            for parent in ws.get(ref).manifest["inputs"]:
                if parent.startswith("selection/"):
                    method = ws.get(parent).summary.get("method", "?")
    return [group_name(method, cfg.curve_of(i) or None) for i in range(len(cfg.stack_sparsity))]


def curve_ess(ws: Workspace, ssae_arts: list[Artifact]) -> dict[str, float]:
    """Curve name -> mean effective sample share of its tilt weights over training (1 for ERM):
    what a tilt did, shown next to it."""
    out = {}
    for art in ssae_arts:
        names = ssae_groups(ws, art)
        log = pd.read_parquet(art.file("log.parquet"), columns=["sae", "ess"])
        out.update(log.groupby(log.sae.map(names.__getitem__)).ess.mean().astype(float).to_dict())
    return out


def group_name(method: str, tilt: float | str | None = None) -> str:
    """The curve name of a sweep: ``dense ERM``, or when tilted ``dense TERM t=500`` (a tilt) or
    ``dense TERM ESS 0.2`` (a curve label, ``FinetuneConfig.curve_of``)."""
    if tilt is None:
        return f"{method} ERM"
    return f"{method} TERM " + (tilt if isinstance(tilt, str) else f"t={tilt:g}")
