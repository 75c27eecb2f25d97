"""A set of SAEs to compare: the GSAE and the SSAEs finetuned from it, each with its workspace ref,
display label and curve name (the sweep it belongs to)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sae_lens import SAE

from ssae_core.train import FinetuneConfig
from ssae_core.workspace import Artifact, Workspace

if TYPE_CHECKING:
    from ssae_core.base import Base


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
    from ssae_core.train import load_ssaes

    out = [NamedSAE(base.ref, "GSAE", base.sae, "GSAE")] if include_gsae else []
    device = str(base.model.cfg.device)
    groups = [ssae_group(ws, art) for art in ssae_arts]
    for art, group in zip(ssae_arts, groups):
        if groups.count(group) > 1:  # two sweeps that differ in steps, lr, ...: tell them apart
            group = f"{group} [{art.key[:4]}]"
        for i, sae in enumerate(load_ssaes(art, device)):
            out.append(
                NamedSAE(
                    f"{art.ref}#{i}",
                    f"{group} λ={art.manifest['config']['sparsity'][i]:g}",
                    sae,
                    group,
                )
            )
    return out


def ssae_group(ws: Workspace, art: Artifact) -> str:
    """A sweep's curve name: its selection method and objective, e.g. ``dense TERM t=500``."""
    cfg = FinetuneConfig.from_dict(art.manifest["config"])
    method = "?"
    for ref in art.manifest["inputs"]:
        if ref.startswith("activations/"):
            for parent in ws.get(ref).manifest["inputs"]:
                if parent.startswith("selection/"):
                    method = ws.get(parent).summary.get("method", "?")
    return group_name(method, cfg.tilt_label if cfg.objective == "term" else None)


def group_name(method: str, tilt: float | str | None = None) -> str:
    """The curve name of a sweep: ``dense ERM``, or when tilted ``dense TERM t=500`` (a tilt) or
    ``dense TERM ESS 0.2`` (a tilt label, ``FinetuneConfig.tilt_label``)."""
    if tilt is None:
        return f"{method} ERM"
    return f"{method} TERM " + (tilt if isinstance(tilt, str) else f"t={tilt:g}")
