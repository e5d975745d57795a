"""The yardstick for bench_app.py: one slider and one image, nothing else (no torch, no model).

    streamlit run bench/trivial_app.py
"""
import numpy as np
import streamlit as st

value = st.slider("value", 0, 100, 50, key="x")
st.image(np.full((64, 64, 3), round(value * 2.55), np.uint8), width=256, output_format="PNG")
