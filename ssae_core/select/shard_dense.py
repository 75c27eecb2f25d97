"""Dense retrieval over a sharded corpus (``shards.build_shards``) in bounded memory.

``embed_shards``: the ``shard_embeddings`` artifact, ``vectors-NNNNN.npy`` per corpus shard
(unit-norm float32, the same encoder and truncation as ``selection.corpus_embeddings``). Every
shard is one unit of an ``executor.Executor``, so with Ray the shards are embedded in parallel
(a GPU each where the cluster has them); a finished shard is kept in ``<ws>/partial/`` at once,
so an interrupted run embeds only the missing ones.

``dense_top``: the ``k`` documents closest to the seeds (``retrieval.dense_ranking``'s scores:
the inner product with the seed centroid, or the best over seeds). Up to
``SelectionConfig.exact_search_max`` documents the search is exact, one shard in memory at a time;
above it, an IVF-PQ faiss index (trained on a sample, filled shard by shard: 64 bytes per
document) proposes the candidates, which are rescored exactly from their shards' vectors; the
index's recall@100 against the exact streamed search, on up to 16 seed queries, is reported with
the result.
"""

from __future__ import annotations

import functools
import io
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ssae_core.infra.executor import Context, Executor, LocalExecutor, Task
from ssae_core.infra.workspace import Artifact, Workspace, adopt_parts, atomic_write_bytes
from ssae_core.select import retrieval, shards

PQ_BYTES = 64
"""IVF-PQ code size per document (sub-quantizers of 8 bits)."""


def embed_shards(
    ws: Workspace,
    corpus: Artifact,
    cfg,
    context: Context,
    executor: Executor | None = None,
) -> Artifact:
    """The corpus's embeddings by ``cfg`` (a ``selection.EmbedConfig``), one task per shard."""
    executor = executor or LocalExecutor()

    def build(out: Path) -> dict:
        partial = ws.partial("shard_embeddings", cfg, [corpus.ref])
        todo = [n for n in range(shards.count(corpus)) if not (partial / _name(n)).exists()]
        tasks = [
            Task(f"embed shard {n}", embed_shard, (corpus.ref, cfg, n, str(partial)), gpu=True)
            for n in todo
        ]
        executor.run(tasks, context)
        dim = np.load(partial / _name(0), mmap_mode="r").shape[1]
        adopt_parts(partial, out)
        return {
            "shards": shards.count(corpus),
            "documents": corpus.summary["documents"],
            "dim": dim,
        }

    return ws.build("shard_embeddings", cfg, build, [corpus.ref])


def _name(n: int) -> str:
    return f"vectors-{n:05d}.npy"


def embed_shard(context: Context, corpus_ref: str, cfg, n: int, dest: str) -> str:
    """One shard's vectors into ``dest`` (an executor unit; the encoder on the worker's device)."""
    import pandas as pd

    from ssae_core.infra.device import pick_device

    corpus = context.ws.get(corpus_ref)
    texts = pd.read_parquet(corpus.file(f"docs-{n:05d}.parquet")).text.tolist()
    encoder = _encoder(cfg.encoder, str(pick_device(context.device)), cfg.max_seq_length)
    context.progress.stage(f"embed shard {n}", len(texts))
    vectors = retrieval.embed(texts, encoder, progress=context.progress.update)
    buf = io.BytesIO()
    np.save(buf, vectors)
    atomic_write_bytes(Path(dest) / _name(n), buf.getvalue())
    return _name(n)


@functools.lru_cache(maxsize=1)
def _encoder(name: str, device: str, max_seq_length: int):
    """The encoder, loaded once per process (a worker embeds shard after shard)."""
    return retrieval.load_encoder(name, device, max_seq_length)


def _vectors(art: Artifact, n: int) -> np.ndarray:
    return np.load(art.file(_name(n)))


class DenseHits(NamedTuple):
    hits: shards.Hits
    recall_at_100: float | None
    """The IVF-PQ index's recall@100 against exact search (None: the search was exact)."""


def _query_scores(vectors: np.ndarray, seed_vecs: np.ndarray, combine: str) -> np.ndarray:
    if combine == "mean":
        return vectors @ seed_vecs.mean(0)
    return (vectors @ seed_vecs.T).max(1)


def exact_top(art: Artifact, seed_vecs: np.ndarray, k: int, combine: str) -> shards.Hits:
    """The exact ``k`` best documents, one shard of vectors in memory at a time."""
    best = shards.Hits(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    for n in range(art.summary["shards"]):
        scores = _query_scores(_vectors(art, n), seed_vecs, combine)
        best = shards.merge_top(best, n, scores, k)
    return best


def dense_top(
    art: Artifact, seed_vecs: np.ndarray, k: int, combine: str, exact_max: int, seed: int = 0
) -> DenseHits:
    """The ``k`` documents closest to the seeds (exact up to ``exact_max`` documents, else
    IVF-PQ with its recall@100 measured)."""
    if art.summary["documents"] <= exact_max:
        return DenseHits(exact_top(art, seed_vecs, k, combine), None)
    index, offsets = _ivf_pq(art, seed)
    queries = seed_vecs.mean(0, keepdims=True) if combine == "mean" else seed_vecs
    _, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    rows = np.unique(ids[ids >= 0])
    shard = np.searchsorted(offsets, rows, side="right") - 1
    candidates = shards.Hits(shard, rows - offsets[shard], np.zeros(len(rows)))
    return DenseHits(
        _rescored(art, candidates, seed_vecs, combine), _recall(art, index, offsets, seed_vecs[:16])
    )


def _rescored(art: Artifact, hits: shards.Hits, seed_vecs: np.ndarray, combine: str) -> shards.Hits:
    """``hits`` with their exact scores (each shard's vectors read once), best first."""
    scores = np.empty(len(hits.row))
    for n in np.unique(hits.shard):
        mine = hits.shard == n
        scores[mine] = _query_scores(_vectors(art, n)[hits.row[mine]], seed_vecs, combine)
    order = np.lexsort((hits.row, hits.shard, -scores))
    return shards.Hits(hits.shard[order], hits.row[order], scores[order])


def _ivf_pq(art: Artifact, seed: int):
    """IVF (about 4 sqrt(n) lists, nprobe 16) with PQ codes, trained on a sample drawn from every
    shard, filled shard by shard."""
    import faiss

    n_docs, n_shards = art.summary["documents"], art.summary["shards"]
    dim = art.summary["dim"]
    nlist = int(4 * math.sqrt(n_docs))
    m = max(d for d in range(1, PQ_BYTES + 1) if dim % d == 0)
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    per_shard = math.ceil(min(n_docs, 64 * nlist) / n_shards)
    sample = []
    for n in range(n_shards):
        v = _vectors(art, n)
        sample.append(v[np.sort(rng.choice(len(v), size=min(len(v), per_shard), replace=False))])
    index.train(np.ascontiguousarray(np.concatenate(sample)))
    offsets = [0]
    for n in range(n_shards):
        v = _vectors(art, n)
        index.add(np.ascontiguousarray(v))
        offsets.append(offsets[-1] + len(v))
    index.nprobe = 16
    return index, np.array(offsets[:-1])


def _recall(art: Artifact, index, offsets: np.ndarray, queries: np.ndarray, k: int = 100) -> float:
    """Recall@k of ``index`` against exact search, averaged over ``queries`` (one pass over the
    shards for all of them)."""
    _, got = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    empty = shards.Hits(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    exact = [empty] * len(queries)
    for n in range(art.summary["shards"]):
        scores = _vectors(art, n) @ queries.T
        exact = [shards.merge_top(e, n, scores[:, j], k) for j, e in enumerate(exact)]
    hits = sum(
        len(set((offsets[e.shard] + e.row).tolist()) & set(row.tolist()))
        for e, row in zip(exact, got)
    )
    return hits / (k * len(queries))
