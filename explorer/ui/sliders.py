"""Latent sliders: one slider per dimension of the base face, most informative (by KL) first."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import latent, urlstate
from explorer.ui.common import Model, bind, show_faces, state, sync_url

VISIBLE = 12  # sliders shown without opening the expander
TRAVERSAL = np.linspace(-3.0, 3.0, 7)  # whole steps; each face costs decode time on every slider move


def current_z(model: Model) -> np.ndarray:
    """The base face with the slider overrides applied: (D,)."""
    s = state()
    z = model.z_of(s.base).copy()
    for d, v in s.dims.items():
        z[d] = v
    return z


def _slider(model: Model, d: int, z: np.ndarray) -> None:
    key = f"dim_{d}"
    lo, hi = urlstate.Z_RANGE
    bind(key, urlstate.q(min(max(float(z[d]), lo), hi)))
    label = f"z{d}" + (f" · KL {model.kl[d]:.2f}" if model.kl is not None else "")

    def moved():
        state().dims[d] = urlstate.q(st.session_state[key])

    st.slider(label, lo, hi, step=0.05, key=key, on_change=moved)


@st.fragment
def sliders_view(model: Model) -> None:
    s = state()
    z = current_z(model)
    order = model.order
    c_face, c_sliders = st.columns([2, 3], gap="large")
    with c_face:  # drawn first: the face reaches the browser before the sliders are re-sent
        with st.container(key="slider_face"):
            show_faces(model.faces(z), "face", width=256, caption=s.base.describe()
                       + (f", {len(s.dims)} dimension(s) moved" if s.dims else ""))
        dim = s.dim if s.dim is not None else int(order[0])
        strip = model.faces(latent.traversal(z, dim, TRAVERSAL))
        show_faces(strip, f"traversal_z{dim}", width="stretch",
                   caption=f"z{dim} from −3 to +3, everything else as above")
        bind("trav_dim", dim)
        st.selectbox("Traverse dimension", [int(i) for i in order], key="trav_dim",
                     format_func=lambda i: f"z{i}" + (f" (KL {model.kl[i]:.2f})" if model.kl is not None else ""),
                     on_change=lambda: setattr(state(), "dim", int(st.session_state["trav_dim"])))
    with c_sliders:
        head, reset = st.columns([3, 1], vertical_alignment="center")
        head.caption("Most informative dimensions first (mean KL per dimension over the encoded faces)."
                     if model.kl is not None else "This checkpoint has no analysis bundle: natural order.")
        reset.button("Reset", icon=":material/restart_alt:", on_click=lambda: state().dims.clear(),
                     disabled=not s.dims, width="stretch")
        left, right = st.container(key="top_sliders").columns(2)
        for k, d in enumerate(order[:VISIBLE]):
            with (left if k % 2 == 0 else right):
                _slider(model, int(d), z)
        rest = order[VISIBLE:]
        if len(rest):
            with st.expander(f"The other {len(rest)} dimensions", key="more_dims", on_change="rerun") as more:
                if more.open:  # 100+ sliders cost time to send: only when asked for
                    left, right = st.columns(2)
                    for k, d in enumerate(rest):
                        with (left if k % 2 == 0 else right):
                            _slider(model, int(d), z)
    sync_url()
