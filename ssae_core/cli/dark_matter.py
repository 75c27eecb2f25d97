"""``errors``: SAE dark matter: per-token error norms, linear / nonlinear error, R² tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ssae_core.cli import common
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.workspace import Workspace, atomic_write_bytes

if TYPE_CHECKING:
    from ssae_core.analysis.dark_matter import Analysis


ERRORS_HELP = "dark matter: per-token SAE error norms, linear / nonlinear error, R² tables"


def register(sub: argparse._SubParsersAction) -> None:
    common.add_commands(sub, common.Command("errors", ERRORS_HELP, _options, run))


def _options(p: argparse.ArgumentParser) -> None:
    common.sae_options(p, gsae_flag=False)
    p.add_argument(
        "--widths",
        default="",
        help=(
            "demo world: GSAE expansions to train and add, e.g. 2,4,16 (a width series, each"
            " trained with its L1 coefficient steered to the world GSAE's L0)"
        ),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--split", help="a demo split (physics_test, ...) or a text file/folder")
    source.add_argument("--text", help="the text itself")
    p.add_argument(
        "--max-tokens",
        type=int,
        default=50_000,
        help="use at most this many tokens (first documents first)",
    )
    p.add_argument("--out", default="ssae-errors.html", help="where to write the figures")


def run(args: argparse.Namespace) -> int:
    from ssae_core.analysis import dark_matter as dm
    from ssae_core.evaluate.sae_set import NamedSAE, sae_set
    from ssae_core.report import analysis_plots
    from ssae_core.report.html import page
    from ssae_core.select import retrieval

    ws = Workspace(args.workspace)
    with common.progress(args) as progress:
        base = common.load_base(args, ws, progress)
        saes = sae_set(ws, base, [common.open_artifact(ws, spec, "ssae") for spec in args.ssae])
        if args.widths:
            from ssae_core.demo.data import world_of
            from ssae_core.demo.world import gsae_widths

            world = world_of(base)
            if world is None:
                raise ConfigError(
                    "--widths trains GSAEs of other widths in the demo world; use --base demo."
                )
            expansions = [int(v) for v in common.floats(args.widths, "--widths")]
            target = world.report.gsae.metrics.l0
            widths = gsae_widths(world, expansions, ws, progress, target_l0=target)
            saes += [
                NamedSAE(f"width/{d}", f"GSAE d_sae={d}", sae, "GSAE widths")
                for d, sae in widths.items()
                if d != base.sae.cfg.d_sae
            ]
        labels = None
        if args.text:
            docs = retrieval.tokenize([args.text], base.tokenizer, base.model.cfg.n_ctx)
        else:
            docs = common.token_split(args.split, base, args).docs
            if base.data is not None and not Path(args.split).exists():
                labels = base.data.split_labels(args.split)
        acts = dm.first_tokens(base, docs, args.max_tokens)
    if len(acts.x) < 10:
        raise ConfigError(
            f"Only {len(acts.x)} tokens: the R² fits need at least 10; give a longer text or a"
            " split."
        )
    words = base.tokenizer.convert_ids_to_tokens(acts.token_ids.tolist())
    flat = None if labels is None else dm.first_labels(labels, acts, base.model.cfg.n_ctx)
    concepts = base.data.concepts if base.data is not None else None
    report = dm.split_errors({s.label: s.sae for s in saes}, acts, words, flat, concepts)
    result = report.analysis
    first = report.norms[report.norms.token_index < min(len(acts.x), 120)]
    figures = {
        "heatmap": analysis_plots.error_heatmap(first, words),
        "fvu": analysis_plots.fvu_breakdown(result.r2),
    }
    if len(result.cross):
        c = result.cross.iloc[0]
        figures["cross"] = analysis_plots.cross_scatter(result.tokens, c["from"], c["to"], c["r2"])
    out = Path(args.out).resolve()
    html = page("SSAE Studio: SAE dark matter", report.tables, figures)
    atomic_write_bytes(out, html.encode())
    common.emit(
        {
            "figures": str(out),
            "tokens": int(len(acts.x)),
            "r2": result.r2.to_dict("records"),
            "cross": result.cross.to_dict("records"),
            "tables": {k: v.to_dict("records") for k, v in report.tables.items()},
        },
        args.json,
        lambda s: format_errors(result, out),
    )
    return 0


def format_errors(result: Analysis, out: Path) -> str:
    """The R² tables and where the figures went."""

    def three(v: float) -> str:
        return f"{v:.3f}"

    r2 = result.r2.to_string(index=False, float_format=three)
    cross = result.cross.to_string(index=False, float_format=three)
    return f"{r2}\n\n{cross}\n\nfigures: {out}"
