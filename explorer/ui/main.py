"""The page: checkpoint choice (among what ``explorer.catalog`` offers), view state from the URL, sidebar,
and one tab per view (``explorer.urlstate.VIEWS``)."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st
import torch

from explorer import CheckpointError, catalog, uploads, urlstate
from explorer.checkpoint import model_kind
from explorer.protocol import BADGES
from explorer.ui import models, views
from explorer.ui.common import DEFAULTS, STATE, Model, bind, face_of, image, set_base, state, sync_url
from explorer.ui.live import component as live
from explorer.urlstate import VIEWS, FaceRef

# --------------------------------------------------------------------------------------------

def _first_state(model: Model, params: dict, messages: list[str], ckpt: str | None):
    s, more = urlstate.decode(params, model.dim, model.vae.attribute_names, model.n_rows, model.defaults,
                              edit_names=model.edit_names)
    s.ckpt = ckpt
    st.session_state[DEFAULTS] = model.defaults
    st.session_state[STATE] = s
    st.session_state["url_messages"] = messages + more


def _choose_checkpoint(choices: dict[str, Path]) -> tuple[str | None, list[str]]:
    """The checkpoint id this session uses; on its first run, from the URL (names only)."""
    default = catalog.default_choice(choices)
    if STATE in st.session_state:
        chosen = state().ckpt
        return (chosen if chosen in choices else default), []
    wanted = st.query_params.get("ckpt")
    if wanted is None or wanted == "":
        return default, []
    if wanted in choices and wanted != catalog.CLI:
        return wanted, []
    if not urlstate.CHECKPOINT_ID.match(wanted.strip()):
        return default, []  # not even a checkpoint's name: urlstate.decode says so, once
    return default, [f"URL parameter ckpt={urlstate.short(wanted)} ignored (not a checkpoint the picker offers); "
                     "using the default."]


@st.cache_data(max_entries=256, show_spinner=False)
def _badge(path: str, stamp: tuple) -> str:
    """Where a listed file's model came from ("ONNX", "PyTorch module"; nothing for ours), read lazily."""
    return BADGES.get(model_kind(path), "")


def _stamp(path: Path) -> tuple:
    try:
        st_ = path.stat()
        return st_.st_mtime_ns, st_.st_size
    except OSError:
        return (0, 0)


def _sidebar_checkpoint(choices: dict[str, Path], current: str | None) -> None:
    def label(i: str) -> str:
        name = choices[i].name if i == catalog.CLI else i
        badge = _badge(str(choices[i]), _stamp(choices[i]))
        name = f"{name} · {badge}" if badge else name  # before the note, which a narrow sidebar may cut
        return f"{name} (command line)" if i == catalog.CLI else name

    def changed(key):
        new = st.session_state[key]
        if STATE in st.session_state:
            # Re-read the current link against the new model: what it cannot show is dropped, and said.
            params = urlstate.encode(state(), st.session_state.get(DEFAULTS))
            params.pop("ckpt", None)
            st.session_state["pending"] = (params, new)

    if not choices:
        return
    bind("ckpt_pick", current)
    st.selectbox("Checkpoint", list(choices), format_func=label, key="ckpt_pick", on_change=changed,
                 args=("ckpt_pick",), help="Files in checkpoints/, in the folders given with --checkpoint-dir, and the one given with "
                      "--checkpoint.")


def _sidebar_base(model: Model) -> None:
    s = state()
    st.subheader("Base face")
    st.caption("Used by the sliders, the arithmetic and as the start of an interpolation.")
    img, text = st.columns([1, 2], vertical_alignment="center")
    with img:
        image(face_of(model, model.key, s.base), width=80)
    text.write(s.base.describe())
    kinds = {"sample": "A sample", "row": "A dataset face", "photo": "A photo", "zero": "z = 0"}
    if model.n_rows == 0:
        kinds.pop("row")

    def kind_changed(key):
        k = st.session_state[key]
        st.session_state["base_kind_ui"] = k
        if k == "zero":
            set_base(FaceRef())
        elif k == "sample":
            set_base(FaceRef.sample(state().seed, 0, state().tau))
        elif k == "row":
            set_base(FaceRef.row(model.default_row("base")))

    shown = st.session_state.get("base_kind_ui", {"z": "photo", "fitted": "sample"}.get(s.base.kind, s.base.kind))
    if shown not in kinds:
        shown = "sample"
    bind("base_kind", shown)
    kind = st.radio("Base face source", list(kinds), format_func=kinds.get, key="base_kind", horizontal=True,
                    on_change=kind_changed, args=("base_kind",), label_visibility="collapsed")
    if kind == "sample":
        drawn = s.base.kind in ("sample", "fitted")

        def sample_changed(_):
            # a fitted-density sample stays one: seed and number choose another face of the same grid
            b = state().base
            make, tau = (FaceRef.fitted, b.tau) if b.kind == "fitted" else (FaceRef.sample, state().tau)
            set_base(make(st.session_state["base_seed"], st.session_state["base_num"] - 1, tau))
        a, b = st.columns(2)
        bind("base_seed", s.base.seed if drawn else s.seed)
        bind("base_num", s.base.index + 1 if drawn else 1)
        a.number_input("Seed", 0, urlstate.SEED_MAX, step=1, key="base_seed", on_change=sample_changed, args=("",))
        b.number_input("Face number", 1, 64, step=1, key="base_num", on_change=sample_changed, args=("",))
        if s.base.kind == "sample":
            st.caption(f"drawn at τ = {s.base.tau:g}")
        elif s.base.kind == "fitted":
            st.caption(f"drawn from the fitted density of the encodings at τ = {s.base.tau:g}")
    elif kind == "row":
        bind("base_row", s.base.index if s.base.kind == "row" else model.default_row("base"))
        st.number_input("Row of the analysis bundle", 0, model.n_rows - 1, step=1, key="base_row",
                        on_change=lambda: set_base(FaceRef.row(st.session_state["base_row"])))
    elif kind == "photo":
        def photo_changed():
            st.session_state["base_photo_crop"] = None
            f = st.session_state.get("base_photo")
            if f is None:
                return
            try:
                x, has_face = uploads.load_face_input(f.getvalue(), f.name, model.vae.preprocess)
            except uploads.UploadError as e:
                st.session_state["base_photo_error"] = str(e)
                return
            st.session_state["base_photo_error"] = None
            mu, _ = model.vae.encode(x[None])
            if has_face:
                set_base(FaceRef.vector(mu[0].numpy()))
            else:  # as the Reconstruction view: a photo without a face is centre-cropped only when asked
                st.session_state["base_photo_crop"] = (f.name, FaceRef.vector(mu[0].numpy()))

        st.file_uploader("Photo of a face", type=uploads.EXTENSIONS, key="base_photo", on_change=photo_changed,
                         max_upload_size=uploads.MAX_BYTES // 2**20,
                         help="The largest face is found and aligned like CelebA's faces (a photo without one can "
                              "be centre-cropped); see the Reconstruction view to choose among several.")
        if st.session_state.get("base_photo_error"):
            st.error(st.session_state["base_photo_error"])
        crop = st.session_state.get("base_photo_crop")
        if crop:
            st.warning(f"{crop[0]}: no face found, so the base face is unchanged. The model would see the plain "
                       "centre crop of the photo.", icon=":material/face_retouching_off:")

            def use_crop():
                set_base(st.session_state.pop("base_photo_crop")[1])
            st.button("Centre-crop it anyway", key="base_photo_centre", on_click=use_crop, width="stretch")


_blas_limited = False


def configure_torch() -> None:
    # One thread per decode: sessions run side by side, and on a small machine two threads per decode
    # fight each other and whatever else runs (measured under load: slider p90 150 -> 500 ms with two).
    threads = int(os.environ.get("EXPLORER_THREADS", "1"))
    torch.set_num_threads(threads)
    # numpy's BLAS likewise: the typicality of the faces (explorer.analysis.typicality) is small products on every rerun,
    # and on a busy 2-core machine (load 9) OpenBLAS's two threads took 3.4 ms for one face and 83 ms for the
    # sliders' 492 profile points, one thread 0.2 and 7.6 ms. Once per process: threadpoolctl takes
    # milliseconds per call.
    global _blas_limited
    if not _blas_limited:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        _blas_limited = True


def run(argv: list[str] | None = None) -> None:
    models.freeze_imports_once()
    # An emoji icon is drawn in the page; a ":material/…:" one made the browser fetch it from fonts.gstatic.com.
    st.set_page_config(page_title="Inside a VAE", page_icon="🙂", layout="wide")
    # At 1280×720 (a projector) Streamlit's 6rem of space above the page and 5rem at each side left the tab bar
    # cut and the faces of most views below the fold: less of both (the header's menu keeps its corner).
    st.html("<style>[data-testid=stMainBlockContainer]{padding:3rem 2rem 4rem}</style>")
    configure_torch()

    args, choices = catalog.offered(argv)
    chosen, messages = _choose_checkpoint(choices)

    pending = st.session_state.pop("pending", None)
    if pending is not None:
        chosen = pending[1]

    with st.sidebar:
        st.title("Inside a VAE")
        _sidebar_checkpoint(choices, chosen)
        if args.error:
            st.warning(args.error)
    if chosen is None:
        dirs = "".join(f", nor does {d}" for d in args.checkpoint_dirs)
        st.error(f"No checkpoint to open: {catalog.CHECKPOINT_DIR} holds no .pt file{dirs}. Train one "
                 "(python -m train --data-dir DIR --out checkpoints/celeba64.pt) or pass "
                 "`streamlit run app.py -- --checkpoint PATH` or `-- --checkpoint-dir FOLDER`.")
        st.stop()
    try:
        model = models.load_model(choices[chosen])
    except CheckpointError as e:
        st.error(f"This checkpoint cannot be opened. {e}")
        if len(choices) > 1:
            st.info("Choose another checkpoint in the sidebar.")
        st.stop()
    st.session_state["data_dirs"] = args.data_dirs  # for the reconstruction view

    ckpt_id = None if chosen == catalog.default_choice(choices) else chosen
    if pending is not None:
        _first_state(model, pending[0], [], ckpt_id)
    elif STATE not in st.session_state:
        _first_state(model, st.query_params.to_dict(), messages, ckpt_id)

    for m in st.session_state.pop("url_messages", []):
        st.warning(m, icon=":material/link_off:")

    if state().stage:  # no sidebar and no tabs: one big face for a projector (explorer.ui.stage)
        from explorer.ui import stage

        stage.stage_view(model)
        sync_url()
        return

    with st.sidebar:
        info = f"{model.dim} latent dimensions · {model.vae.image_size}×{model.vae.image_size} pixels"
        if model.bundle is not None:
            info += f" · {model.n_rows:,} encoded faces"
        if model.vae.source.kind != "ours":  # a user's own VAE (explorer.foreign): say which
            info += f" · {model.vae.source.describe()}"
        st.caption(info)
        _sidebar_base(model)
        st.button("Stage mode", key="stage_enter", icon=":material/slideshow:", width="stretch",
                  on_click=lambda: setattr(state(), "stage", True),
                  help="For a projector at 1280×720: one big face, large controls, no sidebar; the arrow keys "
                       "choose and move a dimension, space plays its traversal, Esc comes back here.")
        st.divider()
        st.caption("The address bar holds this view's state: copy it to share exactly what you see.")
        live.preload(model)

    labels = [v.label for v in VIEWS]
    by_label = {v.label: v for v in VIEWS}
    bind("tab", next(v.label for v in VIEWS if v.id == state().view))

    def tab_changed():
        state().view = by_label[st.session_state["tab"]].id

    tabs = st.tabs(labels, key="tab", on_change=tab_changed)
    for tab, view in zip(tabs, VIEWS):
        if tab.open:  # only the visible view runs
            with tab:
                views.draw(view, model)
    sync_url()
