"""Sample: a grid of faces decoded from z ~ N(0, τ²I), or from the fitted density of the encodings."""
from __future__ import annotations

import streamlit as st

from explorer import urlstate
from explorer.ui.common import (Model, bind, grid_columns, image, sample_faces, sampling_controls, set_base,
                                 show_faces, state, sync_url)
from explorer.ui.fitted import fitted_faces
from explorer.urlstate import FaceRef


@st.fragment
def sample_view(model: Model) -> None:
    s = state()
    sources = {"prior": "Prior N(0, τ²I)", "fitted": "Fitted density of the encodings"}
    can_fit = model.n_rows >= 2
    bind("sample_density", s.density if can_fit else "prior")
    st.segmented_control(
        "Sample from", list(sources), format_func=sources.get, key="sample_density", required=True,
        on_change=lambda: setattr(state(), "density", st.session_state["sample_density"]), disabled=not can_fit,
        help="The fitted density (Ghosh et al. 2020) is a Gaussian mixture fitted to the encoded faces: "
             "it samples where the encodings are, not in the prior's empty regions. τ scales each component's spread."
        if can_fit else "This checkpoint has no encoded faces to fit a density to.")
    fitted = can_fit and s.density == "fitted"
    if fitted:
        st.caption("Each face is the decoder's output for a z drawn from the Gaussian mixture fitted to the encoded "
                   "faces. A lower temperature τ narrows each component towards its mean: blander but cleaner faces.")
    else:
        st.caption("Each face is the decoder's output for a random z drawn from N(0, τ²I). A lower temperature τ "
                   "stays nearer the prior's centre: blander but cleaner faces.")
    c_seed, c_tau, c_n, c_new = st.columns([2, 3, 3, 2], vertical_alignment="bottom")
    sampling_controls("sample", c_seed, c_tau, c_n)
    with c_new:
        def new_batch():
            state().seed = (state().seed + 1) % (urlstate.SEED_MAX + 1)
        st.button("New batch", icon=":material/casino:", on_click=new_batch, width="stretch")

    if fitted:
        faces = fitted_faces(model, model.key, s.seed, s.tau, s.n)
    else:
        faces = sample_faces(model, model.key, s.seed, s.tau, s.n)
    show_faces(faces, "samples-fitted" if fitted else "samples", ncols=grid_columns(s.n), width=min(8, s.n) * 96,
               caption=("fitted density, " if fitted else "")
               + f"seed {s.seed}, τ = {s.tau:g}; faces are numbered from 1, left to right, top to bottom")

    st.markdown("**Carry a face into the other views**")
    c_pick, c_img, c_base, c_end = st.columns([2, 1, 2, 2], vertical_alignment="center")
    with c_pick:
        bind("sample_pick", min(st.session_state.get("sample_pick", 1), s.n))
        k = st.number_input("Face number", 1, s.n, step=1, key="sample_pick")
    with c_img:
        image(faces[k - 1], width=64)
    ref = (FaceRef.fitted if fitted else FaceRef.sample)(s.seed, k - 1, s.tau)
    if c_base.button("Use as base face", icon=":material/face:", width="stretch"):
        set_base(ref)
        st.rerun()  # the sidebar shows the base face: redraw the whole page
    if c_end.button("Use as interpolation end", icon=":material/trending_flat:", width="stretch"):
        s.end = ref
        st.toast(f"Interpolation end: {ref.describe()}")
    sync_url()
