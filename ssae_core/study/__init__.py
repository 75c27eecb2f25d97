"""The demo-world study: the whole recipe for every subdomain and seed, then the papers' claims
checked against the numbers (``python -m ssae_core study``).

Resumable by construction: every step and every finished cell is a workspace artifact,
and finetuning resumes from its checkpoint, so rerunning the command after an interruption
continues where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

from ssae_core.demo.data import world_of
from ssae_core.demo.world import gsae_widths
from ssae_core.infra.executor import Executor, LocalExecutor
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Workspace
from ssae_core.models.base import BaseSpec, load_base
from ssae_core.study.cell import cell_inputs, load_cell, run_cell, train_cells
from ssae_core.study.claims import check_claims
from ssae_core.study.config import StudyConfig
from ssae_core.study.write import write_outputs

__all__ = ["StudyConfig", "run_study"]


QUICK_NOTE = "the quick (miniature) world: a structure check, not evidence"


def run_study(
    ws: Workspace,
    cfg: StudyConfig,
    backend,
    out: Path,
    device: str | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> dict[str, Path]:
    """Run (or reuse) every cell, check the claims and write STUDY.md, study.json and report.html
    into ``out``. The selections and sweeps of the cells not stored yet run on ``executor``
    (default: this process) first, as independent tasks; the rest of each cell runs here."""
    cfg.validate()
    progress = progress or Silent()
    start = time.time()
    base = load_base(BaseSpec(quick=cfg.quick), ws, device, progress)
    own = base.sae.cfg.d_sae // base.sae.cfg.d_in
    world = world_of(base)
    widths = gsae_widths(
        world,
        [e for e in cfg.widths if e != own],
        ws,
        progress,
        target_l0=world.report.gsae.metrics.l0,
    )
    todo = [
        (sub, seed)
        for sub in cfg.subdomains
        for seed in cfg.seeds
        if ws.find("study_cell", cfg.cell(sub, seed), cell_inputs(base, backend)) is None
    ]
    train_start = time.time()
    trained = train_cells(
        executor or LocalExecutor(), base.context(ws, device, progress), cfg, todo
    )
    train_s = time.time() - train_start
    cells, figures = [], {}
    for subdomain in cfg.subdomains:
        for seed in cfg.seeds:
            art = run_cell(
                ws,
                base,
                cfg,
                subdomain,
                seed,
                widths,
                backend,
                progress,
                trained.get((subdomain, seed)),
            )
            numbers, figs = load_cell(art)
            cells.append(numbers)
            if seed == cfg.seeds[0]:
                figures.update({f"{subdomain}_{name}": fig for name, fig in figs.items()})
    claims = check_claims(cfg, cells, backend.label)
    compute = sum(c.seconds for c in cells)
    header = (
        f"Run {time.strftime('%Y-%m-%d')}:"
        f" {QUICK_NOTE if cfg.quick else 'the full demo world'};"
        f" subdomains {', '.join(cfg.subdomains)}; seeds {', '.join(map(str, cfg.seeds))};"
        f" {len(cfg.sparsity)} L1 values per sweep, {cfg.steps} steps of {cfg.batch_tokens} tokens;"
        f" TERM on {cfg.tilt_method} at effective sample shares"
        f" {', '.join(f'{e:g}' for e in cfg.ess_sweep)} and the paper's"
        f" t = {', '.join(f'{t:g}' for t in cfg.paper_tilts)}; autointerp"
        f" backend {backend.label}. The cells took {compute / 60:.1f} min to compute after training"
        f" (their own timings, stored with them); this run took"
        f" {(time.time() - start) / 60:.1f} min, of which {train_s / 60:.1f} min training the"
        f" {len(todo)} cells not stored yet, reusing every stored step."
    )
    numbers = {
        "config": cfg.to_dict(),
        "backend": backend.label,
        "world": world.report.to_dict(),
        "cell_seconds": compute,
        "cells": [c.to_dict() for c in cells],
    }
    return write_outputs(out, claims, header, numbers, figures)
