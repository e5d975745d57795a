"""Prior holes: does the aggregate posterior fill N(0, I)? Per-dimension variance, the norm of the
encodings against the prior's χ distribution, and prior samples beside samples of the fitted density."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import latent
from explorer.analysis import priorcheck
from explorer.ui.common import Model, grid_columns, sample_faces, sampling_controls, show_faces, state, sync_url
from explorer.ui.fitted import fitted_density, fitted_faces

CHECK_SAMPLES = 1000  # samples per source for the norms and the share in holes


@st.cache_data(max_entries=8, show_spinner="Checking the encodings against the prior…")
def prior_check(_model: Model, key: str) -> dict:
    """Everything the charts need, once per checkpoint for the whole server."""
    b = _model.bundle
    g = fitted_density(_model, key)
    prior = latent.sample_z(CHECK_SAMPLES, _model.dim, seed=0)
    fitted = g.sample(CHECK_SAMPLES, seed=0)
    if b.posterior_var_mean is not None:
        # judge prior samples against the aggregate posterior q(z) (the mixture of μ widened by E[σ²]),
        # with q's own samples as the reference of "where the decoder trained"
        q = g.widened(b.posterior_var_mean)
        ref_logp, judge = q.log_prob(q.sample(CHECK_SAMPLES, seed=1)), q
    else:
        # only the density of the means is known: it is narrower than q(z), so this overstates holes
        ref_logp, judge = g.log_prob(b.mu), g
    return {
        "mu_norms": np.linalg.norm(b.mu.astype(np.float64), axis=1),
        "mu_sq": float((b.mu.astype(np.float64) ** 2).sum(1).mean()),  # E‖μ‖²
        "prior_norms": np.linalg.norm(prior, axis=1),
        "fitted_norms": np.linalg.norm(fitted, axis=1),
        "holes_prior": priorcheck.hole_fraction(judge.log_prob(prior), ref_logp)[0],
        "holes_fitted": priorcheck.hole_fraction(judge.log_prob(fitted), ref_logp)[0],
        "against_q": b.posterior_var_mean is not None,
        "aggregate": priorcheck.aggregate_variance(b.mu_variance, b.posterior_var_mean),
    }


def variance_figure(model: Model) -> go.Figure:
    """Per dimension (most informative first): Var_x(μ_d), stacked with E_x[σ²_d] when the bundle has it,
    against the prior's variance 1."""
    b = model.bundle
    order = model.order
    x = [f"z{d}" for d in order]
    traces = [go.Bar(x=x, y=b.mu_variance[order], name="Var over faces of μ_d", marker_color="#3f7cac",
                     hovertemplate="%{x}: Var(μ) %{y:.3f}<extra></extra>")]
    if b.posterior_var_mean is not None:
        traces.append(go.Bar(x=x, y=b.posterior_var_mean[order], name="mean posterior variance E[σ²_d]",
                             marker_color="#f0a202", hovertemplate="%{x}: E[σ²] %{y:.3f}<extra></extra>"))
    fig = go.Figure(traces)
    fig.add_hline(y=1.0, line=dict(color="#e4572e", dash="dash"), annotation_text="prior: 1",
                  annotation_position="top right")
    fig.update_layout(barmode="stack", height=320, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                      xaxis=dict(showticklabels=len(order) <= 32), yaxis_title="variance")
    return fig


def norm_figure(model: Model, check: dict) -> go.Figure:
    """Histograms (as densities) of ‖μ‖ over the encodings and of ‖z‖ over fitted-density samples,
    and the χ_D density of ‖z‖ under the prior."""
    hi = max(check["mu_norms"].max(), check["prior_norms"].max(), check["fitted_norms"].max()) * 1.05
    bins = np.linspace(0, hi, 80)
    r = np.linspace(0, hi, 400)
    fig = go.Figure()
    for values, name, color in ((check["mu_norms"], "‖μ‖ of the encoded faces", "#3f7cac"),
                                (check["fitted_norms"], "‖z‖, fitted density samples", "#f0a202")):
        density, edges = np.histogram(values, bins=bins, density=True)
        fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=density, name=name, marker_color=color, opacity=0.6,
                             hovertemplate="‖·‖ %{x:.2f}: %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=r, y=priorcheck.chi_pdf(r, model.dim), mode="lines", name=f"prior: χ with {model.dim} d.o.f.",
                             line=dict(color="#e4572e", width=2)))
    fig.update_layout(barmode="overlay", bargap=0, height=320, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), xaxis_title="norm",
                      yaxis_title="density")
    return fig


@st.fragment
def holes_view(model: Model) -> None:
    b = model.bundle
    if b is None or model.n_rows < 2:
        st.info("This checkpoint has no analysis bundle, so there are no encodings to compare with the prior. "
                "Add one with `python -m train.export CHECKPOINT --data-dir DIR`.")
        return
    s = state()
    check = prior_check(model, model.key)
    g = fitted_density(model, model.key)
    st.caption("The decoder learnt from z drawn near the encodings of real faces. Where the encodings leave parts of "
               "N(0, I) empty, prior samples decode to faces the decoder never trained on (Rosca et al. 2018; "
               "Ghosh et al. 2020 sample from a density fitted to the encodings instead).")
    agg = check["aggregate"]
    m = st.columns(4)
    m[0].metric("Mean ‖μ‖ of the encodings", f"{check['mu_norms'].mean():.2f}",
                help="Under the prior, ‖z‖ is close to √D for every sample.")
    m[1].metric("Mean ‖z‖ under the prior", f"{priorcheck.chi_mean(model.dim):.2f}")
    if check["against_q"]:
        where = ("the aggregate posterior q(z) (the mixture fitted to μ, widened by E[σ²]) is lower than at 99% of "
                 "q's own samples")
        labels = ("Prior samples in holes of q(z)", "Fitted samples in holes of q(z)")
    else:
        where = ("the density fitted to the means μ is lower than at 99% of the encodings. The decoder trained on "
                 "z = μ + σε, which spreads wider than μ: without E[σ²] in the bundle this overstates the holes")
        labels = ("Prior samples far from all μ", "Fitted samples far from all μ")
    m[2].metric(labels[0], f"{check['holes_prior']:.0%}",
                help=f"Of {CHECK_SAMPLES:,} samples from N(0, I), the share where {where}.")
    m[3].metric(labels[1], f"{check['holes_fitted']:.0%}", help=f"The same share for {CHECK_SAMPLES:,} samples of "
                "the fitted density.")

    st.markdown("**Variance per dimension**, most informative first: 1 where the encodings fill the prior")
    st.plotly_chart(variance_figure(model), key="holes_var", config={"displaylogo": False})
    if b.posterior_var_mean is None:
        st.info(f"This checkpoint's bundle does not store the mean posterior variance E[σ²], so only Var(μ) is shown: "
                f"a lower bound on the aggregate variance Var(μ) + E[σ²]. Mean Var(μ) over dimensions: {agg.mean():.2f}. "
                "Re-export the bundle (`python -m train.export CHECKPOINT --data-dir DIR`) to add it.")
    else:
        low = int((agg < 0.5).sum())
        st.caption(f"Aggregate variance Var(μ) + E[σ²] (law of total variance): mean {agg.mean():.2f} over "
                   f"dimensions; {low} of {model.dim} below 0.5.")

    st.markdown("**Norms**: the encodings against the prior's χ distribution")
    st.plotly_chart(norm_figure(model, check), key="holes_norms", config={"displaylogo": False})
    # E‖z‖² = E‖μ‖² + Σ_d E[σ²_d] for z = μ + σ ε drawn from the aggregate posterior; the prior has E‖z‖² = D.
    need = model.dim - check["mu_sq"]
    text = (f"‖μ‖ leaves out each posterior's own spread σ: for z drawn from the aggregate posterior, "
            f"E‖z‖² = E‖μ‖² + Σ_d E[σ²_d]. Here E‖μ‖² = {check['mu_sq']:.1f}, so the posterior variances would "
            f"have to sum to {need:.1f} ({need / model.dim:.2f} per dimension) to reach the prior's E‖z‖² = {model.dim}")
    if b.posterior_var_mean is not None:
        text += f"; they sum to {float(np.sum(b.posterior_var_mean)):.1f}."
    st.caption(text + ("" if b.posterior_var_mean is not None else "."))

    st.markdown("**Same seed, two sources**: N(0, τ²I) on the left, the fitted density on the right")
    sampling_controls("holes", *st.columns(3, vertical_alignment="bottom"))
    left, right = st.columns(2, gap="large")
    cols = grid_columns(s.n)
    with left:
        show_faces(sample_faces(model, model.key, s.seed, s.tau, s.n), "holes_prior", ncols=cols, width="stretch",
                   caption=f"prior N(0, τ²I), seed {s.seed}, τ = {s.tau:g}")
    with right:
        show_faces(fitted_faces(model, model.key, s.seed, s.tau, s.n), "holes_fitted", ncols=cols, width="stretch",
                   caption=f"fitted density ({g.n_components}-component Gaussian mixture), seed {s.seed}, τ = {s.tau:g}")
    sync_url()
