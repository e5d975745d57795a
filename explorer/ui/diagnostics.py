"""Diagnostics / model card: KL per dimension, active units, posterior collapse, training curves, summary."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from explorer.analysis import runlog
from explorer.ui import scorecard as scorecard_ui
from explorer.ui.common import Model

COLLAPSE_FRACTION = 0.5  # warn when fewer than half of the dimensions are active


def collapse_message(active: int, dim: int, kl_total: float) -> tuple[str, str] | None:
    """(level, text) for st.warning/st.info, or None when every dimension is in use."""
    if kl_total < 1.0:
        return "error", (f"Posterior collapse: the encodings carry {kl_total:.2f} nats in all, so the decoder "
                         "ignores z and draws one average face. Lower β, add KL warm-up or free bits, and retrain.")
    if active < COLLAPSE_FRACTION * dim:
        return "warning", (f"Partial posterior collapse: only {active} of {dim} dimensions are active (Burda et al. "
                           f"2016: Var over faces of E[z] > 0.01). The other {dim - active} copy the prior and do "
                           "nothing; their sliders do not change the face.")
    if active < dim:
        return "info", (f"{active} of {dim} dimensions are active; the other {dim - active} are unused by the "
                        "decoder (common in VAEs: the KL term switches off what it does not need).")
    return None


def _kl_chart(model: Model) -> go.Figure:
    """KL per dimension; for a model without logvar (no KL), the variance of μ per dimension instead."""
    b = model.bundle
    order = model.order
    active = b.active_units[order]
    if b.kl_per_dim is not None:
        y, name, title = b.kl_per_dim[order], "KL", "KL per dimension (grey: inactive)"
        hover, axis = "%{x}: KL %{y:.3f} nats<br>Var[E[z]] %{customdata:.3f}<extra></extra>", "mean KL (nats)"
    else:
        y, name, title = b.mu_variance[order], "Var(μ)", "Variance of μ per dimension (grey: inactive)"
        hover, axis = "%{x}: Var[E[z]] %{customdata:.3f}<extra></extra>", "Var over faces of μ"
    fig = go.Figure(go.Bar(x=[f"z{i}" for i in order], y=y, name=name,
                           marker_color=np.where(active, "#3f7cac", "#c9c9c9"),
                           customdata=b.mu_variance[order], hovertemplate=hover))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis=dict(showticklabels=len(order) <= 32),
                      yaxis_title=axis, title=dict(text=title, x=0))
    return fig


def _curves(c: runlog.Curves) -> go.Figure:
    """Per-step training values as a line where the run logged them; each epoch's train and validation
    values as points joined by lines (one epoch alone is a single point, hence the per-step line)."""
    panels = [("nelbo", "negative ELBO (nats)"), ("kl", "KL (nats)"), ("mse", "MSE")]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in panels])
    shown = set()
    for col, (name, _) in enumerate(panels, start=1):
        ys = c.step.get(f"train_{name}")
        if ys:
            fig.add_trace(go.Scatter(x=c.step_x, y=ys, mode="lines", name=f"train (every {_every(c.step_x)} steps)",
                                     legendgroup="step", showlegend="step" not in shown,
                                     line=dict(color="#9cbad6", width=1)), row=1, col=col)
            shown.add("step")
        for split, color in (("train", "#3f7cac"), ("val", "#e4572e")):
            ys = c.epoch.get(f"{split}_{name}")
            if ys:
                fig.add_trace(go.Scatter(x=c.epoch_x, y=ys, mode="lines+markers", name=f"{split} (per epoch)",
                                         legendgroup=split, showlegend=split not in shown,
                                         line=dict(color=color)), row=1, col=col)
                shown.add(split)
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.12, x=0))
    fig.update_xaxes(title_text="training step" if c.x_name == "step" else "epoch")
    return fig


def _every(xs: list[float]) -> str:
    gaps = np.diff(xs)
    return f"{float(np.median(gaps)):g}" if len(gaps) else "?"


def diagnostics_view(model: Model) -> None:
    vae, b = model.vae, model.bundle
    summary = vae.summary
    if vae.source.kind != "ours":
        st.caption(f"Model: {vae.source.describe()} (made with python -m train.export; no training history).")
    cols = st.columns(5)
    cols[0].metric("Latent dimensions", model.dim)
    has_kl = b is not None and b.kl_per_image is not None
    if b is not None:
        active = int(b.active_units.sum())
        cols[1].metric("Active units", f"{active} / {model.dim}")
        cols[2].metric("KL per image", f"{float(np.mean(b.kl_per_image)):.1f} nats" if has_kl else "n/a")
        cols[3].metric("Reconstruction MSE", f"{float(np.mean(b.recon_mse)):.4f}")
        if not has_kl:
            st.info("This model gives μ only, no logvar (a plain or regularised autoencoder), so KL per dimension, "
                    "active units by KL and the posterior variance cannot be shown; dimensions are ordered by the "
                    "variance of μ, and active units counted by it (Burda et al. 2016).")
    if summary.get("epochs") is not None:
        cols[4].metric("Epochs", summary["epochs"], help=f"{summary.get('seconds', 0) / 60:.0f} minutes of training")
    if b is not None:
        msg = collapse_message(active, model.dim, float(np.mean(b.kl_per_image)) if has_kl else float("inf"))
        if msg:
            getattr(st, msg[0])(msg[1])
        st.plotly_chart(_kl_chart(model), key="kl_chart", config={"displaylogo": False})
        scorecard_ui.scorecard_section(model)
    else:
        st.info("No analysis bundle in this checkpoint: KL per dimension and active units are unknown. "
                "Add it with `python -m train.export CHECKPOINT --data-dir DIR`.")
    st.subheader("Training")
    rows, note = runlog.read_metrics_csv(vae.path)
    c = runlog.curves(vae.history, rows)
    if c.epoch or c.step:
        st.plotly_chart(_curves(c), key="curves", config={"displaylogo": False})
        last = runlog.epoch_rows(vae.history)[-1:]
        sigma = summary.get("likelihood_sigma") or (last[0].get("sigma") if last else None)
        st.caption(runlog.nelbo_sign_note(sigma, 3 * vae.image_size**2)
                   + ("" if c.step else " Per-epoch values only: this run kept no per-step log."))
    else:
        st.info("The checkpoint holds no training history.")
    if note:
        st.caption(note)
    with st.expander("Training summary (from the checkpoint)", expanded=False):
        st.json(summary)
    if b is not None:
        with st.expander("Analysis bundle"):
            st.json(b.info)
