"""``evaluate`` (metrics of the GSAE and SSAEs on test splits) and ``report`` (the offline HTML
report with every comparison figure)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssae_core.cli import common
from ssae_core.infra.workspace import atomic_write_bytes

SPLIT_HELP = (
    "a demo split (physics_test, physics_ood, ...) or a text file/folder; repeat; the first is"
    " in-domain"
)


EVALUATE_HELP = "metrics of the GSAE and SSAEs on test splits (perplexity spliced in, L0, ...)"
REPORT_HELP = "an offline HTML report with every comparison figure"


def register(sub: argparse._SubParsersAction) -> None:
    common.add_commands(
        sub,
        common.Command("evaluate", EVALUATE_HELP, _evaluate_options, run_evaluate),
        common.Command("report", REPORT_HELP, _report_options, run_report),
    )


def _evaluate_options(p: argparse.ArgumentParser) -> None:
    common.sae_options(p)
    p.add_argument("--split", action="append", default=[], help=SPLIT_HELP)


def _report_options(p: argparse.ArgumentParser) -> None:
    _evaluate_options(p)
    p.add_argument("--out", default="ssae-report.html", help="where to write the HTML report")
    p.add_argument(
        "--l0-range",
        default="",
        help="LO,HI: the L0 range of the AUC (default: where all curves overlap)",
    )


def run_evaluate(args: argparse.Namespace) -> int:
    from ssae_core.evaluate.evaluation import evaluate
    from ssae_core.report.compare import metrics_table

    with common.progress(args) as progress:
        ws, base, saes, splits = common.comparison_inputs(args, progress)
        evals = {split.name: evaluate(ws, base, saes, split, progress=progress) for split in splits}
    table = metrics_table(evals, saes)
    common.emit({"metrics": table.to_dict("records")}, args.json, lambda s: format_metrics(table))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ssae_core.report.html import compare_saes, to_html

    lo, hi = common.floats(args.l0_range, "--l0-range") if args.l0_range else (None, None)
    with common.progress(args) as progress:
        ws, base, saes, splits = common.comparison_inputs(args, progress)
        result = compare_saes(ws, base, saes, splits, lo, hi, progress=progress)
    out = Path(args.out).resolve()
    atomic_write_bytes(out, to_html(result).encode())
    numbers = result.numbers()
    common.emit(
        {"report": str(out), **numbers},
        args.json,
        lambda s: (
            f"{format_metrics(result.metrics)}\n\nAUC of perplexity vs"
            f" L0:\n{result.auc.to_string(index=False)}\n\nreport: {out}"
        ),
    )
    return 0


def format_metrics(table) -> str:
    """The report's columns of a metrics table, as text."""
    from ssae_core.report.html import REPORT_COLUMNS

    return table[REPORT_COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.4g}")
