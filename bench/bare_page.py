"""The reference page of bench/bench_dashboard.py: what Streamlit and plotly cost by themselves
(a radio, four metric cards, one plotly chart), served and measured like the dashboard's pages."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="bare", layout="wide")
st.title("Bare page")
period = st.radio("Period", ["week", "month", "quarter"], index=1, horizontal=True)
n = {"week": 104, "month": 24, "quarter": 8}[period]
rng = np.random.default_rng(n)
cols = st.columns(4)
LABELS = ("Deployments / week", "Lead time", "Change fail rate", "Recovery time")
for col, label in zip(cols, LABELS, strict=True):
    col.metric(label, f"{rng.random() * 100:.1f}", f"{rng.normal():+.1f}")
fig = go.Figure(go.Scatter(x=list(range(n)), y=rng.random(n).cumsum(), mode="lines+markers"))
fig.update_layout(height=400)
st.plotly_chart(fig, width="stretch")
st.subheader(f"Drawn: {period}")
