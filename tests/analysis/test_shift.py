"""SHIFT: attribution against autograd, pooled ablation against the per-token reference, a
hand-built cue removed, groups on a hand-made table, the task's splits and inputs, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import random_sae, run_cli

from ssae_core.analysis.shift import latents as lat
from ssae_core.analysis.shift import run as shift_run
from ssae_core.analysis.shift import task as shift_task
from ssae_core.analysis.shift.probe import fit_probe, group_scores
from ssae_core.demo.bios import demo_task
from ssae_core.infra.errors import ConfigError


def _random_sae(normalize="none"):
    return random_sae(8, 24, normalize_activations=normalize)


def _docs(n_docs=5, d_in=8, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(int(n), d_in, generator=gen, dtype=torch.float64) for n in range(3, 3 + n_docs)
    ]


def test_attribution_is_activation_times_gradient_through_the_sae():
    sae = _random_sae()
    docs = _docs()
    w = torch.randn(8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    label = np.array([1, 0, 1, 1, 0])
    per_doc = []
    for x in docs:
        f = sae.encode(x).detach().requires_grad_(True)
        error = (x - sae.decode(f)).detach()
        logit = ((sae.decode(f) + error).mean(0) @ w).sum()
        (grad,) = torch.autograd.grad(logit, f)
        per_doc.append((f * grad).sum(0).detach().numpy())
    sign = 2.0 * label - 1
    slow = (sign[:, None] * np.stack(per_doc)).mean(0)
    f_bar = np.stack([sae.encode(x).mean(0).detach().numpy() for x in docs])
    dirs = lat.directions(sae, np.arange(24))
    fast = lat.attribution(f_bar, dirs, w.numpy(), label)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    assert np.abs(slow).max() > 0.01  # some latents matter


@pytest.mark.parametrize("normalize", ["none", "expected_average_only_in"])
def test_pooled_ablation_equals_the_per_token_reference(normalize):
    sae = _random_sae(normalize=normalize)
    if normalize != "none":
        sae.cfg.normalize_activations = normalize
        sae.scaling_factor = torch.tensor(1.7, dtype=torch.float64)
    docs = _docs()
    removed = [0, 3, 5, 11]
    x_bar = np.stack([x.mean(0).numpy() for x in docs])
    f_bar = np.stack([sae.encode(x).mean(0).detach().numpy() for x in docs])
    dirs = lat.directions(sae, np.arange(24))
    fast = lat.ablate(x_bar, f_bar, dirs, np.array(removed))
    slow = np.stack([lat.ablate_tokens(sae, x, removed).mean(0).numpy() for x in docs])
    np.testing.assert_allclose(fast, slow, atol=1e-9)
    assert np.abs(fast - x_bar).max() > 1e-3  # the removal did something
    # nothing removed: the SAE's error term is kept, so the activations are exactly the input's
    nothing = np.stack([lat.ablate_tokens(sae, x, []).mean(0).numpy() for x in docs])
    np.testing.assert_allclose(nothing, x_bar, atol=1e-12)
    np.testing.assert_array_equal(lat.ablate(x_bar, f_bar, dirs, np.array([], int)), x_bar)


def test_per_token_normalization_is_refused():
    sae = _random_sae()
    sae.cfg.normalize_activations = "layer_norm"
    with pytest.raises(ConfigError, match="per-token normalization"):
        lat.check_linear(sae)


def _cue_world(n=400, seed=0):
    """Pooled activations x = 0.5·label·e0 + 2·cue·e1 + noise, and an SAE whose latent 0 reads
    e0 and latent 1 reads e1 (latent 2 reads e2, noise only)."""
    rng = np.random.default_rng(seed)
    split = np.repeat(["train", "test", "oracle"], n)
    y_train = np.repeat([0, 1], n // 2)  # train: the cue agrees with the label for 95%
    c_train = np.where(rng.random(n) < 0.95, y_train, 1 - y_train)
    y_bal, c_bal = np.repeat([0, 0, 1, 1], n // 4), np.tile(np.repeat([0, 1], n // 4), 2)
    y = np.concatenate([y_train, y_bal, y_bal])  # test and oracle: balanced groups
    c = np.concatenate([c_train, c_bal, c_bal])
    noise = rng.random((len(y), 3)) * [1.0, 0.2, 0.2]
    f = np.stack([0.5 * y, 2.0 * c, np.zeros(len(y))], 1) + 0.1 + noise  # label weak, cue strong
    dirs = np.eye(3, 4)
    x = f @ dirs + rng.normal(0, 0.05, (len(y), 4))
    names = ["a / 0", "a / 1", "b / 0", "b / 1"]
    table = pd.DataFrame(
        {
            "split": split,
            "label_id": y,
            "group_id": 2 * y + c,
            "group": [names[g] for g in 2 * y + c],
        }
    )
    pooled = lat.Pooled(x, f, np.arange(3), dirs, np.full(3, np.nan), 3.0)
    train = split == "train"
    probe = fit_probe(x[train], y[train])
    return shift_run.ShiftData(None, table, pooled, probe, pd.DataFrame(), {})


def test_removing_the_cue_latent_removes_the_cue_s_effect():
    data = _cue_world()
    cfg = shift_run.ScoreConfig((1,))
    cue = shift_run.compute_score(data, np.array([1]), cfg)
    assert cue.before.worst < 0.5  # the biased probe follows the cue
    x = lat.ablate(data.pooled.x, data.pooled.f, data.pooled.dirs, np.array([1]))
    test, _, group = data.arrays("test")
    logit = data.probe.logit(x[test])
    assert abs(np.corrcoef(logit, group % 2)[0, 1]) < 0.1  # the cue no longer moves the probe
    # retrained without the cue, the probe does as well as one that never saw it
    assert cue.retrained.worst > max(cue.oracle.worst - 0.05, 0.6) > 0.5 > cue.before.worst
    other = shift_run.compute_score(data, np.array([2]), shift_run.ScoreConfig((2,)))
    assert other.retrained.worst < 0.5  # removing an unrelated latent does not help


def test_group_scores_on_a_hand_made_table():
    pred = np.array([1, 1, 0, 0, 1, 0, 1, 1])
    label = np.array([1, 1, 0, 0, 0, 0, 1, 0])
    group = np.array([3, 3, 0, 0, 1, 1, 2, 2])
    s = group_scores(pred, label, group, ["a", "b", "c", "d"])
    assert s.groups == {"a": 1.0, "b": 0.5, "c": 0.5, "d": 1.0}
    assert (s.accuracy, s.worst) == (6 / 8, 0.5)
    assert s.cue == 5 / 8  # predictions equal to the cue (group % 2): the first five


def test_splits_are_biased_balanced_disjoint_and_seeded():
    group = np.repeat(np.arange(4), 1000)
    cfg = shift_task.TaskConfig(n_train=400, n_test=200, agree=0.9, seed=3)
    split = shift_task.draw_splits(group, cfg)
    label, cue = group // 2, group % 2
    train = split == "train"
    assert train.sum() == 400 and (label[train] == cue[train]).mean() == pytest.approx(0.9)
    assert (label[train] == 1).mean() == 0.5
    for name, size in (("test", 50), ("oracle", 100)):
        np.testing.assert_array_equal(np.bincount(group[split == name]), [size] * 4)
    np.testing.assert_array_equal(split, shift_task.draw_splits(group, cfg))
    assert not np.array_equal(
        split, shift_task.draw_splits(group, shift_task.TaskConfig(400, 200, 0.9, seed=4))
    )
    with pytest.raises(ConfigError, match="documents per group"):
        shift_task.draw_splits(np.repeat(np.arange(4), 50), cfg)


def test_a_table_task_and_its_bad_inputs(tmp_path):
    rows = [
        (f"{prof} text {i} {p}", prof, p)
        for i in range(60)
        for prof in ("nurse", "professor", "chef")
        for p in ("she", "he")
    ]
    df = pd.DataFrame(rows, columns=["text", "job", "gender"])
    path = tmp_path / "bios.csv"
    df.to_csv(path, index=False)
    cfg = shift_task.TaskConfig(n_train=40, n_test=20, label_column="job", group_column="gender")
    with pytest.raises(ConfigError, match="3 values.*--labels"):
        shift_task.load_task(str(path), None, cfg)
    from dataclasses import replace

    task = shift_task.load_task(
        str(path), None, replace(cfg, labels="professor,nurse", cue_words="she,he")
    )
    assert task.label_names == ("professor", "nurse") and task.cue_names == ("he", "she")
    assert all(("professor" in t) == (y == 0) for t, y in zip(task.texts, task.label))
    assert task.cue_words == ("she", "he") and len(task.texts) == 40 + 20 + 40
    with pytest.raises(ConfigError, match="no column 'label'"):
        shift_task.load_task(str(path), None, shift_task.TaskConfig())
    with pytest.raises(ConfigError, match="demo:bios"):
        shift_task.load_task("missing.csv", None, cfg)
    with pytest.raises(ConfigError, match="needs the demo|demo world's task"):
        shift_task.load_task("demo:bios", None, cfg)


def test_bias_in_bios_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="CSV"):
        shift_task.load_task(shift_task.BIAS_IN_BIOS, None, shift_task.TaskConfig())


def test_demo_bios_are_in_the_world_s_vocabulary(quick_world):
    task = demo_task(quick_world.config.world, shift_task.TaskConfig(n_train=40, n_test=20))
    tok = quick_world.tokenizer
    ids = np.concatenate(tok(task.texts, add_special_tokens=False)["input_ids"])
    assert (
        ids == tok.unk_token_id
    ).mean() < 0.02  # only a few rare names the miniature never wrote
    from ssae_core.demo import templates

    words = {w for t in templates.BIO_LIFE for w in t.split() if not w.startswith("{")}
    assert tok.unk_token_id not in tok.convert_tokens_to_ids(sorted(words))
    cue = lat.cue_token_ids(tok, task.cue_words)
    assert sorted(tok.convert_ids_to_tokens(sorted(cue))) == sorted(["she", "he", "her", "his"])
    general = quick_world.docs[quick_world.docs.split == "general"]
    bios = general[general["style"] == "bio"]
    assert {"physics", "medicine"} <= set(bios.domain)  # the LM has seen such biographies
    # the profession never appears in the task's title-less bios
    assert not any("physicist" in t or "surgeon" in t for t in task.texts)


def test_cli_and_api_give_the_same_numbers(quick_workspace, quick_world):
    from ssae_core.demo.world import world_base
    from ssae_core.evaluate.sae_set import NamedSAE
    from ssae_core.models.base import BaseSpec

    args = ["--quick", "--n-train", "200", "--n-test", "120", "--top-k", "8", "--examples", "2"]
    proc = run_cli(
        "shift",
        *args,
        "--ablate",
        "top:3",
        "--json",
        "--device",
        "cpu",
        "--workspace",
        str(quick_workspace.root),
    )
    out = json.loads(proc.stdout)
    (row,) = out["saes"]
    base = world_base(quick_world, BaseSpec(quick=True))
    task = demo_task(quick_world.config.world, shift_task.TaskConfig(n_train=200, n_test=120))
    art = shift_run.rank(
        quick_workspace,
        base,
        NamedSAE(base.ref, "GSAE", base.sae),
        task,
        shift_run.ShiftConfig(top_k=8, examples=2),
    )
    assert art.ref == row["artifact"]
    data = shift_run.load(art)
    top3 = [int(i) for i in data.table.latent[:3]]
    score = shift_run.score(quick_workspace, data, top3)
    assert score.to_dict() == row["score"]
    assert row["n_active"] == len(data.pooled.active) and len(data.table) == 8
    assert len(data.examples[top3[0]]) == 2 and row["before"]["worst"] <= row["before"]["accuracy"]
    proc = run_cli(
        "shift",
        *args,
        "--ablate",
        "99999",
        "--device",
        "cpu",
        "--workspace",
        str(quick_workspace.root),
        check=False,
    )
    assert proc.returncode == 1 and "never fire" in proc.stderr


def test_an_explanation_naming_the_cue_suggests_the_latent():
    table = pd.DataFrame({"latent": [4, 9, 12], "suggested": [False, False, True]})
    notes = {4: "Fires on 'she' and 'her' in biographies", 9: "shelter and heat"}
    out = shift_run.with_explanations(table, notes, ("she", "he", "her", "his"))
    assert out.suggested.tolist() == [True, False, True]
    assert out.explanation.tolist() == [notes[4], notes[9], ""]


def test_the_cue_latent_is_suggested_by_ground_truth():
    data = _cue_world()
    t = data.task
    y, g = t.label_id.to_numpy(), t.group_id.to_numpy()
    task = shift_task.Task(
        "hand", [""] * len(t), y, g % 2, t.split.to_numpy(), ("a", "b"), ("0", "1")
    )
    train = task.split == "train"
    table = shift_run._latent_table(data.pooled, data.probe, task, train, shift_run.ShiftConfig())
    assert table.latent[table.suggested].tolist() == [1]
    assert table.latent.iloc[0] == 1  # the probe leans on the cue most
    oracle = task.split == "oracle"
    expect = np.corrcoef(data.pooled.f[oracle][:, 1], task.cue[oracle])[0, 1] ** 2
    assert table.set_index("latent").cue_r2[1] == pytest.approx(expect)
    assert lat.r2(np.ones((4, 1)), np.array([0, 1, 0, 1]))[0] == 0.0  # a constant latent


@pytest.mark.slow
def test_the_task_ssae_is_finetuned_on_a_selection_seeded_with_the_task(quick_workspace):
    args = ["--quick", "--n-train", "200", "--n-test", "120", "--top-k", "5", "--examples", "1"]
    proc = run_cli(
        "shift", *args, "--no-gsae", "--task-ssae", "--ablate", "none", "--json",
        "--device", "cpu", "--workspace", str(quick_workspace.root),
    )  # fmt: skip
    (row,) = json.loads(proc.stdout)["saes"]
    assert row["sae"] == "task SSAE λ=5" and row["score"] is None
    ssae = quick_workspace.get(row["ref"].split("#")[0])
    acts = quick_workspace.get(next(r for r in ssae.manifest["inputs"] if "activations" in r))
    sel = quick_workspace.get(next(r for r in acts.manifest["inputs"] if "selection" in r))
    from ssae_core.analysis.shift.ssae import task_seeds
    from ssae_core.demo.world import DemoConfig
    from ssae_core.select.selection import texts_ref

    cfg = shift_task.TaskConfig(n_train=200, n_test=120)
    task = demo_task(DemoConfig.quick().world, cfg)
    assert texts_ref(task_seeds(task, 150)) in sel.manifest["inputs"]
