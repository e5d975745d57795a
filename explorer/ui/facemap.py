"""The face map component (Streamlit Components v2): the points of the map on a canvas, decoded faces at
their points, a face on hover, zoom and pan in the page. The drawing is ``facemap.js`` beside this file;
this module prepares its data and serves the sprite sheet.

Why not Plotly: hover in Plotly shows text, not pictures, and layout images placed from Python follow
the zoom only after a round trip to the server per zoom step. Here the page redraws itself (a frame of
12,000 dots and a few hundred faces takes a few milliseconds), and Python hears only clicks.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
from streamlit import runtime

HERE = Path(__file__).parent
CSS = """
.facemap { position: relative; user-select: none; font: 12px var(--st-font, sans-serif); border: 1px solid #e6e6e6;
  border-radius: 6px; overflow: hidden; }
.facemap > canvas { display: block; cursor: crosshair; touch-action: none; }
.facemap .tip { position: absolute; display: none; pointer-events: none; background: #fff; padding: 4px;
  border: 1px solid #999; border-radius: 4px; box-shadow: 0 2px 8px rgba(0,0,0,.25); }
.facemap .tip canvas { border: 0; border-radius: 2px; }
.facemap .tip div { color: #333; text-align: center; margin-top: 2px; }
.facemap .legend { position: absolute; top: 6px; left: 10px; display: flex; gap: 12px; background: rgba(255,255,255,.85); padding: 2px 6px; border-radius: 4px; }
.facemap .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.facemap .help { position: absolute; bottom: 6px; right: 10px; color: #666; background: rgba(255,255,255,.85); padding: 1px 6px; border-radius: 4px; }
"""

_component = st.components.v2.component("vae_explorer.facemap", css=CSS, js=(HERE / "facemap.js").read_text())


def sheet_url(data: bytes, mimetype: str, name: str) -> str:
    """Serve ``data`` from Streamlit's media storage (the one st.image uses) and return its URL. The URL is
    the content's hash, so a session fetches one checkpoint's sheet once and the browser may cache it;
    sending the sheet inside the component's data instead would resend megabytes on every click."""
    return runtime.get_instance().media_file_mgr.add(data, mimetype, f"facemap.{name}")


def face_map(key: str, xy: np.ndarray, color_index: np.ndarray, palette: list[str], legend: list, order: np.ndarray,
             sheet: str | None, cols: int, thumb: int, faces: bool, selected: int | None, view_key: str,
             on_click, height: int = 560, thumb_px: int = 36, tip_px: int = 96, max_faces: int = 600):
    """Mount the map. ``xy`` (N,2) map coordinates, ``color_index`` (N,) into ``palette`` (CSS colours),
    ``order`` the priority of faces, ``sheet`` the sprite sheet URL (``cols`` faces of ``thumb`` pixels per
    row). ``view_key`` changes when the points change (another projection): the page then fits the view.
    ``on_click`` runs when a point is clicked; the row is in ``st.session_state[key].clicked``."""
    data = {
        "key": view_key,
        # three decimals are below a pixel at any zoom a person uses, and keep the message small
        "x": np.round(xy[:, 0].astype(np.float64), 3).tolist(),
        "y": np.round(xy[:, 1].astype(np.float64), 3).tolist(),
        "c": np.asarray(color_index, np.int64).tolist(), "palette": palette, "legend": legend,
        "order": np.asarray(order, np.int64).tolist(), "sheet": sheet, "cols": int(cols), "thumb": int(thumb),
        "faces": bool(faces), "selected": None if selected is None else int(selected),
        "height": height, "thumb_px": thumb_px, "tip_px": tip_px, "max_faces": max_faces, "dot_px": 3,
    }
    return _component(key=key, data=data, height=height, on_clicked_change=on_click)
