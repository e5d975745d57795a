"""Map: t-SNE and PCA of the encoded faces, coloured by an attribute, KL, reconstruction error or typicality.
Clicking a point shows its decoded face; a lasso shows the decoded mean of the selection. As a search tool:
faces with (or without) chosen attributes and rows given by number are highlighted, and a file name finds
its face; a lasso or the highlighted faces become a group for a direction of one's own (explorer.ui.directions)."""
from __future__ import annotations

import sys
import time

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import streamlit as st

from explorer import latent, urlstate
from explorer.analysis import sprites, typicality
from explorer.imaging import png_bytes
from explorer.ui import directions, facemap
from explorer.ui.common import Model, bind, bound, set_base, show_faces, state, sync_url
from explorer.urlstate import FaceRef

CHART = "map_chart"
LASSO = "map_rows"  # rows of the last multi-point selection (session only: it can be thousands long)
CONTINUOUS = {"kl": ("KL per image (nats)", "kl_per_image"), "mse": ("Reconstruction error (MSE)", "recon_mse"),
              "typ": ("Typicality (percentile)", None)}
HIGHLIGHT = "#111111"  # outline of highlighted points
FACES = "map_faces"  # the face map component's key
SHADES = 16  # a continuous colouring is drawn in this many Viridis steps (one canvas fill per step)


# id(bundle) -> (weak reference, values): each encoding's typicality, computed once per bundle
_TYPICAL: dict[int, tuple] = {}


def encodings_typicality(bundle) -> np.ndarray:
    """(N,) each encoding's typicality percentile among the encodings (explorer.analysis.typicality's scale). Without a
    fitted density the score is the distance to the nearest encoding, which must be another one's: scored as
    an outside z, every encoding would be at distance 0 from itself."""
    import weakref

    hit = _TYPICAL.get(id(bundle))
    if hit is not None and hit[0]() is bundle:
        return hit[1]
    ref = typicality.reference(bundle)
    if ref.method == "density":
        own = typicality.scores(bundle, bundle.mu)
    else:
        own = -typicality._nearest_distance(bundle.mu, bundle.mu, exclude_self=True)
    values = ref.percentile(own).astype(np.float32)
    _TYPICAL[id(bundle)] = (weakref.ref(bundle, lambda _r, k=id(bundle): _TYPICAL.pop(k, None)), values)
    return values


def continuous_values(color: str, bundle) -> tuple[str, np.ndarray]:
    """(title, (N,) values) of a continuous colouring."""
    title, field = CONTINUOUS[color]
    if field is None:
        return title, encodings_typicality(bundle)
    return title, np.asarray(getattr(bundle, field), np.float32)


def highlighted(bundle, hl: str) -> np.ndarray | None:
    """(N,) bool: the faces a highlight text picks (urlstate.parse_highlight: every attribute condition, or
    a listed row), or None when nothing is asked for."""
    _, conds, ranges = urlstate.parse_highlight(hl, bundle.attribute_names, len(bundle))
    if not conds and not ranges:
        return None
    n = len(bundle)
    out = np.zeros(n, bool)
    if conds:
        a = bundle.attributes
        out = np.all([a[:, bundle.attribute_names.index(name)] == want for name, want in conds], axis=0)
    for lo, hi in ranges:
        out[lo:hi + 1] = True
    return out


def map_figure(xy: np.ndarray, color: str, bundle, highlight: np.ndarray | None = None) -> go.Figure:
    """Scattergl (WebGL) of (N,2) points. Every trace carries the bundle row in ``customdata``: colouring by
    an attribute splits the points into two traces, and Plotly's point indices restart in each trace.
    ``highlight`` (N,) bool: those points are drawn again on top, outlined, and the others fade."""
    rows = np.arange(len(xy), dtype=np.int32)
    marker = dict(size=4, opacity=0.75 if highlight is None else 0.25)
    hover = "row %{customdata}<extra>%{fullData.name}</extra>"
    traces = []
    if color in CONTINUOUS:
        title, values = continuous_values(color, bundle)
        traces.append(go.Scattergl(x=xy[:, 0], y=xy[:, 1], customdata=rows, mode="markers", name=title,
                                   marker=dict(marker, color=values, colorscale="Viridis", showscale=True,
                                               colorbar=dict(title=dict(text=title, side="right"), thickness=12)),
                                   hovertemplate="row %{customdata}<br>%{marker.color:.4g}<extra></extra>"))
    elif color in bundle.attribute_names:
        has = bundle.attributes[:, bundle.attribute_names.index(color)].astype(bool)
        for mask, name, c in ((~has, f"not {color}", "#9aa5b1"), (has, color, "#e4572e")):
            traces.append(go.Scattergl(x=xy[mask, 0], y=xy[mask, 1], customdata=rows[mask], mode="markers",
                                       name=f"{name} ({int(mask.sum()):,})", marker=dict(marker, color=c),
                                       hovertemplate=hover))
    else:
        traces.append(go.Scattergl(x=xy[:, 0], y=xy[:, 1], customdata=rows, mode="markers", name="faces",
                                   marker=dict(marker, color="#3f7cac"), hovertemplate=hover))
    if highlight is not None:
        traces.append(go.Scattergl(x=xy[highlight, 0], y=xy[highlight, 1], customdata=rows[highlight], mode="markers",
                                   name=f"highlighted ({int(highlight.sum()):,})", hovertemplate=hover,
                                   marker=dict(size=7, color="rgba(0,0,0,0)", line=dict(color=HIGHLIGHT, width=1.5))))
    fig = go.Figure(traces)
    # No dragmode here: Streamlit then starts in pan mode, where a click selects one point; in lasso mode
    # (from the chart's toolbar) clicks select nothing.
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=30, b=10), uirevision=color,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), hovermode="closest",
                      xaxis=dict(showticklabels=False, title=None), yaxis=dict(showticklabels=False, title=None))
    return fig


def selected_rows(event) -> list[int]:
    """Bundle rows of the selected points, whatever trace they are in (from ``customdata``)."""
    points = (event or {}).get("selection", {}).get("points", [])
    rows = []
    for p in points:
        c = p.get("customdata")
        if isinstance(c, (list, tuple)):
            c = c[0] if c else None
        if c is not None:
            rows.append(int(c))
    return rows


def _on_select() -> None:
    rows = selected_rows(st.session_state.get(CHART))
    if len(rows) == 1:
        state().point = rows[0]
        st.session_state[LASSO] = None
    elif rows:
        st.session_state[LASSO] = sorted(set(rows))
    else:
        st.session_state[LASSO] = None


def _attributes_of(bundle, row: int) -> str:
    names = [n.replace("_", " ") for n, v in zip(bundle.attribute_names, bundle.attributes[row]) if v]
    return ", ".join(names) if names else "none of the 40"


def _over_represented(bundle, rows, k: int = 5) -> str:
    """The attributes most over-represented in a selection, against the whole bundle."""
    sel = bundle.attributes[rows].mean(0)
    base = bundle.attributes.mean(0)
    lift = sel - base
    top = np.argsort(-lift)[:k]
    return ", ".join(f"{bundle.attribute_names[j].replace('_', ' ')} {sel[j]:.0%} (vs {base[j]:.0%})"
                     for j in top if lift[j] > 0.05) or "no attribute stands out"


def point_colors(color: str, bundle) -> tuple[np.ndarray, list[str], list[list[str]]]:
    """(N,) palette index per point, the palette (CSS colours) and the legend [[label, colour], ...]: the
    same colouring as ``map_figure``, for the face map."""
    n = len(bundle)
    if color in CONTINUOUS:
        title, values = continuous_values(color, bundle)
        values = np.asarray(values, np.float64)
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        idx = np.clip(((values - lo) / max(hi - lo, 1e-12) * SHADES).astype(np.int64), 0, SHADES - 1)
        palette = pc.sample_colorscale("Viridis", [i / (SHADES - 1) for i in range(SHADES)])
        return idx, palette, [[f"{title}: {lo:.3g}", palette[0]], [f"{hi:.3g}", palette[-1]]]
    if color in bundle.attribute_names:
        has = bundle.attributes[:, bundle.attribute_names.index(color)].astype(np.int64)
        name = color.replace("_", " ")
        palette = ["#9aa5b1", "#e4572e"]
        return has, palette, [[f"not {name} ({n - int(has.sum()):,})", palette[0]], [f"{name} ({int(has.sum()):,})", palette[1]]]
    return np.zeros(n, np.int64), ["#3f7cac"], []


class Sprites:
    """One checkpoint's faces for the map, decoded once per server (see ``_sprites``)."""

    def __init__(self, thumbs: np.ndarray, seconds: float, from_disk: bool, where: str = "the disk cache",
                 jpeg: bytes | None = None):
        self.thumbs = thumbs  # (N,t,t,3) uint8
        self.seconds = seconds
        self.from_disk = from_disk
        self.where = where  # where faces not decoded now came from: the checkpoint, or the disk cache
        self.sheet, self.cols = sprites.sprite_sheet(thumbs)
        self.jpeg = jpeg or sprites.sheet_bytes(self.sheet)  # the bundle's own sheet is sent as it is
        self.order = sprites.priority_order(len(thumbs))


@st.cache_resource(max_entries=4, show_spinner="Decoding every encoding into a face (once per checkpoint)…")
def _sprites(_model: Model, key: str) -> Sprites:
    """cache_resource, not cache_data: the arrays are read-only and large, and cache_data would copy them
    (pickle round trip) on every rerun of every session."""
    mu = _model.bundle.mu
    packed = _model.bundle.sprites
    if packed is not None:  # decoded by train.export: read from the checkpoint
        t0 = time.perf_counter()
        thumbs, from_disk, where = sprites.unbundled(packed, len(mu)), True, "the checkpoint"
        seconds = time.perf_counter() - t0
    else:  # a bundle made before the export decoded them: once per file, then from the disk cache
        thumbs, seconds, from_disk = sprites.cached_thumbnails(_model.vae.decode, mu, key, sprites.thumb_size(len(mu)))
        where = "the disk cache"
    print(f"[explorer] map faces for {key}: {len(thumbs):,} "
          f"{'read from ' + where if from_disk else 'decoded'} in {seconds:.2f} s", file=sys.stderr, flush=True)
    return Sprites(thumbs, seconds, from_disk, where, bytes(packed["jpeg"]) if packed is not None else None)


def _on_face_click() -> None:
    row = st.session_state[FACES].get("clicked")
    if row is not None:
        state().point = int(row)
        st.session_state[LASSO] = None


def _mosaic_png(xy, sp: Sprites, color: str, bundle) -> bytes:
    from PIL import ImageColor

    idx, palette, _ = point_colors(color, bundle)
    rgb = np.array([ImageColor.getrgb(c)[:3] for c in palette], np.uint8)[idx]
    return png_bytes(sprites.map_mosaic(xy, sp.thumbs, rgb, width=1600, height=1200, size=40, order=sp.order))


def _face_map(model: Model, xy: np.ndarray, proj: str, hl: np.ndarray | None) -> None:
    b, s = model.bundle, state()
    sp = _sprites(model, model.key)
    idx, palette, legend = point_colors(s.color, b)
    if hl is not None:  # the face map has one colour per point: the highlighted ones get their own
        idx = np.where(hl, len(palette), idx)
        palette = [*palette, HIGHLIGHT]
        legend = [*legend, [f"highlighted ({int(hl.sum()):,})", HIGHLIGHT]]
    url = facemap.sheet_url(sp.jpeg, "image/jpeg", "sheet")
    facemap.face_map(FACES, xy, idx, palette, legend, sp.order, url, sp.cols, sp.thumbs.shape[1], True, s.point,
                     f"{model.key}:{proj}", _on_face_click)
    how = (f"read in {sp.seconds:.2f} s from {sp.where}" if sp.from_disk
           else f"decoded from their encodings in {sp.seconds:.1f} s")
    st.caption(f"{len(b):,} faces {how}, once per checkpoint "
               f"(a {sp.sheet.shape[1]}×{sp.sheet.shape[0]} sprite sheet, {len(sp.jpeg) / 2**20:.1f} MB as JPEG). "
               "Hover a point for its face; where faces would overlap, a fixed random choice is shown. "
               "These are reconstructions, not the dataset's photos.")
    st.download_button("Download PNG of the whole map with faces", data=lambda: _mosaic_png(xy, sp, s.color, b),
                       file_name=f"map_faces_{proj}_{s.color}.png", mime="image/png", key="dl_map_faces",
                       on_click="ignore", icon=":material/download:")


@st.fragment
def map_view(model: Model) -> None:
    b = model.bundle
    if b is None:
        st.info("This checkpoint has no analysis bundle, so there is nothing to map. Add one with "
                "`python -m train.export CHECKPOINT --data-dir DIR`.")
        return
    s = state()
    has_tsne = bool(np.isfinite(b.tsne).all())
    c_proj, c_color, c_row, c_faces = st.columns([2, 3, 2, 1], vertical_alignment="bottom")
    with c_proj:
        projections = {"tsne": "t-SNE", "pca": "PCA"}
        proj = s.proj if has_tsne else "pca"
        bind("map_proj", proj)
        proj = st.segmented_control("Projection", list(projections), format_func=projections.get, key="map_proj",
                                    required=True, on_change=lambda: setattr(state(), "proj", st.session_state["map_proj"]),
                                    disabled=not has_tsne, help=None if has_tsne else "t-SNE was skipped at export")
    with c_color:
        extra = {"none": "nothing", "kl": "KL per image", "mse": "reconstruction error",
                 "typ": "typicality (percentile)"}
        if b.kl_per_image is None:  # a model without logvar (explorer.foreign) has no KL to colour by
            del extra["kl"]
            if s.color == "kl":
                s.color = "none"
        options = list(extra) + list(b.attribute_names)
        bound(st.selectbox, "Colour by", "map_color", "color", options=options,
              format_func=lambda o: extra.get(o, o.replace("_", " ")))
    with c_row:
        bind("map_row", s.point)  # empty while no face is shown: a 0 there read as "row 0 is shown"

        def row_changed():
            row = st.session_state["map_row"]
            state().point = None if row is None else int(row)
            st.session_state[LASSO] = None
        st.number_input("Show row", 0, len(b) - 1, value=None, step=1, key="map_row", on_change=row_changed,
                        placeholder="none")
    with c_faces:
        bound(st.toggle, "Faces", "map_faces_on", "faces", bool,
              help="Draw the decoded faces at their points and show a face on hover (zoom with the wheel). "
                   "Off: the Plotly chart, with lasso and box selection.")

    hl = _search_row(model)
    xy = b.tsne if proj == "tsne" else b.pca
    chart, detail = st.columns([3, 1], gap="medium")
    with chart:
        if s.faces:
            _face_map(model, xy, proj, hl)
        else:
            fig = map_figure(xy, s.color, b, hl)
            if s.point is not None:  # the face shown beside the chart, marked where it lies
                fig.add_trace(go.Scattergl(x=xy[[s.point], 0], y=xy[[s.point], 1], customdata=[s.point], mode="markers",
                                           name="shown face", hovertemplate="row %{customdata}<extra>shown</extra>",
                                           marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="#ff2b2b", width=3))))
            st.plotly_chart(fig, key=CHART, on_select=_on_select,
                            selection_mode=("points", "lasso", "box"), config={"displaylogo": False},
                            theme="streamlit")
            st.caption(f"{len(b):,} encoded faces ({', '.join(b.info.get('splits', [])) or 'bundle'} split). "
                       "Click a point for its face; pick the lasso in the chart's toolbar to see the mean face of a "
                       "group; switch on Faces to see every face at its point.")
    with detail:
        lasso = st.session_state.get(LASSO)
        if lasso:
            z = latent.selection_mean(b.mu, lasso)
            show_faces(model.faces(z), "selection_mean", width=192,
                       caption=f"decoded mean of {len(lasso):,} selected encodings")
            st.caption("Over-represented: " + _over_represented(b, lasso))
            if st.button("Use as base face", key="map_lasso_base", width="stretch"):
                set_base(FaceRef.vector(z))
                st.rerun()
            directions.group_buttons(model, lasso, "the lasso")
        elif s.point is not None:
            row = s.point
            show_faces(model.faces(b.mu[row]), f"row{row}", width=192,
                       caption=f"row {row}: {b.filenames[row]} decoded from its encoding")
            st.caption((f"KL {b.kl_per_image[row]:.1f} nats · " if b.kl_per_image is not None else "")
                       + f"MSE {b.recon_mse[row]:.4f}")
            st.caption("Attributes: " + _attributes_of(b, row))
            if st.button("Use as base face", key="map_point_base", width="stretch"):
                set_base(FaceRef.row(row))
                st.rerun()
        else:
            st.info("Click a point to see the face behind it.")
        if hl is not None and not lasso:
            directions.group_buttons(model, np.flatnonzero(hl).tolist(), "the highlighted faces")
        directions.groups_panel(model)
    sync_url()


def _search_row(model: Model) -> np.ndarray | None:
    """Highlight faces with or without attributes, and rows by number; find a face by its file name.
    Returns the highlighted points, (N,) bool, or None."""
    b, s = model.bundle, state()
    _, conds, ranges = urlstate.parse_highlight(s.hl, b.attribute_names, len(b))
    c_with, c_rows, c_find = st.columns([3, 2, 2], vertical_alignment="bottom")

    def store(conds_, rows_text):
        text = ",".join([("-" if want == 0 else "") + name for name, want in conds_] + [rows_text])
        try:
            state().hl = urlstate.parse_highlight(text, b.attribute_names, len(b))[0]
            st.session_state["map_hl_error"] = None
        except ValueError as e:
            st.session_state["map_hl_error"] = f"Highlight rows: {e}."

    options = [f"{'-' if w == 0 else ''}{n}" for n in b.attribute_names for w in (1, 0)]
    wanted = [f"{'-' if w == 0 else ''}{n}" for n, w in conds]
    rows_text = ",".join(f"{lo}-{hi}" if hi > lo else str(lo) for lo, hi in ranges)
    with c_with:
        bind("map_hl_attrs", wanted)
        st.multiselect("Highlight faces with", options, key="map_hl_attrs",
                       format_func=lambda o: ("without " + o[1:] if o.startswith("-") else o).replace("_", " "),
                       placeholder="e.g. Eyeglasses, without Male",
                       on_change=lambda: store([(o.lstrip("-"), 0 if o.startswith("-") else 1)
                                                for o in st.session_state["map_hl_attrs"]], st.session_state["map_hl_rows"]))
    with c_rows:
        bind("map_hl_rows", rows_text)
        st.text_input("… or these rows", key="map_hl_rows", placeholder="e.g. 12, 40-45",
                      on_change=lambda: store(urlstate.parse_highlight(state().hl, b.attribute_names, len(b))[1],
                                              st.session_state["map_hl_rows"]),
                      help="Row numbers of the analysis bundle and ranges; a face is highlighted when it has every "
                           "attribute chosen beside, or is one of these rows.")
    with c_find:
        def find():
            text = st.session_state["map_find"].strip()
            row = _find_file(b, text)
            st.session_state["map_find_error"] = None if row is not None or not text else (
                f"No face {text[:40]!r} in this bundle: give a file name such as {b.filenames[0]} or a row number.")
            if row is not None:
                state().point = row
                st.session_state[LASSO] = None
        st.text_input("Find a face", key="map_find", on_change=find, placeholder=f"e.g. {b.filenames[0]}",
                      help="A file name of the encoded dataset (as CelebA names it) or a row number: the map shows "
                           "its face and marks its point.")
    for key in ("map_hl_error", "map_find_error"):
        if st.session_state.get(key):
            st.warning(st.session_state[key], icon=":material/search_off:")
    hl = highlighted(b, s.hl)
    if hl is not None:
        st.caption(f"{int(hl.sum()):,} of {len(b):,} faces highlighted ({hl.mean():.1%}).")
    return hl


def _find_file(bundle, text: str) -> int | None:
    """The row of a file name (its extension and leading zeros optional: 000123.jpg, 000123, 123.jpg) or of a
    plain row number (digits without leading zeros)."""
    if text.isdigit() and not text.startswith("0"):
        return int(text) if int(text) < len(bundle) else None
    stem = text.rsplit(".", 1)[0].lstrip("0")
    for i, name in enumerate(bundle.filenames):
        if name == text or name.rsplit(".", 1)[0].lstrip("0") == stem:
            return i
    return None
