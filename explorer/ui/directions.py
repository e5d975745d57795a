"""Directions of one's own, as the views draw them: on the map, two groups (a lasso, or the highlighted faces)
become a named direction, B's mean encoding minus A's; in the arithmetic view, any direction downloads as
.npy and one uploads from .npy. The user's directions live in the view state (``mine``), hence in the URL
as float16 vectors (the groups themselves can be thousands of rows long and stay in the session)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import urlstate
from explorer.analysis import owndirections
from explorer.ui.common import Model, show_faces, state

GROUPS = "dir_groups"  # session: {"A": rows, "B": rows}


def group_buttons(model: Model, rows: list[int], what: str) -> None:
    """Two buttons that keep ``rows`` (the current selection, called ``what``) as group A or B."""
    if not rows:
        return
    groups = st.session_state.setdefault(GROUPS, {})
    a, b = st.columns(2)
    for col, g in ((a, "A"), (b, "B")):
        if col.button(f"As group {g}", key=f"dir_group_{g}", width="stretch", icon=":material/group_add:",
                      help=f"Keep {what} ({len(rows):,} faces) as group {g}: a direction goes from group A's mean "
                           "encoding to group B's."):
            groups[g] = sorted(set(int(r) for r in rows))
            st.session_state["dir_made"] = None


def groups_panel(model: Model) -> None:
    """Groups A and B (when chosen), their decoded mean faces, and a name to make the direction A → B."""
    groups = st.session_state.get(GROUPS) or {}
    if st.session_state.get("dir_made"):
        st.success(st.session_state["dir_made"], icon=":material/check:")
    if not groups:
        return
    b = model.bundle
    st.markdown("**A direction of your own**")
    have = [g for g in ("A", "B") if groups.get(g)]
    st.caption(" · ".join(f"group {g}: {len(groups[g]):,} faces" for g in have)
               + ("" if len(have) == 2 else f" · now choose group {'B' if 'A' in have else 'A'}"))
    if len(have) < 2:
        return
    means = np.stack([b.mu[groups[g]].mean(0) for g in ("A", "B")])
    show_faces(model.faces(means), "groups_ab", width=2 * 96, caption="decoded means of group A · group B",
               download=False)
    name = st.text_input("Name", key="dir_name", max_chars=32, placeholder="e.g. fringe",
                         help="Letters, digits, _ and -; it is how the arithmetic view and the link name it.")
    if st.button("Make direction A → B", key="dir_make", width="stretch", icon=":material/arrow_forward:"):
        try:
            v = owndirections.group_direction(b.mu, groups["A"], groups["B"])
            add(model, name.strip(), v, f"groups A ({len(groups['A']):,} faces) → B ({len(groups['B']):,})")
        except ValueError as e:
            st.error(str(e))


def name_problem(model: Model, name: str) -> str | None:
    if not urlstate.OWN_NAME.match(name):
        return f"{name[:40]!r} cannot name a direction: use letters, digits, _ and - (a letter first, at most 32)."
    if name in model.edit_names or name in state().mine:
        return f"{name!r} is already the name of a direction; choose another."
    return None


def add(model: Model, name: str, v: np.ndarray, source: str) -> None:
    """Keep ``v`` as the user's direction ``name`` and put it into the edit at weight 1."""
    problem = name_problem(model, name)
    if problem:
        raise ValueError(problem)
    s = state()
    s.mine[name] = urlstate.vector_text(v)
    s.edit[name] = 1.0
    st.session_state["dir_made"] = (f"Direction {name!r} made from {source}; it is in Attribute arithmetic at weight 1 "
                                    f"(length {float(np.linalg.norm(v)):.2f}) and in the link.")


def files_section(model: Model, names: list[str], dirs: np.ndarray) -> None:
    """Download any direction (as the page uses it) as .npy; upload one; remove one of the user's own."""
    mine = state().mine
    with st.expander("Directions as files" + (f" · yours: {', '.join(mine)}" if mine else "")):
        if st.session_state.get("dir_made"):
            st.success(st.session_state["dir_made"], icon=":material/check:")
        c_out, c_in = st.columns(2, gap="large")
        with c_out:
            # the labels themselves are the options (no format_func): AppTest reads an untouched selectbox's
            # value through str(), which would not find "5_o_Clock_Shadow" among the labels
            labels = [_label(model, n) for n in names]
            shown = st.selectbox("Direction", labels, key="dir_export",
                                 help="Saved as the page uses it: for an attribute, with the estimator chosen above.")
            pick = names[labels.index(shown)] if shown in labels else names[0]
            v = dirs[names.index(pick)]
            st.download_button("Download .npy", data=owndirections.npy_bytes(v), file_name=f"{pick}.npy",
                               mime="application/octet-stream", key="dir_export_dl", on_click="ignore",
                               icon=":material/download:")
            st.caption(f"shape ({model.dim},), float32, length {float(np.linalg.norm(v)):.2f}; "
                       "read it with numpy.load.")
        with c_in:
            up = st.file_uploader("Upload a direction (.npy)", type=["npy"], key="dir_import",
                                  help=f"One vector of {model.dim} numbers, saved with numpy.save.")
            name = st.text_input("Its name", key="dir_import_name", max_chars=32,
                                 placeholder=(up.name.rsplit(".", 1)[0] if up is not None else "e.g. fringe"))
            if st.button("Add", key="dir_import_add", disabled=up is None, icon=":material/upload:"):
                try:
                    v = owndirections.read_npy(up.getvalue(), up.name, model.dim)
                    add(model, (name.strip() or up.name.rsplit(".", 1)[0]), v, up.name)
                    st.rerun()
                except ValueError as e:
                    st.error(str(e), icon=":material/error:")
        for n in list(mine):
            c_n, c_x = st.columns([4, 1], vertical_alignment="center")
            c_n.caption(f"**{n}** (yours): length {float(np.linalg.norm(mine[n])):.2f}")
            if c_x.button("Remove", key=f"dir_remove_{n}"):
                mine.pop(n)
                state().edit.pop(n, None)
                st.session_state["dir_made"] = None
                st.rerun()


def _label(model: Model, name: str) -> str:
    return f"{name} (yours)" if name in state().mine else model.label(name)
