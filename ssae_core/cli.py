"""Command line: ``python -m ssae_core <command> ...``.

Every command takes ``--workspace DIR`` (default ``$SSAE_WORKSPACE`` or ``cache/``),
prints a human summary, or JSON with ``--json``, and exits 1 with one clear message on
a user error (bad input, unwritable workspace, unknown model) instead of a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from typing import Callable

from ssae_core.errors import SSAEError
from ssae_core.progress import Silent, StatusFile, Tqdm
from ssae_core.workspace import Workspace


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a cancelled job ends like Ctrl-C
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except SSAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished artifacts are kept; run the same command again to resume.", file=sys.stderr)
        return 130


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ssae_core", description="SSAE Studio engine.")
    sub = parser.add_subparsers(title="commands")
    demo = sub.add_parser("demo", help="the embedded demo world").add_subparsers(title="demo commands")
    build = demo.add_parser("build", help="build (or reuse) the demo world and print its summary")
    _common(build)
    build.add_argument("--quick", action="store_true", help="the miniature world used by tests (<1 min)")
    build.set_defaults(run=_demo_build)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", help="artifact directory (default: $SSAE_WORKSPACE or ./cache)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--status-file", help=argparse.SUPPRESS)  # set by jobs.launch


def _demo_build(args) -> int:
    from ssae_core.demo import world as demo_world

    cfg = demo_world.DemoConfig.quick() if args.quick else demo_world.DemoConfig()
    start = time.time()
    with _progress(args) as progress:
        world = demo_world.build(cfg, Workspace(args.workspace), args.device, progress)
    summary = demo_summary(world, time.time() - start)
    _emit(summary, args.json, format_demo_summary)
    return 0


@contextlib.contextmanager
def _progress(args):
    """tqdm bars, nothing (--json) or a job status file, marked done or failed at the end."""
    if not args.status_file:
        progress = Silent() if args.json else Tqdm()
        yield progress
        progress.close()
        return
    progress = StatusFile(args.status_file)
    try:
        yield progress
    except SSAEError as exc:
        progress.finish("failed", str(exc))
        raise
    except KeyboardInterrupt:
        progress.finish("cancelled")
        raise
    except Exception as exc:
        progress.finish("failed", f"{type(exc).__name__}: {exc}")
        raise
    progress.finish("done")


def demo_summary(world, seconds: float) -> dict:
    """The numbers a researcher checks first about a demo world."""
    report = world.report
    return {
        "workspace": str(world.corpus_art.path.parent.parent),
        "seconds": round(seconds, 2),
        "hook_name": world.hook_name,
        "corpus": world.corpus_art.summary,
        "lm": {**report["lm"], "path": str(world.model_dir)},
        "gsae": {**report["gsae"], "path": str(world.gsae_dir)},
        "recall_by_bucket": report["recall_by_bucket"],
    }


def format_demo_summary(s: dict) -> str:
    lm, g = s["lm"], s["gsae"]
    lines = [
        f"Demo world ready in {s['seconds']:.1f} s  (workspace {s['workspace']})",
        f"  corpus: {s['corpus']['documents']} documents, {s['corpus']['words']} tokens, {s['corpus']['concepts']} concepts",
        f"  LM: held-out CE {lm['heldout_ce']:.3f} nats vs unigram {lm['unigram_ce']:.3f} "
        f"({lm['ce_ratio_to_unigram']:.0%} of unigram)   {lm['path']}",
        f"  GSAE at {s['hook_name']} (d_sae {g['d_sae']}): L0 {g['l0']:.1f} (target <= {g['l0_target_max']:.0f}), "
        f"explained variance {g['explained_variance']:.3f}, dead {g['dead_fraction']:.1%}",
        f"    CE clean {g['ce_clean']:.3f}, with GSAE {g['ce_spliced']:.3f}, zero-ablated {g['ce_zero_ablation']:.3f}, "
        f"CE loss recovered {g['ce_loss_recovered']:.3f}   {g['path']}",
        "  concepts with a GSAE feature of F1 >= 0.5 (and with a linear probe), by frequency in the general corpus:",
    ]
    for row in s["recall_by_bucket"]:
        lines.append(
            f"    {row['bucket']:<18} {int(row['gsae_recalled']):>3}/{int(row['concepts']):<3} SAE ({row['gsae_recall']:.0%})"
            f"   {int(row['probe_recalled']):>3}/{int(row['concepts']):<3} probe ({row['probe_recall']:.0%})"
        )
    return "\n".join(lines)


def _emit(obj: dict, as_json: bool, fmt: Callable[[dict], str]) -> None:
    print(json.dumps(obj, indent=2, default=float) if as_json else fmt(obj))
