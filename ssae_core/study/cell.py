"""One cell of the study: a subdomain and a seed, through selection -> finetuning -> evaluation
-> every measure the claims read.

Each step reuses its workspace artifact and the cell's numbers are an artifact too
(``study_cell``: ``numbers.json`` + ``figures.json``), so an interrupted study resumes
where it stopped and a finished cell costs a lookup.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import plotly.io as pio

from ssae_core.analysis import dark_matter
from ssae_core.analysis.autointerp.run import (
    AutointerpConfig,
    prepare,
    results_table,
    run_autointerp,
)
from ssae_core.evaluate import features
from ssae_core.evaluate.evaluation import evaluate, load_features, named_split
from ssae_core.evaluate.sae_set import NamedSAE, curve_ess, group_name, sae_set
from ssae_core.infra.executor import Context, Executor, LocalExecutor, Task
from ssae_core.infra.progress import Progress
from ssae_core.infra.workspace import Artifact, Workspace, atomic_write_json
from ssae_core.report import analysis_plots
from ssae_core.report.html import compare_saes
from ssae_core.select import retrieval
from ssae_core.select.selection import run_selection, selection_activations
from ssae_core.study.config import StudyConfig
from ssae_core.study.numbers import CellNumbers
from ssae_core.train.finetune import FinetuneConfig, finetune_task

if TYPE_CHECKING:
    from ssae_core.models.base import Base


GSAE = "GSAE"


def sweeps(cfg: StudyConfig, seed: int) -> dict[str, tuple[str, FinetuneConfig]]:
    """Job name -> (selection method, finetuning config): an ERM sweep per method; on one method,
    the TERM ESS sweep in one job and the paper's tilts in another."""
    erm = FinetuneConfig.short(cfg.sparsity, cfg.steps, cfg.batch_tokens, cfg.lr, seed=seed)
    runs = {group_name(m): (m, erm) for m in cfg.methods}
    term = replace(erm, objective="term")
    runs[f"{cfg.tilt_method} TERM ESS sweep"] = (
        cfg.tilt_method,
        replace(term, ess_sweep=cfg.ess_sweep),
    )
    if cfg.paper_tilts:
        runs[f"{cfg.tilt_method} TERM paper tilts"] = (
            cfg.tilt_method,
            replace(term, tilt_sweep=cfg.paper_tilts),
        )
    return runs


def focus_groups(cfg: StudyConfig) -> list[str]:
    """The curves compared one SAE each (at the GSAE's L0): GSAE, the TERM method's ERM sweep, its
    TERM curves."""
    return [GSAE, group_name(cfg.tilt_method), *cfg.term_curves]


def run_cell(
    ws: Workspace,
    base: Base,
    cfg: StudyConfig,
    subdomain: str,
    seed: int,
    widths: dict[int, object],
    backend,
    progress: Progress,
    trained: Trained | None = None,
) -> Artifact:
    """The cell's artifact, computed unless already stored. ``widths``: GSAEs of other widths (d_sae
    -> SAE); ``trained``: the cell's sweeps (``train_cells``; trained here in order if not given).
    """
    cell_cfg = cfg.cell(subdomain, seed)

    def compute(out: Path) -> dict:
        done = (
            trained
            or train_cells(
                LocalExecutor(),
                base.context(ws, None, progress),
                cfg,
                [(subdomain, seed)],
            )[(subdomain, seed)]
        )
        return _compute(ws, base, cell_cfg, subdomain, seed, widths, backend, progress, out, done)

    return ws.build("study_cell", cell_cfg, compute, cell_inputs(base, backend))


def cell_inputs(base: Base, backend) -> list[str]:
    return [base.ref, f"autointerp:{backend.label}"]


class Trained(NamedTuple):
    """A cell's trained sweeps (in ``sweeps`` order) and its selections' precision by method."""

    arts: list[Artifact]
    precision: dict[str, float | None]


def load_cell(art: Artifact) -> tuple[CellNumbers, dict]:
    """(numbers, figures) of a cell; figures are plotly Figures by name."""
    numbers = CellNumbers.from_dict(json.loads(art.file("numbers.json").read_text()))
    figures = {
        k: pio.from_json(v) for k, v in json.loads(art.file("figures.json").read_text()).items()
    }
    return numbers, figures


def _compute(
    ws,
    base: Base,
    cfg: StudyConfig,
    subdomain: str,
    seed: int,
    widths,
    backend,
    progress: Progress,
    out: Path,
    trained: Trained,
) -> dict:
    start = time.time()
    label = f"{subdomain} seed {seed}"
    ssae_arts, precision = trained
    saes = sae_set(ws, base, ssae_arts)
    world = base.data
    splits = [named_split(world, f"{subdomain}_test"), named_split(world, f"{subdomain}_ood")]
    progress.log(f"{label}: evaluate {len(saes)} SAEs")
    comp = compare_saes(ws, base, saes, splits, progress=progress, domain=subdomain)
    by_ref = {s.ref: s.sae for s in saes}
    picks = comp.matched.set_index("group").ref
    focus = [NamedSAE(picks[g], g, by_ref[picks[g]], g) for g in focus_groups(cfg)]
    ai = _autointerp(ws, base, cfg, seed, focus, splits[0], backend, progress)
    dm = _dark_matter(base, cfg, seed, focus, widths, splits[0].docs)
    evals = evaluate(ws, base, focus, splits[0])  # stored by compare_saes: a lookup
    breadth = [
        {"group": s.group, **features.breadth(load_features(evals[s.ref])["count"].to_numpy())}
        for s in focus
    ]
    figures = dict(
        comp.figures,
        f1=analysis_plots.f1_distribution(ai.rename(columns={"group": "label"})),
        fvu_widths=analysis_plots.fvu_breakdown(dm[dm.sae.str.startswith(GSAE)]),
    )
    numbers = CellNumbers(
        subdomain=subdomain,
        seed=seed,
        precision=precision,
        seconds=round(time.time() - start, 1),
        metrics=comp.metrics.drop(columns=["ref"]).to_dict("records"),
        matched=comp.matched[["split", "group", "label", "l0", "ppl_spliced"]].to_dict("records"),
        tail_coverage=comp.tables["tail_coverage"].to_dict("records"),
        concept_recall=comp.tables["concept_recall"].to_dict("records"),
        breadth=breadth,
        autointerp=ai.to_dict("records"),
        dark_matter=dm.to_dict("records"),
        tilt_ess=_tilt_ess(ws, ssae_arts),
    )
    atomic_write_json(out / "numbers.json", numbers.to_dict())
    atomic_write_json(out / "figures.json", {k: f.to_json() for k, f in figures.items()})
    return {
        "subdomain": subdomain,
        "seed": seed,
        "seconds": numbers.seconds,
        "backend": str(backend.label),
    }


def _tilt_ess(ws, arts: list[Artifact]) -> list[dict]:
    """Per curve: the mean effective sample share of the tilt weights over training (1 for ERM)."""
    return [{"group": g, "ess": e} for g, e in curve_ess(ws, arts).items()]


def train_cells(
    executor: Executor, context: Context, cfg: StudyConfig, cells: list[tuple[str, int]]
) -> dict[tuple[str, int], Trained]:
    """Every cell's selections and activation caches (one task per cell and method), then its SSAE
    sweeps (one task per cell and SAE group); stored artifacts are lookups."""
    keys = [
        (sub, seed, m)
        for sub, seed in cells
        for m in dict.fromkeys(m for m, _ in sweeps(cfg, seed).values())
    ]
    selects = [
        Task(f"{sub} seed {seed}: select ({m})", select_unit, (cfg, sub, seed, m), gpu=True)
        for sub, seed, m in keys
    ]
    selected = dict(zip(keys, executor.run(selects, context)))
    finetunes = [
        Task(
            f"{sub} seed {seed}: finetune {group}",
            finetune_task,
            (selected[(sub, seed, method)][0], ft_cfg),
            gpu=True,
        )
        for sub, seed in cells
        for group, (method, ft_cfg) in sweeps(cfg, seed).items()
    ]
    refs = iter(executor.run(finetunes, context))
    return {
        (sub, seed): Trained(
            [context.ws.get(next(refs)) for _ in sweeps(cfg, seed)],
            {m: p for (s, d, m), (_, p) in selected.items() if (s, d) == (sub, seed)},
        )
        for sub, seed in cells
    }


def select_unit(
    context: Context, cfg: StudyConfig, subdomain: str, seed: int, method: str
) -> tuple[str, float | None]:
    """One cell's selection by ``method`` and its activation cache: (activations ref, precision)."""
    base, ws, progress = context.base(), context.ws, context.progress
    world = base.data
    sel_cfg = retrieval.SelectionConfig(
        method=method,
        token_budget=cfg.token_budget,
        max_seq_length=cfg.encoder_tokens,
        seed=seed if method == "random" else 0,
    )
    seeds, corpus = world.text_set(f"{subdomain}_seed"), world.text_set(world.corpus_split)
    sel = run_selection(sel_cfg, seeds, corpus, base, ws, world.in_domain(subdomain), progress)
    acts = selection_activations(ws, base, sel, progress=progress)
    return acts.ref, sel.summary.get("precision")


def _autointerp(
    ws,
    base: Base,
    cfg: StudyConfig,
    seed: int,
    focus: list[NamedSAE],
    split,
    backend,
    progress: Progress,
):
    ai_cfg = AutointerpConfig(n_features=cfg.autointerp_features, seed=seed)
    examples = prepare(ws, base, focus, split, ai_cfg, progress)
    table = results_table(
        run_autointerp(ws, examples, backend, ai_cfg, progress=progress),
        {s.ref: s.group for s in focus},
    )
    return table.rename(columns={"label": "group"})[["group", "feature", "status", "f1"]]


def _dark_matter(
    base: Base, cfg: StudyConfig, seed: int, focus: list[NamedSAE], widths: dict, docs
):
    """Eq. 2-4 fits on the in-domain test tokens for the focus SAEs and the GSAE widths."""
    acts = dark_matter.first_tokens(base, docs, cfg.dark_matter_tokens)
    saes = {s.group: s.sae for s in focus}
    saes.update({f"{GSAE} d_sae={d}": sae for d, sae in sorted(widths.items())})
    r2 = dark_matter.analyze(saes, acts.x, acts.token_ids, seed=seed).r2
    return r2.assign(d_sae=[saes[name].cfg.d_sae for name in r2.sae])
