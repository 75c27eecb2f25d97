"""Sharded corpora: streamed sources, exact BM25 across shards (against bm25s on the whole
corpus), resuming an interrupted build, and a selection equal to the in-memory one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from ssae_core.demo.world import world_base
from ssae_core.infra.errors import ConfigError
from ssae_core.infra.executor import Context
from ssae_core.infra.progress import Progress
from ssae_core.infra.workspace import Workspace
from ssae_core.models.base import BaseSpec
from ssae_core.select import retrieval, shard_dense, shards
from ssae_core.select.data import DataError
from ssae_core.select.selection import (
    EmbedConfig,
    load_selection,
    run_selection,
    run_shard_selection,
)


@pytest.fixture(scope="module")
def general(quick_world, tmp_path_factory):
    """The quick world's general corpus as a .jsonl file: (path, texts)."""
    texts = quick_world.text_set("general").texts
    path = tmp_path_factory.mktemp("corpus") / "general.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path, texts


def _all_scores(art, seeds, combine, n_docs, per_shard):
    hits = shards.bm25_top(art, seeds, n_docs, combine)
    scores = np.full(n_docs, np.nan)
    scores[hits.shard * per_shard + hits.row] = hits.score
    return hits, scores


@pytest.mark.parametrize("combine", ["mean", "max"])
def test_sharded_bm25_equals_bm25s_on_the_whole_corpus(general, quick_world, tmp_path, combine):
    path, texts = general
    texts, path = texts[:700], tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    art = shards.build_shards(Workspace(tmp_path / "ws"), str(path), shards.ShardConfig(300))
    assert art.summary["shards"] == 3 and art.summary["documents"] == 700  # the last one partial
    seeds = quick_world.text_set("physics_seed").texts
    hits, scores = _all_scores(art, seeds, combine, 700, 300)
    reference = retrieval.bm25_scores(seeds, texts, combine)
    np.testing.assert_allclose(scores, reference, rtol=1e-6, atol=1e-6)  # bm25s: float32
    assert (np.diff(hits.score) <= 0).all()
    top = shards.bm25_top(art, seeds, 25, combine)  # each shard cut to 25 before merging
    np.testing.assert_array_equal(top.shard * 300 + top.row, (hits.shard * 300 + hits.row)[:25])


def test_sources_stream_the_same_documents(tmp_path):
    texts = [f"document {i} about quantum fields" for i in range(30)] + ["  ", "last one"]
    folder = tmp_path / "folder"
    folder.mkdir()
    for part in range(2):  # a folder of jsonl shards
        chunk = texts[part * 16 : (part + 1) * 16]
        lines = "".join(json.dumps({"body": t}) + "\n" for t in chunk)
        (folder / f"part-{part}.jsonl").write_text(lines)
    pd.DataFrame({"body": texts}).to_parquet(tmp_path / "c.parquet")
    cfg = shards.ShardConfig(shard_docs=8, text_field="body")
    expected = [t.strip() for t in texts if t.strip()]
    for source in (str(folder), str(tmp_path / "c.parquet"), f"hf:{folder}"):
        assert [t for _, t in shards.stream(source, cfg)] == expected, source
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": "fine"}\n{"body": 3}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'body' holds a number"):
        list(shards.stream(str(bad), cfg))
    with pytest.raises(DataError, match="no column 'text'"):
        list(shards.stream(str(tmp_path / "c.parquet"), shards.ShardConfig()))


def test_an_interrupted_build_resumes_at_the_first_missing_shard(general, tmp_path, monkeypatch):
    path, _ = general
    cfg = shards.ShardConfig(shard_docs=600)
    whole = shards.build_shards(Workspace(tmp_path / "whole"), str(path), cfg)
    ws = Workspace(tmp_path / "ws")
    real, written = shards._write_shard, []

    def write(dest, n, records):
        if n == 2 and not written.count("stop"):
            written.append("stop")
            raise KeyboardInterrupt  # Ctrl-C after two shards
        written.append(n)
        real(dest, n, records)

    monkeypatch.setattr(shards, "_write_shard", write)
    with pytest.raises(KeyboardInterrupt):
        shards.build_shards(ws, str(path), cfg)
    assert written == [0, 1, "stop"]
    art = shards.build_shards(ws, str(path), cfg)
    assert written[3:] == list(range(2, whole.summary["shards"]))  # 0 and 1 kept, not redone
    assert art.summary == whole.summary
    for f in sorted(whole.path.glob("*-*.*")):
        assert (art.path / f.name).read_bytes() == f.read_bytes(), f.name
    assert not (ws.root / "partial").exists() or not any((ws.root / "partial").iterdir())


@pytest.mark.slow
def test_shard_selection_equals_the_in_memory_selection(general, quick_world, quick_workspace):
    path, _ = general
    base = world_base(quick_world, BaseSpec(quick=True))
    seeds = quick_world.text_set("physics_seed")
    corpus = shards.build_shards(quick_workspace, str(path), shards.ShardConfig(shard_docs=700))
    whole = quick_world.text_set("general")
    for method in ("bm25", "dense", "random"):
        cfg = retrieval.SelectionConfig(method=method, token_budget=3000, max_seq_length=64)
        art = run_shard_selection(cfg, seeds, corpus, base, quick_workspace)
        sharded = load_selection(art)
        assert sharded.n_tokens.sum() >= 3000 > sharded.n_tokens.iloc[:-1].sum()
        if method != "random":
            memory = load_selection(run_selection(cfg, seeds, whole, base, quick_workspace))
            assert sharded.text.tolist() == memory.text.tolist(), method
        if method == "dense":  # above the exact-search size: IVF-PQ, its recall measured
            ivf = cfg.replace(exact_search_max=1000)
            approx = run_shard_selection(ivf, seeds, corpus, base, quick_workspace)
            assert 0.5 < approx.summary["ivf_recall_at_100"] <= 1
            # each hit's PQ score is its exact score, up to the codes' error: the rows map back
            exact = dict(
                zip(whole.docs.text, whole_vectors(quick_workspace, whole) @ centroid(seeds))
            )
            found = load_selection(approx)
            np.testing.assert_allclose(found.score, found.text.map(exact), atol=0.05)
    with pytest.raises(ConfigError, match="streamed corpus can be selected by"):
        cfg = retrieval.SelectionConfig(method="seed")
        run_shard_selection(cfg, seeds, corpus, base, quick_workspace)


def whole_vectors(ws, texts) -> np.ndarray:
    from ssae_core.select.selection import corpus_embeddings

    return np.asarray(corpus_embeddings(ws, texts, EmbedConfig(max_seq_length=64)))


def centroid(seeds) -> np.ndarray:
    return retrieval.embed(seeds.texts, retrieval.load_encoder(max_seq_length=64)).mean(0)


def test_shard_embeddings_resume_and_match_the_whole_corpus(tmp_path, monkeypatch):
    texts = [
        f"note {i}: {'quantum field' if i % 3 else 'cell biology'} number {i}" for i in range(50)
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    ws = Workspace(tmp_path / "ws")
    corpus = shards.build_shards(ws, str(path), shards.ShardConfig(shard_docs=20))
    real, calls = shard_dense.embed_shard, []

    def embed(context, corpus_ref, cfg, n, dest):
        calls.append(n)
        if calls == [0, 1]:
            raise KeyboardInterrupt
        return real(context, corpus_ref, cfg, n, dest)

    monkeypatch.setattr(shard_dense, "embed_shard", embed)
    context = Context(ws, None, "cpu", Progress())
    cfg = EmbedConfig(max_seq_length=32)
    with pytest.raises(KeyboardInterrupt):
        shard_dense.embed_shards(ws, corpus, cfg, context)
    art = shard_dense.embed_shards(ws, corpus, cfg, context)
    assert calls == [0, 1, 1, 2]  # shard 0 kept
    vectors = np.concatenate([np.load(art.file(f"vectors-{n:05d}.npy")) for n in range(3)])
    encoder = retrieval.load_encoder(max_seq_length=32)
    np.testing.assert_allclose(vectors, retrieval.embed(texts, encoder), atol=1e-5)


def test_select_stream_cli(general, quick_build):
    path, _ = general
    root, _ = quick_build
    args = ["select", "--seeds", "demo:physics", "--corpus", str(path), "--stream", "--quick"]
    args += [
        "--shard-docs",
        "1000",
        "--method",
        "bm25",
        "--tokens",
        "2000",
        "--workspace",
        str(root),
    ]
    out = json.loads(run_cli(*args, "--json", "--device", "cpu").stdout)
    assert out["tokens"] >= 2000 and out["corpus"]["shards"] == 3
    assert out["corpus"]["documents"] == out["corpus_documents"] == 2500
    bad = run_cli(*args[:-6], "--method", "seed", "--workspace", str(root), check=False)
    assert bad.returncode != 0 and "streamed corpus can be selected by" in bad.stderr
