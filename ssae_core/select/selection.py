"""Run a selection method end to end and store it as a workspace artifact.

Artifacts: ``embeddings`` (unit-norm corpus vectors per encoder, written batch by
batch into a memmap, reused by every dense selection on that corpus) and
``selection`` (``selected.parquet``: rank, doc_id, score, n_tokens, text, and for
the ``seed`` method the pass; self-contained, so finetuning needs nothing else; the summary holds
the method, token count, timings and, when
ground truth is given, the selection's precision).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from ssae_core.infra.config import Config
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.executor import Executor
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, Step, Workspace, reserved_memmap
from ssae_core.models.activations import CacheConfig, cache_activations
from ssae_core.models.base import source_names
from ssae_core.select import retrieval, shard_dense, shards
from ssae_core.select.data import IngestConfig, TextSet, load_texts

if TYPE_CHECKING:
    from ssae_core.models.base import Base
    from ssae_core.models.source import BaseData


@dataclass(frozen=True)
class EmbedConfig(Config):
    encoder: str = retrieval.DEFAULT_ENCODER
    max_seq_length: int = 128
    version: int = 1


def texts_ref(texts: TextSet) -> str:
    """A stable name for a set of documents (hash of their ids and texts)."""
    h = hashlib.sha256()
    for doc_id, text in zip(texts.docs.doc_id, texts.docs.text):
        h.update(str(doc_id).encode() + b"\x00" + text.encode() + b"\x01")
    return f"texts/{h.hexdigest()[:16]}"


def named_texts(
    spec: str, data: BaseData | None, ingest: IngestConfig | None = None, role: str = "texts"
) -> TextSet:
    """Seeds or a corpus named as the CLI and the pages name them: a name the base's data
    accepts (``demo:SUBDOMAIN``: that subdomain's seed set, ``demo``: the demo world's general
    corpus) or a file / folder."""
    found = data.named_text_set(spec) if data is not None else None
    if found is not None:
        return found
    source = spec.split(":", 1)[0]
    if data is None and source in source_names() and not Path(spec).exists():
        raise ConfigError(
            f"{role} {spec!r} needs the {source} base (--base {source}); give a file or folder"
            " otherwise."
        )
    return load_texts(spec, ingest or IngestConfig())


def data_text_names(data: BaseData | None) -> tuple[list[str], list[str]]:
    """The seed and corpus names ``named_texts`` accepts from the base's data (none without)."""
    return data.text_names() if data is not None else ([], [])


def corpus_embeddings(
    ws: Workspace,
    corpus: TextSet,
    cfg: EmbedConfig,
    device: str = "cpu",
    progress: Progress | None = None,
) -> np.ndarray:
    """The corpus's unit-norm embeddings, computed once per (corpus, encoder) and memory-mapped."""
    progress = progress or Silent()

    def build(out: Path) -> dict:
        encoder = retrieval.load_encoder(cfg.encoder, device, cfg.max_seq_length)
        dim = retrieval.embedding_dim(encoder)
        vectors = reserved_memmap(out / "vectors.npy", np.float32, (len(corpus.docs), dim))
        progress.stage("embed corpus", len(corpus.docs))
        retrieval.embed(corpus.texts, encoder, out=vectors, progress=progress.update)
        vectors.flush()
        return {"documents": len(corpus.docs), "dim": dim}

    art = ws.build("embeddings", cfg, build, [texts_ref(corpus)])
    return np.load(art.file("vectors.npy"), mmap_mode="r")


def run_selection(
    cfg: retrieval.SelectionConfig,
    seeds: TextSet,
    corpus: TextSet,
    base: Base,
    ws: Workspace,
    truth: pd.Series | None = None,
    progress: Progress | None = None,
    step: Step | None = None,
) -> Artifact:
    """Select from ``corpus`` for ``seeds`` by ``cfg`` and store the result (``step``: how the
    artifact is obtained, default ``ws.build``).

    ``base`` supplies the tokenizer (token counts) and, for TracIn, the LM and GSAE;
    seeds, corpus and base name the artifact (``comparable_selections`` relies on it);
    ``truth`` (indexed by doc_id, True for in-domain documents) adds precision.
    """
    cfg.validate()
    progress = progress or Silent()
    inputs = [texts_ref(seeds), texts_ref(corpus), base.ref]

    def build(out: Path) -> dict:
        n_ctx = base.model.cfg.n_ctx
        seed_tokens = retrieval.tokenize(seeds.texts, base.tokenizer, n_ctx)
        if cfg.method == "seed":
            table = _seed_table(seeds, seed_tokens, cfg.token_budget)
            summary = {"timings": {}}
        else:
            progress.stage("tokenize corpus", None)
            pool = retrieval.Pool.build(corpus.docs.doc_id, corpus.texts, base.tokenizer, n_ctx)
            vectors = encoder = None
            if cfg.method.startswith("dense"):
                device = str(base.model.cfg.device)
                vectors = corpus_embeddings(
                    ws, corpus, EmbedConfig(cfg.encoder, cfg.max_seq_length), device, progress
                )
                encoder = retrieval.load_encoder(cfg.encoder, device, cfg.max_seq_length)
            progress.stage(f"rank ({cfg.method})", None)
            ranking = retrieval.rank(
                cfg, seeds.texts, pool, seed_tokens, base, encoder, vectors, progress.update
            )
            table = retrieval.selection_table(ranking, pool, cfg.token_budget)
            summary = {"timings": ranking.timings, **ranking.extra}
        texts = dict(zip(corpus.docs.doc_id, corpus.docs.text)) | dict(
            zip(seeds.docs.doc_id, seeds.docs.text)
        )
        table["text"] = table.doc_id.map(texts)
        table.to_parquet(out / "selected.parquet", index=False)
        summary.update(
            method=cfg.method,
            documents=int(len(table)),
            tokens=int(table.n_tokens.sum()),
            unique_documents=int(table.doc_id.nunique()),
        )
        if truth is not None and cfg.method != "seed":
            summary["precision"] = float(
                truth.reindex(table.doc_id).fillna(False).astype(bool).mean()
            )
        return summary

    return (step or ws.build)("selection", cfg, build, inputs)


class SelectionSummary(NamedTuple):
    """What a ``selection`` artifact says of itself (its manifest summary and budget), typed."""

    key: str
    method: str
    budget: int
    """The token budget it was asked for."""
    documents: int
    tokens: int
    precision: float | None
    """Share of selected general-corpus documents in the subdomain (None without ground truth)."""

    @classmethod
    def of(cls, art: Artifact) -> SelectionSummary:
        s = art.summary
        budget = int(art.manifest["config"]["token_budget"])
        return cls(art.key, s["method"], budget, s["documents"], s["tokens"], s.get("precision"))

    @property
    def label(self) -> str:
        """One line for a picker: method, tokens, documents, precision."""
        precision = "" if self.precision is None else f" · precision {self.precision:.0%}"
        return f"{self.method} · {self.tokens:,} tokens · {self.documents} docs{precision}"


SHARD_METHODS = ("random", "bm25", "dense", "bm25+tracin", "dense+tracin")
"""What a sharded (streamed) corpus can be selected by."""


def run_shard_selection(
    cfg: retrieval.SelectionConfig,
    seeds: TextSet,
    corpus: Artifact,
    base: Base,
    ws: Workspace,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> Artifact:
    """``run_selection`` on a ``corpus_shards`` artifact (``shards.build_shards``): memory holds one
    shard and the candidates, whatever the corpus size. BM25 is exact over the whole corpus; dense
    retrieval embeds the shards as units of ``executor`` (``shard_dense``); a random selection
    draws rows uniformly; TracIn reranks the first stage's pool as in ``retrieval.rank``.
    """
    cfg.validate()
    if cfg.method not in SHARD_METHODS:
        raise ConfigError(
            f"A streamed corpus can be selected by {', '.join(SHARD_METHODS)}, not {cfg.method!r}."
        )
    progress = progress or Silent()
    extra: dict = {}
    n_ctx = base.model.cfg.n_ctx
    n_docs, per_shard = corpus.summary["documents"], corpus.manifest["config"]["shard_docs"]

    def candidates(want: int) -> tuple[shards.Hits, retrieval.Pool]:
        if cfg.method == "random":
            rows = np.random.default_rng(cfg.seed).choice(n_docs, size=want, replace=False)
            hits = shards.Hits(rows // per_shard, rows % per_shard, np.zeros(want))
        elif cfg.method.startswith("bm25"):
            hits = shards.bm25_top(corpus, seeds.texts, want, cfg.combine, progress)
        else:
            hits = dense_hits(want)
        docs = shards.texts_of(corpus, hits)
        return hits, retrieval.Pool.build(docs.doc_id, docs.text.tolist(), base.tokenizer, n_ctx)

    def dense_hits(want: int) -> shards.Hits:
        device = str(base.model.cfg.device)
        embed_cfg = EmbedConfig(cfg.encoder, cfg.max_seq_length)
        context = base.context(ws, device, progress)
        vectors = shard_dense.embed_shards(ws, corpus, embed_cfg, context, executor)
        encoder = retrieval.load_encoder(cfg.encoder, device, cfg.max_seq_length)
        seed_vecs = retrieval.embed(seeds.texts, encoder)
        found = shard_dense.dense_top(
            vectors, seed_vecs, want, cfg.combine, cfg.exact_search_max, cfg.seed
        )
        if found.recall_at_100 is not None:
            extra["ivf_recall_at_100"] = found.recall_at_100
        return found.hits

    def build(out: Path) -> dict:
        start = time.perf_counter()
        first = min(500, per_shard, n_docs)  # the mean document length, from the first shard
        sample = shards.texts_of(corpus, shards.Hits(np.zeros(first, int), np.arange(first), None))
        lengths = [len(t) for t in retrieval.tokenize(sample.text.tolist(), base.tokenizer, n_ctx)]
        tracin = cfg.method.endswith("+tracin")
        need = 2 * cfg.token_budget if tracin else cfg.token_budget
        want = min(n_docs, retrieval.docs_for(need, np.array(lengths)))
        if tracin:
            want = max(want, min(n_docs, int(cfg.pool_fraction * n_docs)))
        hits, pool = candidates(want)
        while pool.n_tokens.sum() < need and want < n_docs:  # documents shorter than the sample's
            want = min(n_docs, 2 * want)
            hits, pool = candidates(want)
        timings = {cfg.method.split("+")[0]: time.perf_counter() - start}
        order, scores = np.arange(len(pool)), hits.score
        if tracin:
            start = time.perf_counter()
            seed_tokens = retrieval.tokenize(seeds.texts, base.tokenizer, n_ctx)
            order, scores = retrieval.tracin_rerank(
                base, seed_tokens, pool.tokens, cfg.tracin_l1, progress.update
            )
            timings["tracin"] = time.perf_counter() - start
        ranking = retrieval.Ranking(order, scores, timings, {})
        table = retrieval.selection_table(ranking, pool, cfg.token_budget)
        table["text"] = table.doc_id.map(dict(zip(pool.doc_ids, pool.texts)))
        table.to_parquet(out / "selected.parquet", index=False)
        return {
            "timings": timings,
            "method": cfg.method,
            "documents": int(len(table)),
            "tokens": int(table.n_tokens.sum()),
            "unique_documents": int(table.doc_id.nunique()),
            "corpus_documents": int(n_docs),
            "candidates": int(len(pool)),
            **extra,
        }

    return ws.build("selection", cfg, build, [texts_ref(seeds), corpus.ref, base.ref])


def _seed_table(seeds: TextSet, seed_tokens: list[np.ndarray], budget: int) -> pd.DataFrame:
    counts = np.array([len(t) for t in seed_tokens])
    passes = retrieval.seed_passes(counts, budget)
    idx = passes.seed_index.to_numpy()
    return pd.DataFrame(
        {
            "rank": np.arange(len(idx)),
            "doc_id": seeds.docs.doc_id.to_numpy()[idx],
            "score": 0.0,
            "n_tokens": counts[idx],
            "pass": passes["pass"].to_numpy(),
        }
    )


def load_selection(art: Artifact) -> pd.DataFrame:
    return pd.read_parquet(art.file("selected.parquet"))


def comparable_selections(ws: Workspace, like: Artifact) -> list[Artifact]:
    """Stored selections from the same seeds and corpus at the same token budget as ``like``."""
    budget, inputs = like.manifest["config"]["token_budget"], like.manifest["inputs"]
    return [
        a
        for a in ws.list("selection")
        if a.manifest["inputs"] == inputs and a.manifest["config"]["token_budget"] == budget
    ]


def overlap_matrix(arts: list[Artifact]) -> pd.DataFrame:
    """Jaccard overlap of the selections' document sets, labelled by method (square, symmetric)."""
    methods = [SelectionSummary.of(a).method for a in arts]
    tables = {
        (m if methods.count(m) == 1 else f"{m} ({a.key[:6]})"): load_selection(a)
        for m, a in zip(methods, arts)
    }
    names = sorted(tables)
    values = [[retrieval.jaccard(tables[r], tables[c]) for c in names] for r in names]
    return pd.DataFrame(values, index=names, columns=names)


def embedding_map(
    ws: Workspace,
    art: Artifact,
    seeds: TextSet,
    corpus: TextSet,
    device: str = "cpu",
    sample: int = 2000,
) -> pd.DataFrame | None:
    """UMAP map (``maps.selection_map``) of a selection's seeds, selected documents and a corpus
    sample, in the embedding space of its dense encoder; None while the corpus has no stored
    embeddings (a dense selection computes them once per corpus)."""
    from ssae_core.select.maps import selection_map

    cfg = art.manifest["config"]
    embed_cfg = EmbedConfig(cfg["encoder"], cfg["max_seq_length"])
    stored = ws.find("embeddings", embed_cfg, [texts_ref(corpus)])
    if stored is None:
        return None
    encoder = retrieval.load_encoder(embed_cfg.encoder, device, embed_cfg.max_seq_length)
    row_of = pd.Series(np.arange(len(corpus.docs)), index=corpus.docs.doc_id.to_numpy())
    selected = row_of.reindex(load_selection(art).doc_id).dropna().astype(int).unique()
    vectors = np.load(stored.file("vectors.npy"), mmap_mode="r")
    return selection_map(retrieval.embed(seeds.texts, encoder), vectors, np.sort(selected), sample)


def selection_activations(
    ws: Workspace,
    base: Base,
    selection_art: Artifact,
    cfg: CacheConfig = CacheConfig(),
    progress: Progress | None = None,
    step: Step | None = None,
) -> Artifact:
    """The ``activations`` cache of a selection's documents at the base's hook: what finetuning
    trains on."""
    texts = load_selection(selection_art).text.tolist()
    tokens = retrieval.tokenize(texts, base.tokenizer, base.model.cfg.n_ctx)
    return cache_activations(ws, base, tokens, selection_art.ref, cfg, progress, step)
