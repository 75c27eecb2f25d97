"""Autointerp: explain features with Claude (or the offline baseline) and score the explanations by
F1."""

import pandas as pd
import streamlit as st

from ssae_core.analysis.autointerp.backends import ClaudeConfig, find_api_key
from ssae_core.analysis.autointerp.run import (
    SCORERS,
    AutointerpConfig,
    estimate,
    prepare,
    results_table,
    stored_results,
    stored_scores,
    summary_table,
)
from ssae_core.cli import launch
from ssae_core.report import analysis_plots, plots
from views import common

ws, base = common.page(
    "Autointerp",
    "An interpreter explains each feature from its top 10 examples; a predictor labels 10 held-out"
    " examples (5 from the quintiles of the rest, 5 silent) from the explanation alone; F1 scores"
    " it (SSAE paper, Sec. 3.5). Three more scores, after EleutherAI's delphi, use 10 activating"
    " contexts spread over the rest of the top documents and 10 silent ones: detection (does it"
    " fire here?) and fuzzing (are the marked tokens its own?) as balanced accuracy, and, with no"
    " LLM, the AUROC of the MiniLM cosine between explanation and context.",
)
saes = common.choose_saes(ws, base, "ai-saes", most=3)
c1, c2, c3 = st.columns(3)
split = c1.selectbox(
    "Examples from", common.require_splits(base, ws), format_func=common.split_label, key="ai-split"
)
n = c2.number_input("Random live features (the same for every SAE)", 1, 500, 10, key="ai-n")
has_key = bool(find_api_key())
backend = c3.selectbox(
    "Backend",
    ["claude", "offline"] if has_key else ["offline"],
    key="ai-backend",
    help=(
        None
        if has_key
        else (
            "Set ANTHROPIC_API_KEY (or .streamlit/secrets.toml) to use Claude; the offline baseline"
            " needs no network."
        )
    ),
)
model = st.text_input(
    "Claude model", ClaudeConfig().model, key="ai-model", disabled=backend != "claude"
)
budget = st.number_input(
    "Budget cap (USD, 0 = none)", 0.0, 1000.0, 0.0, key="ai-budget", disabled=backend != "claude"
)
if not saes or not common.evaluation_gate(ws, base, saes, [split]):
    st.stop()

if backend == "claude" and st.button("Estimate cost"):
    with st.spinner("Collecting examples…"):
        examples = prepare(
            ws, base, saes, common.split_refs(base, [split])[0], AutointerpConfig(n_features=int(n))
        )
    cost = estimate([fx for fxs in examples.values() for fx in fxs], ClaudeConfig(model=model))
    st.info(
        f"{cost['features']} feature scorings: about {cost['input_tokens']:,} input and at most"
        f" {cost['output_tokens']:,} output tokens, at most ${cost['usd']:.2f}."
    )

job = launch.autointerp(base.spec, [s.ref for s in saes], split, n, backend, model, budget)
common.launch_button(ws, job, "Autointerp", "Run autointerp (background job)")

rows = stored_results(ws, [s.ref for s in saes])
if not rows:
    st.info("No scored features yet for these SAEs.")
    st.stop()
scores = stored_scores(ws, [s.ref for s in saes])
table = results_table(rows, {s.ref: s.label for s in saes}, scores)
colors = plots.palette(s.label for s in saes)
shown = ["f1", *(name for name in SCORERS if table[name].notna().any())]
for column, score in zip(st.columns(2) * 2, shown):
    column.plotly_chart(analysis_plots.f1_distribution(table, colors, score), key=f"ai-{score}")
summary = summary_table(table)
st.dataframe(summary, hide_index=True)
st.dataframe(table.drop(columns=["sae"]), hide_index=True)
common.download_csv(table, "autointerp")
st.download_button(
    "Download (JSON)",
    pd.DataFrame(rows).to_json(orient="records", indent=1).encode(),
    file_name="autointerp.json",
    mime="application/json",
)
