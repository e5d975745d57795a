"""What the views share: the session's view state and the widgets bound to it, the URL, cached
model outputs, and how a row of faces is drawn with its download button.

State has one source of truth per browser session, ``st.session_state["vs"]`` (a ViewState).
A widget never owns a value: before it is drawn, ``bind`` copies the state into it, and its
``on_change`` callback copies a user's change back (callbacks run before the rerun, so the state
is already current when the script reads it). Reset buttons, links and "use as base face" can then
change any value by changing the state alone.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import streamlit as st

from explorer import latent, urlstate
from explorer.analysis import kinds
from explorer.imaging import image_grid, png_bytes, to_uint8_images
from explorer.urlstate import FaceRef, ViewState, encode

STATE = "vs"
DEFAULTS = "vs_defaults"  # the page defaults of the loaded model, against which the URL is written


def state() -> ViewState:
    return st.session_state[STATE]


# --------------------------------------------------------------------------------------------
# Widgets bound to the state
# --------------------------------------------------------------------------------------------

def bind(key: str, value) -> None:
    """Make widget ``key`` show ``value`` the next time it is drawn (call before drawing it)."""
    ss = st.session_state
    if key not in ss or ss[key] != value:
        ss[key] = value


def setter(field: str, convert: Callable = lambda v: v) -> Callable[[str], None]:
    """An on_change callback for a widget drawn with ``args=(key,)`` that stores its value in
    ``state().<field>``."""
    def store(key: str) -> None:
        setattr(state(), field, convert(st.session_state[key]))
    return store


def bound(widget, label: str, key: str, field: str, convert: Callable = lambda v: v, **kw):
    """Draw ``widget`` showing ``state().<field>`` and writing changes back."""
    bind(key, getattr(state(), field))
    return widget(label, key=key, on_change=setter(field, convert), args=(key,), **kw)


def sampling_controls(prefix: str, c_seed, c_tau, c_n) -> None:
    """Seed, temperature τ and number of faces, in three given columns: the sampling state that the Sample
    and Prior holes views share (the same URL fields), with widget keys of their own (``prefix``_…)."""
    with c_seed:
        bound(st.number_input, "Seed", f"{prefix}_seed", "seed", int, min_value=0, max_value=urlstate.SEED_MAX, step=1)
    with c_tau:
        bound(st.slider, "Temperature τ", f"{prefix}_tau", "tau", urlstate.q, min_value=urlstate.TAU_RANGE[0],
              max_value=urlstate.TAU_RANGE[1], step=0.05)
    with c_n:
        bound(st.slider, "Faces", f"{prefix}_n", "n", int, min_value=urlstate.N_RANGE[0], max_value=urlstate.N_RANGE[1])


def set_base(ref: FaceRef) -> None:
    """Make ``ref`` the base face: slider overrides belonged to the old face, so they go."""
    s = state()
    s.base = ref
    s.dims = {}


def sync_url() -> None:
    """Write the state into the address bar (only when it changed), so a copied link restores it."""
    want = encode(state(), st.session_state.get(DEFAULTS))
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)


# --------------------------------------------------------------------------------------------
# The model's outputs
# --------------------------------------------------------------------------------------------

class Model:
    """The loaded checkpoint plus the few things every view derives from it."""

    def __init__(self, vae, key: str):
        self.vae = vae
        self.key = key  # identifies the checkpoint file version in cache keys
        self.bundle = vae.bundle
        self.dim = vae.latent_dim
        self.n_rows = len(vae.bundle) if vae.bundle is not None else 0
        kl = vae.bundle.kl_per_dim if vae.bundle is not None else None
        self.kl = kl  # None without a bundle, or for a model that gives no logvar (explorer.foreign)
        self.order, self.order_note = latent.dims_by_information(vae.bundle, self.dim)
        self.defaults = ViewState()  # what a fresh page shows; with a bundle, real faces, not samples
        # what an attribute edit can add: the 40 attributes, then the kinds of those that have them
        self.edit_names = list(vae.attribute_names)
        if self.bundle is not None and self.bundle.kinds:
            self.edit_names += [name for name, _, _ in kinds.kind_names(self.bundle.kinds)]
        # what each kind looks like ("dark hat", "sunglasses"), read off the decoder once per checkpoint
        self.kind_looks = kinds.looks(lambda z: np.asarray(vae.decode(z)), self.bundle.mu, self.bundle.attributes,
                                      self.bundle.attribute_names, self.bundle.kinds) \
            if self.bundle is not None and self.bundle.kinds else {}
        if self.bundle is not None:
            b = self.bundle
            for name, row in latent.demo_rows(b.recon_mse, b.attributes, b.partition, b.attribute_names).items():
                setattr(self.defaults, name, FaceRef.row(row))

    def label(self, name: str) -> str:
        """How a user reads an edit name of this model: "Smiling", "Eyeglasses: sunglasses"."""
        return kinds.label(name, self.kind_looks)

    def default_row(self, field: str) -> int:
        """The bundle row a picker for ``field`` (base, a, b, c, end) turns to when a user chooses
        "dataset face": the page's default face for that field, so switching back restores it."""
        ref = getattr(self.defaults, field)
        return ref.index if ref.kind == "row" else 0

    def faces(self, z) -> np.ndarray:
        """(N,D) or (D,) latents -> (N,S,S,3) uint8 faces."""
        z = np.asarray(z, np.float32)
        return to_uint8_images(self.vae.decode(z.reshape(-1, self.dim)))

    def z_of(self, ref: FaceRef) -> np.ndarray:
        if ref.kind == "fitted":  # row `index` of the Sample view's fitted grid (the same for any grid size)
            from explorer.ui.fitted import fitted_z  # fitted imports this module

            return fitted_z(self, ref.seed, ref.tau, ref.index + 1)[ref.index]
        mu = self.bundle.mu if self.bundle is not None else None
        return latent.face_vector(ref, self.dim, mu)


@st.cache_data(max_entries=64, show_spinner=False)
def sample_faces(_model: Model, key: str, seed: int, tau: float, n: int) -> np.ndarray:
    """Cached across sessions: in a demo room most people look at the same seeds."""
    return _model.faces(latent.sample_z(n, _model.dim, seed, tau))


@st.cache_data(max_entries=256, show_spinner=False)
def face_of(_model: Model, key: str, ref: FaceRef) -> np.ndarray:
    """(S,S,3) uint8 for one face reference (thumbnails of the base face and the pickers)."""
    return _model.faces(_model.z_of(ref))[0]


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------

def image(img: np.ndarray, **kw) -> None:
    """st.image for a uint8 array, always as lossless PNG (Streamlit's "auto" would make a JPEG)."""
    st.image(img, output_format="PNG", **kw)


def show_faces(images: np.ndarray, key: str, ncols: int | None = None, caption: str | None = None,
               width: int | str = "content", download: bool = True) -> None:
    """A grid (or strip) of faces as one PNG, with a button that downloads it at 4x size."""
    grid = image_grid(images, ncols or len(images), pad=2)
    image(grid, caption=caption, width=width)
    if download:
        st.download_button("Download PNG", data=lambda: png_bytes(grid, 4), file_name=f"{key}.png",
                           mime="image/png", key=f"dl_{key}", on_click="ignore", icon=":material/download:")


def grid_columns(n: int) -> int:
    """Columns for a grid of n faces: at most 8 across, rows as full as possible."""
    return n if n <= 8 else min(8, math.ceil(n / math.ceil(n / 8)))


def face_picker(model: Model, label: str, field: str, key: str) -> FaceRef:
    """Choose a face for ``state().<field>``: a sample (seed, number), a dataset face (row), z = 0,
    or a copy of the base face. Draws a thumbnail. Returns the chosen reference."""
    s = state()
    ref: FaceRef = getattr(s, field)
    kinds = {"sample": "Sample", "row": "Dataset face", "zero": "z = 0", "base": "Copy the base face"}
    if model.n_rows == 0:
        kinds.pop("row")
    if ref.kind == "z":
        kinds = {"z": "Encoded photo", **kinds}
    elif ref.kind == "fitted":
        kinds = {"fitted": "Fitted-density sample", **kinds}

    def changed(_key=None):
        kind = st.session_state[f"{key}_kind"]
        if kind == "base":
            new = state().base
        elif kind == "zero":
            new = FaceRef()
        elif kind == "row":
            new = FaceRef.row(min(int(st.session_state.get(f"{key}_row", model.default_row(field))), model.n_rows - 1))
        elif kind == "sample":
            seed = int(st.session_state.get(f"{key}_seed", state().seed))
            number = int(st.session_state.get(f"{key}_num", 1))
            tau = ref.tau if ref.kind == "sample" else state().tau
            new = FaceRef.sample(seed, number - 1, tau)
        else:
            new = ref
        setattr(state(), field, new)

    st.markdown(f"**{label}**")
    thumb, controls = st.columns([1, 3], vertical_alignment="center")
    with controls:
        bind(f"{key}_kind", ref.kind if ref.kind in kinds else "sample")
        kind = st.selectbox("Face", list(kinds), format_func=kinds.get, key=f"{key}_kind", on_change=changed,
                            label_visibility="collapsed")
        if kind == "sample":
            a, b = st.columns(2)
            bind(f"{key}_seed", ref.seed if ref.kind == "sample" else s.seed)
            bind(f"{key}_num", ref.index + 1 if ref.kind == "sample" else 1)
            a.number_input("Seed", 0, urlstate.SEED_MAX, step=1, key=f"{key}_seed", on_change=changed)
            b.number_input("Face number", 1, 64, step=1, key=f"{key}_num", on_change=changed)
        elif kind == "row":
            bind(f"{key}_row", ref.index if ref.kind == "row" else model.default_row(field))
            st.number_input("Row", 0, model.n_rows - 1, step=1, key=f"{key}_row", on_change=changed)
    ref = getattr(s, field)
    with thumb:
        image(face_of(model, model.key, ref), width=72)
    return ref
