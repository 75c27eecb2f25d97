"""``demo build`` and ``demo ssaes``: the embedded demo world and its comparison SSAEs."""

from __future__ import annotations

import argparse
import time

from ssae_core.cli import common
from ssae_core.infra.config import add_options, option_values
from ssae_core.infra.workspace import Workspace

BUILD_HELP = "build (or reuse) the demo world and print its summary"
SSAES_HELP = "the demo comparison: a selection and ERM + TERM sweeps for a subdomain"


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="the embedded demo world").add_subparsers(
        title="demo commands"
    )
    common.add_commands(
        demo,
        common.Command("build", BUILD_HELP, _build_options, run_build),
        common.Command("ssaes", SSAES_HELP, _ssaes_options, run_ssaes),
    )


def _build_options(p: argparse.ArgumentParser) -> None:
    common.common_options(p)
    p.add_argument(
        "--quick", action="store_true", help="the miniature world used by tests (<1 min)"
    )


def _ssaes_options(p: argparse.ArgumentParser) -> None:
    from ssae_core.demo.comparison import DemoComparisonConfig

    common.common_options(p)
    p.add_argument("--quick", action="store_true", help="the miniature world and short sweeps")
    add_options(p, DemoComparisonConfig, only=["subdomain", "method"])
    common.executor_options(p)


def run_build(args: argparse.Namespace) -> int:
    from ssae_core.demo import report as demo_report
    from ssae_core.demo import world as demo_world
    from ssae_core.demo.world import world_base
    from ssae_core.evaluate.evaluation import evaluate_splits
    from ssae_core.evaluate.sae_set import sae_set
    from ssae_core.models.base import BaseSpec

    cfg = demo_world.DemoConfig.quick() if args.quick else demo_world.DemoConfig()
    start = time.time()
    ws = Workspace(args.workspace)
    with common.progress(args) as progress:
        world = demo_world.build(cfg, ws, args.device, progress)
        base = world_base(world, BaseSpec(quick=args.quick))
        # the GSAE evaluated on every split, so every page works at once
        evaluate_splits(ws, base, sae_set(ws, base, []), world.test_splits, progress)
    summary = demo_report.demo_summary(world, time.time() - start)
    if args.json:
        common.emit(summary.to_dict(), True, str)
    else:
        print(demo_report.format_demo_summary(summary))
    return 0


def run_ssaes(args: argparse.Namespace) -> int:
    from ssae_core.demo.comparison import DemoComparisonConfig, build, evaluate_comparison
    from ssae_core.models.base import BaseSpec, load_base

    cfg = DemoComparisonConfig.quick() if args.quick else DemoComparisonConfig()
    cfg = cfg.replace(**option_values(DemoComparisonConfig, args))
    ws = Workspace(args.workspace)
    with common.progress(args) as progress:
        base = load_base(BaseSpec(quick=args.quick), ws, args.device, progress)
        arts = build(base, ws, cfg, progress, common.executor(args, ws))
        evaluate_comparison(base, ws, arts, cfg.subdomain, progress)
    paths = {k: str(a.path) for k, a in arts._asdict().items()}
    common.emit(paths, args.json, common.format_paths)
    return 0
