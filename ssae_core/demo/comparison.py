"""The demo comparison: for a subdomain, a selection and two finetuned sweeps (ERM and TERM)
from the demo GSAE, i.e. the GSAE vs SSAE vs tilted SSAE of the dashboard's Compare page."""

from __future__ import annotations

from dataclasses import dataclass

from ssae_core import selection
from ssae_core.activations import CacheConfig, cache_activations
from ssae_core.config import Config
from ssae_core.progress import Progress, Silent
from ssae_core.select_artifact import load_selection, run_selection, texts_ref
from ssae_core.train import FinetuneConfig, finetune
from ssae_core.workspace import Artifact, Workspace


@dataclass(frozen=True)
class DemoComparisonConfig(Config):
    subdomain: str = "physics"
    method: str = (
        "bm25"  # dense is the paper's best but embeds the whole corpus first (minutes on a CPU)
    )
    token_budget: int = 20_000
    sparsity: tuple[float, ...] = (1.0, 2.0, 3.5, 6.0)
    tilt: float = 500.0
    steps: int = 300
    batch_tokens: int = 4096
    lr: float = 1e-4
    version: int = 1

    @classmethod
    def quick(cls) -> DemoComparisonConfig:
        return cls(token_budget=3000, sparsity=(1.0, 4.0), steps=40, batch_tokens=256, lr=1e-3)


def _configs(cfg: DemoComparisonConfig):
    common = dict(
        sparsity=cfg.sparsity,
        steps=cfg.steps,
        batch_tokens=cfg.batch_tokens,
        lr=cfg.lr,
        decay_steps=max(1, cfg.steps // 3),
    )
    return (
        selection.SelectionConfig(method=cfg.method, token_budget=cfg.token_budget),
        FinetuneConfig(**common),
        FinetuneConfig(objective="term", tilt=cfg.tilt, **common),
    )


def build(
    base, ws: Workspace, cfg: DemoComparisonConfig, progress: Progress | None = None
) -> dict[str, Artifact]:
    """(Re)use the selection and the ERM and TERM sweeps; returns {"selection", "erm", "term"}
    artifacts."""
    progress = progress or Silent()
    world = base.world
    sel_cfg, erm_cfg, term_cfg = _configs(cfg)
    sel = run_selection(
        sel_cfg,
        world.text_set(f"{cfg.subdomain}_seed"),
        world.text_set("general"),
        base,
        ws,
        world.in_domain(cfg.subdomain),
        progress,
    )
    tokens = selection.tokenize(
        load_selection(sel).text.tolist(), base.tokenizer, base.model.cfg.n_ctx
    )
    acts = cache_activations(ws, base, tokens, sel.ref, progress=progress)
    return {
        "selection": sel,
        "erm": finetune(ws, base.sae, base.ref, acts, erm_cfg, progress=progress),
        "term": finetune(ws, base.sae, base.ref, acts, term_cfg, progress=progress),
    }


def find(base, ws: Workspace, cfg: DemoComparisonConfig) -> dict[str, Artifact] | None:
    """The comparison's artifacts if all are built, else None (nothing is computed)."""
    world = base.world
    sel_cfg, erm_cfg, term_cfg = _configs(cfg)
    sel = ws.find(
        "selection",
        sel_cfg,
        [
            texts_ref(world.text_set(f"{cfg.subdomain}_seed")),
            texts_ref(world.text_set("general")),
            base.ref,
        ],
    )
    acts = sel and ws.find("activations", CacheConfig(), [sel.ref, base.ref])
    found = acts and {
        "selection": sel,
        "erm": ws.find("ssae", erm_cfg, [acts.ref, base.ref]),
        "term": ws.find("ssae", term_cfg, [acts.ref, base.ref]),
    }
    return found if found and all(found.values()) else None
