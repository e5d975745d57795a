"""The live component as the views use it: mount it, or say in one line why the view decodes on the server."""
from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

from explorer.imaging import image_grid, png_bytes, to_uint8_images
from explorer.ui.live import serve
from explorer.ui.live.serve import BOOT_URL, HERE, ORT_PREFIX

OFF = "live_off"  # session_state key: why this session decodes on the server (set by the page's report)


def decoder_url(model) -> tuple[str | None, str | None]:
    """(URL of the ONNX decoder, None) when this session decodes live, else (None, why not)."""
    return serve.status(model, st.session_state.get(OFF))


def note(reason: str, model=None) -> None:
    """The one line a view shows when it decodes on the server. While the export is running, the page
    also checks every second and reruns once it is ready, so the first visitor gets live mode too."""
    st.caption(f":grey[{reason}; faces are decoded on the server, after each release.]")
    if model is not None and serve.pending(model):
        _wait_for_export(model)


@st.fragment(run_every=1.0)
def _wait_for_export(model) -> None:
    if not serve.pending(model):
        st.rerun(scope="app")


# Registered once, when a view first imports this module (inside a script run, where Streamlit's
# component registry exists).
_component = st.components.v2.component(
    "vae_live", html='<div class="live"></div>', css=(HERE / "live.css").read_text(),
    js=(HERE / "live.js").read_text())


def _failed(key: str) -> None:
    reason = st.session_state[key].get("failed") if st.session_state.get(key) else None
    if reason:
        st.session_state[OFF] = str(reason)[:200]


def mount(key: str, url: str, model, spec: dict, on_release) -> None:
    """Mount the component. ``spec`` describes the controls and faces (see live.js); ``on_release``
    receives the released values (a dict) and stores them in the view state."""
    def released():
        # .get: a release that arrives in the same rerun as a failure report finds the component unmounted
        value = (st.session_state.get(key) or {}).get("release")
        if value:
            on_release(value)

    # batch: 1 where the decoder's batch axis is fixed (a user's ONNX export): the page decodes one face at a time
    data = {"name": key, "model": url, "ort": ORT_PREFIX, "boot": BOOT_URL, "dim": model.dim,
            "size": model.vae.image_size, "batch": model.vae.decoder_batch, **spec}
    _component(key=key, data=data, on_release_change=released, on_failed_change=lambda: _failed(key))


def preload(model) -> None:
    """Open this session's decoder before any view asks for a face: an empty instance of the component at
    the end of the sidebar. The page's first lines (serve.BootScript) already start the runtime and open
    the default checkpoint's decoder; this covers the checkpoint chosen in the sidebar or by ?ckpt=, so a
    live view (on this view or the next one) finds its session ready or nearly so."""
    url, _ = decoder_url(model)
    if url is not None:
        _component(key="live_preload", data={"name": "preload", "model": url, "ort": ORT_PREFIX, "boot": BOOT_URL,
                                                 "preload": True})


def floats(z) -> list[float]:
    return [float(v) for v in np.asarray(z, np.float32).ravel()]


def downloads(model, items: dict[str, Callable[[], np.ndarray]]) -> None:
    """One "Download PNG" button per entry (file name -> latents (N,D)), decoded on the server when
    clicked: the same z the page shows, so the file equals the live face to within rounding."""
    cols = st.columns(len(items))
    for col, (name, zs) in zip(cols, items.items()):
        def data(zs=zs):
            faces = to_uint8_images(model.vae.decode(np.asarray(zs(), np.float32)))
            return png_bytes(image_grid(faces, len(faces), pad=2), 4)
        col.download_button(f"Download {name.replace('_', ' ')} PNG", data=data, file_name=f"{name}.png",
                            mime="image/png", key=f"dl_live_{name}", on_click="ignore", icon=":material/download:")
