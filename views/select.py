"""Select: expand the seeds into a training selection (BM25, dense retrieval, SAE-TracIn reranking)."""

import hashlib

import pandas as pd
import streamlit as st

from views import common
from ssae_core import jobs, plots, selection
from ssae_core import data
from ssae_core.select_artifact import comparable_selections, embedding_map, load_selection, overlap_matrix, texts_ref

st.title("Select")
st.caption("The seed set is the query; dense retrieval embeds the corpus once (minutes on a CPU, then cached); TracIn reranks a first-stage pool by gradient similarity to the seeds.")
ws = common.workspace()
base = common.base(ws)
uploads = sorted(p for p in (ws.root / "uploads" / "seeds").glob("*") if p.is_file()) if (ws.root / "uploads" / "seeds").exists() else []
seed_options = ["demo:physics", "demo:medicine"] + [str(p) for p in uploads]
c1, c2, c3 = st.columns(3)
seeds = c1.selectbox("Seeds", seed_options, format_func=lambda s: s if s.startswith("demo:") else f"uploaded: {s.rsplit('/', 1)[-1]}", key="sel-seeds")
method = c2.selectbox("Method", selection.METHODS, index=selection.METHODS.index("bm25"), key="sel-method")
budget = c3.number_input("Token budget", 500, 10_000_000, 3000 if common.quick() else 20_000, step=500, key="sel-budget")
args = ["select", *common.cli_base_args(), "--seeds", seeds, "--corpus", "demo", "--method", method, "--tokens", str(int(budget))]
name = "select-" + hashlib.sha256(" ".join(args).encode()).hexdigest()[:10]


@st.cache_data(show_spinner="Embedding the seeds and drawing the UMAP map…", max_entries=8)
def map_points(key: str, seed_specs: tuple[str, ...]):
    """The map of selection ``key``; its seeds are whichever candidate set names the artifact's input."""
    art = ws.get(f"selection/{key}")
    world = base.world
    if world is None:  # the page selects from the demo corpus only
        return None
    for spec in seed_specs:
        seeds = world.text_set(f"{spec.split(':', 1)[1]}_seed") if spec.startswith("demo:") else data.load_texts(spec, data.IngestConfig())
        if texts_ref(seeds) in art.manifest["inputs"]:
            return embedding_map(ws, art, seeds, world.text_set("general"))
    return None


state = common.job_panel(ws, name, "Selection")
if (state is None or state["state"] in jobs.FINAL) and st.button("Run selection (background job)", type="primary"):
    jobs.launch(ws, name, args)
    st.rerun()

arts = ws.list("selection")
if not arts:
    st.info("No selection yet.")
    st.stop()
rows = pd.DataFrame([{"key": a.key, "method": a.summary["method"], "budget": a.manifest["config"]["token_budget"], "documents": a.summary["documents"],
                      "tokens": a.summary["tokens"], "precision": a.summary.get("precision")} for a in arts])
st.dataframe(rows, hide_index=True)
key = st.selectbox("Show selection", rows.key, format_func=lambda k: " · ".join(str(v) for v in rows.set_index("key").loc[k, ["method", "budget"]]), key="sel-show")
art = next(a for a in arts if a.key == key)
table = load_selection(art)
st.subheader("Top documents")
st.dataframe(table.assign(snippet=table.text.str[:140]).drop(columns=["text"]).head(50), hide_index=True)
common.download_csv(table.drop(columns=["text"]), f"selection-{key}")
peers = comparable_selections(ws, art)
if len(peers) > 1:
    st.subheader("Methods at the same budget")
    precision = {a.summary["method"]: a.summary["precision"] for a in peers if "precision" in a.summary}
    left, right = st.columns(2)
    if precision:
        left.plotly_chart(plots.selection_precision(precision), key="sel-precision")
    right.plotly_chart(plots.selection_overlap(overlap_matrix(peers)), key="sel-overlap")

st.subheader("Map: seeds, selected documents and the corpus")
if st.toggle("Draw the UMAP map (dense-encoder space; half a minute the first time)", key="sel-map"):
    points = map_points(key, tuple(seed_options))
    if points is None:
        st.info("The map uses the corpus embeddings that dense retrieval stores: run a dense (or dense+tracin) selection once, then come back.")
    else:
        st.plotly_chart(plots.selection_map(points, art.summary["method"]), key="sel-map-chart")
