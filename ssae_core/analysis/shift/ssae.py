"""The SSAE of a SHIFT task: the GSAE finetuned on a selection from the general corpus seeded
with the task's training texts (the product's select -> finetune path, as the SSAE paper
builds its Bias in Bios SSAE), so GSAE and SSAE can be compared on the same task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ssae_core.analysis.shift.task import Task
from ssae_core.infra.config import Config
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, Workspace
from ssae_core.select import retrieval
from ssae_core.select.data import from_strings
from ssae_core.select.selection import run_selection, selection_activations
from ssae_core.train.finetune import FinetuneConfig, finetune

if TYPE_CHECKING:
    from ssae_core.models.base import Base
    from ssae_core.select.data import TextSet


@dataclass(frozen=True)
class TaskSSAEConfig(Config):
    """The task SSAE's selection and finetuning (the demo comparison's schedule)."""

    method: retrieval.Method = "bm25"
    """Selection method."""
    seed_docs: int = 150
    """Training documents used as seeds (150 demo bios: about 9.5K tokens, the size of the
    paper's seed sets)."""
    token_budget: int = 20_000
    """Tokens selected from the general corpus."""
    sparsity: float = 5.0
    """L1 coefficient (the demo GSAE's own)."""
    steps: int = 300
    batch_tokens: int = 4096
    lr: float = 1e-4
    seed: int = 0
    """Finetuning seed."""


def task_seeds(task: Task, n: int) -> TextSet:
    """The first ``n`` training documents of the task, as seed texts."""
    rows = task.rows("train")[:n]
    return from_strings([task.texts[i] for i in rows], source=f"{task.ref}:train")


def task_ssae(
    base: Base,
    ws: Workspace,
    task: Task,
    corpus: TextSet,
    cfg: TaskSSAEConfig | None = None,
    progress: Progress | None = None,
) -> Artifact:
    """The ``ssae`` artifact (one SSAE) finetuned on ``corpus`` documents retrieved for the
    task's seeds (built once)."""
    cfg = cfg or TaskSSAEConfig()
    progress = progress or Silent()
    selection_cfg = retrieval.SelectionConfig(method=cfg.method, token_budget=cfg.token_budget)
    seeds = task_seeds(task, cfg.seed_docs)
    sel = run_selection(selection_cfg, seeds, corpus, base, ws, progress=progress)
    acts = selection_activations(ws, base, sel, progress=progress)
    tune = FinetuneConfig.short((cfg.sparsity,), cfg.steps, cfg.batch_tokens, cfg.lr, seed=cfg.seed)
    return finetune(ws, base.sae, base.ref, acts, tune, progress=progress)
