"""Compare two checkpoints: the same samples, the same dataset face (or photo), the same attribute edit,
side by side, and their diagnostics in one table. The numbers come from explorer.analysis.compare."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import CheckpointError, catalog, uploads, urlstate
from explorer.analysis import compare
from explorer.imaging import image_grid, png_bytes, to_uint8_images
from explorer.ui import models
from explorer.ui import scorecard as scorecard_ui
from explorer.ui.common import Model, bind, image, sample_faces, state, sync_url

N_SAMPLES = 8
EDIT_STEPS = (0.5, 1.0)  # fractions of the chosen weight shown after the reconstruction


def default_pair(choices: dict) -> tuple[str, str]:
    """The page's own checkpoint (the command line's, else the shipped default) beside the shipped default
    when the page's own is another file (a run started with --checkpoint is compared with what it should
    beat), else beside the first other file offered (a command-line path that is also in checkpoints/
    counts once); with only one file, that one twice, so the page still works and says how to add a second."""
    ids = list(choices)
    first = catalog.default_choice(choices) or ids[0]
    others = [i for i in ids if choices[i].resolve() != choices[first].resolve()]
    other = catalog.DEFAULT_CHECKPOINT if catalog.DEFAULT_CHECKPOINT in others else next(iter(others), first)
    return first, other


def _choices() -> dict:
    return catalog.offered()[1]


def _label(choices: dict, i: str) -> str:
    return f"{choices[i].name} (command line)" if i == catalog.CLI else i


def _pick(choices: dict, ids: list[str], field: str, default: str, label: str) -> str:
    """Selectbox for state().cmpa / cmpb; a name from the URL that is not offered falls back, and says so."""
    s = state()
    chosen = getattr(s, field)
    if chosen is not None and chosen not in choices:
        st.warning(f"URL parameter {field}={urlstate.short(chosen)} ignored (not a file in checkpoints/); using the default.",
                   icon=":material/link_off:")
        setattr(s, field, None)
        chosen = None
    key = f"cmp_pick_{field}"
    bind(key, chosen if chosen is not None else default)
    # the command line's checkpoint has no name a link could carry: offered only where it is the default
    ids = [i for i in ids if i != catalog.CLI or i == default]

    def changed():
        new = st.session_state[key]
        setattr(state(), field, None if new == default else new)  # the default pair stays out of the link
    return st.selectbox(label, ids, key=key, format_func=lambda i: _label(choices, i), on_change=changed)


def _load(choices: dict, ident: str) -> Model | None:
    try:
        return models.load_model(choices[ident])
    except CheckpointError as e:
        st.error(f"This checkpoint cannot be opened. {e}")
        return None


def _rows(images_a: np.ndarray, images_b: np.ndarray) -> np.ndarray:
    """Two rows of faces, A above B, in one grid: faces of different sizes are brought to the larger
    (nearest-neighbour, so no model's output looks sharper or blurrier than it is)."""
    size = max(images_a.shape[1], images_b.shape[1])

    def to(x):
        if x.shape[1] == size:
            return x
        f = size // x.shape[1]
        return x.repeat(f, axis=1).repeat(f, axis=2)
    return image_grid(np.concatenate([to(images_a), to(images_b)]), max(len(images_a), len(images_b)), pad=2)


def _show_pair(images_a, images_b, key: str, caption: str, tile: int = 112) -> None:
    grid = _rows(images_a, images_b)
    image(grid, caption=caption, width=min(max(len(images_a), len(images_b)) * tile, 900))
    st.download_button("Download PNG", data=lambda: png_bytes(grid, 4), file_name=f"{key}.png", mime="image/png",
                       key=f"dl_{key}", on_click="ignore", icon=":material/download:")


@st.cache_data(max_entries=8, show_spinner="Scoring both models…")
def _table(_a: Model, _b: Model, key_a: str, key_b: str, label_a: str, label_b: str) -> pd.DataFrame:
    ba, bb = _a.bundle, _b.bundle
    shared = (compare.shared_faces(ba.filenames, bb.filenames) if ba is not None and bb is not None else None)
    da = compare.diagnostics(ba, _a.dim, _a.vae.image_size, _a.vae.summary,
                             shared.rows_a if shared is not None else None)
    db = compare.diagnostics(bb, _b.dim, _b.vae.image_size, _b.vae.summary,
                             shared.rows_b if shared is not None else None)
    rows = compare.comparison_rows(da, db)
    return pd.DataFrame(rows, columns=["measure", f"A: {label_a}", f"B: {label_b}", "better"])


@st.cache_data(max_entries=8, show_spinner=False)
def _shared(_a: Model, _b: Model, key_a: str, key_b: str) -> compare.SharedFaces:
    return compare.shared_faces(_a.bundle.filenames, _b.bundle.filenames)


def _samples_section(a: Model, b: Model) -> None:
    s = state()
    st.subheader("The same samples")
    c_seed, c_tau = st.columns(2)
    with c_seed:
        bind("cmp_seed", s.seed)
        st.number_input("Seed", 0, urlstate.SEED_MAX, step=1, key="cmp_seed",
                        on_change=lambda: setattr(state(), "seed", int(st.session_state["cmp_seed"])))
    with c_tau:
        bind("cmp_tau", s.tau)
        st.slider("Temperature τ", *urlstate.TAU_RANGE, step=0.05, key="cmp_tau",
                  on_change=lambda: setattr(state(), "tau", urlstate.q(st.session_state["cmp_tau"])))
    fa = sample_faces(a, a.key, s.seed, s.tau, N_SAMPLES)
    fb = sample_faces(b, b.key, s.seed, s.tau, N_SAMPLES)
    _show_pair(fa, fb, f"compare_samples_{s.seed}", f"top: A, bottom: B; seed {s.seed}, τ = {s.tau:g}")
    if a.dim == b.dim:
        st.caption(f"Both models decode the very same {N_SAMPLES} vectors z ~ N(0, τ²I).")
    else:
        st.caption(f"The latent sizes differ ({a.dim} and {b.dim} dimensions), so the same seed draws each model's "
                   f"own vectors in its own dimension: the columns share a seed and a position, not a z.")


def _face_section(a: Model, b: Model) -> None:
    s = state()
    st.subheader("The same face, and the same edit")
    names = [n for n in a.vae.attribute_names if n in b.vae.attribute_names]
    has_bundles = a.bundle is not None and b.bundle is not None
    shared = _shared(a, b, a.key, b.key) if has_bundles else None
    c_face, c_attr, c_w = st.columns([2, 2, 2], vertical_alignment="bottom")
    with c_face:
        if shared is not None and len(shared):
            if s.cmpface is not None and s.cmpface not in shared.filenames:
                st.warning(f"URL parameter cmpface={urlstate.short(s.cmpface)} ignored (not encoded by both "
                           "models); using the default.", icon=":material/link_off:")
                s.cmpface = None
            default_face = _default_face(a, shared)
            bind("cmp_face", s.cmpface or default_face)

            def face_changed():
                new = st.session_state["cmp_face"]
                state().cmpface = None if new == default_face else new
            st.selectbox(f"Dataset face ({len(shared):,} encoded by both)", shared.filenames, key="cmp_face",
                         on_change=face_changed, help="Only files in both checkpoints' analysis bundles can be "
                         "shown without the dataset: each model decodes its own encoding of that file.")
        else:
            st.info("The two checkpoints share no encoded dataset face (or one has no analysis bundle): "
                    "upload a photo to compare them on the same face.")
    with c_attr:
        if s.cmpattr not in names:
            s.cmpattr = urlstate.ViewState().cmpattr if urlstate.ViewState().cmpattr in names else names[0]
        bind("cmp_attr", s.cmpattr)
        st.selectbox("Attribute", names, key="cmp_attr", format_func=lambda n: n.replace("_", " "),
                     on_change=lambda: setattr(state(), "cmpattr", st.session_state["cmp_attr"]))
    with c_w:
        bind("cmp_w", float(s.cmpw))
        st.slider("Weight (class gaps)", *urlstate.GAP_RANGE, step=0.25, key="cmp_w",
                  on_change=lambda: setattr(state(), "cmpw", urlstate.q(st.session_state["cmp_w"])),
                  help="In each model's own units: 1 moves the face by the distance between that model's mean "
                       "encodings with and without the attribute, so the edit means the same in both.")
    photo = st.file_uploader("…or a photo, encoded by both models", type=uploads.EXTENSIONS, key="cmp_photo",
                             max_upload_size=uploads.MAX_BYTES // 2**20,
                             help="Kept for this session only: a link cannot carry a photo.")
    za = zb = None
    inputs = None
    what = ""
    if photo is not None:
        try:
            xa = uploads.load_photo(photo.getvalue(), photo.name, a.vae.preprocess)
            xb = uploads.load_photo(photo.getvalue(), photo.name, b.vae.preprocess)
        except uploads.UploadError as e:
            st.error(str(e), icon=":material/broken_image:")
        else:
            za, zb = a.vae.encode(xa[None])[0][0].numpy(), b.vae.encode(xb[None])[0][0].numpy()
            inputs = (to_uint8_images(xa[None]), to_uint8_images(xb[None]))
            what = f"{photo.name}, as each model preprocesses it, "
    if za is None and shared is not None and len(shared):
        name = s.cmpface or _default_face(a, shared)
        ra, rb = shared.rows_of(name)
        za, zb = a.bundle.mu[ra], b.bundle.mu[rb]
        what = f"{name} "
    if za is None:
        return
    fa, fb = _edited(a, za, s.cmpattr, s.cmpw), _edited(b, zb, s.cmpattr, s.cmpw)
    if inputs is not None:
        fa, fb = np.concatenate([inputs[0], fa]), np.concatenate([inputs[1], fb])
    attr = s.cmpattr.replace("_", " ")
    steps = ", ".join(f"{f * s.cmpw:+g}" for f in EDIT_STEPS)
    _show_pair(fa, fb, "compare_face", f"top: A, bottom: B; {what}reconstructed from each model's own μ, then "
               f"{attr} at {steps} class gaps" + ("" if a.bundle is not None and b.bundle is not None
                                                   else " (a model without a bundle has no directions: unedited)"))


def _default_face(a: Model, shared: compare.SharedFaces) -> str:
    """A's default base face when B encoded it too (a well-reconstructed held-out face), else the first shared."""
    row = a.default_row("base")
    name = a.bundle.filenames[row] if a.bundle is not None and row < len(a.bundle) else None
    return name if name in shared.filenames else shared.filenames[0]


def _edited(model: Model, z: np.ndarray, attr: str, weight: float) -> np.ndarray:
    """Reconstruction, then the edit at each fraction in EDIT_STEPS: (1 + len(EDIT_STEPS), S, S, 3)."""
    zs = [np.asarray(z, np.float32)]
    if model.bundle is not None and attr in model.bundle.attribute_names:
        gap = model.bundle.directions[model.bundle.attribute_names.index(attr)]
        zs += [compare.gap_edit(z, gap, f * weight) for f in EDIT_STEPS]
    else:
        zs += [zs[0]] * len(EDIT_STEPS)
    return model.faces(np.stack(zs))


def _diagnostics_section(a: Model, b: Model, label_a: str, label_b: str) -> None:
    st.subheader("Diagnostics")
    st.caption("Active units: Var over faces of E[z] > 0.01 (Burda et al. 2016). KL and MSE are means over each "
               "bundle; 'shared faces' averages over the files both bundles encoded, the like-for-like figure. "
               "AUC: held-out ROC AUC of each attribute's mean-difference direction, as in the arithmetic view.")
    if a.bundle is None or b.bundle is None:
        st.info("A checkpoint without an analysis bundle has no KL, MSE or AUC figures here.")
    table = _table(a, b, a.key, b.key, label_a, label_b)
    # every row visible at once (about 35 px a row): a comparison read by scrolling inside a box is lost
    st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3)


@st.fragment
def compare_view(model: Model) -> None:
    choices = _choices()
    ids = list(choices)
    if not ids:
        st.info("No checkpoints to compare.")
        return
    da, db = default_pair(choices)
    c_a, c_b = st.columns(2)
    with c_a:
        ia = _pick(choices, ids, "cmpa", da, "Model A")
    with c_b:
        ib = _pick(choices, ids, "cmpb", db, "Model B")
    if da == db:
        st.info("Only one checkpoint is available, so it is compared with itself. Put a second `.pt` file in "
                "checkpoints/ (a β = 4 or a 32-dimensional model, say) to compare two.")
    elif ia == ib:
        st.caption("A and B are the same checkpoint: choose another for B.")
    a, b = _load(choices, ia), _load(choices, ib)
    if a is None or b is None:
        return
    for col, m in ((c_a, a), (c_b, b)):  # where each came from: ours, or a user's own VAE (explorer.foreign)
        col.caption(f"{m.dim} latent dimensions · {m.vae.image_size}×{m.vae.image_size} pixels · "
                    f"{m.vae.source.describe()}")
    _samples_section(a, b)
    _face_section(a, b)
    _diagnostics_section(a, b, _label(choices, ia), _label(choices, ib))
    scorecard_ui.compare_section(a, b, _label(choices, ia), _label(choices, ib))
    sync_url()
