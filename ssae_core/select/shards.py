"""Corpora too large for memory: read as a stream, stored as shards, searched shard by shard.

A ``corpus_shards`` artifact holds the corpus as ``docs-NNNNN.parquet`` files of
``ShardConfig.shard_docs`` documents (doc_id, text) and, per shard, an inverted BM25 index
``bm25-NNNNN.npz`` (the shard's terms, their postings: document and term frequency, and each
document's length). Building reads the source once, one shard at a time, so memory holds one
shard whatever the corpus size; each finished shard is kept in ``<ws>/partial/`` at once, so an
interrupted build resumes at the first missing shard (the source is read again from the start and
the finished shards' documents skipped).

Sources: a ``.jsonl`` or ``.parquet`` file (read by lines / row batches), a folder of such shards
(sorted by name; ``.txt`` / ``.csv`` files in it are read whole, each within
``IngestConfig.max_file_bytes``), or ``hf:NAME[:SPLIT]`` (a Hugging Face dataset in streaming
mode; ``hf:`` with a local folder or data files works offline). Empty documents are dropped;
exact duplicates are not (that needs memory growing with the corpus).

``bm25_top`` scores documents exactly as Okapi BM25 over the whole corpus (bm25s' default
``lucene`` variant and tokenizer, so a one-shard corpus gives ``retrieval.bm25_scores``): the
document frequencies and the mean length are global, summed from the shards' postings first, and
each shard's scores are reduced to its best ``k`` before the next shard is read.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ssae_core.infra.config import Config
from ssae_core.infra.progress import Progress, Silent
from ssae_core.infra.workspace import Artifact, Workspace, adopt_parts, atomic_write_bytes
from ssae_core.select.data import (
    TEXT_SUFFIXES,
    DataError,
    IngestConfig,
    json_kind,
    jsonl_text,
    read_file,
)

K1, B = 1.5, 0.75
"""bm25s' defaults (Lucene's BM25)."""


@dataclass(frozen=True)
class ShardConfig(Config):
    """How a large corpus is cut into shards."""

    shard_docs: int = 50_000
    """Documents per shard (memory while building and searching holds about one shard)."""
    text_field: str = "text"
    """jsonl field / parquet column holding the text."""
    version: int = 1


class Shard(NamedTuple):
    """One shard's inverted index: term -> row, postings per term row (CSR: documents and term
    frequencies), each document's length in terms."""

    terms: dict[str, int]
    indptr: np.ndarray
    docs: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray


def source_ref(source: str) -> str:
    """A name for the source's content: a hub dataset by name, files by path, size and mtime."""
    if source.startswith("hf:"):
        return f"hf/{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    path = Path(source).expanduser().resolve()
    h = hashlib.sha256(str(path).encode())
    for f in _files(path):
        st = f.stat()
        h.update(f"{f}\x00{st.st_size}\x00{st.st_mtime_ns}\x01".encode())
    return f"files/{h.hexdigest()[:16]}"


def stream(source: str, cfg: ShardConfig) -> Iterator[tuple[str, str]]:
    """(doc_id, text) of every non-empty document of ``source``, in a fixed order."""
    if source.startswith("hf:"):
        yield from _hub_stream(source[3:], cfg)
        return
    for f in _files(Path(source).expanduser()):
        for doc_id, text in _file_stream(f, cfg):
            text = text.strip()
            if text:
                yield doc_id, text


def _files(path: Path) -> list[Path]:
    """The file, or the folder's text files (sorted by path)."""
    if not path.exists():
        raise DataError(f"{path} does not exist. Give a .jsonl or .parquet file, or a folder.")
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        raise DataError(f"The folder {path} has no .txt, .jsonl, .csv or .parquet files.")
    return files


def _file_stream(path: Path, cfg: ShardConfig) -> Iterator[tuple[str, str]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        if cfg.text_field not in pf.schema_arrow.names:
            raise DataError(
                f"{path} has no column {cfg.text_field!r} (it has {pf.schema_arrow.names});"
                " give --text-field."
            )
        row = 0
        for batch in pf.iter_batches(columns=[cfg.text_field], batch_size=8192):
            for text in batch.column(0).to_pylist():
                yield f"{path.name}#{row}", text or ""
                row += 1
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8-sig") as fh:
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    yield f"{path.name}:{line_no}", jsonl_text(path, line_no, line, cfg.text_field)
    else:
        yield from read_file(path, IngestConfig(text_field=cfg.text_field))


def _hub_stream(spec: str, cfg: ShardConfig) -> Iterator[tuple[str, str]]:
    import datasets

    name, _, split = spec.partition(":")
    local = Path(name).expanduser()
    try:
        if local.exists():  # a local folder or data file: the matching builder, offline
            files = [str(local)] if local.is_file() else None
            builder = local.suffix.lstrip(".") if local.is_file() else str(local)
            ds = datasets.load_dataset(
                "json" if builder == "jsonl" else builder,
                data_files=files,
                split=split or "train",
                streaming=True,
            )
        else:
            ds = datasets.load_dataset(name, split=split or "train", streaming=True)
    except Exception as err:  # datasets raises many kinds; all mean "cannot read this"
        raise DataError(
            f"Could not stream the dataset {name!r}: {err}. Check the name (and the network:"
            " a hub dataset needs it), or give a local .jsonl / .parquet file or folder."
        ) from err
    for i, row in enumerate(ds):
        text = row.get(cfg.text_field)
        if not isinstance(text, str):
            raise DataError(
                f"hf:{name} row {i}: the field {cfg.text_field!r} is {json_kind(text)}, not a"
                " string. Give --text-field."
            )
        if text.strip():
            yield f"hf:{name}#{i}", text.strip()


def build_shards(
    ws: Workspace, source: str, cfg: ShardConfig = ShardConfig(), progress: Progress | None = None
) -> Artifact:
    """The ``corpus_shards`` artifact of ``source`` (built shard by shard, resumable)."""
    progress = progress or Silent()
    inputs = [source_ref(source)]

    def build(out: Path) -> dict:
        partial = ws.partial("corpus_shards", cfg, inputs)
        done = _finished(partial)
        progress.stage("shard the corpus", None)
        if done:
            progress.log(f"resuming after {done} finished shards")
        n_shards, n_docs = done, done * cfg.shard_docs
        batch: list[tuple[str, str]] = []
        for i, record in enumerate(stream(source, cfg)):
            if i < done * cfg.shard_docs:
                continue
            batch.append(record)
            if len(batch) == cfg.shard_docs:
                _write_shard(partial, n_shards, batch)
                n_shards, n_docs, batch = n_shards + 1, n_docs + len(batch), []
                progress.update(1, shards=n_shards, documents=n_docs)
        if batch:
            _write_shard(partial, n_shards, batch)
            n_shards, n_docs = n_shards + 1, n_docs + len(batch)
        if n_docs == 0:
            raise DataError(f"{source} holds no text. Check the file and its text field.")
        adopt_parts(partial, out)
        return {"source": source, "shards": n_shards, "documents": n_docs}

    return ws.build("corpus_shards", cfg, build, inputs)


def _finished(partial: Path) -> int:
    """How many shards (from the first) are complete: both files written."""
    n = 0
    while (partial / f"bm25-{n:05d}.npz").exists() and (partial / f"docs-{n:05d}.parquet").exists():
        n += 1
    return n


def _write_shard(dest: Path, n: int, records: list[tuple[str, str]]) -> None:
    docs = pd.DataFrame(records, columns=["doc_id", "text"])
    buf = io.BytesIO()
    docs.to_parquet(buf, index=False)
    atomic_write_bytes(dest / f"docs-{n:05d}.parquet", buf.getvalue())
    shard = index_shard(docs.text.tolist())
    buf = io.BytesIO()
    # terms as one newline-joined UTF-8 blob (bm25s' terms are \w runs: no newlines)
    blob = np.frombuffer("\n".join(shard.terms).encode(), dtype=np.uint8)
    np.savez(buf, **shard._asdict() | {"terms": blob})
    atomic_write_bytes(dest / f"bm25-{n:05d}.npz", buf.getvalue())  # last: marks the shard done


def index_shard(texts: list[str]) -> Shard:
    """The inverted index of one shard's documents (bm25s' tokenizer)."""
    import bm25s

    tokens = bm25s.tokenize(texts, show_progress=False, return_ids=False)
    lengths = np.array([len(t) for t in tokens], dtype=np.int32)
    terms: dict[str, int] = {}
    term_id = np.fromiter(
        (terms.setdefault(w, len(terms)) for doc in tokens for w in doc),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    doc_of = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
    keys, tf = np.unique(term_id * len(tokens) + doc_of, return_counts=True)
    term_of, docs = np.divmod(keys, len(tokens))
    indptr = np.searchsorted(term_of, np.arange(len(terms) + 1))
    return Shard(terms, indptr, docs.astype(np.int32), tf.astype(np.int32), lengths)


def count(art: Artifact) -> int:
    """How many shards the artifact holds."""
    return int(art.summary["shards"])


def load_shard(art: Artifact, n: int, postings: bool = True) -> Shard:
    """Shard ``n``'s index; without ``postings`` only the terms, offsets and lengths are read."""
    with np.load(art.file(f"bm25-{n:05d}.npz")) as z:
        words = z["terms"].tobytes().decode().split("\n") if len(z["terms"]) else []
        empty = np.empty(0, np.int32)
        docs, tf = (z["docs"], z["tf"]) if postings else (empty, empty)
        return Shard({w: i for i, w in enumerate(words)}, z["indptr"], docs, tf, z["lengths"])


def _postings(shard: Shard, term: str) -> tuple[np.ndarray, np.ndarray]:
    i = shard.terms.get(term)
    if i is None:
        return np.empty(0, np.int32), np.empty(0, np.int32)
    lo, hi = shard.indptr[i], shard.indptr[i + 1]
    return shard.docs[lo:hi], shard.tf[lo:hi]


class Hits(NamedTuple):
    """The best documents, best first: (shard, row in shard) and score."""

    shard: np.ndarray
    row: np.ndarray
    score: np.ndarray


def bm25_top(
    art: Artifact, seeds: list[str], k: int, combine: str = "mean", progress: Progress | None = None
) -> Hits:
    """The ``k`` best documents of the sharded corpus for the seed documents as queries (scores
    combined per document by ``combine``, as ``retrieval.bm25_scores``)."""
    import bm25s

    progress = progress or Silent()
    queries = bm25s.tokenize(seeds, show_progress=False, return_ids=False)
    vocab = sorted({w for q in queries for w in q})
    n_docs, total_len, df = 0, 0, dict.fromkeys(vocab, 0)
    progress.stage("BM25: corpus statistics", count(art))
    for n in range(count(art)):
        shard = load_shard(art, n, postings=False)
        n_docs, total_len = n_docs + len(shard.lengths), total_len + int(shard.lengths.sum())
        for w in vocab:
            if (i := shard.terms.get(w)) is not None:
                df[w] += int(shard.indptr[i + 1] - shard.indptr[i])
        progress.update(1)
    idf = {w: np.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for w, d in df.items()}
    avgdl = total_len / n_docs
    best = Hits(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    progress.stage("BM25: score", count(art))
    for n in range(count(art)):
        best = merge_top(
            best, n, _shard_scores(load_shard(art, n), queries, idf, avgdl, combine), k
        )
        progress.update(1)
    return best


def merge_top(best: Hits, shard: int, scores: np.ndarray, k: int) -> Hits:
    """The ``k`` best of ``best`` and shard ``shard``'s ``scores`` (ties: the earlier shard and
    row first, as one stable sort of the whole corpus would)."""
    top = np.argsort(-scores, kind="stable")[:k]
    merged = Hits(
        np.concatenate([best.shard, np.full(len(top), shard)]),
        np.concatenate([best.row, top]),
        np.concatenate([best.score, scores[top]]),
    )
    keep = np.argsort(-merged.score, kind="stable")[:k]
    return Hits(*(a[keep] for a in merged))


def _shard_scores(shard: Shard, queries, idf: dict, avgdl: float, combine: str) -> np.ndarray:
    norm = K1 * (1 - B + B * shard.lengths / avgdl)
    total = (
        np.zeros(len(shard.lengths)) if combine == "mean" else np.full(len(shard.lengths), -np.inf)
    )
    for query in queries:
        scores = np.zeros(len(shard.lengths))
        for w in query:
            docs, tf = _postings(shard, w)
            scores[docs] += idf[w] * tf / (tf + norm[docs])
        total = total + scores if combine == "mean" else np.maximum(total, scores)
    return total / len(queries) if combine == "mean" else total


def texts_of(art: Artifact, hits: Hits) -> pd.DataFrame:
    """doc_id and text of the hits, in the hits' order (one shard file read at a time)."""
    parts = []
    for n in np.unique(hits.shard):
        rows = hits.row[hits.shard == n]
        docs = pd.read_parquet(art.file(f"docs-{n:05d}.parquet")).iloc[rows]
        parts.append(docs.assign(order=np.flatnonzero(hits.shard == n)))
    return pd.concat(parts).sort_values("order").drop(columns="order").reset_index(drop=True)
