"""Attribute arithmetic: base face + Σ w·(attribute direction), analogies A − B + C, and a table of how
well each direction separates the encodings (so a user sees which edits to trust)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import animation, latent, urlstate
from explorer.analysis import kinds, typicality
from explorer.ui import typical
from explorer.ui import animated
from explorer.ui import directions as own_directions
from explorer.ui import scorecard as scorecard_ui
from explorer.ui.common import Model, bind, face_picker, show_faces, state, sync_url
from explorer.ui.live import component as live

STRENGTHS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
DIRECTION_KINDS = {"balanced": "balanced", "held": "others fixed", "mean": "mean diff."}


def directions(model: Model, kind: str) -> np.ndarray:
    """(M,D): one row per name of ``model.edit_names`` (the 40 attributes, then their kinds)."""
    return _directions(model, model.key, kind)


def edit_names(model: Model) -> list[str]:
    """What an edit can name in this session: the model's (attributes, then their kinds), then the user's own
    directions (explorer.ui.directions)."""
    return model.edit_names + list(state().mine)


def edit_directions(model: Model, kind: str) -> np.ndarray:
    """(M,D): one row per name of ``edit_names(model)``; the user's own directions are the same whatever
    ``kind`` (they are vectors, not estimates from labels)."""
    d = directions(model, kind)
    mine = state().mine
    return np.vstack([d, np.asarray(list(mine.values()), np.float32)]) if mine else d


@st.cache_data(show_spinner=False, max_entries=8)
def _directions(_model: Model, key: str, kind: str) -> np.ndarray:
    """The bundle's stored directions where it has them (fitted on float32 encodings at export); the
    others-fixed ones and those of the kinds from the bundle's encodings: milliseconds for 8,000 rows."""
    b = _model.bundle
    if kind == "held":
        base = _held_directions(_model, key)
    else:
        base = b.directions_balanced if kind == "balanced" else b.directions
    if not b.kinds:
        return base
    _, extra = kinds.kind_directions(kind, b.mu, b.attributes, b.attribute_names, b.kinds)
    return np.vstack([base, extra])


@st.cache_data(show_spinner=False, max_entries=8)
def _held_directions(_model: Model, key: str) -> np.ndarray:
    """From the bundle's encodings: a regression on all 40 labels, milliseconds for 8,000 rows."""
    return latent.held_directions(_model.bundle.mu, _model.bundle.attributes)


@st.cache_data(show_spinner="Scoring the 40 attribute directions…", max_entries=8)
def direction_table(_model: Model, key: str) -> pd.DataFrame:
    b = _model.bundle
    return pd.DataFrame({
        "attribute": [n.replace("_", " ") for n in b.attribute_names],
        "AUC": latent.direction_aucs(b.mu, b.attributes, b.directions),
        "AUC balanced": latent.direction_aucs(b.mu, b.attributes, b.directions_balanced),
        "AUC others fixed": latent.direction_aucs(b.mu, b.attributes, _held_directions(_model, key)),
        "AUC held out": latent.heldout_direction_aucs(b.mu, b.attributes),
        "gap |Δμ|": np.linalg.norm(b.directions, axis=1),
        "share": 100 * b.attributes.mean(0),
    }).sort_values("AUC", ascending=False, na_position="last")


def _gap(model: Model, name: str) -> float:
    return float(np.linalg.norm(edit_directions(model, "mean")[edit_names(model).index(name)]))


def start_weight(model: Model, name: str, sign: int, edit: dict, base: np.ndarray) -> float:
    """The weight a newly chosen direction starts at, as a share of its class gap (the step that carries the
    mean face without the attribute to the mean face with it), per explorer.latent.start_shares: where the
    checkpoint carries an attribute classifier, the smallest of latent.EDIT_SEEN_SHARES at which it sees the
    edit and the face stays typical (explorer.analysis.typicality), so the first face shows the edit with the
    least change to the rest; else the largest of latent.EDIT_START_SHARES (2 down to ¼) that stays typical;
    the smallest where none does. Signed by ``sign``; on the URL's grid of quarter steps."""
    lo, hi = urlstate.WEIGHT_RANGE
    gap = _gap(model, name)
    names = edit_names(model)
    dirs = edit_directions(model, state().direction)
    others = [n for n in edit if n != name]
    z = latent.edit(base, dirs[[names.index(n) for n in others]], [edit[n] for n in others]) if others else base
    shares = sorted(set(latent.EDIT_START_SHARES) | set(latent.EDIT_SEEN_SHARES))
    weight = {s: urlstate.q(min(max(sign * max(round(s * gap * 4) / 4, 0.25), lo), hi)) for s in shares}
    zs = np.stack([latent.edit(z, dirs[[names.index(name)]], [weight[s]]) for s in shares]).reshape(len(shares), -1)
    ps = typical.percentiles(model, zs)
    if ps is None:
        return weight[latent.EDIT_START_SHARES[0]]
    is_typical = {s: np.array([p >= typicality.ATYPICAL]) for s, p in zip(shares, ps)}
    return float(weight[latent.start_shares(is_typical, _seen(model, name, sign, dict(zip(shares, zs))))[0]])


def _seen(model: Model, name: str, sign: int, zs: dict) -> dict | None:
    """Whether the checkpoint's attribute classifier sees the edit on each face of latent.EDIT_SEEN_SHARES;
    None without a classifier, or for a direction that is no attribute it knows (the user's own)."""
    clf = scorecard_ui.classifier(model)
    attribute, _ = kinds.split_name(name)
    if clf is None or attribute not in clf.attribute_names:
        return None
    p = clf.probabilities(model.vae.decode(np.stack([zs[s] for s in latent.EDIT_SEEN_SHARES])))
    p = p[:, list(clf.attribute_names).index(attribute)]
    seen = p > latent.EDIT_SEEN_P if sign > 0 else p < 1 - latent.EDIT_SEEN_P
    return {s: seen[i:i + 1] for i, s in enumerate(latent.EDIT_SEEN_SHARES)}


def _list_changed(model: Model, key: str, sign: int) -> None:
    """The Add (sign 1) or Take away (sign −1) list changed: names dropped from it leave the edit, names that
    stay keep their weights, and a name new to it (or moved from the other list) starts at start_weight with
    its sign. The edit keeps the order in which names were chosen."""
    s = state()
    chosen = st.session_state[key]
    same = lambda w: (w >= 0) == (sign > 0)  # noqa: E731
    edit = {n: w for n, w in s.edit.items() if (n in chosen and same(w)) or (n not in chosen and not same(w))}
    base = model.z_of(s.base)
    for n in chosen:
        if n not in edit:
            edit[n] = start_weight(model, n, sign, edit, base)
    s.edit = edit


@st.fragment
def _edit_section(model: Model) -> None:
    s = state()
    names = edit_names(model)
    c_attrs, c_minus, c_kind = st.columns([2, 2, 2], vertical_alignment="top")  # a list that wraps grows down
    # Two lists: what to add and what to take away (glasses off is as direct as glasses on). One name per
    # Enter: the "Select N matches" entry that Streamlit puts first while typing would add, say, Eyeglasses
    # and its three kinds at once. Chips wrap onto more rows rather than scroll out of sight sideways.
    for col, key, sign, label, placeholder in (
            (c_attrs, "arith_attrs", 1, "Add", "e.g. Smiling, Eyeglasses, Blond Hair"),
            (c_minus, "arith_minus", -1, "Take away", "e.g. Eyeglasses (glasses off)")):
        bind(key, [n for n, w in s.edit.items() if (w >= 0) == (sign > 0)])
        col.multiselect(label, names, key=key, on_change=_list_changed, args=(model, key, sign), format_func=model.label,
                        placeholder=placeholder, select_all=False, wrap=True,
                        help="An attribute with kinds (Wearing Hat, Eyeglasses: see *Kinds* below) can be added "
                             "as one kind: its direction is fitted on the faces of that kind only. A new one starts "
                             "at the smallest step (½ to 2 class gaps) at which the checkpoint's attribute "
                             "classifier sees it on this face; else at twice its class gap, or at the largest "
                             "step below that which keeps the face inside the data.")
    with c_kind:
        bind("arith_dir", s.direction)
        st.segmented_control("Directions", list(DIRECTION_KINDS), format_func=DIRECTION_KINDS.get, key="arith_dir",
                             required=True, on_change=lambda: setattr(state(), "direction", st.session_state["arith_dir"]),
                             help="Mean difference of the encodings with and without the attribute; 'balanced' (White 2016) "
                                  "averages it within the strata of the most correlated other attribute, so "
                                  "that +Smiling does not also add High Cheekbones wholesale; 'others fixed' "
                                  "holds all 39 other attributes (a regression on all of them): the other "
                                  "attributes move least, the edited one a little less too.")
    url, why = live.decoder_url(model)
    if url is not None:
        _live_edit(model, url)
        # in the same fragment as the edit: a release on the pad changes the weights shown above
        st.markdown("**Two directions at once**")
        _pad(model, url)
        sync_url()
        return
    if s.edit:
        cols = st.columns(min(len(s.edit), 4))
        for k, name in enumerate(list(s.edit)):
            key = f"w_{name}"
            bind(key, float(s.edit[name]))

            def moved(name=name, key=key):
                state().edit[name] = urlstate.q(st.session_state[key])
            cols[k % len(cols)].slider(f"{model.label(name)} weight", *urlstate.WEIGHT_RANGE, step=0.25,
                                       key=key, on_change=moved,
                                       help=f"in latent units; the class gap for this attribute is {_gap(model, name):.2f}")
    z0 = model.z_of(s.base)
    if s.edit:
        idx = [names.index(n) for n in s.edit]
        z1 = latent.edit(z0, edit_directions(model, s.direction)[idx], list(s.edit.values()))
        label = " ".join(f"{'+' if w >= 0 else '−'}{abs(w):g}·{model.label(n)}" for n, w in s.edit.items())
    else:
        z1, label = z0, "no edit yet: add attributes above"
    before_after, strip = st.columns([1, 2], gap="large")
    with before_after:
        show_faces(model.faces(np.stack([z0, z1])), "before_after", width=2 * 128,
                   caption=f"before · after ({label})")
        typical.show(model, z1, ["after"], key="arith_typical")
    with strip:
        show_faces(model.faces(latent.strength_strip(z0, z1 - z0, STRENGTHS)), "strength", width=len(STRENGTHS) * 80,
                   caption="strength of the edit: " + ", ".join(f"{x:g}×" for x in STRENGTHS))
        _animation(model, z0, z1)
    scorecard_ui.side_effects_section(model, z0, z1, list(s.edit))
    live.note(why, model)
    sync_url()


def _animation(model: Model, z0: np.ndarray, z1: np.ndarray) -> None:
    """The edit's strength swept over the strip's range, as a GIF and an MP4."""
    if np.array_equal(z0, z1):
        return
    lo, hi = STRENGTHS[0], STRENGTHS[-1]
    animated.buttons(model, "strength_sweep",
                     lambda: latent.strength_strip(z0, z1 - z0, np.linspace(lo, hi, animation.STEPS)),
                     f"the edit's strength from {lo:g}× to {hi:g}×")


def _live_edit(model: Model, url: str) -> None:
    """The weights scrub live: before/after and the strength strip are decoded in the page while a
    weight slider moves; the weights go into the URL on release."""
    s = state()
    names = edit_names(model)
    dirs = edit_directions(model, s.direction)
    z0 = model.z_of(s.base)
    lo, hi = urlstate.WEIGHT_RANGE
    controls = [{"id": n, "label": f"{model.label(n)} weight (class gap {_gap(model, n):.2f})", "min": lo,
                 "max": hi, "step": 0.25, "value": float(w), "add": live.floats(dirs[names.index(n)])}
                for n, w in s.edit.items()]

    def released(value: dict) -> None:
        got = value.get("values", {})
        state().edit = {n: urlstate.q(min(max(float(got.get(n, w)), lo), hi)) for n, w in state().edit.items()}

    if not s.edit:
        st.caption("No edit yet: add attributes above, then drag their weights.")
    z1 = latent.edit(z0, dirs[[names.index(n) for n in s.edit]], list(s.edit.values())) if s.edit else z0

    def along(name):  # the edited face with `name` at weight v, the other weights where they are
        return lambda v: z1 + (v - s.edit[name]) * latent.unit(dirs[names.index(name)])
    profiles = {n: [typical.profile(model, along(n), lo, hi)] for n in s.edit}
    live.mount("live_edit", url, model, {
        "typical": typical.live_spec(model, typical.percentiles(model, z1), ["after"], profiles),
        "mode": "edit", "base": live.floats(z0), "controls": controls, "steps": list(STRENGTHS), "width": 256,
        "caption": "before · after", "stripCaption": "strength of the edit: " + ", ".join(f"{x:g}×" for x in STRENGTHS)},
        released)
    live.downloads(model, {"before_after": lambda: np.stack([z0, z1]),
                           "strength": lambda: latent.strength_strip(z0, z1 - z0, STRENGTHS)})
    _animation(model, z0, z1)
    scorecard_ui.side_effects_section(model, z0, z1, list(s.edit))


def _pad(model: Model, url: str) -> None:
    """Two attribute directions as the axes of a plane: drag a point and the face follows. On release
    the two weights join the edit above (and the URL)."""
    s = state()
    names = edit_names(model)
    fmt = model.label
    a, b = st.columns(2)
    x = a.selectbox("Across", names, index=names.index("Smiling") if "Smiling" in names else 0, key="pad_x",
                    format_func=fmt)
    y = b.selectbox("Up", names, index=names.index("Male") if "Male" in names else 1, key="pad_y", format_func=fmt)
    if x == y:
        st.caption("Choose two different attributes.")
        return
    dirs = edit_directions(model, s.direction)
    others = {n: w for n, w in s.edit.items() if n not in (x, y)}
    z0 = model.z_of(s.base)
    if others:  # the pad starts from the face the edit above shows, less its own two axes
        z0 = latent.edit(z0, dirs[[names.index(n) for n in others]], list(others.values()))
    lim = 8.0

    def axis(n):
        return {"id": n, "label": fmt(n), "min": -lim, "max": lim, "step": 0.1,
                "value": float(min(max(s.edit.get(n, 0.0), -lim), lim)), "add": live.floats(dirs[names.index(n)])}

    def released(value: dict) -> None:
        got = value.get("values", {})
        edit = dict(state().edit)
        for n in (x, y):
            edit[n] = urlstate.q(float(got.get(n, 0.0)))
        state().edit = edit

    live.mount("live_pad_attrs", url, model, {"mode": "pad", "base": live.floats(z0), "controls": [axis(x), axis(y)],
                                              "width": 220, "caption": f"{fmt(x)} across, {fmt(y)} up"}, released)


def _kinds_gallery(model: Model) -> None:
    """What each kind is: the model's own drawings of a few faces of each kind, so that a user picks
    "Wearing Hat, kind 3" knowing it is a light cap."""
    b = model.bundle
    if not b.kinds:
        return
    shown = ", ".join(model.label(n) for n in b.kinds)
    with st.expander(f"Kinds: {shown}"):
        st.caption("One direction per attribute averages everything the label covers: for hats of every shape "
                   "and colour it draws a smear, for glasses only sunglasses. The faces with these attributes "
                   "are grouped by what the decoder draws where the attribute shows (the top of the head, the "
                   "eyes), and each kind has directions of its own. Below, the model's reconstructions of 8 "
                   "faces of each kind.")
        for name, (faces, count) in _kind_faces(model, model.key).items():
            show_faces(faces, f"kind_{name}", width=8 * 56, caption=f"{model.label(name)}: {count} faces of the bundle",
                       download=False)


@st.cache_data(show_spinner=False, max_entries=8)
def _kind_faces(_model: Model, key: str) -> dict:
    """{kind's edit name: (its first 8 faces decoded, how many it has)}: decoded once per checkpoint, not on
    every rerun (an expander's contents run even while it is closed)."""
    out = {}
    for name, attribute, k in kinds.kind_names(_model.bundle.kinds):
        rows = np.flatnonzero(_model.bundle.kinds[attribute] == k)
        out[name] = (_model.faces(_model.bundle.mu[rows[:8]]), len(rows))
    return out


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
        _kinds_gallery(model)
        own_directions.files_section(model, edit_names(model), edit_directions(model, state().direction))
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
            "AUC others fixed": st.column_config.NumberColumn(format="%.3f"),
            "AUC held out": st.column_config.NumberColumn(format="%.3f"),
            "gap |Δμ|": st.column_config.NumberColumn(format="%.2f"),
            "share": st.column_config.NumberColumn("share of faces", format="%.1f %%"),
        })
