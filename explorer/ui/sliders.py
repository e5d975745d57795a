"""Latent sliders: one slider per dimension of the base face, most informative (by KL) first.

Two ways to draw it. Live (explorer/ui/live): the sliders, the face and the traversal strip are one
component in the page that decodes while a slider moves and reports the values on release. On the server
(no WebAssembly, no export, AppTest): Streamlit sliders, and faces decoded here after each release."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import animation, latent, urlstate
from explorer.ui import typical
from explorer.ui import animated
from explorer.ui.common import Model, bind, show_faces, state, sync_url
from explorer.ui.live import component as live

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
    label = _label(model, d)

    def moved():
        state().dims[d] = urlstate.q(st.session_state[key])

    st.slider(label, lo, hi, step=0.05, key=key, on_change=moved)


@st.fragment
def sliders_view(model: Model) -> None:
    url, why = live.decoder_url(model)
    if url is not None:
        _live_view(model, url)
    else:
        _server_view(model)
        live.note(why, model)
    sync_url()


def _label(model: Model, d: int) -> str:
    return f"z{d}" + (f" · KL {model.kl[d]:.2f}" if model.kl is not None else "")


def _traverse_picker(model: Model, dim: int) -> None:
    bind("trav_dim", dim)
    st.selectbox("Traverse dimension", [int(i) for i in model.order], key="trav_dim",
                 format_func=lambda i: f"z{i}" + (f" (KL {model.kl[i]:.2f})" if model.kl is not None else ""),
                 on_change=lambda: setattr(state(), "dim", int(st.session_state["trav_dim"])))


def _live_view(model: Model, url: str) -> None:
    s = state()
    z = current_z(model)
    dim = s.dim if s.dim is not None else int(model.order[0])
    base = model.z_of(s.base)
    lo, hi = urlstate.Z_RANGE
    head, trav, reset = st.columns([3, 2, 1], vertical_alignment="bottom")
    head.caption("Drag a slider: the face follows it, decoded in this browser; the link updates when you let go. "
                 + model.order_note)
    with trav:
        _traverse_picker(model, dim)
    reset.button("Reset", icon=":material/restart_alt:", on_click=lambda: state().dims.clear(),
                 disabled=not s.dims, width="stretch")

    def released(value: dict) -> None:
        # Only the dimensions that differ from the base face (or were moved before) become overrides, so
        # the URL stays as short as with the server-side sliders.
        st_ = state()
        b = model.z_of(st_.base)
        st_.dims = {d: urlstate.q(min(max(float(v), lo), hi)) for d, v in
                    ((int(k), v) for k, v in value.get("values", {}).items())
                    if 0 <= d < model.dim and (d in st_.dims or abs(float(v) - float(b[d])) > 1e-6)}

    controls = [{"id": str(int(d)), "label": _label(model, int(d)), "min": lo, "max": hi, "step": 0.05,
                 "value": float(z[int(d)]), "set": int(d)} for d in model.order]
    live.mount("live_sliders", url, model, {
        "typical": _typical_spec(model, z, lo, hi),
        "mode": "sliders", "base": live.floats(base), "controls": controls, "visible": VISIBLE, "trav": dim,
        "steps": [float(t) for t in TRAVERSAL], "width": 256,
        "caption": s.base.describe() + (f", {len(s.dims)} dimension(s) moved" if s.dims else ""),
        "stripCaption": f"z{dim} from −3 to +3, everything else as above"}, released)
    live.downloads(model, {"face": lambda: z[None], f"traversal_z{dim}": lambda: latent.traversal(z, dim, TRAVERSAL)})
    _animation(model, z, dim)
    _dims_pad(model, url, z)


def _typical_spec(model: Model, z: np.ndarray, lo: float, hi: float) -> dict | None:
    """The face's percentile now, and along each visible slider with the others where they are: while one
    slider moves, the page reads its number from that slider's profile (the hidden ones update on release)."""
    def at(d):
        def z_at(v):
            y = z.copy()
            y[d] = v
            return y
        return z_at
    ps = typical.percentiles(model, z)
    profiles = {str(int(d)): [typical.profile(model, at(int(d)), lo, hi)] for d in model.order[:VISIBLE]}
    return typical.live_spec(model, ps, ["this face"], profiles)


def _dims_pad(model: Model, url: str, z: np.ndarray) -> None:
    """Two latent dimensions as a plane: drag a point and the face follows; on release both values
    become slider overrides (and go into the URL)."""
    st.markdown("**Two dimensions at once**")
    order = [int(i) for i in model.order]
    fmt = lambda i: _label(model, i)  # noqa: E731
    a, b, _ = st.columns([1, 1, 2])
    x = a.selectbox("Across", order, index=0, key="pad_dim_x", format_func=fmt)
    y = b.selectbox("Up", order, index=min(1, len(order) - 1), key="pad_dim_y", format_func=fmt)
    if x == y:
        st.caption("Choose two different dimensions.")
        return
    lo, hi = urlstate.Z_RANGE

    def released(value: dict) -> None:
        got = value.get("values", {})
        for d in (x, y):
            state().dims[d] = urlstate.q(min(max(float(got.get(str(d), z[d])), lo), hi))

    axes = [{"id": str(d), "label": f"z{d}", "min": lo, "max": hi, "step": 0.05,
             "value": float(min(max(z[d], lo), hi)), "set": d} for d in (x, y)]
    live.mount("live_pad_dims", url, model, {"mode": "pad", "base": live.floats(z), "controls": axes, "width": 220,
                                             "caption": f"z{x} across, z{y} up"}, released)


def _animation(model: Model, z: np.ndarray, dim: int) -> None:
    """The traversal of ``dim`` on the face shown, as a GIF and an MP4."""
    lo, hi = TRAVERSAL[0], TRAVERSAL[-1]
    animated.buttons(model, f"traversal_z{dim}", lambda: latent.traversal(z, dim, np.linspace(lo, hi, animation.STEPS)),
                     f"z{dim} from {lo:g} to +{hi:g} on the face shown")


def _server_view(model: Model) -> None:
    s = state()
    z = current_z(model)
    order = model.order
    c_face, c_sliders = st.columns([2, 3], gap="large")
    with c_face:  # drawn first: the face reaches the browser before the sliders are re-sent
        with st.container(key="slider_face"):
            show_faces(model.faces(z), "face", width=256, caption=s.base.describe()
                       + (f", {len(s.dims)} dimension(s) moved" if s.dims else ""))
        typical.show(model, z, key="slider_typical")
        dim = s.dim if s.dim is not None else int(order[0])
        strip = model.faces(latent.traversal(z, dim, TRAVERSAL))
        show_faces(strip, f"traversal_z{dim}", width="stretch",
                   caption=f"z{dim} from −3 to +3, everything else as above")
        _traverse_picker(model, dim)
        _animation(model, z, dim)
    with c_sliders:
        head, reset = st.columns([3, 1], vertical_alignment="center")
        head.caption(model.order_note)
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
