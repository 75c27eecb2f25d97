"""Selection at corpus scale: the demo generator's general corpus at 24K documents (the demo world's
own) and at 1M, through the sharded path, with bm25s in memory as the baseline.

    python bench/corpus_scale.py [--docs 24000,1000000] [--dir /tmp/corpus_scale]
                                 [--workspace /tmp/fullws] [--memory-docs 24000,250000]

The corpus is written once as parquet files of 50K documents (the first 24K documents are the
demo world's general split: same generator, same seed). Then, each in a fresh process:

- ``sharded`` at each size: ``shards.build_shards`` (stream -> docs + inverted BM25 index per
  shard) and ``selection.run_shard_selection`` (BM25, physics seeds, 20K-token budget; then
  random); wall time and VmRSS growth (sampled every 20 ms, maximum minus the value before the
  step; the process has loaded the full demo world's base first);
- ``memory`` (the baseline) at ``--memory-docs``: the corpus read into a list and scored by
  ``retrieval.bm25_scores`` (bm25s' index in memory), the path a corpus that fits takes.

Dense embedding is not run at 1M on a CPU (it would take hours): its documents/s on the first
1,000 documents gives the projection.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from act_scale import Sampler, vm_rss_mib  # noqa: E402

SHARD_FILE_DOCS = 50_000


def write_corpus(folder: Path, n: int) -> None:
    """The generator's first ``n`` general documents as parquet files (skipped when present)."""
    import pandas as pd

    from ssae_core.demo import corpus as gen

    if (folder / "done").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    cfg = gen.WorldConfig()
    docs = gen._general_docs(
        gen._Writer(cfg, gen.all_concepts()), gen._split_rng(cfg, "general"), n
    )
    batch, part = [], 0
    for _, _, (words, _) in docs:
        batch.append(" ".join(words))
        if len(batch) == SHARD_FILE_DOCS:
            pd.DataFrame({"text": batch}).to_parquet(folder / f"part-{part:04d}.parquet")
            batch, part = [], part + 1
    if batch:
        pd.DataFrame({"text": batch}).to_parquet(folder / f"part-{part:04d}.parquet")
    (folder / "done").write_text(str(n))


def timed(fn):
    """(result, seconds, VmRSS growth in MiB) of ``fn()``."""
    before = vm_rss_mib()
    with Sampler() as s:
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
    return out, seconds, s.peak - before


def child(mode: str, folder: Path, workspace: str, scratch: Path) -> dict:
    import shutil

    from ssae_core.infra.workspace import Workspace
    from ssae_core.models.base import BaseSpec, load_base
    from ssae_core.select import retrieval, shards
    from ssae_core.select.selection import load_selection, run_shard_selection

    base = load_base(BaseSpec(), Workspace(workspace), "cpu")
    seeds = base.data.text_set("physics_seed")
    row = {"mode": mode, "docs": int((folder / "done").read_text()), "rss_base": vm_rss_mib()}
    if mode == "memory":
        import pandas as pd

        def scores():
            texts = [t for f in sorted(folder.glob("*.parquet")) for t in pd.read_parquet(f).text]
            return retrieval.bm25_scores(seeds.texts, texts)

        _, row["bm25_s"], row["bm25_rss"] = timed(scores)
        return row
    shutil.rmtree(scratch, ignore_errors=True)
    ws = Workspace(scratch)
    art, row["build_s"], row["build_rss"] = timed(lambda: shards.build_shards(ws, str(folder)))
    for method in ("bm25", "random"):
        cfg = retrieval.SelectionConfig(method=method, token_budget=20_000)
        sel, row[f"{method}_s"], row[f"{method}_rss"] = timed(
            lambda cfg=cfg: run_shard_selection(cfg, seeds, art, base, ws)
        )
        row[f"{method}_docs"] = len(load_selection(sel))
    row["shards"] = art.summary["shards"]
    row["index_mib"] = sum(f.stat().st_size for f in art.path.glob("bm25-*.npz")) / 2**20
    row["docs_mib"] = sum(f.stat().st_size for f in art.path.glob("docs-*.parquet")) / 2**20
    if row["docs"] == min(int(x) for x in ARGS.docs.split(",")):
        import pandas as pd

        texts = pd.read_parquet(sorted(folder.glob("*.parquet"))[0]).text[:1000].tolist()
        encoder = retrieval.load_encoder()
        start = time.perf_counter()
        retrieval.embed(texts, encoder)
        row["embed_docs_per_s"] = len(texts) / (time.perf_counter() - start)
    shutil.rmtree(scratch, ignore_errors=True)
    return row


def main() -> None:
    folder = Path(ARGS.dir)
    for n in sorted({int(x) for x in (ARGS.docs + "," + ARGS.memory_docs).split(",")}):
        write_corpus(folder / f"docs-{n}", n)
    runs = [("sharded", int(x)) for x in ARGS.docs.split(",")]
    runs += [("memory", int(x)) for x in ARGS.memory_docs.split(",") if x]
    for mode, n in runs:
        cmd = [sys.executable, __file__, *sys.argv[1:], "--child", mode, "--n", str(n)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode:
            print(out.stderr[-3000:])
            raise SystemExit(f"{mode} {n} failed")
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--docs", default="24000,1000000")
    p.add_argument("--memory-docs", default="24000,250000")
    p.add_argument("--dir", default="/tmp/corpus_scale")
    p.add_argument("--workspace", default="/tmp/fullws")
    p.add_argument("--child")
    p.add_argument("--n", type=int)
    ARGS = p.parse_args()
    if ARGS.child:
        base_dir = Path(ARGS.dir)
        result = child(ARGS.child, base_dir / f"docs-{ARGS.n}", ARGS.workspace, base_dir / "ws")
        print(
            json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()})
        )
    else:
        main()
