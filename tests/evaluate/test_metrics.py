"""Spliced CE and friends checked against a plain hand-written TransformerLens hook."""

import math

import numpy as np
import torch

from ssae_core.evaluate.metrics import ce_recovered, evaluate_saes


def _reference(model, sae, hook, docs, bos, mode):
    """Mean next-token CE, one document at a time, replacing non-BOS activations by hook."""
    total, count = 0.0, 0

    def replace(act, hook):
        out = act.clone()
        if mode == "sae":
            out[:, 1:] = sae.decode(sae.encode(act[:, 1:]))
        elif mode == "zero":
            out[:, 1:] = 0
        return out

    for doc in docs:
        tokens = torch.tensor([[bos, *doc]])
        logits = model.run_with_hooks(tokens, fwd_hooks=[(hook, replace)])
        logp = logits[0, :-1].log_softmax(-1)
        nll = -logp[torch.arange(len(doc)), tokens[0, 1:]]
        total += nll.sum().item()
        count += len(doc)
    return total / count


def test_spliced_clean_and_zero_ce_match_hook_reference(quick_world):
    model, sae, hook = quick_world.model, quick_world.gsae, quick_world.hook_name
    tok = quick_world.tokenizer
    docs = quick_world.split_tokens("general_test")[:12]
    got = evaluate_saes(model, {"g": sae}, hook, docs, tok.bos_token_id, tok.pad_token_id)["g"]
    with torch.no_grad():
        for mode, key in [
            ("clean", "ce_clean"),
            ("sae", "ce_spliced"),
            ("zero", "ce_zero_ablation"),
        ]:
            want = _reference(model, sae, hook, docs, tok.bos_token_id, mode)
            assert math.isclose(getattr(got, key), want, rel_tol=1e-4), (
                key,
                getattr(got, key),
                want,
            )
    assert math.isclose(got.ppl_spliced, math.exp(got.ce_spliced))
    assert got.ce_clean < got.ce_spliced < got.ce_zero_ablation


def test_sparsity_and_variance_match_direct_computation(quick_world):
    model, sae, hook = quick_world.model, quick_world.gsae, quick_world.hook_name
    tok = quick_world.tokenizer
    docs = quick_world.split_tokens("general_test")[:8]
    got = evaluate_saes(model, {"g": sae}, hook, docs, tok.bos_token_id, tok.pad_token_id)["g"]
    with torch.no_grad():
        xs = [
            model.run_with_cache(torch.tensor([[tok.bos_token_id, *d]]), names_filter=hook)[1][
                hook
            ][0, 1:]
            for d in docs
        ]
        x = torch.cat(xs)
        f = sae.encode(x)
        err = (sae.decode(f) - x).pow(2).sum()
    assert math.isclose(got.l0, (f > 0).float().sum(-1).mean().item(), rel_tol=1e-5)
    assert math.isclose(got.fvu, (err / (x - x.mean(0)).pow(2).sum()).item(), rel_tol=1e-3)
    assert got.n_tokens == sum(len(d) for d in docs)


def test_two_saes_share_one_pass_and_get_their_own_numbers(quick_world):
    model, sae, hook = quick_world.model, quick_world.gsae, quick_world.hook_name
    tok = quick_world.tokenizer
    docs = quick_world.split_tokens("general_test")[:6]
    import copy

    worse = copy.deepcopy(sae)
    with torch.no_grad():
        worse.W_dec.mul_(0.5)
    both = evaluate_saes(
        model, {"a": sae, "b": worse}, hook, docs, tok.bos_token_id, tok.pad_token_id
    )
    alone = evaluate_saes(model, {"a": sae}, hook, docs, tok.bos_token_id, tok.pad_token_id)
    assert math.isclose(both["a"].ce_spliced, alone["a"].ce_spliced, rel_tol=1e-9)
    assert both["b"].mse > both["a"].mse


def test_ce_recovered_formula():
    assert ce_recovered(1.0, 1.0, 3.0) == 1.0
    assert ce_recovered(1.0, 3.0, 3.0) == 0.0
    assert ce_recovered(1.0, 2.5, 3.0) == 0.25
    assert np.isnan(ce_recovered(1.0, 2.0, 1.0))


def test_variance_accumulator_matches_numpy_over_batches():
    from ssae_core.models.sae_math import Variance

    x = torch.randn(300, 7, dtype=torch.float64) * 3 + 1
    acc = Variance()
    for part in x.split(64):
        acc.add(part.float())
    plain = float(((x - x.mean(0)) ** 2).sum())
    assert acc.n == 300 and math.isclose(acc.total, plain, rel_tol=1e-5)
    assert math.isclose(acc.fvu(plain / 2), 0.5, rel_tol=1e-5)


def test_encode_rows_matches_one_encode_call(quick_world):
    from ssae_core.models.sae_math import encode_rows

    sae = quick_world.gsae
    x = torch.randn(1000, sae.cfg.d_in)
    with torch.no_grad():
        plain = sae.encode(x)
    assert torch.allclose(encode_rows(sae, x, chunk=128), plain, atol=1e-6)
    assert torch.allclose(encode_rows(sae, x, [5, 1], chunk=300), plain[:, [5, 1]], atol=1e-6)
    assert encode_rows(sae, x[:0]).shape == (0, sae.cfg.d_sae)


def test_saebench_core_metrics_match_a_plain_computation(quick_world):
    """KL, cosine, L2 ratio, relative reconstruction bias and live latents, one document at a time
    with a plain hook, against the batched pass (small batches, so sums cross batches)."""
    model, sae, hook = quick_world.model, quick_world.gsae, quick_world.hook_name
    tok = quick_world.tokenizer
    docs = quick_world.split_tokens("general_test")[:10]
    got = evaluate_saes(
        model, {"g": sae}, hook, docs, tok.bos_token_id, tok.pad_token_id, batch_tokens=300
    )["g"]
    kl = {"sae": [], "zero": []}
    xs, x_hats, fired = [], [], torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    with torch.no_grad():
        for doc in docs:
            tokens = torch.tensor([[tok.bos_token_id, *doc]])
            clean, cache = model.run_with_cache(tokens, names_filter=hook)
            x = cache[hook][0, 1:]
            f = sae.encode(x)
            xs.append(x), x_hats.append(sae.decode(f))
            fired |= (f > 0).any(0)
            p = clean[0, :-1].log_softmax(-1)
            for mode in kl:

                def replace(act, hook, mode=mode):
                    out = act.clone()
                    out[:, 1:] = sae.decode(sae.encode(act[:, 1:])) if mode == "sae" else 0
                    return out

                q = model.run_with_hooks(tokens, fwd_hooks=[(hook, replace)])[0, :-1]
                q = q.log_softmax(-1)
                kl[mode] += [(p.exp() * (p - q)).sum(-1)]
    x, x_hat = torch.cat(xs).double(), torch.cat(x_hats).double()
    kl_sae, kl_zero = torch.cat(kl["sae"]).mean().item(), torch.cat(kl["zero"]).mean().item()
    want = {
        "kl_div_with_sae": kl_sae,
        "kl_div_with_ablation": kl_zero,
        "kl_div_score": (kl_zero - kl_sae) / kl_zero,
        "cossim": torch.nn.functional.cosine_similarity(x, x_hat, dim=-1).mean().item(),
        "l2_ratio": (x_hat.norm(dim=-1) / x.norm(dim=-1)).mean().item(),
        "relative_reconstruction_bias": (
            x_hat.pow(2).sum(-1).mean() / (x * x_hat).sum(-1).mean()
        ).item(),
        "frac_alive": fired.float().mean().item(),
        "active_latents": int(fired.sum()),
    }
    for key, value in want.items():
        assert math.isclose(getattr(got, key), value, rel_tol=1e-4), (key, getattr(got, key), value)
    assert 0 < got.kl_div_with_sae < got.kl_div_with_ablation
    assert 0 < got.l2_ratio and 0 < got.cossim <= 1


def test_batches_shrink_to_keep_the_log_probabilities_within_budget(quick_world, monkeypatch):
    """With a budget of 2 vocabularies per tensor, batches hold 2 tokens of positions: many
    batches, the same numbers."""
    from ssae_core.evaluate import metrics

    model, sae, hook = quick_world.model, quick_world.gsae, quick_world.hook_name
    tok = quick_world.tokenizer
    docs = quick_world.split_tokens("general_test")[:4]
    args = (model, {"g": sae}, hook, docs, tok.bos_token_id, tok.pad_token_id)
    wide = evaluate_saes(*args)["g"]
    seen = []
    monkeypatch.setattr(metrics, "LOGITS_BUDGET", 2 * model.cfg.d_vocab)
    narrow = evaluate_saes(*args, progress=seen.append)["g"]
    assert len(seen) == len(docs), "one document per batch"
    for key in ("ce_spliced", "kl_div_with_sae", "cossim", "relative_reconstruction_bias"):
        assert math.isclose(getattr(wide, key), getattr(narrow, key), rel_tol=1e-5), key
