"""Peak memory of corpus embedding: does it grow with the corpus beyond the vectors themselves?

    python bench/embed_memory.py [--small 1000] [--factor 4]

Embeds a corpus of N and of factor x N demo documents (each in a fresh process, into
a memmap as the `embeddings` artifact does) and prints the peak RSS above the loaded
encoder, minus the size of the embeddings written: the ratio large/small should stay
near 1 if embedding streams.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(n: int) -> dict:
    """Embed n generated documents into a memmap; peak RSS (MiB) before and after."""
    import numpy as np

    from ssae_core.demo import corpus
    from ssae_core.select import retrieval

    docs = corpus.generate(corpus.WorldConfig(n_general_docs=n, seed=1))[0].text.tolist()[:n]
    encoder = retrieval.load_encoder(max_seq_length=64)
    retrieval.embed(docs[:64], encoder)  # warm up: allocator pools and lazy weights
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        out = np.lib.format.open_memmap(
            Path(tmp) / "v.npy",
            mode="w+",
            dtype=np.float32,
            shape=(len(docs), retrieval.embedding_dim(encoder)),
        )
        retrieval.embed(docs, encoder, out=out)
        out.flush()
        vectors_mib = out.nbytes / 2**20
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "documents": len(docs),
        "rss_before_mib": before,
        "rss_peak_mib": after,
        "vectors_mib": vectors_mib,
        "growth_mib": after - before - vectors_mib,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    runs = []
    for n in (args.small, args.small * args.factor):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for r in runs:
        print(
            f"{r['documents']:>7} documents: peak RSS {r['rss_peak_mib']:.0f} MiB (encoder loaded"
            f" {r['rss_before_mib']:.0f}), vectors {r['vectors_mib']:.1f} MiB, growth beyond"
            f" vectors {r['growth_mib']:.1f} MiB"
        )
    small, large = runs
    print(
        f"corpus x{args.factor}: growth beyond vectors {large['growth_mib']:.1f} vs"
        f" {small['growth_mib']:.1f} MiB (peak RSS ratio"
        f" {large['rss_peak_mib'] / small['rss_peak_mib']:.3f})"
    )


if __name__ == "__main__":
    main()
