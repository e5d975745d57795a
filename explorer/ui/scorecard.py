"""The latent-structure scorecard and the attribute classifier's verdicts, as the views draw them: one table in
Diagnostics, two side by side in Compare, an edit's side effects in the arithmetic view, and what each
dimension's traversal changes in Dimensions × attributes. The numbers come from explorer.analysis.scorecard and
explorer.analysis.classifier; this module only draws (and caches) them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis import scorecard as sc
from explorer.analysis.classifier import effect_text, side_effects, traversal_effects
from explorer.ui.common import Model

NO_CLASSIFIER = ("This checkpoint carries no attribute classifier, so what an edit changes cannot be judged here; "
                 "add one with `python -m train.export CHECKPOINT --scorecard-only --data-dir DIR`.")
JUDGED_FACES = 8  # bundle faces on which each dimension's traversal is judged
LOW, HIGH = -3.0, 3.0  # the traversal's ends, as in the Dimensions × attributes view


@st.cache_data(max_entries=8, show_spinner="Scoring the latent structure…")
def card(_model: Model, key: str) -> dict | None:
    """The bundle's stored scorecard, else computed now (a few seconds for 8,000 faces); None without a bundle."""
    return sc.scorecard_of(_model.vae)


def table(c: dict) -> pd.DataFrame:
    rows = [(k, sc.format_value(k, c[k]) + (f" / {c['latent_dim']}" if k == "active_units" and "latent_dim" in c else ""),
             sc.describe(k)) for k in sc.METRICS if k in c]
    return pd.DataFrame(rows, columns=["metric", "value", "what it means"])


def scorecard_section(model: Model) -> None:
    """Diagnostics: one table, a line per metric on what it means."""
    st.subheader("Latent-structure scorecard")
    c = card(model, model.key)
    if c is None:
        st.caption("No analysis bundle, so no scorecard: its metrics need the encodings and labels of faces.")
        return
    st.dataframe(table(c), hide_index=True, width="stretch", key="scorecard_table", column_config={
        "what it means": st.column_config.TextColumn(width="large")})
    stored = getattr(model.bundle, "scorecard", None) is not None
    st.caption(f"CelebA's 40 attributes serve as the factors of variation ({c.get('attributes', 40)} vary among the "
               f"{c.get('faces', len(model.bundle)):,} encoded faces). They are correlated (Male with Goatee, Smiling "
               "with High Cheekbones), so no model reaches 1: compare models on the same faces, not with other "
               "data sets. " + ("Stored in the checkpoint by the export." if stored else
                                "Computed from the bundle when the page opened (the export can store it)."))


def compare_section(a: Model, b: Model, label_a: str, label_b: str) -> None:
    """Compare: the two scorecards side by side, their UDR similarity, and what the numbers show."""
    st.subheader("Latent-structure scorecards")
    ca, cb = card(a, a.key), card(b, b.key)
    if ca is None or cb is None:
        st.caption("A checkpoint without an analysis bundle has no scorecard.")
        return
    keys = [k for k in sc.METRICS if k in ca or k in cb]
    rows = [(k, sc.format_value(k, ca.get(k)), sc.format_value(k, cb.get(k)), sc.better(k, ca.get(k), cb.get(k)))
            for k in keys]
    udr, faces = _udr(a, b, a.key, b.key)
    if faces:
        rows.append(("UDR similarity of A and B", sc.format_value("UDR", udr), "", ""))
    df = pd.DataFrame(rows, columns=["metric", f"A: {label_a}", f"B: {label_b}", "better"])
    st.dataframe(df, hide_index=True, width="stretch", key="scorecard_compare", height=35 * (len(df) + 1) + 3)
    st.markdown(sc.comparison_text(ca, cb, "A", "B"))
    st.caption("MIG, SAP and DCI disentanglement and completeness ask whether each attribute lives in one dimension "
               "of its own; informativeness whether the code holds the attributes at all; total correlation how far "
               "the dimensions are from independent (a β-VAE's larger KL weight pushes it down). "
               + (f"UDR (Duan et al. 2020) compares the two codes on the {faces:,} faces both encoded: 1 when one is "
                  "the other with its dimensions permuted, flipped or rescaled, near 0 when they share no axes."
                  if faces else "The two bundles share no encoded face, so their codes cannot be compared (UDR)."))


@st.cache_data(max_entries=8, show_spinner=False)
def _udr(_a: Model, _b: Model, key_a: str, key_b: str) -> tuple[float, int]:
    return sc.shared_udr(_a.bundle, _b.bundle)


def classifier(model: Model):
    """The checkpoint's attribute classifier (explorer.analysis.classifier), or None where its bundle has none."""
    return getattr(model.bundle, "classifier", None) if model.bundle is not None else None


def side_effects_section(model: Model, z0: np.ndarray, z1: np.ndarray, intended) -> None:
    """Arithmetic: the classifier's change of every attribute from the base face to the edited one, the
    intended attributes first, then the largest unintended changes."""
    clf = classifier(model)
    if clf is None:
        st.caption(NO_CLASSIFIER)
        return
    if not intended:
        return
    p = clf.probabilities(model.vae.decode(np.stack([z0, z1]).astype(np.float32)))
    effects = side_effects(p[0], p[1], clf.attribute_names, intended)
    st.markdown(f"**What the edit changes**, as the attribute classifier sees it: {effect_text(effects, 3)}")
    with st.expander("Every attribute's change"):
        st.table(pd.DataFrame({"attribute": [n.replace("_", " ") for n, _, _ in effects],
                               "before": [f"{p[0][clf.attribute_names.index(n)]:.2f}" for n, _, _ in effects],
                               "after": [f"{p[1][clf.attribute_names.index(n)]:.2f}" for n, _, _ in effects],
                               "change": [f"{d:+.2f}" for _, d, _ in effects],
                               "intended": ["yes" if i else "" for _, _, i in effects]}))
        st.caption(_trust(clf))


def _trust(clf) -> str:
    return (f"Probabilities of a {clf.parameters / 1e6:.2f}M-parameter CNN trained on {clf.info.get('trained_on', '?'):,} "
            f"of the bundle's real faces; its mean held-out ROC AUC over the attributes is {np.nanmean(clf.aucs):.3f} "
            f"(held out: {clf.info.get('held_out_from', 'unknown')}). Changes under 0.05 are within its noise.")


@st.cache_data(max_entries=16, show_spinner="Judging each dimension's traversal…")
def _traversals(_model: Model, key: str, dims: tuple) -> np.ndarray:
    """(len(dims), K) mean change of each attribute's probability when z_d goes from −3 to +3 on JUDGED_FACES
    held-out bundle faces (the first ones, so every session sees the same numbers)."""
    b = _model.bundle
    rows = np.flatnonzero(np.asarray(b.partition) != 0)[:JUDGED_FACES]
    if len(rows) < JUDGED_FACES:
        rows = np.arange(min(JUDGED_FACES, len(b)))
    return traversal_effects(_model.vae.decode, b.classifier, b.mu[rows], dims, LOW, HIGH)


def traversal_section(model: Model, z: np.ndarray, dim: int, dims, auc_table: np.ndarray) -> None:
    """Dimensions × attributes: the attributes a traversal of the chosen dimension moves on the base face, and
    for every dimension in the heatmap those it moves on average, beside what its encodings predict (AUC)."""
    clf = classifier(model)
    if clf is None:
        st.caption(NO_CLASSIFIER)
        return
    names = clf.attribute_names
    zs = np.stack([z, z]).astype(np.float32)
    zs[0, dim], zs[1, dim] = LOW, HIGH
    p = clf.probabilities(model.vae.decode(zs))
    moved = side_effects(p[0], p[1], names)
    st.markdown(f"**z{dim} from −3 to +3 on the base face changes**, as the attribute classifier sees it: "
                + effect_text(moved, 3))
    dims = tuple(int(d) for d in dims)
    effects = _traversals(model, model.key, dims)
    strongest = np.argsort(-np.abs(effects), axis=1)[:, :3]
    aucs = np.nan_to_num(np.abs(np.asarray(auc_table, np.float64) - 0.5), nan=-1.0)
    st.dataframe(pd.DataFrame({
        "dimension": [f"z{d}" for d in dims],
        "decoded, −3 → +3, moves": [effect_text([(names[j], effects[i, j], False) for j in strongest[i]], 3)
                                    for i in range(len(dims))],
        "its encodings predict best (AUC)": [
            f"{names[int(np.argmax(aucs[d]))].replace('_', ' ')} ({auc_table[d, int(np.argmax(aucs[d]))]:.2f})"
            for d in dims],
    }), hide_index=True, width="stretch", key="traversal_judged")
    st.caption(f"Each row: the mean change of the classifier's probabilities over {JUDGED_FACES} held-out faces "
               "when the dimension alone goes from −3 to +3. What a dimension draws can differ from what its "
               "encodings predict: a dimension can track an attribute without drawing it, and draw one that other "
               "dimensions predict better. " + _trust(clf))
