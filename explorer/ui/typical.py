"""How typical the face on show is (explorer.analysis.typicality), drawn beside it: a percentile, and a one-line
warning once z has left the encodings. For the live views also the percentile along each control's range
with the other controls where they are, so the page can update the number while a control is dragged."""
from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

from explorer.analysis import typicality
from explorer.ui.common import Model

PROFILE_POINTS = 41  # percentiles along a control's range for the page; it interpolates between them
HELP = ("How typical z is: the percentage of the encoded faces that are no more typical. With a fitted density, "
        "typicality is z's log-density under the Gaussian mixture fitted to the encodings; without one, its "
        "nearness to the nearest encoding. Below 1 the face has left the data: the decoder never saw such a z.")


def ordinal(p: float) -> str:
    """'37th', '<1st', '100th': a percentile as people read it."""
    if p < 1:
        return "<1st"
    k = int(p)
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def percentiles(model: Model, zs) -> np.ndarray | None:
    """(N,) percentiles of (N,D) latents, or None for a checkpoint without encodings to compare with."""
    if model.bundle is None or len(model.bundle) < 2:
        return None
    return typicality.percentile(model.bundle, np.asarray(zs, np.float32).reshape(-1, model.dim))


def text(labels: list[str], ps) -> str:
    """'typicality: 37th percentile of the encoded faces' (several labelled faces in one line)."""
    if len(labels) == 1:
        return f"Typicality: {ordinal(ps[0])} percentile of the encoded faces"
    return "Typicality: " + " · ".join(f"{n} {ordinal(p)}" for n, p in zip(labels, ps)) + " percentile of the encoded faces"


def show(model: Model, zs, labels: list[str] | None = None, key: str | None = None) -> np.ndarray | None:
    """Caption and, past the threshold, a one-line warning for the faces ``zs`` (N,D) named by ``labels``.
    Returns the percentiles (None without encodings)."""
    ps = percentiles(model, zs)
    if ps is None:
        return None
    labels = labels or [""]
    with st.container(key=key):
        st.caption(text(labels, ps), help=HELP)
        worst = int(np.argmin(ps))
        message = typicality.warning(float(ps[worst]))
        if message:
            st.warning((f"{labels[worst]}: " if len(labels) > 1 else "") + message, icon=":material/warning:")
    return ps


def profile(model: Model, z_at: Callable[[float], np.ndarray], lo: float, hi: float) -> dict | None:
    """{min, max, values}: the percentile at PROFILE_POINTS evenly spaced values of one control (``z_at(v)`` the
    latent with that control at v, the others fixed), for the page to read while that control alone moves."""
    vs = np.linspace(lo, hi, PROFILE_POINTS)
    ps = percentiles(model, np.stack([z_at(float(v)) for v in vs]))
    if ps is None:
        return None
    return {"min": float(lo), "max": float(hi), "values": [round(float(p), 2) for p in ps]}


def live_spec(model: Model, ps, labels: list[str], profiles: dict) -> dict | None:
    """What live.js needs to show the number beside its faces: the percentiles now, the per-control profiles
    (a control id -> a list of profiles, one per labelled face), the threshold and the warning."""
    if ps is None:
        return None
    return {"now": [float(p) for p in ps], "labels": labels, "profiles": profiles, "threshold": typicality.ATYPICAL,
            "warning": typicality.WARNING, "help": HELP}
