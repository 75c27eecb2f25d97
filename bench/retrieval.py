"""Retrieval speed: faiss vs numpy brute force, and BM25 indexing / query throughput.

    python bench/retrieval.py [--n 100000] [--dim 384]

Dense: the same queries searched with numpy (matrix product + argpartition), a faiss
exact inner-product index and an IVF index; prints time per query, speed-up over numpy
and IVF recall@100 against exact. BM25: bm25s indexing and scoring on the demo
generator's documents (built in memory, nothing downloaded).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ssae_core.demo import corpus  # noqa: E402
from ssae_core.select import retrieval  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument(
        "--vectors",
        help=(
            "a .npy of real unit-norm embeddings (e.g. a workspace embeddings artifact) instead of"
            " random ones"
        ),
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.vectors:
        vectors = np.ascontiguousarray(np.load(args.vectors), dtype=np.float32)
        args.n, args.dim = vectors.shape
    else:
        vectors = rng.standard_normal((args.n, args.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(args.n, args.queries, replace=False)] + 0.1 * rng.standard_normal(
        (args.queries, args.dim)
    ).astype(np.float32)

    def numpy_search():
        scores = queries @ vectors.T
        top = np.argpartition(-scores, args.k - 1, axis=1)[:, : args.k]
        return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)

    _, t_numpy = timed(numpy_search)
    exact = retrieval.build_index(vectors, exact_max=args.n)
    _, t_exact = timed(lambda: exact.search(queries, args.k))
    ivf, t_train = timed(lambda: retrieval.build_index(vectors, exact_max=0))
    _, t_ivf = timed(lambda: ivf.search(queries, args.k))
    recall = retrieval.index_recall(vectors, ivf, queries[:16], args.k)
    per = lambda t: t / args.queries * 1e3  # noqa: E731
    print(f"dense, {args.n} x {args.dim}, {args.queries} queries, top {args.k}:")
    print(f"  numpy brute force {per(t_numpy):8.3f} ms/query")
    print(f"  faiss exact       {per(t_exact):8.3f} ms/query  ({t_numpy / t_exact:5.1f}x numpy)")
    print(
        f"  faiss IVF         {per(t_ivf):8.3f} ms/query  ({t_numpy / t_ivf:5.1f}x numpy),"
        f" recall@{args.k} {recall:.3f}, build {t_train:.1f} s"
    )

    docs, _ = corpus.generate(
        corpus.WorldConfig(
            n_general_docs=20_000, n_general_test_docs=10, n_test_docs=10, n_ood_docs=10
        )
    )
    texts = docs.text.tolist()
    seeds = docs[docs.split == "physics_seed"].text.tolist()
    import bm25s

    retriever = bm25s.BM25()
    tokens, t_tok = timed(lambda: bm25s.tokenize(texts, show_progress=False))
    _, t_index = timed(lambda: retriever.index(tokens, show_progress=False))
    queries_tok = bm25s.tokenize(seeds, show_progress=False, return_ids=False)
    _, t_query = timed(lambda: [retriever.get_scores(q) for q in queries_tok])
    n_words = int(docs.n_words.sum())
    print(f"bm25, {len(texts)} documents ({n_words} words):")
    print(
        f"  tokenize + index  {t_tok + t_index:8.2f} s  ({len(texts) / (t_tok + t_index):,.0f}"
        " documents/s)"
    )
    print(
        f"  score all docs    {t_query / len(queries_tok) * 1e3:8.2f} ms per seed-document query"
        f" ({len(queries_tok)} queries)"
    )


if __name__ == "__main__":
    main()
