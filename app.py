"""SSAE Studio dashboard: ``streamlit run app.py``."""

import streamlit as st

st.set_page_config(page_title="SSAE Studio", page_icon="🔭", layout="wide")

pages = {
    "": [st.Page("pages/home.py", title="Home", icon="🏠", default=True), st.Page("pages/compare.py", title="Compare", icon="⚖️")],
    "Build": [
        st.Page("pages/data.py", title="Seeds & data", icon="🌱"),
        st.Page("pages/select.py", title="Select", icon="🔎"),
        st.Page("pages/finetune.py", title="Finetune", icon="🛠️"),
    ],
    "Analyse": [
        st.Page("pages/evaluate.py", title="Evaluate", icon="📉"),
        st.Page("pages/tail.py", title="Tail tokens", icon="🦎"),
        st.Page("pages/features.py", title="Features", icon="🔬"),
        st.Page("pages/errors.py", title="Error norms", icon="🌌"),
        st.Page("pages/autointerp.py", title="Autointerp", icon="🤖"),
    ],
}
st.navigation(pages).run()
