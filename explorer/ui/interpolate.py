"""Interpolation: from the base face to another, in n steps, along a line (lerp) and a great circle (slerp)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import latent, urlstate
from explorer.ui.common import Model, bound, face_of, face_picker, image, show_faces, state, sync_url
from explorer.ui.live import component as live


@st.fragment
def interpolate_view(model: Model) -> None:
    s = state()
    c_start, c_end, c_steps = st.columns([2, 3, 2], vertical_alignment="top")
    with c_start:
        st.markdown("**Start: the base face**")
        img, text = st.columns([1, 3], vertical_alignment="center")
        with img:
            image(face_of(model, model.key, s.base), width=72)
        text.caption(s.base.describe() + " (change it in the sidebar)")
    with c_end:
        face_picker(model, "End", "end", "interp_end")
    with c_steps:
        bound(st.slider, "Steps", "interp_steps", "steps", int, min_value=urlstate.STEPS_RANGE[0],
              max_value=urlstate.STEPS_RANGE[1])
    a, b = model.z_of(s.base), model.z_of(s.end)
    width = s.steps * 80
    for method in ("lerp", "slerp"):
        path = latent.interpolate(a, b, s.steps, method)
        norms = np.linalg.norm(path, axis=1)
        show_faces(model.faces(path), f"{method}_{s.steps}", width=width,
                   caption=f"{method}: |z| along the path " + " → ".join(f"{x:.1f}" for x in norms[[0, len(norms) // 2, -1]]))
    url, why = live.decoder_url(model)
    if url is not None:  # scrub anywhere along the path, not only at the steps
        st.markdown("**Scrub along the path** (decoded in this browser while you drag)")
        live.mount("live_interp", url, model, {"mode": "interp", "base": live.floats(a), "end": live.floats(b),
                                               "controls": [], "width": 2 * 128, "caption": "lerp · slerp"},
                   lambda value: None)  # the position is a preview only; the link keeps the steps
    else:
        live.note(why, model)
    st.caption(f"Why slerp (White 2016): a sample of N(0, I) in {model.dim} dimensions lies near the sphere of radius "
               f"√{model.dim} ≈ {np.sqrt(model.dim):.1f}. The straight line between two such points dips inside it "
               "(|z| at the midpoint is about 1/√2 of the ends), where the decoder saw few training codes; the "
               "great circle keeps |z| between the two ends' norms. The |z| figures under each row show it.")
    sync_url()
