"""Download buttons for animated exports (explorer.animation): a GIF and an MP4 of the path the view shows,
decoded and encoded on the server when clicked (the same z as the page, so the first frame is its face)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

from explorer import animation
from explorer.ui.common import Model

MIME = {"gif": "image/gif", "mp4": "video/mp4"}


def video(model: Model, path: np.ndarray) -> np.ndarray:
    """(T,K,D) or (T,D) latents -> the frames of the back-and-forth loop."""
    return animation.frames(animation.render(model.faces, path))


def buttons(model: Model, name: str, path: Callable[[], np.ndarray], what: str) -> None:
    """A GIF and an MP4 button for the path ``path()`` returns ((T,K,D) or (T,D)); ``what`` says what plays."""
    cols = st.columns(2)
    for col, fmt in zip(cols, MIME):
        col.download_button(f"Animated {fmt.upper()}", data=lambda fmt=fmt: animation.encode(video(model, path()), fmt),
                            file_name=f"{name}.{fmt}", mime=MIME[fmt], key=f"dl_anim_{name}_{fmt}", on_click="ignore",
                            icon=":material/movie:", width="stretch",
                            help=f"{what}, forward and back ({animation.STEPS} steps, {animation.FPS} frames a second, "
                                 f"faces at {animation.SCALE}× size); the GIF loops by itself, the MP4 is one cycle "
                                 "(set your player or slide to loop).")
