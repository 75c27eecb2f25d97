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

    sel = sub.add_parser("select", help="expand a seed set into a training selection from a corpus")
    _common(sel)
    _base_options(sel)
    sel.add_argument("--seeds", required=True, help="seed texts: a file or folder, or demo:SUBDOMAIN (e.g. demo:physics)")
    sel.add_argument("--corpus", default="demo", help="corpus: a file or folder, or demo (the demo world's general corpus)")
    sel.add_argument("--method", default="dense", choices=selection_methods())
    sel.add_argument("--tokens", type=int, default=50_000, help="token budget of the selection")
    sel.add_argument("--combine", default="mean", choices=["mean", "max"], help="how seed documents' scores combine")
    sel.add_argument("--pool-fraction", type=float, default=0.01, help="TracIn: share of the corpus the first stage keeps")
    sel.add_argument("--encoder", default="all-MiniLM-L6-v2", help="sentence-transformers model for dense retrieval")
    sel.add_argument("--text-field", default="text", help="jsonl field / csv or parquet column holding the text")
    sel.set_defaults(run=_select)
    return parser


def selection_methods() -> tuple[str, ...]:
    from ssae_core.selection import METHODS

    return METHODS


def _base_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="demo", choices=["demo", "release", "local"], help="where the LM and GSAE come from")
    p.add_argument("--quick", action="store_true", help="demo base: the miniature world")
    p.add_argument("--model-name", default="", help="release: TransformerLens model name")
    p.add_argument("--release", default="", help="release: SAELens release, e.g. gpt2-small-res-jb")
    p.add_argument("--sae-id", default="", help="release: SAE id inside the release")
    p.add_argument("--model-dir", default="", help="local: model directory")
    p.add_argument("--sae-dir", default="", help="local: SAE directory (SAELens format)")


def _base_spec(args):
    from ssae_core.base import BaseSpec

    return BaseSpec(source=args.base, quick=args.quick, model_name=args.model_name, release=args.release, sae_id=args.sae_id, model_dir=args.model_dir, sae_dir=args.sae_dir)


def _select(args) -> int:
    from ssae_core import data, selection
    from ssae_core.base import load_base
    from ssae_core.select_artifact import load_selection, run_selection

    ws = Workspace(args.workspace)
    cfg = selection.SelectionConfig(method=args.method, token_budget=args.tokens, combine=args.combine, pool_fraction=args.pool_fraction, encoder=args.encoder).validate()
    with _progress(args) as progress:
        base = load_base(_base_spec(args), ws, args.device, progress)
        ingest = data.IngestConfig(text_field=args.text_field)
        world = base.world
        seeds = _texts(args.seeds, world, ingest, "seeds")
        corpus = _texts(args.corpus, world, ingest, "corpus")
        sub = args.seeds.split(":", 1)[1] if args.seeds.startswith("demo:") else None
        truth = world.in_domain(sub) if sub and args.corpus == "demo" else None
        art = run_selection(cfg, seeds, corpus, base, ws, truth, progress)
    table = load_selection(art)
    top = [{"rank": int(r.rank), "doc_id": str(r.doc_id), "score": float(r.score), "snippet": r.text[:100]} for r in table.head(5).itertuples()]
    _emit({**art.summary, "path": str(art.path), "seeds": seeds.report, "corpus": corpus.report, "top": top}, args.json, _format_selection)
    return 0


def _texts(spec: str, world, ingest, role: str):
    """Seeds or corpus from ``demo:SUBDOMAIN`` / ``demo`` (the demo world) or a path."""
    from ssae_core import data
    from ssae_core.errors import ConfigError

    if spec == "demo" or spec.startswith("demo:"):
        if world is None:
            raise ConfigError(f"{role} {spec!r} needs the demo base (--base demo); give a file or folder otherwise.")
        return world.text_set(f"{spec.split(':', 1)[1]}_seed" if ":" in spec else "general")
    return data.load_texts(spec, ingest)


def _format_selection(s: dict) -> str:
    lines = [
        f"Selection ({s['method']}): {s['documents']} documents, {s['tokens']} tokens   {s['path']}",
        f"  seeds: {s['seeds']['documents']} documents from {s['seeds']['source']}; corpus: {s['corpus']['documents']} documents from {s['corpus']['source']}",
    ]
    if "precision" in s:
        lines.append(f"  precision (share of selected documents truly in the subdomain): {s['precision']:.1%}")
    lines.append("  timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["timings"].items()))
    lines += [f"  #{t['rank']:<3} {t['score']:9.4f}  {t['snippet']}" for t in s["top"]]
    return "\n".join(lines)


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
