"""The activation cache on the quick demo world: same numbers as a direct forward pass, read back in
any order."""

import numpy as np
import pytest
import torch

from ssae_core.demo.world import world_base
from ssae_core.infra.errors import ConfigError
from ssae_core.models.activations import ActivationStore, CacheConfig, cache_activations, collect
from ssae_core.models.base import BaseSpec


@pytest.fixture(scope="module")
def base(quick_world):
    return world_base(quick_world, BaseSpec(quick=True))


def test_cached_rows_equal_a_direct_forward_pass(base, quick_world, quick_workspace):
    docs = quick_world.split_tokens("physics_seed")[:20]
    art = cache_activations(quick_workspace, base, docs, "test/physics20")
    tok = base.tokenizer
    direct, doc, pos = collect(base.model, base.hook_name, docs, tok.bos_token_id, tok.pad_token_id)
    store = ActivationStore(art)
    assert (store.n, store.d_in) == tuple(direct.shape)
    idx = np.random.default_rng(0).permutation(store.n)[:300]
    assert torch.allclose(store.rows(idx), direct[idx], atol=1e-5)
    assert np.array_equal(store.doc, doc) and np.array_equal(np.load(art.file("pos.npy")), pos)
    tokens = np.load(art.file("tokens.npy"))
    assert all(tokens[i] == docs[doc[i]][pos[i]] for i in idx), (
        "row i is token pos[i] of document doc[i] (BOS excluded)"
    )
    assert cache_activations(quick_workspace, base, docs, "test/physics20").path == art.path, (
        "computed once"
    )


def test_float16_cache_is_half_the_size_and_close(base, quick_world, quick_workspace):
    docs = quick_world.split_tokens("physics_seed")[:20]
    full = cache_activations(quick_workspace, base, docs, "test/physics20")
    half = cache_activations(
        quick_workspace, base, docs, "test/physics20", CacheConfig(dtype="float16")
    )
    assert half.file("acts.npy").stat().st_size < 0.6 * full.file("acts.npy").stat().st_size
    idx = np.arange(ActivationStore(full).n)
    a, b = ActivationStore(full).rows(idx), ActivationStore(half).rows(idx)
    assert b.dtype == torch.float32 and torch.allclose(a, b, rtol=2e-3, atol=2e-3)
    with pytest.raises(ConfigError, match="float32 or float16"):
        cache_activations(quick_workspace, base, docs, "test/physics20", CacheConfig(dtype="int8"))


def test_threads_sharing_one_model_get_their_own_activations(quick_world):
    """Dashboard sessions are threads that share the cached model: concurrent hooked passes must
    not read each other's activations (TransformerLens hooks live on the model)."""
    from concurrent.futures import ThreadPoolExecutor

    from ssae_core.models.activations import collect, pad_id

    model, tok = quick_world.model, quick_world.tokenizer
    splits = ["physics_test", "medicine_test", "general_test", "physics_ood"]
    docs = {s: quick_world.split_tokens(s)[:24] for s in splits}

    def acts(split):
        return collect(model, quick_world.hook_name, docs[split], tok.bos_token_id, pad_id(tok))[0]

    expected = {s: acts(s) for s in splits}
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(acts, splits * 6))
    for split, a in zip(splits * 6, got):
        assert torch.equal(a, expected[split]), split
