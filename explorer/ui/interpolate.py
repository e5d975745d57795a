"""Interpolation: from the base face to another, in n steps, along a line (lerp) and a great circle (slerp),
and one position along the path, scrubbed (kept in the URL as t) with how typical its faces are."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import animation, latent, urlstate
from explorer.ui import typical
from explorer.ui import animated
from explorer.ui.common import Model, bound, face_of, face_picker, image, show_faces, state, sync_url
from explorer.ui.live import component as live

METHODS = ("lerp", "slerp")


def _at(a, b, t: float) -> np.ndarray:
    """(2,D): the lerp and the slerp point at position t."""
    return np.stack([latent.lerp(a, b, t)[0], latent.slerp(a, b, t)[0]])


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
    for method in METHODS:
        path = latent.interpolate(a, b, s.steps, method)
        norms = np.linalg.norm(path, axis=1)
        show_faces(model.faces(path), f"{method}_{s.steps}", width=width,
                   caption=f"{method}: |z| along the path " + " → ".join(f"{x:.1f}" for x in norms[[0, len(norms) // 2, -1]]))
    animated.buttons(model, "interpolation", lambda: np.stack(
        [latent.interpolate(a, b, animation.STEPS, m) for m in ("lerp", "slerp")], axis=1),
        "lerp and slerp side by side, from the base face to the end face")
    url, why = live.decoder_url(model)
    now = _at(a, b, s.t)
    if url is not None:  # scrub anywhere along the path, not only at the steps
        st.markdown("**Scrub along the path** (decoded in this browser while you drag)")
        ps = typical.percentiles(model, now)
        profiles = [typical.profile(model, lambda t, k=k: _at(a, b, t)[k], *urlstate.T_RANGE) for k in range(2)]

        def released(value: dict) -> None:
            t = value.get("values", {}).get("t")
            if t is not None:
                state().t = urlstate.q(min(max(float(t), urlstate.T_RANGE[0]), urlstate.T_RANGE[1]))

        live.mount("live_interp", url, model, {
            "mode": "interp", "base": live.floats(a), "end": live.floats(b), "t": float(s.t), "controls": [],
            "width": 2 * 128, "caption": "lerp · slerp",
            "typical": typical.live_spec(model, ps, list(METHODS), {"t": profiles} if profiles[0] else {})}, released)
    else:
        st.markdown("**One position along the path**")
        face, ctl = st.columns([1, 2], vertical_alignment="center")
        with ctl:
            bound(st.slider, "Position along the path (0: the base face, 1: the end face)", "interp_t", "t", urlstate.q,
                  min_value=urlstate.T_RANGE[0], max_value=urlstate.T_RANGE[1], step=0.01)
        with face:
            show_faces(model.faces(now), "interp_at", width=2 * 128, caption=f"lerp · slerp at t = {s.t:g}",
                       download=False)
        typical.show(model, now, list(METHODS), key="interp_typical")
        live.note(why, model)
    st.caption(f"Why slerp (White 2016): a sample of N(0, I) in {model.dim} dimensions lies near the sphere of radius "
               f"√{model.dim} ≈ {np.sqrt(model.dim):.1f}. The straight line between two such points dips inside it "
               "(|z| at the midpoint is about 1/√2 of the ends), where the decoder saw few training codes; the "
               "great circle keeps |z| between the two ends' norms. The |z| figures under each row show it.")
    sync_url()
