"""SSAE Studio dashboard: ``streamlit run app.py``."""

import streamlit as st

from ssae_core.infra.device import share_cpu

# long work runs in background jobs; the server's own torch work is small and shares the cores with
# them
share_cpu()
st.set_page_config(page_title="SSAE Studio", page_icon="🔭", layout="wide")

pages = {
    "": [
        st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("views/compare.py", title="Compare", icon=":material/compare:"),
    ],
    "Build": [
        st.Page("views/data.py", title="Seeds & data", icon=":material/upload_file:"),
        st.Page("views/select.py", title="Select", icon=":material/travel_explore:"),
        st.Page("views/finetune.py", title="Finetune", icon=":material/model_training:"),
    ],
    "Analyse": [
        st.Page("views/evaluate.py", title="Evaluate", icon=":material/show_chart:"),
        st.Page("views/tail.py", title="Tail tokens", icon=":material/bar_chart:"),
        st.Page("views/features.py", title="Features", icon=":material/biotech:"),
        st.Page("views/errors.py", title="Error norms", icon=":material/grid_on:"),
        st.Page("views/autointerp.py", title="Autointerp", icon=":material/smart_toy:"),
        st.Page("views/shift.py", title="SHIFT", icon=":material/balance:"),
    ],
}
st.navigation(pages).run()
