"""The demo-world study: claim checks on hand-made numbers, and ``study --quick`` end to end
(structure only)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from ssae_core.evaluate.features import breadth
from ssae_core.study import claims as cl
from ssae_core.study import tables
from ssae_core.study.config import StudyConfig
from ssae_core.study.numbers import CellNumbers
from ssae_core.study.write import MARKER, markdown, write_outputs

CFG = StudyConfig(subdomains=("physics",), seeds=(0, 1))


def curve(group: str, split: str, l0s, ppls) -> list[dict]:
    return [
        {"split": split, "group": group, "label": f"{group} {i}", "l0": l0, "ppl_spliced": p}
        for i, (l0, p) in enumerate(zip(l0s, ppls))
    ]


def cell(seed: int, metrics: list[dict], **parts) -> CellNumbers:
    return CellNumbers("physics", seed, metrics=metrics, **parts)


def test_curve_ppl_is_the_mean_over_the_common_l0_range():
    # two straight lines in ppl over L0; common range [20, 40]; mean of a line = its midpoint value
    metrics = pd.DataFrame(
        curve("dense ERM", "physics_test", [10, 40], [10, 40])
        + curve("bm25 ERM", "physics_test", [20, 60], [50, 10])
    )
    out = tables.curve_ppl(
        metrics.assign(subdomain="physics", seed=0), "ID", ["dense ERM", "bm25 ERM"]
    ).set_index("group")
    assert out.loc["dense ERM", "mean_ppl"] == pytest.approx(30.0)
    assert out.loc["bm25 ERM", "mean_ppl"] == pytest.approx(
        40.0
    )  # slope -1 from (20, 50): 40 at the midpoint 30
    middle = tables.curve_ppl(
        metrics.assign(subdomain="physics", seed=0), "ID", ["dense ERM", "bm25 ERM"], middle=True
    ).set_index("group")
    assert (middle.l0_lo.iloc[0], middle.l0_hi.iloc[0]) == (25.0, 35.0)
    assert middle.loc["dense ERM", "mean_ppl"] == pytest.approx(30.0)


def test_tail_claim_orders_the_tilts_by_the_share_they_produced():
    """ "Increasingly with tilt" reads each curve's measured ESS: t = 500 is the strongest here."""
    shares = {"GSAE": 1, "dense ERM": 2, "dense TERM ESS 0.5": 3, "dense TERM ESS 0.2": 4}
    shares |= {"dense TERM ESS 0.05": 5, "dense TERM t=500": 6}
    ess = {"dense ERM": 1.0, "dense TERM ESS 0.5": 0.5, "dense TERM ESS 0.2": 0.2}
    ess |= {"dense TERM ESS 0.05": 0.05, "dense TERM t=500": 0.001}
    coverage, tilt_ess = [], []
    for seed in (0, 1):
        for group, covered in shares.items():
            for bucket in (1, 2, 3, 4):  # the rarer half: buckets 1 and 2
                coverage.append(
                    dict(subdomain="physics", seed=seed, sae=group, bucket=bucket, tokens=10)
                    | dict(covered=covered if bucket <= 2 else 10)
                )
        tilt_ess += [dict(subdomain="physics", seed=seed, group=g, ess=e) for g, e in ess.items()]
    claim = cl.claim_tail(CFG, pd.DataFrame(coverage), pd.DataFrame(tilt_ess))
    assert [p.verdict for p in claim.parts] == ["holds"] * 3
    assert claim.parts[2].text.endswith("dense TERM ESS 0.05 < dense TERM t=500)")
    # t = 500 now covers less than ESS 0.05: coverage no longer increases with the tilt
    coverage = [
        r | {"covered": 4.5} if r["sae"] == "dense TERM t=500" and r["bucket"] <= 2 else r
        for r in coverage
    ]
    claim = cl.claim_tail(CFG, pd.DataFrame(coverage), pd.DataFrame(tilt_ess))
    assert [p.verdict for p in claim.parts] == ["holds", "holds", "does not hold"]


def test_part_verdicts_count_cells():
    index = pd.MultiIndex.from_tuples(
        [("physics", 0), ("physics", 1), ("medicine", 0)], names=cl.CELL
    )
    assert cl.Part("x", pd.Series([True, True, True], index=index)).verdict == "holds"
    mixed = cl.Part("x", pd.Series([True, False, np.nan], index=index, dtype=object))
    assert (mixed.verdict, mixed.count) == ("mixed", "1 of 2 cells")
    assert cl.Part("x", pd.Series([False, False, False], index=index)).verdict == "does not hold"
    assert (
        cl.Part("x", pd.Series([np.nan] * 3, index=index, dtype=object)).verdict == "undetermined"
    )


def test_ordered_strict_and_missing():
    table = pd.DataFrame({"a": [1.0, 1.0, 1.0], "b": [2.0, 1.0, np.nan], "c": [3.0, 2.0, 3.0]})
    flags = tables.ordered(table, ["a", "b", "c"])
    assert (
        flags.iloc[0] is True and flags.iloc[1] is False and pd.isna(flags.iloc[2])
    )  # a tie is not an increase
    assert tables.ordered(table, ["c", "a"], increasing=False).tolist() == [True, True, True]
    assert tables.ordered(table, ["a", "missing"]).isna().all()


def test_selection_order_claim_on_hand_made_cells():
    good = (
        curve("dense ERM", "physics_test", [10, 50], [10, 10])
        + curve("bm25 ERM", "physics_test", [10, 50], [11, 11])
        + curve("random ERM", "physics_test", [10, 50], [12, 12])
    )
    bad = (
        curve("dense ERM", "physics_test", [10, 50], [13, 13])
        + curve("bm25 ERM", "physics_test", [10, 50], [11, 11])
        + curve("random ERM", "physics_test", [10, 50], [12, 12])
    )
    claim = cl.claim_selection_order(
        CFG, tables.frame([cell(0, good), cell(1, bad)], lambda c: c.metrics)
    )
    assert (
        claim.verdict == "partly"
        and claim.parts[0].verdict == "mixed"
        and claim.parts[0].count == "1 of 2 cells"
    )
    table = next(iter(claim.tables.values())).set_index("group")
    assert table.loc["dense ERM", "mean"] == pytest.approx(11.5) and table.loc[
        "dense ERM", "std"
    ] == pytest.approx(np.std([10, 13], ddof=1))


def test_ood_claim_compares_ground_lost_against_dense():
    rows = []
    for split, bm25 in (
        ("physics_test", 9.0),
        ("physics_ood", 12.0),
    ):  # better than dense ID, worse OOD
        rows += (
            curve("dense ERM", split, [10, 50], [10, 10])
            + curve("bm25 ERM", split, [10, 50], [bm25, bm25])
            + curve("seed ERM", split, [10, 50], [10, 10])
        )
    claim = cl.claim_ood(CFG, tables.frame([cell(0, rows)], lambda c: c.metrics))
    assert [p.verdict for p in claim.parts] == [
        "holds",
        "does not hold",
    ]  # bm25 loses ground; seed-only stays level
    rel = next(iter(claim.tables.values())).set_index(["group", "kind"])["mean"]
    assert rel[("bm25 ERM", "ID")] == pytest.approx(0.9) and rel[
        ("bm25 ERM", "OOD")
    ] == pytest.approx(1.2)


def test_tail_share_uses_the_rarer_half_of_buckets():
    coverage = pd.DataFrame(
        {
            "bucket": [0, 1, 2, 3, 4],
            "tokens": [10, 10, 10, 10, 10],
            "covered": [5, 3, 2, 10, 10],
            "sae": "GSAE",
            "subdomain": "physics",
            "seed": 0,
        }
    )
    share = tables.tail_share(coverage)
    assert share.tail_share.iloc[0] == pytest.approx((5 + 3 + 2) / 30)  # buckets 0..2 of 0..4


def test_pooled_recall_weights_buckets_by_concepts():
    recall = pd.DataFrame(
        {
            "bucket": ["tail", "rare", "head"],
            "concepts": [10, 30, 0],
            "GSAE": [0.5, 0.1, np.nan],
            "subdomain": "physics",
            "seed": 0,
        }
    )
    pooled = tables.pooled_recall(recall, ["GSAE", "absent"])
    assert len(pooled) == 1 and pooled.recall.iloc[0] == pytest.approx((5 + 3) / 40)


def test_breadth_effective_share():
    assert breadth(np.array([5, 5, 5, 5])) == {
        "live_share": 1.0,
        "effective_share": pytest.approx(1.0),
    }
    assert breadth(np.array([7, 0, 0, 0]))["effective_share"] == pytest.approx(0.25)
    assert breadth(np.array([1, 1, 0, 0])) == {
        "live_share": 0.5,
        "effective_share": pytest.approx(0.5),
    }


def test_dark_matter_claim_flatness_rule():
    def rows(seed, nonlinear):
        base = {
            "subdomain": "physics",
            "seed": seed,
            "r2_norm_from_activation": 0.8,
            "r2_norm_from_token_identity": 0.3,
            "r2_norm_from_activation_norm": 0.2,
            "r2_norm_from_l0": 0.1,
            "r2_error_vector": 0.5,
        }
        return [
            {**base, "sae": name, "d_sae": d, "l0": 20.0, "fvu": fvu, "nonlinear_fvu": nl}
            for name, d, fvu, nl in [
                ("GSAE", 1024, 0.2, nonlinear[1]),
                ("GSAE d_sae=256", 256, 0.4, nonlinear[0]),
                ("dense ERM", 1024, 0.2, 0.05),
            ]
        ]

    claim = cl.claim_dark_matter(CFG, pd.DataFrame(rows(0, (0.10, 0.09)) + rows(1, (0.20, 0.05))))
    linear, flat = claim.parts
    assert linear.verdict == "holds"
    assert flat.flags.tolist() == [
        True,
        False,
    ]  # relative range 0.105 vs 0.667 (flat); 1.2 vs 0.667 (not)
    widths = claim.tables[next(t for t in claim.tables if "widths" in t)]
    assert widths[widths.measure == "fvu"].d_sae.tolist() == [256, 1024]  # narrow to wide


def test_markdown_keeps_the_preamble_and_json_is_strict(tmp_path):
    metrics = curve("dense ERM", "physics_test", [10, 50], [10, 10]) + curve(
        "bm25 ERM", "physics_test", [10, 50], [np.nan, np.nan]
    )
    claims = [cl.claim_selection_order(CFG, tables.frame([cell(0, metrics)], lambda c: c.metrics))]
    (tmp_path / "STUDY.md").write_text(
        "# My notes\n\nwhat it means\n\n" + MARKER + "\nold tables\n"
    )
    paths = write_outputs(tmp_path, claims, "header line", {"cells": [{"x": float("nan")}]}, {})
    text = paths["markdown"].read_text()
    assert (
        text.startswith("# My notes\n\nwhat it means")
        and "old tables" not in text
        and "header line" in text
    )
    assert text.count(MARKER) == 1 and "## Claim 1:" in text
    payload = json.loads(
        paths["json"].read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}")
    )
    assert payload["cells"][0]["x"] is None and payload["claims"][0]["number"] == 1
    assert markdown(claims, "h", "p").count("| ---") >= 2


@pytest.mark.slow
def test_study_quick_end_to_end(quick_build, tmp_path):
    """``study --quick`` writes the three outputs with every claim, figures and per-seed cells
    (structure, not conclusions)."""
    root, _ = quick_build
    out = tmp_path / "study"
    cmd = ["study", "--quick", "--device", "cpu", "--workspace", str(root), "--out", str(out)]
    cmd += ["--backend", "offline"]
    run_cli(*cmd)
    payload = json.loads((out / "study.json").read_text())
    assert [c["number"] for c in payload["claims"]] == list(range(1, 9))
    assert {(c["subdomain"], c["seed"]) for c in payload["cells"]} == {
        ("physics", s) for s in StudyConfig.quick_config().seeds
    }
    assert all(
        c["verdict"] in ("holds", "partly", "does not hold", "undetermined")
        for c in payload["claims"]
    )
    assert all(p["cells"] for c in payload["claims"] for p in c["parts"])
    methods = {m["group"] for m in payload["cells"][0]["metrics"]}
    assert {
        "GSAE",
        "random ERM",
        "seed ERM",
        "bm25 ERM",
        "dense ERM",
        "bm25+tracin ERM",
        "dense+tracin ERM",
        "dense TERM ESS 0.5",
        "dense TERM ESS 0.1",
        "dense TERM t=500",
    } <= methods
    text = (out / "STUDY.md").read_text()
    assert (
        MARKER in text
        and all(f"## Claim {i}:" in text for i in range(1, 9))
        and "structure check" in text
    )
    html = (out / "report.html").read_text()
    for fig in (
        "physics_pareto_physics_test",
        "physics_pareto_physics_ood",
        "physics_tail_coverage",
        "physics_count_rank",
        "physics_concept_recall",
        "physics_f1",
        "physics_fvu_widths",
    ):
        assert f'id="{fig}"' in html
    again = run_cli(*cmd, "--json")
    assert json.loads(again.stdout)["markdown"] == str(
        out / "STUDY.md"
    )  # the rerun reuses every cell
    assert json.loads((out / "study.json").read_text())["cells"] == payload["cells"]
