"""Evaluate: perplexity with the SAE spliced in vs L0 (in-domain and OOD), AUC, metrics."""

import streamlit as st

from views import common

ws, base = common.page(
    "Evaluate",
    "Spliced-in perplexity vs L0 per sweep (paper Fig. 1, 4-6), the area under each curve over the"
    " L0 range all curves share, and every metric.",
)
saes = common.choose_saes(ws, base, "eval-saes")
splits = common.require_splits(base, ws)
split_names = st.multiselect(
    "Test splits (the first is in-domain)",
    splits,
    format_func=common.split_label,
    default=common.default_splits(splits, "physics"),
    key="eval-splits",
)
if not saes or not split_names or not common.evaluation_gate(ws, base, saes, split_names):
    st.stop()

result = common.comparison(ws, base, saes, split_names)
paretos = [
    n for n in result.figures if n.startswith("pareto_")
]  # named by split (an upload's file stem)
for col, name in zip(st.columns(len(paretos)), paretos):
    col.plotly_chart(result.figures[name], key=name)
st.subheader("Area under perplexity vs L0")
st.caption("Lower is better; `mean_ppl` is the area divided by the L0 range's width.")
st.dataframe(result.auc, hide_index=True)
st.subheader("Metrics")
st.dataframe(result.metrics.drop(columns=["ref"]), hide_index=True)
common.download_csv(result.metrics, "metrics")
