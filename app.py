"""GATE Studio home page.

Entry script for ``streamlit run app.py``. Further pages live in ``pages/`` and
appear in the sidebar automatically. Kept free of model imports so it always loads.
"""

import streamlit as st

st.set_page_config(page_title="GATE Studio", layout="wide")

st.title("GATE Studio")
st.markdown(
    "- **Upload** a small dataset of SMILES with one measured property.\n"
    "- **Add it as a new task** onto a pretrained multi-task GATE backbone.\n"
    "- **See** transfer ratios to the known tasks, the latent space, and "
    "predictions with uncertainty."
)
