"""evaluate / report end to end on the quick world: two finetuned sweeps vs the GSAE, ID and OOD."""

import json

import pytest
from helpers import run_cli

from ssae_core.demo.world import world_base
from ssae_core.models.activations import cache_activations
from ssae_core.models.base import BaseSpec
from ssae_core.report.html import COMPARISON_FIGURES, GAINED_TITLE
from ssae_core.select import retrieval
from ssae_core.select.selection import load_selection, run_selection
from ssae_core.train.finetune import FinetuneConfig, finetune

SWEEP = dict(sparsity=(0.5, 4.0), steps=20, batch_tokens=256, lr=1e-3, decay_steps=10)


@pytest.fixture(scope="module")
def sweeps(quick_world, quick_workspace):
    base = world_base(quick_world, BaseSpec(quick=True))
    sel = run_selection(
        retrieval.SelectionConfig(method="bm25", token_budget=3000),
        quick_world.text_set("physics_seed"),
        quick_world.text_set("general"),
        base,
        quick_workspace,
    )
    tokens = retrieval.tokenize(
        load_selection(sel).text.tolist(), base.tokenizer, base.model.cfg.n_ctx
    )
    acts = cache_activations(quick_workspace, base, tokens, sel.ref)
    return [
        finetune(quick_workspace, base.sae, base.ref, acts, FinetuneConfig(**SWEEP, **kw))
        for kw in ({}, {"objective": "term", "tilt": 500.0})
    ]


@pytest.mark.slow
def test_report_writes_every_figure_and_the_numbers(sweeps, quick_build, tmp_path):
    root, _ = quick_build
    out = tmp_path / "report.html"
    args = [a for art in sweeps for a in ("--ssae", str(art.path))]
    proc = run_cli(
        "report",
        "--quick",
        "--workspace",
        str(root),
        *args,
        "--split",
        "physics_test",
        "--split",
        "physics_ood",
        "--out",
        str(out),
        "--json",
    )
    numbers = json.loads(proc.stdout)
    assert len(numbers["metrics"]) == 2 * (1 + 4)
    assert {(r["split"], r["group"]) for r in numbers["auc"]} == {
        (s, g) for s in ("physics_test", "physics_ood") for g in ("bm25 ERM", "bm25 TERM t=500")
    }
    assert [r["group"] for r in numbers["matched_l0"]].count("GSAE") == 1 and len(
        numbers["matched_l0"]
    ) == 3
    assert {r["sae"] for r in numbers["tail_coverage"]} == {"GSAE", "bm25 ERM", "bm25 TERM t=500"}
    assert {"bucket", "concepts", "GSAE"} <= set(numbers["concept_recall"][0])
    tail = {r["sae"]: r for r in numbers["error_tail"]}
    assert set(tail) == {"GSAE", "bm25 ERM", "bm25 TERM t=500"}
    for r in tail.values():
        assert (
            0 < r["p50"] <= r["p90"] <= r["p99"] <= r["p99.9"] and r["worst_1pct_mean"] >= r["p99"]
        )
    for name in ("error_by_frequency", "error_by_concept"):
        for sae, row in tail.items():  # every token counted once, in some bucket
            assert sum(r["tokens"] for r in numbers[name] if r["sae"] == sae) == row["tokens"]
    assert numbers["error_by_concept"][-1]["bucket"] == "no concept"
    changed = {r["group"]: r for r in numbers["specialization"]}
    assert set(changed) == {"bm25 ERM", "bm25 TERM t=500"} and all(
        r["novel"] + r["reconstruction"] == r["latents"] and r["theta"] == 0.7
        for r in changed.values()
    )
    for r in numbers["novel_concepts"]:  # each names a concept some novel latent detects
        assert r["sae"] in changed and r["f1"] >= 0.5 and r["max_cos"] < 0.7
    assert "gained_concepts" in numbers
    for r in numbers["gained_concepts"]:  # the GSAE misses it, the SSAE finds it, an example
        assert r["sae"] in changed and r["f1"] >= 0.5 > r["gsae_f1"] and "<<" in r["example"]
    assert all(
        0 < r["frac_alive"] <= 1 and r["active_latents"] > 0 and "kl_div_score" in r
        for r in numbers["metrics"]
    )
    page = out.read_text()
    assert page.index(f"<h2>{GAINED_TITLE}</h2>") < page.index("<h2>Metrics</h2>")
    for div in ("pareto_physics_test", "pareto_physics_ood", *COMPARISON_FIGURES, "max_cos"):
        assert f'id="{div}"' in page, div
    assert "plotly.js v" in page and "<script src=" not in page, (
        "plotly.js is embedded: the report works offline"
    )
    gsae = [r for r in numbers["metrics"] if r["group"] == "GSAE"]
    assert all(r["ppl_vs_gsae"] == pytest.approx(1.0) for r in gsae)


def test_evaluate_cli_prints_the_metrics_and_reuses_artifacts(sweeps, quick_build):
    root, _ = quick_build
    cmd = [
        "evaluate",
        "--quick",
        "--workspace",
        str(root),
        "--ssae",
        str(sweeps[0].path),
        "--split",
        "physics_test",
        "--json",
    ]
    first = json.loads(run_cli(*cmd).stdout)["metrics"]
    assert [r["label"] for r in first] == ["GSAE", "bm25 ERM λ=0.5", "bm25 ERM λ=4"]
    assert first[1]["l0"] > first[2]["l0"]
    assert json.loads(run_cli(*cmd).stdout)["metrics"] == first
    proc = run_cli(
        "evaluate", "--quick", "--workspace", str(root), "--split", "astrology", check=False
    )
    assert proc.returncode == 1 and "no split 'astrology'" in proc.stderr


def test_error_tail_against_a_plain_sort():
    """Quantiles and the worst 1% of the per-token squared error, recomputed by sorting."""
    import numpy as np
    import pandas as pd

    from ssae_core.report.compare import error_tail

    rng = np.random.default_rng(0)
    norms = {"GSAE": rng.exponential(size=250), "ERM": rng.exponential(size=40)}
    frame = pd.concat(pd.DataFrame({"sae": k, "error_norm": v}) for k, v in norms.items())
    table, curve = error_tail(frame)
    for row in table.itertuples():
        sq = sorted(float(v) ** 2 for v in norms[row.sae])
        n = len(sq)
        worst = sq[-((n + 99) // 100) :]  # 3 of 250, 1 of 40
        assert row.tokens == n and row.mean == pytest.approx(sum(sq) / n)
        assert row.worst_1pct_mean == pytest.approx(sum(worst) / len(worst))
        # numpy's default quantile: linear between the order statistics around q (n - 1)
        position = 0.9 * (n - 1)
        lo, frac = int(position), position - int(position)
        assert row.p90 == pytest.approx(sq[lo] + frac * (sq[lo + 1] - sq[lo]))
    top = curve[curve.sae == "GSAE"].sort_values("tail_share")
    assert top.squared_error.is_monotonic_decreasing and top.tail_share.min() == pytest.approx(1e-3)


def test_error_by_frequency_and_concept_against_plain_loops():
    """Mean squared and relative error per token-count bucket and per concept bucket, by hand."""
    import numpy as np
    import pandas as pd

    from ssae_core.analysis.dark_matter import error_by_concept_bucket, error_by_frequency
    from ssae_core.evaluate.tail import frequency_buckets

    rng = np.random.default_rng(0)
    tokens = rng.zipf(1.5, 300) % 50
    norms = pd.concat(
        pd.DataFrame(
            dict(sae=sae, token_index=np.arange(300), error_norm=rng.exponential(size=300))
        ).assign(relative_error=lambda f: f.error_norm / 3)
        for sae in ("GSAE", "ERM")
    )
    table = error_by_frequency(norms, tokens)
    freq = frequency_buckets(tokens).set_index("token")
    for row in table.itertuples():
        part = norms[norms.sae == row.sae]
        mine = [
            e
            for i, e in zip(part.token_index, part.error_norm)
            if freq.bucket[tokens[i]] == row.bucket
        ]
        assert row.tokens == len(mine) and row.mean_squared_error == pytest.approx(
            np.mean(np.square(mine))
        )
        assert all(
            row.lo <= freq["count"][tokens[i]] < row.hi
            for i in range(300)
            if freq.bucket[tokens[i]] == row.bucket
        )
    concepts = pd.DataFrame(
        dict(concept_id=[0, 1, 2], bucket=["tail", "head", "tail"], per_million=[5, 900, 7])
    )
    labels = np.array([-1, 0, 1, 2, 1, -1] * 50)
    by_concept = error_by_concept_bucket(norms, labels, concepts)
    assert by_concept.bucket.tolist() == ["head"] * 2 + ["tail"] * 2 + ["no concept"] * 2
    gsae = norms[norms.sae == "GSAE"].error_norm.to_numpy()
    tail = by_concept[(by_concept.sae == "GSAE") & (by_concept.bucket == "tail")].iloc[0]
    assert tail.tokens == 100 and tail.mean_squared_error == pytest.approx(
        np.mean(gsae[np.isin(labels, [0, 2])] ** 2)
    )
