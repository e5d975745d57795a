"""Reconstruction: the faces in a photo (an upload, a camera snapshot or one of the example photos that ship
with the project, explorer/faces/photos), each found and aligned to CelebA's framing (explorer.faces), as the model
sees it after preprocessing, beside its reconstruction from the posterior mean; with --data-dir (one or several
folders), dataset faces beside theirs."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image

from explorer.celeba import CelebAError, open_celeba
from explorer.faces import photos as examples
from explorer.faces import FaceDetectorError
from explorer.imaging import image_grid, png_bytes, to_uint8_images
from explorer import uploads
from explorer.ui.common import Model, image, set_base, show_faces, sync_url
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
    """The plain centre crop of a photo, reconstructed (the fallback when no face is found)."""
    x = uploads.load_photo(data, name, _model.vae.preprocess)  # UploadError is not cached: it is raised again
    return _reconstruct(_model, x[None])


@st.cache_data(max_entries=32, show_spinner="Looking for faces…")
def _faces(data: bytes, name: str) -> uploads.PhotoFaces:
    """Faces and aligned crops of one photo; independent of the model, so shared by every checkpoint."""
    return uploads.load_faces(data, name)


def _photos() -> list[tuple[str, bytes]]:
    """(name, bytes) of the uploaded photos, the example photos chosen, then the camera snapshot when the
    camera is on; an example is named "example: FILE"."""
    files = st.file_uploader("Photos with faces (JPEG, PNG or WebP)", type=uploads.EXTENSIONS,
                             accept_multiple_files=True, key="recon_upload",
                             max_upload_size=uploads.MAX_BYTES // 2**20,
                             help="Each face is found, then turned and scaled so its eyes and mouth sit where "
                                  "CelebA's aligned images have them, and a small network trained on CelebA "
                                  "corrects the framing further, before the model's own crop and resize.")
    photos = [(f.name, f.getvalue()) for f in files or []]
    chosen = st.pills("No photo at hand? Try an example", list(examples.PHOTOS), selection_mode="multi",
                      key="recon_examples", format_func=lambda n: n.rsplit(".", 1)[0].replace("_", " ").title(),
                      help="Public-domain portraits that ship with the app (explorer/faces/photos/README.md says where "
                           "they come from); they go through the same face finding and alignment as an upload.")
    photos += [(f"example: {n}", examples.read(n)) for n in chosen or []]
    # The camera asks the browser for permission as soon as it is drawn, so it waits behind a toggle.
    if st.toggle("Take a photo with the camera", key="recon_camera_on"):
        shot = st.camera_input("Snapshot", key="recon_camera")
        if shot is not None:
            photos.append(("camera snapshot", shot.getvalue()))
    return photos


def _choose_face(found: uploads.PhotoFaces, name: str, k: str) -> int:
    """Several faces: thumbnails of their aligned crops, numbered largest first, and a radio to pick one."""
    n = len(found.faces)
    thumbs = np.stack([np.asarray(a.resize((72, 88), Image.Resampling.LANCZOS)) for a in found.aligned])
    st.caption(f"{n} faces in {name}, largest first:")
    image(image_grid(thumbs, n, pad=2), width=n * 76)
    return st.radio("Face to reconstruct", range(n), format_func=lambda i: f"Face {i + 1}", horizontal=True,
                    key=f"recon_face_{k}")


def _one_photo(model: Model, k: int, name: str, data: bytes) -> None:
    st.markdown(f"**{name}**")
    if name.startswith("example: ") and name[9:] in examples.PHOTOS:
        st.caption(examples.PHOTOS[name[9:]])
    # Widgets of this photo are keyed by its content too: another photo in the same place starts afresh.
    wkey = f"{k}_{hashlib.blake2b(data, digest_size=6).hexdigest()}"
    try:
        found = _faces(data, name)
    except uploads.UploadError as e:
        st.error(str(e), icon=":material/broken_image:")
        return
    except FaceDetectorError as e:  # the app still reconstructs the centre crop without the detector
        st.error(f"{name}: {e}", icon=":material/face:")
        found = uploads.PhotoFaces([], [], (0, 0))
    aligned = None
    if found.faces:
        choice = _choose_face(found, name, wkey) if len(found.faces) > 1 else 0
        aligned = found.aligned[choice]
        inp, rec, mse, mu = _reconstruct(model, model.vae.preprocess(aligned)[None])
        what = f"face {choice + 1} of {len(found.faces)}" if len(found.faces) > 1 else "the face"
        caption = f"{name}, {what}: model input · reconstruction (MSE {mse[0]:.4f})"
    else:
        st.warning(f"{name}: no face found. Faces turned far to the side, very small (under about 2% of the "
                   "photo's width), or covered are missed.", icon=":material/face_retouching_off:")
        if not st.checkbox("Use the plain centre crop instead", key=f"recon_centre_{wkey}"):
            return
        inp, rec, mse, mu = _photo(model, model.key, data, name)
        caption = f"{name}, centre crop: model input · reconstruction (MSE {mse[0]:.4f})"
    c_crop, c_img, c_act = st.columns([1, 2, 1], vertical_alignment="center")
    if aligned is not None:
        with c_crop:
            image(np.asarray(aligned), caption="aligned like CelebA (178×218)", width=133)
            st.download_button("Aligned crop", data=lambda: png_bytes(np.asarray(aligned), 1),
                               file_name=f"aligned_{k}.png", mime="image/png", key=f"dl_aligned_{k}",
                               on_click="ignore", icon=":material/download:")
    with c_img:
        show_faces(np.concatenate([inp, rec]), f"reconstruction_{k}", width=2 * 160, caption=caption)
    if c_act.button("Use as base face", key=f"recon_base_{k}"):
        set_base(FaceRef.vector(mu[0]))
        st.rerun()


def _uploads(model: Model) -> None:
    for k, (name, data) in enumerate(_photos()):
        _one_photo(model, k, name, data)


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
