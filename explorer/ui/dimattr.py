"""Dimensions × attributes: how strongly each latent dimension predicts each CelebA attribute (heatmap,
dimensions most informative first), the traversal of a clicked dimension, and the β-VAE papers'
traversal grid (Higgins et al. 2017, fig. 7): the top dimensions (rows) × values −3…3 (columns)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import latent, urlstate
from explorer.analysis import dimscores
from explorer.ui import scorecard as scorecard_ui
from explorer.ui.common import Model, bind, show_faces, state, sync_url

CHART = "dimattr_chart"
VALUES = np.linspace(-3.0, 3.0, 7)  # traversal values, in prior standard deviations


@st.cache_data(max_entries=8, show_spinner="Scoring every dimension against every attribute…")
def score_table(_model: Model, key: str, score: str) -> np.ndarray:
    """(D,K), once per checkpoint and score for the whole server (a few hundred ms on 5k faces)."""
    b = _model.bundle
    return dimscores.score_table(b.mu, b.attributes, score)


def heatmap_figure(table: np.ndarray, dims, names, score: str, selected: int | None = None) -> go.Figure:
    """Attributes (rows) × dimensions (columns, in the order given). Plotly's heatmaps send no selection
    events to Streamlit, so an invisible marker sits on every cell and carries its dimension in
    ``customdata``: clicking a cell selects that marker."""
    dims = [int(d) for d in dims]
    z = table[dims].T  # (K, n)
    n, k = len(dims), len(names)
    # The colour range follows the strongest cell shown (single dimensions rarely reach AUC 0.8), centred on
    # "no relation" (AUC 0.5, r 0), so that the sign reads as red or blue at any strength.
    centre = 0.5 if score == "auc" else 0.0
    lim = max(float(np.nanmax(np.abs(z - centre))) if np.isfinite(z).any() else 0.5, 0.05)
    zmid, zmin, zmax, title = centre, centre - lim, centre + lim, "AUC" if score == "auc" else "r"
    xs, ys = np.meshgrid(np.arange(n), np.arange(k))
    label = dimscores.SCORES[score]
    fig = go.Figure([
        go.Heatmap(z=z, x=np.arange(n), y=np.arange(k), colorscale="RdBu_r", zmid=zmid, zmin=zmin, zmax=zmax,
                   hoverinfo="skip", colorbar=dict(title=dict(text=title), thickness=12)),
        go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", customdata=np.repeat([dims], k, 0).ravel(),
                   text=[f"{names[j].replace('_', ' ')}: {label} {z[j, i]:.3f}" for j in range(k) for i in range(n)],
                   marker=dict(size=14, opacity=0, symbol="square"), showlegend=False,
                   selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
                   hovertemplate="z%{customdata} · %{text}<extra></extra>"),
    ])
    if selected is not None and int(selected) in dims:
        i = dims.index(int(selected))
        fig.add_shape(type="rect", x0=i - 0.5, x1=i + 0.5, y0=-0.5, y1=k - 0.5, line=dict(color="#222", width=2))
    fig.update_layout(height=max(420, 16 * k + 120), margin=dict(l=10, r=10, t=10, b=10), hovermode="closest",
                      xaxis=dict(tickvals=list(range(n)), ticktext=[f"z{d}" for d in dims], tickangle=-90,
                                 showgrid=False, zeroline=False, range=[-0.5, n - 0.5], fixedrange=True,
                                 title="latent dimension (most informative first)"),
                      yaxis=dict(tickvals=list(range(k)), ticktext=[m.replace("_", " ") for m in names],
                                 autorange="reversed", showgrid=False, zeroline=False, fixedrange=True))
    return fig


def selected_dim(event) -> int | None:
    """The dimension of the clicked cell (from ``customdata``), or None."""
    points = (event or {}).get("selection", {}).get("points", [])
    for p in points:
        c = p.get("customdata")
        if isinstance(c, (list, tuple)):
            c = c[0] if c else None
        if c is not None:
            return int(c)
    return None


def _on_select() -> None:
    d = selected_dim(st.session_state.get(CHART))
    if d is not None:
        state().dim = d


def readout(dim: int, top: list[tuple[str, float]], score: str) -> str:
    """What z_dim predicts, with the way it goes: a score below "no relation" (AUC 0.5, r 0) is as strong a
    relation as one above, with the sign turned ("Blond Hair ↓ (AUC 0.29)": lower z_dim, more blond hair)."""
    centre = 0.5 if score == "auc" else 0.0
    name = "AUC" if score == "auc" else "r"
    parts = [f"{n.replace('_', ' ')} {'↑' if v >= centre else '↓'} ({name} {v:.2f})" for n, v in top]
    return (f"z{dim} predicts best: " + ", ".join(parts)
            + f". ↑: higher z{dim} → the attribute more often; ↓: lower z{dim} → the attribute more often.")


def traversal_grid(model: Model, z: np.ndarray, dims) -> np.ndarray:
    """(len(dims)·7, S, S, 3): row r is dimension dims[r] set to −3 … 3, everything else as in z."""
    zs = np.concatenate([latent.traversal(z, int(d), VALUES) for d in dims])
    return model.faces(zs)


@st.fragment
def dimattr_view(model: Model) -> None:
    b = model.bundle
    if b is None:
        st.info("This checkpoint has no analysis bundle, so there are no encodings to score. Add one with "
                "`python -m train.export CHECKPOINT --data-dir DIR`.")
        return
    s = state()
    c_score, c_heat, c_grid = st.columns([2, 3, 3], vertical_alignment="bottom")
    with c_score:
        bind("dimattr_score", s.score)
        st.segmented_control("Score", list(urlstate.SCORES), format_func=dimscores.SCORES.get, key="dimattr_score",
                             required=True, on_change=lambda: setattr(state(), "score", st.session_state["dimattr_score"]),
                             help="AUC: how well a threshold on z_d alone tells the faces with the attribute from those "
                                  "without (0.5 chance; below 0.5, larger z_d means the attribute is absent). "
                                  "r: point-biserial correlation.")
    with c_heat:
        bind("dimattr_heat", min(s.heat, model.dim))
        st.slider("Dimensions in the heatmap", 1, model.dim, key="dimattr_heat",
                  on_change=lambda: setattr(state(), "heat", int(st.session_state["dimattr_heat"])))
    with c_grid:
        hi = min(urlstate.GRID_RANGE[1], model.dim)
        bind("dimattr_grid", min(s.grid, hi))
        if hi > 1:
            st.slider("Rows of the traversal grid", 1, hi, key="dimattr_grid",
                      on_change=lambda: setattr(state(), "grid", int(st.session_state["dimattr_grid"])))

    table = score_table(model, model.key, s.score)
    dims = model.order[: min(s.heat, model.dim)]
    dim = s.dim if s.dim is not None else int(model.order[0])
    z = model.z_of(s.base)
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.plotly_chart(heatmap_figure(table, dims, b.attribute_names, s.score, dim), key=CHART,
                        on_select=_on_select, selection_mode="points", config={"displaylogo": False})
        st.caption(f"{len(b):,} encoded faces. Red: larger z_d goes with the attribute; blue: with its absence. "
                   "Click a cell to traverse its dimension below.")
        bind("dimattr_dim", dim)
        c_pick, c_top = st.columns([1, 2], vertical_alignment="bottom")
        c_pick.selectbox("Traverse dimension", [int(i) for i in model.order], key="dimattr_dim",
                         format_func=lambda i: f"z{i}" + (f" (KL {model.kl[i]:.2f})" if model.kl is not None else ""),
                         on_change=lambda: setattr(state(), "dim", int(st.session_state["dimattr_dim"])))
        top = dimscores.top_attributes(table, dim, b.attribute_names, s.score, k=3)
        c_top.caption(readout(dim, top, s.score))
        show_faces(model.faces(latent.traversal(z, dim, VALUES)), f"traversal_z{dim}", width="stretch",
                   caption=f"z{dim} from −3 to +3 on the base face ({s.base.describe()})")
    with right:
        rows = [int(d) for d in model.order[: min(s.grid, model.dim)]]
        show_faces(traversal_grid(model, z, rows), f"traversal_grid_top{len(rows)}", ncols=len(VALUES),
                   width="stretch", caption="Traversal grid: rows " + ", ".join(f"z{d}" for d in rows)
                   + " (most informative first), columns −3 … +3, on the base face")
    scorecard_ui.traversal_section(model, z, dim, dims, score_table(model, model.key, "auc"))
    sync_url()
