"""Stage mode (``?stage=1``, or the sidebar's toggle): for a projector at 1280×720. One big face, the most
informative dimensions as large bars, no sidebar, and the keyboard: ↑ ↓ choose a dimension, ← → move it,
space plays its traversal, R resets, Esc leaves. The face is the sliders view's (the base face with its
slider overrides): the values go into the same URL fields (dims, dim), so a link opens the same face in
either mode. The drawing and the keys are ``stage.js`` beside this file; the faces are decoded here."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import numpy as np
import streamlit as st

from explorer import animation, latent, urlstate
from explorer.imaging import png_bytes
from explorer.ui.common import Model, state
from explorer.ui.sliders import current_z

HERE = Path(__file__).parent
CONTROLS = 8  # the most informative dimensions, one bar each: what fits beside the face at 720 pixels
STEP = 0.25
FACE_PX = 432  # the face's side on the page: the tallest square that leaves room for its caption at 720
TRAVERSAL = (-3.0, 3.0)
KEY = "stage"
SEQ = "stage_seq"  # the last key press applied (stage.js ignores answers older than what it has sent)

CSS = """
.stage { display: flex; gap: 48px; align-items: flex-start; font-family: var(--st-font, sans-serif); }
.stage-left { flex: none; }
.stage-face { display: block; border-radius: 10px; image-rendering: auto; box-shadow: 0 4px 24px rgba(0,0,0,.18); }
.stage-caption { margin-top: 8px; font-size: 18px; color: #555; max-width: 432px; }
.stage-right { flex: 1; min-width: 360px; }
.stage-controls { display: flex; flex-direction: column; gap: 6px; }
.stage-row { display: grid; grid-template-columns: 96px 1fr 84px; align-items: center; gap: 14px; padding: 6px 12px;
  border-radius: 10px; cursor: pointer; border: 2px solid transparent; }
.stage-row.selected { border-color: #e4572e; background: #fff4ef; }
.stage-label { font-size: 24px; font-weight: 600; color: #222; }
.stage-bar { position: relative; height: 18px; background: #e8e8e8; border-radius: 9px; }
.stage-zero { position: absolute; top: -4px; bottom: -4px; width: 2px; background: #999; }
.stage-fill { position: absolute; top: 0; bottom: 0; background: #3f7cac; border-radius: 9px; }
.stage-row.selected .stage-fill { background: #e4572e; }
.stage-knob { position: absolute; top: -7px; width: 32px; height: 32px; margin-left: -16px; border-radius: 50%;
  background: #fff; border: 3px solid #3f7cac; box-sizing: border-box; }
.stage-row.selected .stage-knob { border-color: #e4572e; }
.stage-value { font-size: 24px; font-variant-numeric: tabular-nums; text-align: right; color: #222; }
.stage-keys { margin-top: 14px; font-size: 16px; color: #666; }
"""

# The page around the stage: no sidebar (and no control to open it), less padding above the face.
PAGE_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"] { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: 3.6rem; padding-bottom: 0; max-width: 100%; }
</style>"""

_component = st.components.v2.component("vae_explorer.stage", css=CSS, js=(HERE / "stage.js").read_text())


def _data_url(face: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(face)).decode()


def dims_of(model: Model) -> list[int]:
    return [int(d) for d in model.order[:CONTROLS]]


def _on_move(model: Model) -> None:
    """A key press (or a click) in the page: absolute values of the bars and the chosen dimension."""
    move = (st.session_state.get(KEY) or {}).get("move") or {}
    s = state()
    base = model.z_of(s.base)
    lo, hi = urlstate.Z_RANGE
    dims = dims_of(model)
    for k, v in (move.get("values") or {}).items():
        d = int(k)
        if d in dims:
            v = urlstate.q(min(max(float(v), lo), hi))
            if v != urlstate.q(base[d]):  # the page sends every bar, at the value it was shown (rounded)
                s.dims[d] = v
            else:  # back at the base face's value: no override, the link stays short
                s.dims.pop(d, None)
    if move.get("selected") is not None and int(move["selected"]) in dims:
        s.dim = int(move["selected"])
    st.session_state[SEQ] = int(move.get("seq") or 0)


def _on_leave() -> None:
    state().stage = False


def stage_view(model: Model) -> None:
    st.html(PAGE_CSS)
    s = state()
    dims = dims_of(model)
    dim = s.dim if s.dim in dims else dims[0]
    z = current_z(model)
    base = model.z_of(s.base)
    lo, hi = urlstate.Z_RANGE
    frames = model.faces(latent.traversal(z, dim, np.linspace(*TRAVERSAL, animation.STEPS)))
    face = model.faces(z)[0]
    head, leave = st.columns([6, 1], vertical_alignment="center")
    head.markdown(f"### {s.base.describe().capitalize()}" + (f" · {len(s.dims)} dimension(s) moved" if s.dims else ""))
    leave.button("Leave stage", key="stage_leave", on_click=_on_leave, icon=":material/close_fullscreen:",
                 width="stretch")
    controls = [{"id": d, "label": f"z{d}", "min": lo, "max": hi, "step": STEP, "value": float(urlstate.q(z[d])),
                 "base": float(urlstate.q(base[d]))} for d in dims]
    _component(key=KEY, data={
        "controls": controls, "selected": dim, "face": _data_url(face),
        "faceId": hashlib.blake2b(face.tobytes(), digest_size=6).hexdigest(),  # tests wait for a new face
        "frames": [_data_url(f) for f in frames], "fps": animation.FPS, "size": FACE_PX,
        "applied": int(st.session_state.get(SEQ, 0)),
        "caption": f"space: z{dim} from {TRAVERSAL[0]:g} to +{TRAVERSAL[1]:g}, forward and back",
    }, on_move_change=lambda: _on_move(model), on_leave_change=_on_leave)
