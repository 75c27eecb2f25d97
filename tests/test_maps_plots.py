"""UMAP maps and the selection figures, on small real data."""

import numpy as np
import pandas as pd

from ssae_core import maps, plots


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
    points = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.5], "group": ["corpus", "selected", "seed"], "row": [0, 1, 0]})
    figs = [
        plots.selection_map(points, "dense"),
        plots.selection_precision({"random": 0.01, "bm25": 0.9}),
        plots.selection_overlap(pd.DataFrame([[1.0, 0.4], [0.4, 1.0]], index=["bm25", "dense"], columns=["bm25", "dense"])),
    ]
    for fig in figs:
        assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert [t.name for t in figs[0].data] == ["corpus (1)", "selected (1)", "seed (1)"]
    assert list(figs[1].data[0].y) == [1.0, 90.0]
