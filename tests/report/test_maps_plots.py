"""UMAP maps and the selection figures, on small real data."""

import numpy as np
import pandas as pd

from ssae_core.report import analysis_plots, plots
from ssae_core.select import maps


def test_selection_map_groups_and_determinism():
    rng = np.random.default_rng(0)
    corpus = rng.standard_normal((300, 16)).astype(np.float32)
    corpus[:30] += 4.0  # a cluster the seeds come from
    seeds = corpus[:5] + 0.01
    a = maps.selection_map(seeds, corpus, np.arange(5, 30), sample=100)
    b = maps.selection_map(seeds, corpus, np.arange(5, 30), sample=100)
    assert a.group.value_counts().to_dict() == {"corpus": 100, "selected": 25, "seed": 5}
    assert np.allclose(a[["x", "y"]], b[["x", "y"]])
    centre = a[a.group == "selected"][["x", "y"]].mean()
    dist = lambda g: np.linalg.norm(a[a.group == g][["x", "y"]] - centre, axis=1).mean()  # noqa: E731
    assert dist("seed") < dist("corpus"), "seeds land next to the documents selected for them"


def test_selection_figures_have_titles_and_axes():
    points = pd.DataFrame(
        {
            "x": [0.0, 1.0, 2.0],
            "y": [0.0, 1.0, 0.5],
            "group": ["corpus", "selected", "seed"],
            "row": [0, 1, 0],
        }
    )
    figs = [
        analysis_plots.selection_map(points, "dense"),
        analysis_plots.selection_precision({"random": 0.01, "bm25": 0.9}),
        analysis_plots.selection_overlap(
            pd.DataFrame(
                [[1.0, 0.4], [0.4, 1.0]], index=["bm25", "dense"], columns=["bm25", "dense"]
            )
        ),
    ]
    for fig in figs:
        assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert [t.name for t in figs[0].data] == ["corpus (1)", "selected (1)", "seed (1)"]
    assert list(figs[1].data[0].y) == [1.0, 90.0]


def test_evaluation_figures_have_titles_axes_and_one_colour_per_series():
    points = pd.DataFrame(
        {
            "group": ["GSAE", "dense ERM", "dense ERM"],
            "label": ["GSAE", "λ=1", "λ=2"],
            "l0": [30.0, 40.0, 20.0],
            "ppl_spliced": [5.0, 4.5, 5.5],
        }
    )
    colors = plots.palette(["GSAE", "dense ERM", "dense TERM t=500"])
    bars = pd.DataFrame(
        {
            "sae": ["GSAE", "dense ERM"],
            "lo": [1, 1],
            "hi": [2, 2],
            "tokens": [10, 10],
            "share": [0.2, 0.5],
        }
    )
    curves = pd.DataFrame(
        {"sae": ["GSAE"] * 2, "token_share": [0.5, 1.0], "covered_share": [0.3, 1.0]}
    )
    ranks = pd.DataFrame({"sae": ["GSAE"] * 3, "rank": [1, 2, 3], "count": [30, 20, 5]})
    figs = [
        plots.pareto(points, "physics_test", colors),
        plots.tail_coverage(bars, colors),
        plots.cumulative_coverage(curves, colors),
        plots.count_rank(ranks, colors),
        plots.count_differences({"dense ERM": np.array([1, -2, 3])}, "GSAE", colors),
    ]
    for fig in figs:
        assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    pareto = figs[0]
    assert [t.name for t in pareto.data] == ["GSAE", "dense ERM"]
    assert list(pareto.data[1].x) == [20.0, 40.0], "a sweep is drawn in L0 order"
    assert (
        pareto.data[1].marker.color
        == figs[1].data[1].marker.color
        == colors["dense ERM"]
        != colors["GSAE"]
    )
    assert figs[3].layout.xaxis.type == figs[3].layout.yaxis.type == "log"
    assert list(figs[1].data[1].y) == [50.0]


def test_f1_distribution_has_one_box_per_sae():
    table = pd.DataFrame(
        {"label": ["GSAE", "GSAE", "SSAE"], "feature": [1, 2, 1], "f1": [0.5, 0.7, np.nan]}
    )
    fig = analysis_plots.f1_distribution(table)
    assert [t.name for t in fig.data] == ["GSAE"], "features without an F1 (failed) are left out"
    assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_shift_groups_draws_one_panel_per_sae():
    from ssae_core.analysis.shift.probe import GroupScores
    from ssae_core.analysis.shift.run import ShiftScore, group_table

    def scores(worst):
        return GroupScores(0.7, worst, {"a / he": worst, "a / she": 0.9}, 0.6)

    one = ShiftScore(scores(0.3), scores(0.4), scores(0.5), scores(0.8), 0.2, (1, 2))
    two = ShiftScore(scores(0.2), scores(0.6), scores(0.7), scores(0.8), 0.5, (3,))
    table = group_table({"GSAE": one, "SSAE": two})
    fig = analysis_plots.shift_groups(table)
    by_axis = {}
    for trace in fig.data:
        by_axis.setdefault(trace.xaxis, []).append(trace)
    assert sorted(by_axis) == ["x", "x2"] and all(len(t) == 4 for t in by_axis.values())
    removed = next(t for t in by_axis["x2"] if t.name == "removed")
    assert list(removed.x) == ["a / he", "a / she", "worst"] and list(removed.y) == [0.6, 0.9, 0.6]
    assert fig.layout.title.text and fig.layout.yaxis.title.text and fig.layout.xaxis.title.text
