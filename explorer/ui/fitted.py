"""The fitted density of the encodings, once per checkpoint for the whole server, and faces drawn from it.

A checkpoint whose bundle carries the density (train/export.py fits it) uses that one; an older one
(the shipped model today) gets it fitted here, on first use, from the bundle's encodings."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.analysis.density import GaussianMixtureDensity, fit_density
from explorer.ui.common import Model


@st.cache_resource(max_entries=4, show_spinner="Fitting a Gaussian mixture to the encodings (once per model)…")
def fitted_density(_model: Model, key: str) -> GaussianMixtureDensity | None:
    """None when the checkpoint has no analysis bundle (nothing to fit)."""
    b = _model.bundle
    if b is None or len(b) < 2:
        return None
    if b.density is not None:
        return b.density
    return fit_density(b.mu)


def fitted_z(model: Model, seed: int, tau: float, n: int) -> np.ndarray:
    """(n,D) draws from the fitted density; raises ValueError when there is none."""
    g = fitted_density(model, model.key)
    if g is None:
        raise ValueError("this checkpoint has no encodings to fit a density to")
    return g.sample(n, seed, tau)


@st.cache_data(max_entries=64, show_spinner=False)
def fitted_faces(_model: Model, key: str, seed: int, tau: float, n: int) -> np.ndarray:
    return _model.faces(fitted_z(_model, seed, tau, n))
