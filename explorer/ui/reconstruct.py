"""Reconstruction: a photo, as the model sees it after preprocessing, beside its reconstruction from
the posterior mean; with --data-dir (one or several folders), dataset faces beside theirs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
import torch

from explorer.celeba import CelebAError, open_celeba
from explorer.imaging import to_uint8_images
from explorer.ui import uploads
from explorer.ui.common import Model, set_base, show_faces, sync_url
from explorer.urlstate import FaceRef

BATCH = 8


def _reconstruct(model: Model, x: torch.Tensor):
    """(N,3,S,S) inputs -> inputs and reconstructions as uint8 (N,S,S,3), per-image MSE (N,), mu (N,D)."""
    mu, _ = model.vae.encode(x)
    recon = model.vae.decode(mu)
    mse = (recon - x).pow(2).flatten(1).mean(1).numpy()
    return to_uint8_images(x), to_uint8_images(recon), mse, mu.numpy()


@st.cache_data(max_entries=32, show_spinner=False)
def _photo(_model: Model, key: str, data: bytes, name: str):
    x = uploads.load_photo(data, name, _model.vae.preprocess)  # UploadError is not cached: it is raised again
    return _reconstruct(_model, x[None])


def _uploads(model: Model) -> None:
    files = st.file_uploader("Photos of faces (JPEG, PNG or WebP)", type=uploads.EXTENSIONS, accept_multiple_files=True,
                             key="recon_upload", max_upload_size=uploads.MAX_BYTES // 2**20,
                             help="Each photo is centre-cropped and resized exactly as the training images were; "
                                  "a face that fills the middle of the picture works best.")
    for k, f in enumerate(files or []):
        try:
            inp, rec, mse, mu = _photo(model, model.key, f.getvalue(), f.name)
        except uploads.UploadError as e:
            st.error(str(e), icon=":material/broken_image:")
            continue
        c_img, c_act = st.columns([3, 1], vertical_alignment="center")
        with c_img:
            show_faces(np.concatenate([inp, rec]), f"reconstruction_{k}", width=2 * 160,
                       caption=f"{f.name}: preprocessed input · reconstruction (MSE {mse[0]:.4f})")
        if c_act.button("Use as base face", key=f"recon_base_{k}"):
            set_base(FaceRef.vector(mu[0]))
            st.rerun()


@st.cache_resource(show_spinner="Indexing the dataset…")
def _celeba(paths: tuple[str, ...]):
    return open_celeba(list(paths))


def _dataset(model: Model, data_dirs: tuple[Path, ...]) -> None:
    try:
        index = _celeba(tuple(str(d.resolve()) for d in data_dirs))
    except CelebAError as e:
        st.error(f"--data-dir: {e}")
        return
    st.subheader("Dataset faces")
    n = len(index)
    start = st.session_state.setdefault("recon_start", 0)
    c_num, c_rand = st.columns([2, 1], vertical_alignment="bottom")

    def randomize():
        st.session_state["recon_start"] = int(np.random.default_rng().integers(0, max(n - BATCH, 1)))
    c_rand.button("Random faces", icon=":material/casino:", on_click=randomize, width="stretch")
    start = c_num.number_input(f"First image (of {n:,})", 0, max(n - 1, 0), step=BATCH, key="recon_start")
    rows = range(start, min(start + BATCH, n))
    xs, names = [], []
    for i in rows:
        try:
            xs.append(model.vae.preprocess(index.open_image(i)))
            names.append(index.filenames[i])
        except (OSError, SyntaxError, ValueError) as e:
            st.warning(f"{index.filenames[i]}: cannot be read ({e})")
    if not xs:
        return
    inp, rec, mse, _ = _reconstruct(model, torch.stack(xs))
    show_faces(np.concatenate([inp, rec]), f"dataset_{start}", ncols=len(xs), width=len(xs) * 96,
               caption=f"top: {names[0]} … {names[-1]} as preprocessed; bottom: reconstructions "
                       f"(mean MSE {mse.mean():.4f})")


@st.fragment
def reconstruct_view(model: Model) -> None:
    st.caption("The encoder maps a face to q(z|x); decoding its mean shows what the model kept. What is lost "
               "(fine texture, backgrounds, rare accessories) is what the Gaussian decoder blurs away.")
    _uploads(model)
    data_dirs = st.session_state.get("data_dirs")
    if data_dirs:
        _dataset(model, data_dirs)
    else:
        st.caption("Start the app with `-- --data-dir DIR` (a CelebA folder) to see dataset faces here too.")
    sync_url()
