"""Dark matter fits against numpy lstsq, the linear/nonlinear identity, and the paper's synthetic
check on a real SAE."""

import numpy as np
import pandas as pd
import pytest
import torch

from ssae_core.analysis import dark_matter as dm


def _lstsq_r2(X, Y, train, test):
    """Plain numpy reference: least squares with a bias column, R² averaged over output columns."""
    A = np.c_[X[train], np.ones(len(train))]
    W, *_ = np.linalg.lstsq(A, Y[train], rcond=None)
    pred = np.c_[X[test], np.ones(len(test))] @ W
    Y, pred = Y[test].reshape(len(test), -1), pred.reshape(len(test), -1)
    return float(np.mean(1 - ((Y - pred) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0))), pred


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    x_hat = 0.7 * x + 0.3 * np.tanh(x @ rng.normal(size=(6, 6))) + 0.05 * rng.normal(size=(400, 6))
    train, test = dm.train_test(400, seed=1)
    return torch.from_numpy(x), torch.from_numpy(x_hat), train, test


def test_every_r2_equals_numpy_lstsq(data):
    x, x_hat, train, test = data
    X, E = x.numpy(), (x - x_hat).numpy()
    l0 = torch.from_numpy(np.random.default_rng(2).integers(1, 9, len(X)))
    fits = dm.norm_prediction(x, x_hat, l0, np.zeros(len(X), int), train, test, ridge=0.0)
    target = (E**2).sum(1, keepdims=True)
    assert fits["activation"].r2 == pytest.approx(_lstsq_r2(X, target, train, test)[0], abs=1e-9)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    assert fits["activation_norm"].r2 == pytest.approx(
        _lstsq_r2(np.c_[norm, norm**2], target, train, test)[0], abs=1e-9
    )
    assert fits["l0"].r2 == pytest.approx(
        _lstsq_r2(l0.numpy()[:, None].astype(float), target, train, test)[0], abs=1e-9
    )
    assert (fits["activation"].n_train, fits["activation"].n_test) == (240, 160)
    vec = dm.vector_prediction(x, x_hat, train, test, ridge=0.0)
    r2, pred = _lstsq_r2(X, E, train, test)
    assert vec.fit.r2 == pytest.approx(r2, abs=1e-9)
    assert np.allclose(vec.linear_norm, np.linalg.norm(pred, axis=1)) and np.allclose(
        vec.nonlinear_norm, np.linalg.norm(E[test] - pred, axis=1)
    )
    other = x_hat * 1.1 + 0.01
    cross = dm.cross_prediction((x - x_hat).norm(dim=-1), (x - other).norm(dim=-1), train, test)
    ea, eb = (E**2).sum(1, keepdims=True), ((X - other.numpy()) ** 2).sum(1, keepdims=True)
    assert cross.r2 == pytest.approx(_lstsq_r2(ea, eb, train, test)[0], abs=1e-9)


def test_token_identity_baseline_uses_train_means_per_token(data):
    x, x_hat, train, test = data
    ids = np.arange(len(x)) % 3
    fit = dm.norm_prediction(x, x_hat, torch.ones(len(x)), ids, train, test)["token_identity"]
    target = ((x - x_hat) ** 2).sum(-1).numpy()
    means = pd.Series(target[train]).groupby(ids[train]).mean()
    guess = means[ids[test]].to_numpy()
    expected = (
        1 - ((target[test] - guess) ** 2).sum() / ((target[test] - target[test].mean()) ** 2).sum()
    )
    assert fit.r2 == pytest.approx(expected)


def test_nonlinear_error_is_the_part_of_x_hat_not_linear_in_x(data):
    x, x_hat, train, test = data
    vec = dm.vector_prediction(x, x_hat, train, test, ridge=0.0)
    _, hat_from_x = dm.held_out_r2(x, x_hat, train, test, ridge=0.0)
    xt = x[test]
    residual = (x_hat[test] - hat_from_x).pow(2).sum() / (xt - xt.mean(0)).pow(2).sum()
    assert vec.nonlinear_fvu == pytest.approx(float(residual), rel=1e-9), (
        "e - Bx = -(x_hat - Cx) with C = I - B"
    )
    assert vec.nonlinear_fvu < vec.fvu
    ridge = dm.vector_prediction(x, x_hat, train, test, ridge=1e-3)
    assert abs(ridge.fit.r2 - vec.fit.r2) < 0.01, "a light ridge barely moves a well-posed fit"


def test_synthetic_noise_lands_in_the_right_component(quick_world, quick_workspace):
    docs = quick_world.split_tokens("general_test")[:120]
    from ssae_core.models.activations import collect

    tok = quick_world.tokenizer
    x, _, _ = collect(
        quick_world.model, quick_world.hook_name, docs, tok.bos_token_id, tok.pad_token_id
    )
    sae = quick_world.gsae
    clean = dm.synthetic_check(sae, x, 0.0, 0.0)
    dense = dm.synthetic_check(sae, x, 1.0, 0.0)
    introduced = dm.synthetic_check(sae, x, 0.0, 1.0)
    rise = lambda run, part: run[part] - clean[part]  # noqa: E731
    assert rise(dense, "linear") > 0.5 * clean["linear"], (clean, dense)
    assert abs(rise(introduced, "linear")) < 0.1 * clean["linear"], (
        "noise on x_hat does not look like dense error"
    )
    assert rise(introduced, "nonlinear") > 2 * clean["nonlinear"], (clean, introduced)
    assert rise(introduced, "nonlinear") > 3 * rise(dense, "nonlinear"), (dense, introduced)


def test_error_norms_and_fixed_or_broken_tokens(quick_world):
    sae = quick_world.gsae
    x = torch.randn(50, sae.cfg.d_in)
    norms = dm.error_norms({"a": sae}, x)
    direct = (x[7] - sae.decode(sae.encode(x[7:8]))[0]).norm().item()
    row = norms[(norms.sae == "a") & (norms.token_index == 7)].iloc[0]
    assert row.error_norm == pytest.approx(
        direct, rel=1e-5
    ) and row.relative_error == pytest.approx(direct / x[7].norm().item(), rel=1e-5)
    hand = pd.DataFrame(
        {
            "sae": ["g"] * 3 + ["s"] * 3,
            "token_index": [0, 1, 2] * 2,
            "error_norm": [1.0, 1.0, 1.0, 0.2, 1.0, 3.0],
        }
    )
    table = dm.fixed_and_broken(hand, ["the", "quark", "spin"], "g", k=1)
    assert table.set_index("kind").token.to_dict() == {"fixed": "the", "broken": "spin"}
    only_better = hand.assign(error_norm=[1.0, 1.0, 1.0, 0.2, 1.0, 0.5])
    assert set(dm.fixed_and_broken(only_better, ["the", "quark", "spin"], "g", k=3).kind) == {
        "fixed"
    }  # unchanged / improved tokens are never "broken"


def test_errors_cli_writes_r2_tables_with_sizes_and_figures(quick_build, tmp_path):
    import json

    from helpers import run_cli

    root, _ = quick_build
    out = tmp_path / "errors.html"
    res = json.loads(
        run_cli(
            "errors",
            "--quick",
            "--workspace",
            str(root),
            "--widths",
            "4",
            "--split",
            "physics_test",
            "--max-tokens",
            "3000",
            "--out",
            str(out),
            "--json",
        ).stdout
    )
    labels = [r["sae"] for r in res["r2"]]
    assert labels[0] == "GSAE" and any(label.startswith("GSAE d_sae=") for label in labels)
    for row in res["r2"]:
        assert row["n_train"] + row["n_test"] == res["tokens"] <= 3000 + 200
        assert (
            -1 < row["r2_norm_from_activation"] <= 1 and row["nonlinear_fvu"] <= row["fvu"] + 1e-9
        )
    assert len(res["cross"]) == len(labels) * (len(labels) - 1)
    assert "Relative error by concept frequency (demo ground truth)" in res["tables"]
    page = out.read_text()
    assert all(f'id="{d}"' in page for d in ("heatmap", "fvu", "cross"))
    proc = run_cli("errors", "--quick", "--workspace", str(root), "--text", "quark", check=False)
    assert proc.returncode == 1 and "at least 10" in proc.stderr


def test_error_heatmap_rows_are_saes_over_the_same_tokens():
    from ssae_core.report import analysis_plots

    norms = pd.DataFrame(
        {
            "sae": ["GSAE"] * 3 + ["SSAE"] * 3,
            "token_index": [0, 1, 2] * 2,
            "error_norm": [1.0, 2.0, 3.0, 0.5, 2.5, 1.0],
        }
    )
    fig = analysis_plots.error_heatmap(norms, ["the", "quark", "spins"])
    heat = fig.data[0]
    assert list(heat.y) == ["GSAE", "SSAE"] and list(heat.z[1]) == [0.5, 2.5, 1.0]
    assert list(heat.text[0]) == ["the", "quark", "spins"] and "%{text}" in heat.hovertemplate
    assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
