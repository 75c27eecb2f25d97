"""Finetuning: TERM against its formula, the batched sweep against separate runs, resume, SAELens
round trips."""

import numpy as np
import pandas as pd
import pytest
import torch
from train_data import D_IN, D_SAE, SMALL, StopAt, activation_store, random_sae

from ssae_core.infra.errors import ConfigError
from ssae_core.infra.workspace import Workspace
from ssae_core.models.activations import ActivationStore, epoch_batches
from ssae_core.models.sae_math import relative_tilted_mean, tilt_ess, tilt_for_ess, tilted_mean
from ssae_core.models.sae_stack import SAEStack
from ssae_core.train.finetune import (
    FinetuneConfig,
    TrainingError,
    finetune,
    load_ssaes,
    lr_at,
    validate_stack,
)

# --- TERM --------------------------------------------------------------------------------


def test_tilted_mean_matches_its_formula():
    L = torch.rand(3, 50, dtype=torch.float64) * 5
    for t in (1e-3, 0.5, 2.0, -1.0):
        direct = torch.log(torch.exp(t * L).mean(-1)) / t
        assert torch.allclose(tilted_mean(L, t), direct, rtol=1e-10)
    assert torch.equal(tilted_mean(L, 0.0), L.mean(-1))
    assert torch.allclose(tilted_mean(L, 1e-12), L.mean(-1), rtol=1e-9)
    assert torch.allclose(tilted_mean(L, 1e9), L.amax(-1), rtol=1e-6)


def test_tilted_mean_is_finite_at_every_tilt_even_for_large_losses():
    L = torch.tensor([[1e4, 3e4, 2e4, 5.0]], dtype=torch.float32, requires_grad=True)
    for t in (0.0, 1e-12, 1e-6, 1.0, 500.0, 1e9):
        value = tilted_mean(L, t)
        (grad,) = torch.autograd.grad(value.sum(), L)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all(), t
    assert float(tilted_mean(L, 1e9)) == pytest.approx(3e4, rel=1e-6)


def test_tilted_gradient_is_the_softmax_weighted_mean_of_item_gradients():
    torch.manual_seed(0)
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    X = torch.randn(20, 5, dtype=torch.float64)
    t = 1.7
    (grad,) = torch.autograd.grad(tilted_mean((X @ w).pow(2)[None], t).sum(), w)
    losses = (X @ w).pow(2).detach()
    item_grads = 2 * (X @ w).detach()[:, None] * X  # d/dw (x.w)^2 per item
    expected = (torch.softmax(t * losses, 0)[:, None] * item_grads).sum(0)
    assert torch.allclose(grad, expected, rtol=1e-10)


def test_ess_is_one_for_erm_and_small_for_a_large_tilt():
    L = torch.rand(2, 100)
    assert torch.allclose(tilt_ess(L, 0.0), torch.ones(2))
    assert (tilt_ess(L, 1e4) < 0.05).all()


def test_relative_tilt_weighs_by_loss_over_its_mean_and_ignores_the_loss_scale():
    """The scale-free tilt's gradient is the softmax(t L / mean L)-weighted mean of the item
    gradients (plain formula), so multiplying every loss by c multiplies the gradient by c and
    leaves the weights as they were."""
    torch.manual_seed(0)
    X = torch.randn(20, 5, dtype=torch.float64)
    w0 = torch.randn(5, dtype=torch.float64)
    t = 3.0
    grads = []
    for c in (1.0, 250.0):
        w = w0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(relative_tilted_mean(c * (X @ w).pow(2)[None], t).sum(), w)
        losses = c * (X @ w0).pow(2)
        weights = (
            torch.exp(t * losses / losses.mean()) / torch.exp(t * losses / losses.mean()).sum()
        )
        expected = (weights[:, None] * c * 2 * (X @ w0)[:, None] * X).sum(0)
        assert torch.allclose(grad, expected, rtol=1e-10)
        grads.append(grad / c)
    assert torch.allclose(grads[0], grads[1], rtol=1e-10)
    L = torch.rand(3, 40, dtype=torch.float64) + 0.5
    assert torch.allclose(relative_tilted_mean(L, 0.0), L.mean(-1))
    assert torch.allclose(relative_tilted_mean(L, 1e9), L.amax(-1), rtol=1e-6)


def test_a_tilt_per_row_equals_each_row_tilted_alone():
    L = torch.rand(3, 30, dtype=torch.float64) * 4
    t = torch.tensor([0.0, 0.7, 25.0], dtype=torch.float64)
    rows = torch.stack([tilted_mean(L[i], float(t[i])) for i in range(3)])
    assert torch.allclose(tilted_mean(L, t), rows, rtol=1e-12)
    ess = torch.stack([tilt_ess(L[i], float(t[i])) for i in range(3)])
    assert torch.allclose(tilt_ess(L, t), ess)


def test_tilt_for_ess_reaches_the_target_share():
    torch.manual_seed(1)
    L = torch.cat([torch.rand(2, 500) * 3, torch.full((1, 500), 2.0)]).double()
    for target in (0.9, 0.3, 0.05):
        t = tilt_for_ess(L, target)
        w = torch.exp(t[:, None] * L) / torch.exp(t[:, None] * L).sum(-1, keepdim=True)
        share = 1 / (w.pow(2).sum(-1) * L.shape[-1])  # Kish's effective sample size / N
        assert torch.allclose(share[:2], torch.full((2,), target, dtype=L.dtype), atol=1e-6)
        assert t[2] == 0, "equal losses: no tilt changes the weights"
    assert torch.equal(tilt_for_ess(L, 1.0), torch.zeros(3, dtype=L.dtype))


def test_tilt_settings_are_checked():
    for bad in (
        dict(tilt_scale="log"),
        dict(objective="term", target_ess=1.5),
        dict(target_ess=0.2),
        dict(objective="term", tilt=2.0, target_ess=0.2),
        dict(ess_sweep=(0.5, 0.2)),
        dict(objective="term", ess_sweep=(0.5, 0.0)),
        dict(objective="term", ess_sweep=(0.5,), tilt_sweep=(1.0,)),
        dict(objective="term", tilt_sweep=(1.0, float("inf"))),
    ):
        with pytest.raises(ConfigError):
            FinetuneConfig(**bad).validate()
    assert FinetuneConfig(objective="term", target_ess=0.2).tilt_label == "ESS 0.2"
    rel = FinetuneConfig(objective="term", tilt=2.0, tilt_scale="relative")
    assert rel.validate().tilt_label == "t=2 rel"
    sweep = FinetuneConfig(objective="term", ess_sweep=(1.0, 0.2), sparsity=(1.0, 2.0, 3.0))
    assert sweep.validate().curve_labels == ["ESS 1", "ESS 0.2"]
    assert sweep.stack_sparsity == (1.0, 2.0, 3.0) * 2 and sweep.tilt_of(4).ess == 0.2


# --- the batched stack -------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["standard", "topk", "jumprelu"])
def test_stack_computes_what_saelens_computes_for_each_copy(arch):
    sae = random_sae(arch)
    values = (2.0, 4.0, 6.0) if arch == "topk" else (0.1, 1.0, 3.0)
    stack = SAEStack(sae, values)
    x = torch.randn(64, D_IN)
    for i in range(3):
        _, f = stack.encode(i, x)
        exported = stack.export(i)
        assert type(exported) is type(sae)
        assert torch.allclose(f, exported.encode(x), atol=1e-5)
        assert torch.allclose(stack.decode(i, f), exported.decode(exported.encode(x)), atol=1e-5)
        assert torch.allclose(stack(x)["l0"][i], (f > 0).sum(-1).float())
    if arch != "topk":  # folding decoder norms into the encoder keeps the GSAE's function
        assert torch.allclose(
            stack.export(0).decode(stack.export(0).encode(x)), sae.decode(sae.encode(x)), atol=1e-4
        )


def test_sweep_trains_the_same_weights_as_separate_runs(tmp_path):
    ws = Workspace(tmp_path)
    acts, sae = activation_store(ws), random_sae()
    sweep = load_ssaes(
        finetune(ws, sae, "sae/test", acts, FinetuneConfig(sparsity=(0.05, 0.5, 2.0), **SMALL))
    )
    for i, value in enumerate((0.05, 0.5, 2.0)):
        (alone,) = load_ssaes(
            finetune(ws, sae, "sae/test", acts, FinetuneConfig(sparsity=(value,), **SMALL))
        )
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            assert torch.allclose(getattr(sweep[i], name), getattr(alone, name), atol=1e-5), (
                value,
                name,
            )


def test_a_tilt_sweep_trains_what_one_run_per_tilt_trains(tmp_path):
    ws = Workspace(tmp_path)
    acts, sae = activation_store(ws), random_sae()
    term = FinetuneConfig(objective="term", sparsity=(0.1, 1.0), **SMALL)
    sweeps = [
        (term.replace(ess_sweep=(1.0, 0.2)), [dict(target_ess=1.0), dict(target_ess=0.2)], "ess"),
        (term.replace(tilt_sweep=(0.0, 3.0)), [dict(tilt=0.0), dict(tilt=3.0)], "tilt"),
    ]
    for cfg, alone, column in sweeps:
        art = finetune(ws, sae, "sae/test", acts, cfg)
        together = load_ssaes(art)
        assert len(together) == 4 and len(art.summary["val"]) == 4
        log = pd.read_parquet(art.file("log.parquet"))
        second = alone[1]["target_ess" if column == "ess" else "tilt"]
        assert np.allclose(log[log.sae >= 2][column], second, atol=1e-4)
        assert (log[log.sae < 2].tilt == 0).all(), "ESS 1 and t = 0 are ERM"
        for j, kw in enumerate(alone):
            separate = load_ssaes(finetune(ws, sae, "sae/test", acts, term.replace(**kw)))
            for k in range(2):
                for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
                    assert torch.allclose(
                        getattr(together[2 * j + k], name), getattr(separate[k], name), atol=1e-5
                    ), (kw, k, name)


def test_training_lowers_the_loss_keeps_unit_decoder_rows_and_logs(tmp_path):
    ws = Workspace(tmp_path)
    art = finetune(
        ws,
        random_sae(),
        "sae/test",
        activation_store(ws),
        FinetuneConfig(sparsity=(0.1, 1.0), **{**SMALL, "steps": 60}),
    )
    log = pd.read_parquet(art.file("log.parquet"))
    for i in range(2):
        rows = log[log.sae == i]
        assert rows.loss.iloc[-5:].mean() < rows.loss.iloc[:2].mean()
    ssaes = load_ssaes(art)
    for s in ssaes:
        assert torch.allclose(s.W_dec.norm(dim=-1), torch.ones(D_SAE), atol=1e-5)
    val = art.summary["val"]
    assert val[0]["l0"] > val[1]["l0"], "a larger L1 coefficient gives a sparser SAE"
    assert set(log.columns) >= {"step", "loss", "mse", "l0", "dead_fraction", "ess", "lr"}
    assert art.summary["gsae"] == "sae/test" and "sae/test" in art.manifest["inputs"]


@pytest.mark.parametrize("arch, values", [("topk", (3.0, 8.0)), ("jumprelu", (0.0, 0.5))])
def test_topk_and_jumprelu_gsaes_finetune(tmp_path, arch, values):
    ws = Workspace(tmp_path)
    art = finetune(
        ws,
        random_sae(arch),
        "sae/test",
        activation_store(ws),
        FinetuneConfig(sparsity=values, **{**SMALL, "steps": 60}),
    )
    low, high = load_ssaes(art)
    assert type(low).__name__ == type(random_sae(arch)).__name__
    val = art.summary["val"]
    if arch == "topk":
        assert low.cfg.k == 3 and high.cfg.k == 8
        assert val[0]["l0"] <= 3 + 1e-6 and val[1]["l0"] <= 8 + 1e-6
    else:
        assert not torch.allclose(high.threshold, random_sae(arch).threshold), (
            "the threshold learns"
        )
        assert val[1]["l0"] < val[0]["l0"], "an L0 penalty lowers L0"


def test_term_runs_stay_finite_at_huge_tilts(tmp_path):
    ws = Workspace(tmp_path)
    acts, sae = activation_store(ws), random_sae()
    for tilt in (500.0, 1e9):
        art = finetune(
            ws,
            sae,
            "sae/test",
            acts,
            FinetuneConfig(objective="term", tilt=tilt, sparsity=(0.5,), **SMALL),
        )
        log = pd.read_parquet(art.file("log.parquet"))
        assert np.isfinite(log.loss).all() and (log.ess < 0.2).all()


def test_a_target_ess_run_picks_its_tilt_every_batch(tmp_path):
    ws = Workspace(tmp_path)
    cfg = FinetuneConfig(objective="term", target_ess=0.25, sparsity=(0.5,), **SMALL)
    art = finetune(ws, random_sae(), "sae/test", activation_store(ws), cfg)
    log = pd.read_parquet(art.file("log.parquet"))
    assert np.allclose(log.ess, 0.25, atol=1e-4)
    assert (log.tilt > 0).all() and log.tilt.nunique() > 1


def test_sequence_items_keep_documents_whole():
    doc = np.repeat(np.arange(30), 7)
    batches = epoch_batches(doc, 20, seed=1, epoch=0, item="sequence")
    for b in batches:
        assert len(b) >= 20
        for d in np.unique(doc[b]):
            assert (doc[b] == d).sum() == 7
    tokens = epoch_batches(doc, 20, seed=1, epoch=0)
    assert all(len(b) == 20 for b in tokens) and len(np.unique(np.concatenate(tokens))) == 20 * len(
        tokens
    )


def test_sequence_objective_trains(tmp_path):
    ws = Workspace(tmp_path)
    acts = activation_store(ws)
    art = finetune(
        ws,
        random_sae(),
        "sae/test",
        acts,
        FinetuneConfig(
            objective="term", tilt=50.0, item="sequence", sparsity=(0.5,), **{**SMALL, "steps": 60}
        ),
    )
    store = ActivationStore(acts)
    before = validate_stack(SAEStack(random_sae(), (0.5,)), store, np.arange(store.n), 256)
    assert art.summary["val"][0]["fvu"] < 0.8 * before.fvu[0]


# --- resume, failures ----------------------------------------------------------------------


def test_a_cancelled_run_resumes_to_the_same_weights(tmp_path):
    cfg = FinetuneConfig(objective="term", tilt=5.0, sparsity=(0.2, 1.0), **SMALL)
    ws_a, ws_b = Workspace(tmp_path / "a"), Workspace(tmp_path / "b")
    straight = load_ssaes(finetune(ws_a, random_sae(), "sae/test", activation_store(ws_a), cfg))
    acts_b = activation_store(ws_b)
    with pytest.raises(KeyboardInterrupt):
        finetune(ws_b, random_sae(), "sae/test", acts_b, cfg, progress=StopAt(13))
    assert list((ws_b.root / "runs").glob("*/checkpoint.pt")), "the checkpoint survives the cancel"
    assert not ws_b.list("ssae")
    resumed = load_ssaes(finetune(ws_b, random_sae(), "sae/test", acts_b, cfg))
    for a, b in zip(straight, resumed):
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not list((ws_b.root / "runs").glob("*/checkpoint.pt")), (
        "a finished run drops its checkpoint"
    )


def test_a_nan_loss_fails_with_a_message_and_keeps_the_checkpoint(tmp_path):
    ws = Workspace(tmp_path)
    cfg = FinetuneConfig(sparsity=(0.5,), **{**SMALL, "lr": 1e30, "checkpoint_every": 1})
    with pytest.raises(TrainingError, match="at step [1-9].*last good checkpoint"):
        finetune(ws, random_sae(), "sae/test", activation_store(ws), cfg)
    assert list((ws.root / "runs").glob("*/checkpoint.pt"))


def test_too_little_data_and_bad_configs_are_explained(tmp_path):
    ws = Workspace(tmp_path)
    with pytest.raises(ConfigError, match="smaller than one batch"):
        finetune(
            ws, random_sae(), "sae/test", activation_store(ws, n_docs=3), FinetuneConfig(**SMALL)
        )
    with pytest.raises(ConfigError, match="tilt only applies"):
        FinetuneConfig(tilt=5.0).validate()
    with pytest.raises(ConfigError, match="sparsity"):
        FinetuneConfig(sparsity=(-1.0,)).validate()


def test_learning_rate_decays_linearly_over_the_last_steps():
    cfg = FinetuneConfig(steps=100, decay_steps=40, lr=1.0)
    assert lr_at(cfg, 0) == lr_at(cfg, 60) == 1.0
    assert lr_at(cfg, 80) == pytest.approx(0.5) and lr_at(cfg, 99) == pytest.approx(1 / 40)
