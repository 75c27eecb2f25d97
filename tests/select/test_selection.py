"""Selection methods on the quick demo world, with the real BM25, encoder and faiss."""

import numpy as np
import pytest

from ssae_core.demo.world import world_base
from ssae_core.infra.errors import ConfigError
from ssae_core.models.base import BaseSpec
from ssae_core.select import retrieval
from ssae_core.select.selection import (
    EmbedConfig,
    SelectionSummary,
    comparable_selections,
    corpus_embeddings,
    load_selection,
    overlap_matrix,
    run_selection,
)

BUDGET = 6000


@pytest.fixture(scope="module")
def setup(quick_world, quick_workspace):
    base = world_base(quick_world, BaseSpec(quick=True))
    return dict(
        base=base,
        ws=quick_workspace,
        seeds=quick_world.text_set("physics_seed"),
        corpus=quick_world.text_set(quick_world.corpus_split),  # the retrieval pool
        truth=quick_world.in_domain("physics"),
    )


def _run(setup, method, budget=BUDGET, **kw):
    cfg = retrieval.SelectionConfig(method=method, token_budget=budget, **kw)
    return run_selection(
        cfg, setup["seeds"], setup["corpus"], setup["base"], setup["ws"], setup["truth"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", ["random", "bm25", "dense", "bm25+tracin", "dense+tracin"])
def test_every_method_fills_the_budget(setup, method):
    art = _run(setup, method)
    table = load_selection(art)
    summary = SelectionSummary.of(art)
    assert (summary.method, summary.budget, summary.documents) == (method, BUDGET, len(table))
    assert summary.tokens == table.n_tokens.sum() and 0 <= summary.precision <= 1
    assert summary.label.startswith(f"{method} · {summary.tokens:,} tokens")
    assert table.n_tokens.sum() >= BUDGET
    assert table.n_tokens.iloc[:-1].sum() < BUDGET, "stops at the first document past the budget"
    assert list(table["rank"]) == list(range(len(table)))
    assert table.doc_id.is_unique


@pytest.mark.parametrize("method", ["random", "bm25", "dense", "dense+tracin"])
def test_ranking_is_deterministic(setup, method):
    cfg = retrieval.SelectionConfig(method=method, token_budget=BUDGET)
    corpus, base = setup["corpus"], setup["base"]
    n_ctx = base.model.cfg.n_ctx
    pool = retrieval.Pool.build(corpus.docs.doc_id, corpus.texts, base.tokenizer, n_ctx)
    seed_tokens = retrieval.tokenize(setup["seeds"].texts, base.tokenizer, n_ctx)
    encoder = retrieval.load_encoder() if method.startswith("dense") else None
    vectors = corpus_embeddings(setup["ws"], corpus, EmbedConfig()) if encoder else None
    runs = [
        retrieval.rank(cfg, setup["seeds"].texts, pool, seed_tokens, base, encoder, vectors)
        for _ in range(2)
    ]
    assert np.array_equal(runs[0].order, runs[1].order)
    assert np.allclose(runs[0].scores, runs[1].scores)


def test_retrieval_beats_random_on_precision(setup):
    # The quick world's retrieval pool is 16% physics (about 24K tokens): a 1.5K budget can be all
    # physics. A random pick of its ~15 documents hits the base rate give or take two documents.
    precision = {
        m: _run(setup, m, budget=1500).summary["precision"] for m in ["random", "bm25", "dense"]
    }
    assert precision["random"] < 0.4
    assert precision["bm25"] > precision["random"] + 0.5, precision
    assert precision["dense"] > precision["random"] + 0.5, precision


def test_seed_method_repeats_the_seed_set(setup):
    table = load_selection(_run(setup, "seed"))
    assert table["pass"].max() >= 1
    assert set(table.doc_id) == set(setup["seeds"].docs.doc_id)


def test_max_and_mean_combine_are_both_available(setup):
    a = load_selection(_run(setup, "bm25", combine="max"))
    b = load_selection(_run(setup, "bm25", combine="mean"))
    assert 0 < retrieval.jaccard(a, b) <= 1


def test_bad_configs_are_explained():
    with pytest.raises(ConfigError, match="Unknown selection method"):
        retrieval.SelectionConfig(method="magic").validate()
    with pytest.raises(ConfigError, match="token_budget"):
        retrieval.SelectionConfig(token_budget=0).validate()


def test_ivf_index_recall_is_measured_against_exact_search():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((5000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = retrieval.build_index(vectors, exact_max=10_000)
    ivf = retrieval.build_index(vectors, exact_max=1000)
    queries = vectors[:8]
    assert retrieval.index_recall(vectors, exact, queries, k=50) == 1.0
    assert 0.3 < retrieval.index_recall(vectors, ivf, queries, k=50) <= 1.0


def test_overlap_matrix_of_stored_selections(setup):
    bm25, dense = _run(setup, "bm25"), _run(setup, "dense")
    _run(setup, "bm25", budget=BUDGET // 2)  # another budget: not comparable
    arts = comparable_selections(setup["ws"], bm25)
    assert {a.key for a in arts} >= {bm25.key, dense.key}
    assert all(a.manifest["config"]["token_budget"] == BUDGET for a in arts)
    matrix = overlap_matrix([bm25, dense])
    assert list(matrix.index) == list(matrix.columns) == ["bm25", "dense"]
    assert np.allclose(np.diag(matrix), 1.0)
    assert (
        matrix.loc["bm25", "dense"]
        == matrix.loc["dense", "bm25"]
        == retrieval.jaccard(load_selection(bm25), load_selection(dense))
    )
