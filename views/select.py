"""Select: expand the seeds into a training selection (BM25, dense retrieval, SAE-TracIn
reranking)."""

import pandas as pd
import streamlit as st

from ssae_core.cli import launch
from ssae_core.report import analysis_plots
from ssae_core.select import retrieval, uploads
from ssae_core.select.selection import (
    SelectionSummary,
    comparable_selections,
    data_text_names,
    embedding_map,
    load_selection,
    named_texts,
    overlap_matrix,
    texts_ref,
)
from views import common

ws, base = common.page(
    "Select",
    "The seed set is the query; dense retrieval embeds the corpus once (minutes on a CPU, then"
    " cached); TracIn reranks a first-stage pool by gradient similarity to the seeds.",
)
data = base.data
demo_seeds, demo_corpus = data_text_names(data)
seed_options = demo_seeds + uploads.uploaded(ws, "seeds")
corpus_options = demo_corpus + uploads.uploaded(ws, "corpus")
if not seed_options or not corpus_options:
    st.info("Upload a seed set and a corpus to select from on Seeds & data.")
    st.page_link("views/data.py", label="Go to Seeds & data", icon=":material/upload_file:")
    st.stop()
c1, c2, c3, c4, c5 = st.columns(5)
seeds = c1.selectbox("Seeds", seed_options, format_func=common.split_label, key="sel-seeds")
corpus = c2.selectbox(
    "Corpus",
    corpus_options,
    format_func=lambda c: "demo: retrieval pool" if c == "demo" else common.split_label(c),
    key="sel-corpus",
)
method = c3.selectbox(
    "Method", retrieval.METHODS, index=retrieval.METHODS.index("bm25"), key="sel-method"
)
DEFAULTS = retrieval.SelectionConfig()
budget = c4.number_input(
    "Token budget",
    500,
    10_000_000,
    3000 if common.quick() else DEFAULTS.token_budget,
    step=500,
    key="sel-budget",
    help="The default recipe is measured on 300K tokens of the subdomain (BENCHMARKS.md).",
)
tracin_l1 = c5.number_input(
    "TracIn's L1 coefficient",
    0.0,
    1000.0,
    DEFAULTS.tracin_l1,
    disabled="tracin" not in method,
    key="sel-tracin-l1",
    help=(
        "TracIn ranks documents by the gradient of the SAE loss ||x - x̂||² + L1·||f||₁;"
        " use the coefficient of the loss you will finetune with (the default recipe's: 5, the"
        " demo GSAE's own)."
    ),
)
job = launch.select(base.spec, seeds, corpus, method, int(budget), tracin_l1)


@st.cache_data(show_spinner="Embedding the seeds and drawing the UMAP map…", max_entries=8)
def map_points(key: str, seed_specs: tuple[str, ...], corpus_specs: tuple[str, ...]):
    """The map of selection ``key``; its seeds and corpus are whichever candidate sets name the
    artifact's inputs."""
    inputs = ws.get(f"selection/{key}").manifest["inputs"]
    found = [
        next((t for t in (named_texts(x, data) for x in specs) if texts_ref(t) in inputs), None)
        for specs in (seed_specs, corpus_specs)
    ]
    return None if None in found else embedding_map(ws, ws.get(f"selection/{key}"), *found)


common.launch_button(ws, job, "Selection", "Run selection (background job)")

arts = common.selections(ws, base)
if not arts:
    st.info("No selection yet.")
    st.stop()
rows = pd.DataFrame([SelectionSummary.of(a)._asdict() for a in arts])
st.dataframe(rows, hide_index=True)
key = st.selectbox(
    "Show selection",
    rows.key,
    format_func=lambda k: " · ".join(
        str(v) for v in rows.set_index("key").loc[k, ["method", "budget"]]
    ),
    key="sel-show",
)
art = next(a for a in arts if a.key == key)
table = load_selection(art)
st.subheader("Top documents")
st.dataframe(
    table.assign(snippet=table.text.str[:140]).drop(columns=["text"]).head(50), hide_index=True
)
common.download_csv(table.drop(columns=["text"]), f"selection-{key}")
peers = comparable_selections(ws, art)
if len(peers) > 1:
    st.subheader("Methods at the same budget")
    summaries = [SelectionSummary.of(a) for a in peers]
    precision = {s.method: s.precision for s in summaries if s.precision is not None}
    left, right = st.columns(2)
    if precision:
        left.plotly_chart(analysis_plots.selection_precision(precision), key="sel-precision")
    right.plotly_chart(analysis_plots.selection_overlap(overlap_matrix(peers)), key="sel-overlap")

st.subheader("Map: seeds, selected documents and the corpus")
if st.toggle(
    "Draw the UMAP map (dense-encoder space; half a minute the first time)", key="sel-map"
):
    points = map_points(key, tuple(seed_options), tuple(corpus_options))
    if points is None:
        st.info(
            "The map uses the corpus embeddings that dense retrieval stores: run a dense (or"
            " dense+tracin) selection once, then come back."
        )
    else:
        st.plotly_chart(
            analysis_plots.selection_map(points, SelectionSummary.of(art).method),
            key="sel-map-chart",
        )
