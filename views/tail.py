"""Tail tokens: which test tokens some feature's logit lens points to, by token frequency (paper
Fig. 2)."""

import streamlit as st

from views import common

ws, base = common.page(
    "Tail tokens",
    "A token is covered when it is among the logit-lens top 10 of a feature that fires on the"
    " split. SAEs are compared at matched L0: per sweep, the SSAE closest to the GSAE's L0.",
)
saes = common.choose_saes(ws, base, "tail-saes")
split = st.selectbox(
    "Test split", common.require_splits(base, ws), format_func=common.split_label, key="tail-split"
)
if not saes or not common.evaluation_gate(ws, base, saes, [split]):
    st.stop()

result = common.comparison(ws, base, saes, [split])
st.dataframe(result.matched[["group", "label", "l0", "ppl_spliced"]], hide_index=True)
st.plotly_chart(result.figures["tail_coverage"], key="tail-bars")
st.plotly_chart(result.figures["tail_cumulative"], key="tail-cumulative")
common.download_csv(result.tables["tail_coverage"], "tail-coverage")
