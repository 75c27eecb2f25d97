"""``study``: the demo-world study: the whole recipe per subdomain and seed, and which of the
papers' claims hold."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssae_core.cli import common
from ssae_core.infra.config import add_options, from_args, split_values
from ssae_core.infra.workspace import Workspace

STUDY_HELP = (
    "the demo-world study: the whole recipe per subdomain and seed, and which of the"
    " papers' claims hold"
)


def register(sub: argparse._SubParsersAction) -> None:
    common.add_commands(sub, common.Command("study", STUDY_HELP, _options, run))


def _options(p: argparse.ArgumentParser) -> None:
    from ssae_core.analysis.autointerp.backends import ClaudeConfig  # loads anthropic
    from ssae_core.study import StudyConfig

    seeds = ",".join(str(s) for s in StudyConfig().seeds)
    common.common_options(p)
    p.add_argument(
        "--quick",
        action="store_true",
        help="the miniature world and short sweeps (a few minutes; checks structure, not claims)",
    )
    p.add_argument(
        "--out",
        default="",
        help=(
            "where STUDY.md, study.json and report.html go (default: study/, or study/quick/ with"
            " --quick)"
        ),
    )
    # StudyConfig fields, written here: their default depends on --quick (StudyConfig.quick_config)
    p.add_argument(
        "--subdomains", default="", help="comma-separated (default: all of the config's)"
    )
    p.add_argument("--seeds", default="", help=f"comma-separated integers (default: {seeds})")
    p.add_argument(
        "--backend",
        choices=["auto", "offline", "claude"],
        default="auto",
        help="autointerp: auto = claude when an API key is set, else the offline baseline",
    )
    add_options(p, ClaudeConfig, only=["model"])
    common.executor_options(p)
    common.background_option(p)


def run(args: argparse.Namespace) -> int:
    from ssae_core.analysis.autointerp.backends import (
        ClaudeBackend,
        ClaudeConfig,
        OfflineBackend,
        find_api_key,
    )
    from ssae_core.study import StudyConfig, run_study

    cfg = StudyConfig.quick_config() if args.quick else StudyConfig()
    if args.subdomains:
        cfg = cfg.replace(subdomains=split_values(args.subdomains, str, "--subdomains"))
    if args.seeds:
        cfg = cfg.replace(seeds=tuple(int(v) for v in common.floats(args.seeds, "--seeds")))
    cfg.validate()
    ws = Workspace(args.workspace)
    out = Path(args.out or ("study/quick" if args.quick else "study")).resolve()
    if args.background:
        return common.launch_training_job(
            args, ws, f"study-{cfg.digest()[:10]}", ["--out", str(out)]
        )
    use_claude = args.backend == "claude" or (args.backend == "auto" and find_api_key() is not None)
    backend = ClaudeBackend(from_args(ClaudeConfig, args)) if use_claude else OfflineBackend()
    with common.progress(args) as progress:
        paths = run_study(ws, cfg, backend, out, args.device, progress, common.executor(args, ws))
    common.emit({k: str(v) for k, v in paths.items()}, args.json, common.format_paths)
    return 0
