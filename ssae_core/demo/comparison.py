"""The demo comparison: for a subdomain, a selection from the retrieval pool and two sweeps (ERM
and TERM) of the default recipe from the demo GSAE, i.e. the GSAE vs SSAE vs tilted SSAE of the
dashboard's Compare page."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, NamedTuple

from ssae_core.evaluate.evaluation import evaluate_splits
from ssae_core.evaluate.sae_set import sae_set
from ssae_core.infra.config import Config
from ssae_core.infra.executor import Executor, Task
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, Step, Workspace
from ssae_core.select import retrieval
from ssae_core.select.selection import run_selection, selection_activations
from ssae_core.train.finetune import FinetuneConfig, finetune, finetune_task

if TYPE_CHECKING:
    from ssae_core.models.base import Base


@dataclass(frozen=True)
class DemoComparisonConfig(Config):
    subdomain: Literal["physics", "medicine"] = "physics"
    """The demo subdomain the SSAEs specialize in."""
    method: retrieval.Method = "bm25"
    """Selection method (dense is the paper's best but embeds the whole retrieval pool first:
    minutes on a CPU)."""
    token_budget: int = 300_000
    """Tokens selected from the retrieval pool (the default recipe's)."""
    sparsity: tuple[float, ...] = (3.5, 5.0, 8.0)
    """L1 coefficients of the ERM and TERM sweeps (around the demo GSAE's own 5.0)."""
    target_ess: float = 0.2
    """TERM's effective sample share: each batch's tilt is picked so that the weights are as
    concentrated as an even spread over this share of the tokens (the paper's t = 500 puts
    all weight on one token at this world's loss scale)."""
    steps: int = 2000
    batch_tokens: int = 4096
    lr: float = 1e-3
    extend: int = 512
    """New latents per SSAE, trained on the frozen GSAE's residual (the default recipe); 0
    finetunes every latent."""
    version: int = 3
    """2: TERM by effective sample share, not t = 500; 3: the default recipe (extension, 2,000
    steps on 300K tokens from the retrieval pool)."""

    @classmethod
    def quick(cls) -> DemoComparisonConfig:
        return cls(token_budget=3000, sparsity=(1.0, 4.0), steps=40, batch_tokens=256, extend=64)


def _configs(cfg: DemoComparisonConfig):
    erm = FinetuneConfig.recipe(
        sparsity=cfg.sparsity,
        steps=cfg.steps,
        batch_tokens=cfg.batch_tokens,
        lr=cfg.lr,
        extend=cfg.extend,
    )
    return (
        retrieval.SelectionConfig(method=cfg.method, token_budget=cfg.token_budget),
        erm,
        replace(erm, objective="term", target_ess=cfg.target_ess),
    )


class DemoSSAEs(NamedTuple):
    """The demo comparison's artifacts."""

    selection: Artifact
    erm: Artifact
    """The ERM sweep (``ssae``)."""
    term: Artifact
    """The TERM sweep (``ssae``)."""


def build(
    base: Base,
    ws: Workspace,
    cfg: DemoComparisonConfig,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> DemoSSAEs:
    """(Re)use the selection and the ERM and TERM sweeps (two units of ``executor``, default this
    process)."""
    return _chain(base, ws, cfg, ws.build, progress or Silent(), executor)


def evaluate_comparison(
    base: Base, ws: Workspace, arts: DemoSSAEs, subdomain: str, progress: Progress | None = None
) -> None:
    """Evaluate the GSAE and both sweeps on ``comparison_splits``: what the Compare page shows by
    default (artifacts already there are reused)."""
    saes = sae_set(ws, base, [arts.erm, arts.term])
    evaluate_splits(ws, base, saes, comparison_splits(subdomain), progress)


def comparison_splits(subdomain: str) -> list[str]:
    """The splits the comparison is evaluated on: the subdomain's test and OOD splits, and the
    general test split (where forgetting shows)."""
    return [f"{subdomain}_test", f"{subdomain}_ood", "general_test"]


def find(base: Base, ws: Workspace, cfg: DemoComparisonConfig) -> DemoSSAEs | None:
    """The comparison's artifacts if all are built, else None (nothing is trained)."""
    return ws.find_chain(lambda step: _chain(base, ws, cfg, step, Silent()))


def _chain(
    base: Base,
    ws: Workspace,
    cfg: DemoComparisonConfig,
    step: Step,
    progress: Progress,
    executor: Executor | None = None,
) -> DemoSSAEs:
    world = base.data
    sel_cfg, erm_cfg, term_cfg = _configs(cfg)
    seeds, corpus = world.text_set(f"{cfg.subdomain}_seed"), world.text_set(world.corpus_split)
    truth = world.in_domain(cfg.subdomain)
    sel = run_selection(sel_cfg, seeds, corpus, base, ws, truth, progress, step)
    acts = selection_activations(ws, base, sel, progress=progress, step=step)
    if executor is not None:  # builds both sweeps; the lookups below find them
        context = base.context(ws, None, progress)
        tasks = [
            Task(f"finetune {c.objective}", finetune_task, (acts.ref, c), gpu=True)
            for c in (erm_cfg, term_cfg)
        ]
        executor.run(tasks, context)
    erm, term = (
        finetune(ws, base.sae, base.ref, acts, c, progress=progress, step=step)
        for c in (erm_cfg, term_cfg)
    )
    return DemoSSAEs(sel, erm, term)
