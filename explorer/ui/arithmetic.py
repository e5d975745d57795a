"""Attribute arithmetic: base face + Σ w·(attribute direction), analogies A − B + C, and a table of how
well each direction separates the encodings (so a user sees which edits to trust)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import latent, urlstate
from explorer.ui.common import Model, bind, face_picker, show_faces, state, sync_url

STRENGTHS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
DIRECTION_KINDS = {"balanced": "balanced (White 2016)", "mean": "mean difference"}


def directions(model: Model, kind: str) -> np.ndarray:
    b = model.bundle
    return b.directions_balanced if kind == "balanced" else b.directions


@st.cache_data(show_spinner="Scoring the 40 attribute directions…", max_entries=8)
def direction_table(_model: Model, key: str) -> pd.DataFrame:
    b = _model.bundle
    return pd.DataFrame({
        "attribute": [n.replace("_", " ") for n in b.attribute_names],
        "AUC": latent.direction_aucs(b.mu, b.attributes, b.directions),
        "AUC balanced": latent.direction_aucs(b.mu, b.attributes, b.directions_balanced),
        "AUC held out": latent.heldout_direction_aucs(b.mu, b.attributes),
        "gap |Δμ|": np.linalg.norm(b.directions, axis=1),
        "share": 100 * b.attributes.mean(0),
    }).sort_values("AUC", ascending=False, na_position="last")


def _gap(model: Model, name: str) -> float:
    j = model.vae.attribute_names.index(name)
    return float(np.linalg.norm(model.bundle.directions[j]))


@st.fragment
def _edit_section(model: Model) -> None:
    s = state()
    names = list(model.vae.attribute_names)
    c_attrs, c_kind = st.columns([3, 2], vertical_alignment="bottom")
    with c_attrs:
        def attrs_changed():
            chosen = st.session_state["arith_attrs"]
            lo, hi = urlstate.WEIGHT_RANGE
            # a new attribute starts at its class gap: the step that carries the mean face without it
            # to the mean face with it
            state().edit = {n: state().edit.get(n, urlstate.q(round(min(max(_gap(model, n), lo), hi) * 4) / 4))
                            for n in chosen}
        bind("arith_attrs", list(s.edit))
        st.multiselect("Attributes to add or subtract", names, key="arith_attrs", on_change=attrs_changed,
                       format_func=lambda n: n.replace("_", " "), placeholder="e.g. Smiling, Eyeglasses, Blond Hair")
    with c_kind:
        bind("arith_dir", s.direction)
        st.segmented_control("Directions", list(DIRECTION_KINDS), format_func=DIRECTION_KINDS.get, key="arith_dir",
                             required=True, on_change=lambda: setattr(state(), "direction", st.session_state["arith_dir"]),
                             help="Mean difference of the encodings with and without the attribute; 'balanced' "
                                  "averages it within the strata of the most correlated other attribute, so "
                                  "that +Smiling does not also add High Cheekbones wholesale.")
    if s.edit:
        cols = st.columns(min(len(s.edit), 4))
        for k, name in enumerate(list(s.edit)):
            key = f"w_{name}"
            bind(key, float(s.edit[name]))

            def moved(name=name, key=key):
                state().edit[name] = urlstate.q(st.session_state[key])
            cols[k % len(cols)].slider(f"{name.replace('_', ' ')} weight", *urlstate.WEIGHT_RANGE, step=0.25,
                                       key=key, on_change=moved,
                                       help=f"in latent units; the class gap for this attribute is {_gap(model, name):.2f}")
    z0 = model.z_of(s.base)
    if s.edit:
        idx = [names.index(n) for n in s.edit]
        z1 = latent.edit(z0, directions(model, s.direction)[idx], list(s.edit.values()))
        label = " ".join(f"{'+' if w >= 0 else '−'}{abs(w):g}·{n.replace('_', ' ')}" for n, w in s.edit.items())
    else:
        z1, label = z0, "no edit yet: add attributes above"
    before_after, strip = st.columns([1, 2], gap="large")
    with before_after:
        show_faces(model.faces(np.stack([z0, z1])), "before_after", width=2 * 128,
                   caption=f"before · after ({label})")
    with strip:
        show_faces(model.faces(latent.strength_strip(z0, z1 - z0, STRENGTHS)), "strength", width=len(STRENGTHS) * 80,
                   caption="strength of the edit: " + ", ".join(f"{x:g}×" for x in STRENGTHS))
    sync_url()


@st.fragment
def _analogy_section(model: Model) -> None:
    cols = st.columns(3)
    refs = []
    for col, field, label in zip(cols, ("a", "b", "c"), ("A", "B", "C")):
        with col:
            refs.append(face_picker(model, label, field, f"analogy_{field}"))
    za, zb, zc = (model.z_of(r) for r in refs)
    show_faces(model.faces(np.stack([za, zb, zc, latent.analogy(za, zb, zc)])), "analogy", width=4 * 112,
               caption="A, B, C and A − B + C: C changed the way B changes into A")
    sync_url()


def arithmetic_view(model: Model) -> None:
    if model.bundle is None:
        st.info("This checkpoint has no analysis bundle, so it has no attribute directions; analogies still work.")
    else:
        st.subheader("Edit the base face")
        _edit_section(model)
    st.subheader("Analogy A − B + C")
    _analogy_section(model)
    if model.bundle is not None:
        st.subheader("Which edits to trust")
        st.caption("ROC AUC of each direction: how well projecting the encodings onto it separates the faces "
                   "with the attribute from those without (1 = perfectly, 0.5 = not at all). 'Held out' fits the "
                   "direction on one half of the faces and scores the other half. The gap is the distance between "
                   "the two class means along the direction: a weight of that size moves a face by one class.")
        st.dataframe(direction_table(model, model.key), hide_index=True, width="stretch", column_config={
            "AUC": st.column_config.ProgressColumn("AUC", min_value=0.5, max_value=1.0, format="%.3f"),
            "AUC balanced": st.column_config.NumberColumn(format="%.3f"),
            "AUC held out": st.column_config.NumberColumn(format="%.3f"),
            "gap |Δμ|": st.column_config.NumberColumn(format="%.2f"),
            "share": st.column_config.NumberColumn("share of faces", format="%.1f %%"),
        })
