"""Home: what the product does, the demo world's state, and the workspace's contents."""

import pandas as pd
import streamlit as st

from views import common
from ssae_core import jobs, plots
from ssae_core.cli import demo_summary

st.title("SSAE Studio")
st.markdown(
    "General sparse autoencoders miss rare concepts. SSAE Studio expands a few seed texts about a "
    "subdomain into a training set by retrieval, finetunes a general SAE on it (ERM or tilted ERM), "
    "and shows what the specialized SAE now sees that the general one did not."
)

ws = common.workspace()
world = common.demo(ws)

if world is None:
    st.subheader("Building the demo world")
    st.caption("First launch: a synthetic corpus, a tiny language model and a general SAE are built on this machine (a few minutes, once).")
    state = jobs.status(ws, common.DEMO_JOB)
    if state is None or (state["state"] in ("failed", "cancelled") and st.button("Try again")):
        jobs.launch(ws, common.DEMO_JOB, common.demo_build_args())
        st.rerun()

    @st.fragment(run_every="2s")
    def build_progress():
        state = jobs.status(ws, common.DEMO_JOB) or {}
        if state.get("state") == "done":
            common.forget_demo()
            st.rerun(scope="app")
        if state.get("state") in ("failed", "cancelled"):
            st.error(f"The demo build {state['state']}: {state.get('error') or ''}")
            return
        total, done = state.get("total"), state.get("done", 0)
        label = f"{state.get('stage') or 'starting'}" + (f" — {done}/{total}" if total else "")
        st.progress(min(done / total, 1.0) if total else 0.0, text=label)
        with st.expander("Log"):
            st.code("\n".join(state.get("log", [])) or "…")

    build_progress()
    st.stop()

summary = demo_summary(world, 0)
lm, g = summary["lm"], summary["gsae"]
st.subheader("Demo world")
cols = st.columns(5)
cols[0].metric("Documents", f"{summary['corpus']['documents']:,}")
cols[1].metric("Concepts", summary["corpus"]["concepts"])
cols[2].metric("LM held-out CE", f"{lm['heldout_ce']:.2f} nats", help="Next-token cross-entropy on held-out general text.")
cols[3].metric("GSAE L0", f"{g['l0']:.1f}", help="Mean number of active GSAE features per token.")
cols[4].metric("GSAE CE loss recovered", f"{g['ce_loss_recovered']:.3f}", help="(CE zero-ablated − CE spliced) / (CE zero-ablated − CE clean).")
st.caption(
    f"LM CE is {lm['ce_ratio_to_unigram']:.0%} of a unigram model's ({lm['unigram_ce']:.2f} nats). "
    f"GSAE: {g['d_sae']} features at `{summary['hook_name']}`, explained variance {g['explained_variance']:.3f}, "
    f"{g['dead_fraction']:.1%} dead, CE {g['ce_clean']:.3f} → {g['ce_spliced']:.3f} spliced in."
)

recall = pd.DataFrame(summary["recall_by_bucket"])
st.plotly_chart(plots.concept_recall_bars(recall, {"GSAE": "gsae_recall", "linear probe": "probe_recall"}), key="recall")
st.caption(
    "A concept counts as recalled when one SAE feature detects its tokens with F1 ≥ 0.5. The linear probe on the "
    "raw activations shows the concept is there in the model; the gap to the GSAE is what a specialized SAE can close."
)

st.subheader("Steps")
steps = st.columns(4)
steps[0].page_link("views/data.py", label="1 · Seeds & data", icon=":material/upload_file:")
steps[1].page_link("views/select.py", label="2 · Select", icon=":material/travel_explore:")
steps[2].page_link("views/finetune.py", label="3 · Finetune", icon=":material/model_training:")
steps[3].page_link("views/compare.py", label="4 · Compare", icon=":material/compare:")

st.subheader("Workspace")
st.caption(f"`{ws.root}`")
kinds = sorted(p.name for p in ws.root.iterdir() if p.is_dir() and p.name not in ("jobs", "runs")) if ws.root.exists() else []
st.dataframe(
    pd.DataFrame([{"artifact kind": k, "count": len(ws.list(k))} for k in kinds]), hide_index=True, width="content"
)
