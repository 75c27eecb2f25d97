"""``select``: expand a seed set into a training selection from a corpus."""

from __future__ import annotations

import argparse

from ssae_core.cli import common
from ssae_core.infra.config import add_options, from_args
from ssae_core.infra.workspace import Workspace

SELECTION_OPTIONS = ["method", "token_budget", "combine", "pool_fraction", "encoder", "tracin_l1"]
SELECTION_FLAGS = {"token_budget": "--tokens"}

SELECT_HELP = "expand a seed set into a training selection from a corpus"


def register(sub: argparse._SubParsersAction) -> None:
    common.add_commands(sub, common.Command("select", SELECT_HELP, _options, run, check))


def _options(p: argparse.ArgumentParser) -> None:
    from ssae_core.select.retrieval import SelectionConfig  # loads torch
    from ssae_core.select.shards import ShardConfig

    common.common_options(p)
    common.base_options(p)
    p.add_argument(
        "--seeds",
        required=True,
        help="seed texts: a file or folder, or demo:SUBDOMAIN (e.g. demo:physics)",
    )
    p.add_argument(
        "--corpus",
        default="demo",
        help="corpus: a file or folder, or demo (the demo world's retrieval pool)",
    )
    add_options(p, SelectionConfig, flags=SELECTION_FLAGS, only=SELECTION_OPTIONS)
    common.text_field_option(p)
    p.add_argument(
        "--stream",
        action="store_true",
        help="read the corpus (a .jsonl / .parquet file or folder of them, or hf:NAME[:SPLIT]) as a"
        " stream into shards: corpora larger than memory (dense retrieval embeds shard by shard,"
        " as units of --executor)",
    )
    add_options(p, ShardConfig, only=["shard_docs"])
    common.executor_options(p)


def check(args: argparse.Namespace):
    from ssae_core.select.retrieval import SelectionConfig

    return from_args(SelectionConfig, args).validate()


def run(args: argparse.Namespace) -> int:
    from ssae_core.select.data import IngestConfig
    from ssae_core.select.selection import (
        load_selection,
        named_texts,
        run_selection,
        run_shard_selection,
    )
    from ssae_core.select.shards import ShardConfig, build_shards

    ws = Workspace(args.workspace)
    cfg = check(args)
    with common.progress(args) as progress:
        base = common.load_base(args, ws, progress)
        ingest = from_args(IngestConfig, args)
        world = base.data
        seeds = named_texts(args.seeds, world, ingest, "seeds")
        if args.stream:
            shard_cfg = from_args(ShardConfig, args, text_field=ingest.text_field)
            corpus_art = build_shards(ws, args.corpus, shard_cfg, progress)
            executor = common.executor(args, ws)
            art = run_shard_selection(cfg, seeds, corpus_art, base, ws, progress, executor)
            corpus_report = {"source": args.corpus, **corpus_art.summary}
        else:
            corpus = named_texts(args.corpus, world, ingest, "corpus")
            sub = args.seeds.split(":", 1)[1] if args.seeds.startswith("demo:") else None
            truth = world.in_domain(sub) if sub and args.corpus == "demo" else None
            art = run_selection(cfg, seeds, corpus, base, ws, truth, progress)
            corpus_report = corpus.report
    table = load_selection(art)
    top = [
        {
            "rank": int(r.rank),
            "doc_id": str(r.doc_id),
            "score": float(r.score),
            "snippet": r.text[:100],
        }
        for r in table.head(5).itertuples()
    ]
    common.emit(
        {
            **art.summary,
            "ref": art.ref,
            "path": str(art.path),
            "seeds": seeds.report,
            "corpus": corpus_report,
            "top": top,
        },
        args.json,
        format_selection,
    )
    return 0


def format_selection(s: dict) -> str:
    lines = [
        (
            f"Selection ({s['method']}): {s['documents']} documents, {s['tokens']} tokens  "
            f" {s['path']}"
        ),
        (
            f"  seeds: {s['seeds']['documents']} documents from {s['seeds']['source']}; corpus:"
            f" {s['corpus']['documents']} documents from {s['corpus']['source']}"
        ),
    ]
    if "precision" in s:
        lines.append(
            "  precision (share of selected documents truly in the subdomain):"
            f" {s['precision']:.1%}"
        )
    lines.append("  timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["timings"].items()))
    lines += [f"  #{t['rank']:<3} {t['score']:9.4f}  {t['snippet']}" for t in s["top"]]
    return "\n".join(lines)
