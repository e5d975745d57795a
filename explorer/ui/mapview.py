"""Map: t-SNE and PCA of the encoded faces, coloured by an attribute, KL or reconstruction error.
Clicking a point shows its decoded face; a lasso shows the decoded mean of the selection."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import latent
from explorer.ui.common import Model, bind, bound, set_base, show_faces, state, sync_url
from explorer.urlstate import FaceRef

CHART = "map_chart"
LASSO = "map_rows"  # rows of the last multi-point selection (session only: it can be thousands long)
CONTINUOUS = {"kl": ("KL per image (nats)", "kl_per_image"), "mse": ("Reconstruction error (MSE)", "recon_mse")}


def map_figure(xy: np.ndarray, color: str, bundle) -> go.Figure:
    """Scattergl (WebGL) of (N,2) points. Every trace carries the bundle row in ``customdata``: colouring by
    an attribute splits the points into two traces, and Plotly's point indices restart in each trace."""
    rows = np.arange(len(xy), dtype=np.int32)
    marker = dict(size=4, opacity=0.75)
    hover = "row %{customdata}<extra>%{fullData.name}</extra>"
    traces = []
    if color in CONTINUOUS:
        title, field = CONTINUOUS[color]
        values = np.asarray(getattr(bundle, field), np.float32)
        traces.append(go.Scattergl(x=xy[:, 0], y=xy[:, 1], customdata=rows, mode="markers", name=title,
                                   marker=dict(marker, color=values, colorscale="Viridis", showscale=True,
                                               colorbar=dict(title=dict(text=title, side="right"), thickness=12)),
                                   hovertemplate="row %{customdata}<br>%{marker.color:.4g}<extra></extra>"))
    elif color in bundle.attribute_names:
        has = bundle.attributes[:, bundle.attribute_names.index(color)].astype(bool)
        for mask, name, c in ((~has, f"not {color}", "#9aa5b1"), (has, color, "#e4572e")):
            traces.append(go.Scattergl(x=xy[mask, 0], y=xy[mask, 1], customdata=rows[mask], mode="markers",
                                       name=f"{name} ({int(mask.sum()):,})", marker=dict(marker, color=c),
                                       hovertemplate=hover))
    else:
        traces.append(go.Scattergl(x=xy[:, 0], y=xy[:, 1], customdata=rows, mode="markers", name="faces",
                                   marker=dict(marker, color="#3f7cac"), hovertemplate=hover))
    fig = go.Figure(traces)
    # No dragmode here: Streamlit then starts in pan mode, where a click selects one point; in lasso mode
    # (from the chart's toolbar) clicks select nothing.
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=30, b=10), uirevision=color,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), hovermode="closest",
                      xaxis=dict(showticklabels=False, title=None), yaxis=dict(showticklabels=False, title=None))
    return fig


def selected_rows(event) -> list[int]:
    """Bundle rows of the selected points, whatever trace they are in (from ``customdata``)."""
    points = (event or {}).get("selection", {}).get("points", [])
    rows = []
    for p in points:
        c = p.get("customdata")
        if isinstance(c, (list, tuple)):
            c = c[0] if c else None
        if c is not None:
            rows.append(int(c))
    return rows


def _on_select() -> None:
    rows = selected_rows(st.session_state.get(CHART))
    if len(rows) == 1:
        state().point = rows[0]
        st.session_state[LASSO] = None
    elif rows:
        st.session_state[LASSO] = sorted(set(rows))
    else:
        st.session_state[LASSO] = None


def _attributes_of(bundle, row: int) -> str:
    names = [n.replace("_", " ") for n, v in zip(bundle.attribute_names, bundle.attributes[row]) if v]
    return ", ".join(names) if names else "none of the 40"


def _over_represented(bundle, rows, k: int = 5) -> str:
    """The attributes most over-represented in a selection, against the whole bundle."""
    sel = bundle.attributes[rows].mean(0)
    base = bundle.attributes.mean(0)
    lift = sel - base
    top = np.argsort(-lift)[:k]
    return ", ".join(f"{bundle.attribute_names[j].replace('_', ' ')} {sel[j]:.0%} (vs {base[j]:.0%})"
                     for j in top if lift[j] > 0.05) or "no attribute stands out"


@st.fragment
def map_view(model: Model) -> None:
    b = model.bundle
    if b is None:
        st.info("This checkpoint has no analysis bundle, so there is nothing to map. Add one with "
                "`python -m train.export CHECKPOINT --data-dir DIR`.")
        return
    s = state()
    has_tsne = bool(np.isfinite(b.tsne).all())
    c_proj, c_color, c_row = st.columns([2, 3, 2], vertical_alignment="bottom")
    with c_proj:
        projections = {"tsne": "t-SNE", "pca": "PCA"}
        proj = s.proj if has_tsne else "pca"
        bind("map_proj", proj)
        proj = st.segmented_control("Projection", list(projections), format_func=projections.get, key="map_proj",
                                    required=True, on_change=lambda: setattr(state(), "proj", st.session_state["map_proj"]),
                                    disabled=not has_tsne, help=None if has_tsne else "t-SNE was skipped at export")
    with c_color:
        extra = {"none": "nothing", "kl": "KL per image", "mse": "reconstruction error"}
        options = list(extra) + list(b.attribute_names)
        bound(st.selectbox, "Colour by", "map_color", "color", options=options,
              format_func=lambda o: extra.get(o, o.replace("_", " ")))
    with c_row:
        bind("map_row", s.point if s.point is not None else 0)

        def row_changed():
            state().point = int(st.session_state["map_row"])
            st.session_state[LASSO] = None
        st.number_input("Show row", 0, len(b) - 1, step=1, key="map_row", on_change=row_changed)

    xy = b.tsne if proj == "tsne" else b.pca
    chart, detail = st.columns([3, 1], gap="medium")
    with chart:
        st.plotly_chart(map_figure(xy, s.color, b), key=CHART, on_select=_on_select,
                        selection_mode=("points", "lasso", "box"), config={"displaylogo": False},
                        theme="streamlit")
        st.caption(f"{len(b):,} encoded faces ({', '.join(b.info.get('splits', [])) or 'bundle'} split). "
                   "Click a point for its face; pick the lasso in the chart's toolbar to see the mean face of a group.")
    with detail:
        lasso = st.session_state.get(LASSO)
        if lasso:
            z = latent.selection_mean(b.mu, lasso)
            show_faces(model.faces(z), "selection_mean", width=192,
                       caption=f"decoded mean of {len(lasso):,} selected encodings")
            st.caption("Over-represented: " + _over_represented(b, lasso))
            if st.button("Use as base face", key="map_lasso_base", width="stretch"):
                set_base(FaceRef.vector(z))
                st.rerun()
        elif s.point is not None:
            row = s.point
            show_faces(model.faces(b.mu[row]), f"row{row}", width=192,
                       caption=f"row {row}: {b.filenames[row]} decoded from its encoding")
            st.caption(f"KL {b.kl_per_image[row]:.1f} nats · MSE {b.recon_mse[row]:.4f}")
            st.caption("Attributes: " + _attributes_of(b, row))
            if st.button("Use as base face", key="map_point_base", width="stretch"):
                set_base(FaceRef.row(row))
                st.rerun()
        else:
            st.info("Click a point to see the face behind it.")
    sync_url()
