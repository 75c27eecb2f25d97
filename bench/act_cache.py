"""Activation caching throughput: writing the cache vs the bare forward pass it wraps.

    python bench/act_cache.py [--workspace DIR] [--docs 3000] [--full]

Runs the demo world's LM over the same documents three ways, side by side: ``collect``
into memory (the forward pass alone, the baseline), and ``cache_activations`` into a
float32 and a float16 memmap artifact; prints tokens/s and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ssae_core.demo  # noqa: E402, F401 (registers the demo base source)
from ssae_core.infra.workspace import Workspace  # noqa: E402
from ssae_core.models.activations import (  # noqa: E402
    CacheConfig,
    cache_activations,
    collect,
    pad_id,
)
from ssae_core.models.base import BaseSpec, load_base  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--workspace", help="a workspace with the demo world (built here if missing)"
    )
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument(
        "--full", action="store_true", help="the full demo world instead of the quick one"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(args.workspace or tmp)
        base = load_base(BaseSpec(quick=not args.full), ws, args.device)
        docs = base.data.split_tokens("general")[: args.docs]
        tok = base.tokenizer
        collect(base.model, base.hook_name, docs[:50], tok.bos_token_id, pad_id(tok))  # warm-up
        start = time.perf_counter()
        acts, _, _ = collect(base.model, base.hook_name, docs, tok.bos_token_id, pad_id(tok))
        baseline = time.perf_counter() - start
        n = len(acts)
        print(f"{len(docs)} documents, {n:,} tokens, d_in {acts.shape[1]}")
        print(f"forward pass into memory: {n / baseline:,.0f} tok/s (baseline)")
        for dtype in ("float32", "float16"):
            start = time.perf_counter()
            cache_activations(
                Workspace(Path(tmp) / dtype),
                base,
                docs,
                f"bench/{len(docs)}",
                CacheConfig(dtype=dtype),
            )
            took = time.perf_counter() - start
            print(
                f"cache_activations ({dtype}): {n / took:,.0f} tok/s -> {baseline / took:.2f}x the"
                " bare forward pass"
            )


if __name__ == "__main__":
    main()
