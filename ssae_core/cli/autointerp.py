"""``autointerp``: explain features with an LLM (or the offline baseline) and score the
explanations by F1."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssae_core.cli import common
from ssae_core.infra.config import add_options, from_args

AUTOINTERP_HELP = (
    "explain features with an LLM (or the offline baseline) and score the explanations by F1"
)


def register(sub: argparse._SubParsersAction) -> None:
    common.add_commands(sub, common.Command("autointerp", AUTOINTERP_HELP, _options, run))


def _options(p: argparse.ArgumentParser) -> None:
    from ssae_core.analysis.autointerp.backends import ClaudeConfig  # loads anthropic
    from ssae_core.analysis.autointerp.run import AutointerpConfig

    common.sae_options(p)
    p.add_argument(
        "--split",
        required=True,
        help="where examples come from: a demo split (physics_test, ...) or a text file/folder",
    )
    add_options(
        p, AutointerpConfig, flags={"n_features": "--features"}, only=["n_features", "seed"]
    )
    p.add_argument(
        "--backend",
        choices=["offline", "claude"],
        default="offline",
        help="claude needs ANTHROPIC_API_KEY; offline is a no-network baseline",
    )
    add_options(p, ClaudeConfig, only=["model", "concurrency"])
    add_options(p, AutointerpConfig, only=["budget_usd"])
    p.add_argument(
        "--estimate", action="store_true", help="print the token and cost estimate and stop"
    )
    p.add_argument(
        "--batches",
        action="store_true",
        help="claude: use the Message Batches API (half price; results within hours)",
    )
    p.add_argument(
        "--scorers",
        default="detection,fuzzing,embedding",
        help="scores besides the predictor's F1, comma-separated (detection, fuzzing, embedding),"
        " or none",
    )
    p.add_argument("--out", default="", help="write the results table here (.csv or .json)")


def run(args: argparse.Namespace) -> int:
    from ssae_core.analysis.autointerp.backends import ClaudeBackend, ClaudeConfig, OfflineBackend
    from ssae_core.analysis.autointerp.run import (
        AutointerpConfig,
        estimate,
        prepare,
        results_table,
        run_autointerp,
        run_scorers,
        summary_table,
    )

    cfg = from_args(AutointerpConfig, args)
    claude = from_args(ClaudeConfig, args)
    with common.progress(args) as progress:
        args.split = [args.split]
        ws, base, saes, (split,) = common.comparison_inputs(args, progress)
        examples = prepare(ws, base, saes, split, cfg, progress)
        cost = estimate([fx for fxs in examples.values() for fx in fxs], claude, args.batches)
        if args.estimate:
            common.emit(cost, args.json, lambda c: format_estimate(c, claude.model))
            return 0
        backend = ClaudeBackend(claude) if args.backend == "claude" else OfflineBackend()
        results = run_autointerp(
            ws,
            examples,
            backend,
            cfg,
            claude,
            progress,
            batches=args.batches and args.backend == "claude",
        )
        names = tuple(n for n in args.scorers.split(",") if n and n != "none")
        scores = run_scorers(ws, base, saes, split, results, backend, names, cfg.seed, progress)
    table = results_table(results, {s.ref: s.label for s in saes}, scores)
    if args.out:
        out = Path(args.out)
        (
            table.to_json(out, orient="records", indent=1)
            if out.suffix == ".json"
            else table.to_csv(out, index=False)
        )
    summary = summary_table(table)
    common.emit(
        {
            "backend": backend.label,
            "estimate": cost,
            "summary": summary.to_dict("records"),
            "results": table.to_dict("records"),
        },
        args.json,
        lambda s: format_results(s, summary, args.out),
    )
    return 0


def format_estimate(c: dict, model: str) -> str:
    return (
        f"{c['features']} feature scorings: about {c['input_tokens']:,} input and at"
        f" most {c['output_tokens']:,} output tokens, at most ${c['usd']:.2f} with"
        f" {model}"
    )


def format_results(s: dict, summary, out: str) -> str:
    """The backend and each SAE's F1 count, mean and median (and where the table went)."""
    table = summary.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    return f"backend {s['backend']}\n{table}" + (f"\nresults: {out}" if out else "")
