"""The explorer's view state <-> URL query parameters, so that a link reproduces the same image.

Pure functions (no Streamlit): ``encode(state)`` gives the query parameters, leaving out values at
their defaults to keep links short; ``decode(params, ...)`` validates every parameter against the
loaded model and, for each one that is malformed, keeps the default and says so in a message.

Faces are referred to by a short text (``FaceRef``):
    zero                      z = 0, the prior's mean
    sample:SEED:INDEX:TAU     face INDEX of the grid drawn from N(0, TAU^2 I) with SEED
    fitted:SEED:INDEX:TAU     face INDEX of the grid drawn from the fitted density of the encodings (explorer.analysis.density)
    row:INDEX                 the encoding of row INDEX of the checkpoint's analysis bundle
    z:BASE64                  the latent vector itself as little-endian float16 (an uploaded photo)
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field, fields, replace
from typing import Mapping, Sequence

import numpy as np



@dataclass(frozen=True)
class View:
    """One view of the app: its id in the URL (``view=``), its tab's label, and the module of ``explorer.ui``
    that draws it (with the function ``<module>_view``, or ``map_view`` for ``mapview``)."""
    id: str
    label: str
    module: str

    @property
    def function(self) -> str:
        return "map_view" if self.module == "mapview" else f"{self.module}_view"


# The one list of views, in tab order. Labels short enough that all ten tabs fit the tab bar at 1280×720 (a
# projector) beside the sidebar: with "Attribute arithmetic", "Dimensions × attributes" and "Compare
# checkpoints" the last two hid behind an arrow.
VIEWS = (
    View("sample", "Sample", "sample"),
    View("sliders", "Latent sliders", "sliders"),
    View("map", "Map", "mapview"),
    View("arithmetic", "Arithmetic", "arithmetic"),
    View("interpolate", "Interpolation", "interpolate"),
    View("reconstruct", "Reconstruction", "reconstruct"),
    View("diagnostics", "Diagnostics", "diagnostics"),
    View("dimattr", "Dims × attributes", "dimattr"),
    View("holes", "Prior holes", "holes"),
    View("compare", "Compare", "compare"),
)
VIEW_IDS = tuple(v.id for v in VIEWS)
PROJECTIONS = ("tsne", "pca")
DIRECTIONS = ("balanced", "held", "mean")
COLOR_EXTRA = ("none", "kl", "mse", "typ")  # besides the attribute names; typ: typicality (explorer.analysis.typicality)
OWN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")  # a direction of the user's own, as edits name it
HL_ITEMS = 64  # map highlight: attribute conditions and row ranges in one link
DENSITIES = ("prior", "fitted")  # where the Sample view draws z from: N(0, τ²I) or the fitted density
SCORES = ("auc", "corr")  # dimension × attribute score: ROC AUC or point-biserial correlation
GRID_RANGE = (1, 16)  # rows (dimensions) of the traversal grid

SEED_MAX = 2**32 - 1
TAU_RANGE = (0.0, 2.0)
N_RANGE = (4, 64)
STEPS_RANGE = (3, 16)
T_RANGE = (0.0, 1.0)  # interpolation: the position along the path, base face 0 to end face 1
Z_RANGE = (-5.0, 5.0)  # slider values
WEIGHT_RANGE = (-12.0, 12.0)  # attribute weights, in latent units (class gaps are 2-8 in trained models)
DEFAULT_TAU = 1.0  # the sampling temperature a fresh page uses, for its samples and its default faces
DECIMALS = 4  # floats are stored rounded, so that encode/decode round-trips exactly
CHECKPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.pt$")  # a plain file name, no path
# the picker's id of a checkpoint: its name in checkpoints/, or "FOLDER/NAME" or "FOLDER/RUN/NAME" for one
# in a --checkpoint-dir folder (FOLDER~2 where two folders share a name); a name for the app to look up,
# never opened as a path, and no part of it can be "." or ".."
CHECKPOINT_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._~-]{0,100}/){0,2}[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.pt$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")  # a dataset image's name in a bundle, e.g. 000123.jpg
GAP_RANGE = (-3.0, 3.0)  # compare view: an edit's weight in class gaps of each model


def q(x: float) -> float:
    """Round a float the way the URL stores it (the UI stores state rounded, so what a link
    shows is exactly what the person saw)."""
    return round(float(x), DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _fmt(x: float) -> str:
    return np.format_float_positional(q(x), trim="-")


@dataclass(frozen=True)
class FaceRef:
    kind: str = "zero"  # zero | sample | fitted | row | z
    seed: int = 0
    index: int = 0
    tau: float = 1.0
    z: tuple = ()  # float16-rounded values for kind "z"

    @staticmethod
    def sample(seed: int, index: int, tau: float) -> "FaceRef":
        return FaceRef("sample", seed=int(seed), index=int(index), tau=q(tau))

    @staticmethod
    def fitted(seed: int, index: int, tau: float) -> "FaceRef":
        """Face ``index`` of the grid the Sample view draws from the fitted density with ``seed`` and τ."""
        return FaceRef("fitted", seed=int(seed), index=int(index), tau=q(tau))

    @staticmethod
    def row(index: int) -> "FaceRef":
        return FaceRef("row", index=int(index))

    @staticmethod
    def vector(z) -> "FaceRef":
        """A literal vector, rounded to float16 now, so the face shown equals the face linked."""
        return FaceRef("z", z=tuple(float(v) for v in np.asarray(z, np.float32).astype(np.float16)))

    def to_text(self) -> str:
        if self.kind == "zero":
            return "zero"
        if self.kind in ("sample", "fitted"):
            return f"{self.kind}:{self.seed}:{self.index}:{_fmt(self.tau)}"
        if self.kind == "row":
            return f"row:{self.index}"
        raw = np.asarray(self.z, np.float16).astype("<f2").tobytes()
        return "z:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def describe(self) -> str:
        if self.kind == "zero":
            return "z = 0 (the mean face)"
        if self.kind == "sample":
            return f"sample #{self.index + 1} of seed {self.seed}, τ = {_fmt(self.tau)}"
        if self.kind == "fitted":
            return f"fitted-density sample #{self.index + 1} of seed {self.seed}, τ = {_fmt(self.tau)}"
        if self.kind == "row":
            return f"encoded dataset face, row {self.index}"
        return "an encoded photo"


def parse_face(text: str, latent_dim: int, n_rows: int) -> FaceRef:
    """Text -> FaceRef; ValueError with a readable reason when malformed or out of range."""
    kind, _, rest = text.partition(":")
    if kind == "zero" and not rest:
        return FaceRef()
    if kind in ("sample", "fitted"):
        parts = rest.split(":")
        if len(parts) != 3:
            raise ValueError(f"expected {kind}:SEED:INDEX:TAU")
        if kind == "fitted" and n_rows < 2:
            raise ValueError("this checkpoint has no encoded faces to fit a density to")
        seed, index = _int(parts[0], 0, SEED_MAX), _int(parts[1], 0, N_RANGE[1] - 1)
        return (FaceRef.sample if kind == "sample" else FaceRef.fitted)(seed, index, _float(parts[2], *TAU_RANGE))
    if kind == "row":
        index = _int(rest, 0, max(n_rows - 1, 0))
        if n_rows == 0:
            raise ValueError("this checkpoint has no encoded dataset faces")
        return FaceRef.row(index)
    if kind == "z":
        try:
            raw = base64.urlsafe_b64decode(rest + "=" * (-len(rest) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("not base64") from None
        if len(raw) != 2 * latent_dim:
            raise ValueError(f"holds {len(raw) // 2} values, the model has {latent_dim} dimensions")
        z = np.frombuffer(raw, "<f2")
        if not np.all(np.isfinite(z)):
            raise ValueError("holds non-finite values")
        return FaceRef("z", z=tuple(float(v) for v in z))
    raise ValueError("expected zero, sample:SEED:INDEX:TAU, fitted:SEED:INDEX:TAU, row:INDEX or z:BASE64")


def _int(text: str, lo: int, hi: int) -> int:
    try:
        v = int(text.strip())
    except ValueError:
        raise ValueError(f"{short(text)} is not a whole number") from None
    if not lo <= v <= hi:
        raise ValueError(f"{short(v)} is outside {lo}..{hi}")
    return v


def _float(text: str, lo: float, hi: float) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        raise ValueError(f"{short(text)} is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{short(text.strip())} is outside {lo:g}..{hi:g}")
    return q(v)


class _Partial(ValueError):
    """Some items of a list parameter (dims, edit) were refused: ``value`` holds the others."""

    def __init__(self, value: dict, refused: list[str]):
        super().__init__("; ".join(refused))
        self.value = value


def _items(text: str, parse) -> dict:
    """'a:1,b:-2' -> {parse(a, 1)...}: ``parse(key, value)`` -> (key, value) or ValueError. Every item that
    fails is refused with its reason; the others are kept (``_Partial`` carries them). ValueError when
    nothing is left."""
    out, refused = {}, []
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, val = item.rpartition(":")
        try:
            if not sep or not key:
                raise ValueError("not NAME:VALUE")
            k, v = parse(key.strip(), val)
        except ValueError as e:
            refused.append(f"{short(item)}: {e}")
            continue
        out[k] = v
    if refused and not out:
        raise ValueError("; ".join(refused[:3]) + (f"; and {len(refused) - 3} more" if len(refused) > 3 else ""))
    if refused:
        raise _Partial(out, refused[:3] + ([f"and {len(refused) - 3} more"] if len(refused) > 3 else []))
    return out


@dataclass
class ViewState:
    """Everything a link restores. Mutable: the UI keeps one per browser session."""

    view: str = "sample"
    seed: int = 0
    # τ and the Sample view's source are chosen by measurement (bench/bench_quality.py, checkpoints/README.md):
    # the shipped models' samples of the fitted density at τ = 1 are the nearest to real faces (Fréchet
    # distance), nearer than N(0, I)'s, which are nearer than N(0, 0.8²I)'s
    tau: float = DEFAULT_TAU
    n: int = 16
    base: FaceRef = field(default_factory=lambda: FaceRef.sample(0, 0, DEFAULT_TAU))
    dims: dict = field(default_factory=dict)  # slider overrides {dim: value}; other dims follow the base face
    dim: int | None = None  # traversal dimension; None = the most informative one
    edit: dict = field(default_factory=dict)  # {attribute name: weight}
    # "others fixed" by measurement too: at the app's weights it shows an edit nearly as often as "balanced"
    # with less drift of the other attributes (checkpoints/README.md, "The arithmetic view's first face")
    direction: str = "held"
    a: FaceRef = field(default_factory=lambda: FaceRef.sample(1, 0, DEFAULT_TAU))
    b: FaceRef = field(default_factory=lambda: FaceRef.sample(1, 1, DEFAULT_TAU))
    c: FaceRef = field(default_factory=lambda: FaceRef.sample(1, 2, DEFAULT_TAU))
    end: FaceRef = field(default_factory=lambda: FaceRef.sample(0, 1, DEFAULT_TAU))
    steps: int = 8
    t: float = 0.5  # interpolation: the scrubbed position along the path (0 the base face, 1 the end face)
    proj: str = "tsne"
    color: str = "Smiling"
    point: int | None = None  # map: the row whose face is shown
    ckpt: str | None = None  # checkpoint file name inside checkpoints/ (the app checks it is listed)
    faces: bool = False  # map: draw the decoded faces at their points
    cmpa: str | None = None  # compare: checkpoint names in checkpoints/; None = the default pair
    cmpb: str | None = None
    cmpface: str | None = None  # compare: a file name both bundles encoded; None = the default shared face
    cmpattr: str = "Smiling"  # compare: the attribute edited in both models ...
    cmpw: float = 1.0  # ... by this many of each model's class gaps
    density: str = "fitted"  # sample view: "prior" N(0, τ²I) or "fitted" (Ghosh et al. 2020)
    score: str = "auc"  # dimensions × attributes: "auc" or "corr"
    heat: int = 32  # dimensions × attributes: dimensions in the heatmap (most informative first)
    grid: int = 8  # dimensions × attributes: rows of the traversal grid
    hl: str = ""  # map: what to highlight, "Eyeglasses,-Male,10-20" (with, without, rows); see parse_highlight
    mine: dict = field(default_factory=dict)  # directions of the user's own {name: float16-rounded (D,) tuple}
    stage: bool = False  # stage mode: one big face, large controls, the keyboard (explorer.ui.stage)

    def copy(self) -> "ViewState":
        return replace(self, dims=dict(self.dims), edit=dict(self.edit), mine=dict(self.mine))


_FACES = ("base", "a", "b", "c", "end")  # fields that hold a FaceRef; the URL uses the field names


def encode(state: ViewState, defaults: ViewState | None = None) -> dict[str, str]:
    """ViewState -> query parameters; a value equal to its default is left out. ``defaults`` are the
    page's defaults for this model (its demo faces); plain ViewState() when not given."""
    default = defaults or ViewState()
    out: dict[str, str] = {}
    for f in fields(ViewState):
        v = getattr(state, f.name)
        if v == getattr(default, f.name):
            continue
        if f.name in _FACES:
            out[f.name] = v.to_text()
        elif f.name == "dims":
            out[f.name] = ",".join(f"{k}:{_fmt(x)}" for k, x in sorted(v.items()))
        elif f.name == "edit":
            out[f.name] = ",".join(f"{k}:{_fmt(x)}" for k, x in v.items())
        elif f.name == "mine":
            out[f.name] = ",".join(f"{k}~{_b64(z)}" for k, z in v.items())
        elif f.name in ("tau", "cmpw", "t"):
            out[f.name] = _fmt(v)
        elif f.name in ("faces", "stage"):
            out[f.name] = "1" if v else "0"
        else:
            out[f.name] = str(v)
    return out


def decode(params: Mapping[str, str | Sequence[str]], latent_dim: int, attribute_names: Sequence[str],
           n_rows: int = 0, defaults: ViewState | None = None,
           edit_names: Sequence[str] | None = None) -> tuple[ViewState, list[str]]:
    """Query parameters -> (ViewState, messages). Never raises on user input: every malformed or
    out-of-range parameter keeps its default and adds one message that names it. ``edit_names``: what
    an edit may name, the attributes and their kinds (explorer.analysis.kinds); the attributes when not given."""
    s = (defaults or ViewState()).copy()
    messages: list[str] = []
    names = list(attribute_names)
    editable = list(edit_names) if edit_names is not None else names

    def get(name):
        v = params.get(name)
        if isinstance(v, (list, tuple)):
            v = v[-1] if v else None
        return v

    parsers = {
        "view": lambda t: _choice(t, VIEW_IDS),
        "seed": lambda t: _int(t, 0, SEED_MAX),
        "tau": lambda t: _float(t, *TAU_RANGE),
        "n": lambda t: _int(t, *N_RANGE),
        "dims": lambda t: _dims(t, latent_dim),
        "dim": lambda t: _int(t, 0, latent_dim - 1),
        "mine": lambda t: _mine(t, latent_dim, editable),
        # after "mine" (dicts keep their order): an edit may name the user's own directions
        "edit": lambda t: _edit(t, editable + list(s.mine)),
        "hl": lambda t: parse_highlight(t, names, n_rows)[0],
        "direction": lambda t: _choice(t, DIRECTIONS),
        "steps": lambda t: _int(t, *STEPS_RANGE),
        "t": lambda t: _float(t, *T_RANGE),
        "proj": lambda t: _choice(t, PROJECTIONS),
        "color": lambda t: _choice(t, tuple(COLOR_EXTRA) + tuple(names)),
        "point": lambda t: _point(t, n_rows),
        "ckpt": _ckpt,
        "faces": lambda t: _choice(t, ("0", "1")) == "1",
        "stage": lambda t: _choice(t, ("0", "1")) == "1",
        "cmpa": _ckpt,
        "cmpb": _ckpt,
        "cmpface": _file_name,
        "cmpattr": lambda t: _choice(t, tuple(names)),
        "cmpw": lambda t: _float(t, *GAP_RANGE),
        "density": lambda t: _choice(t, DENSITIES),
        "score": lambda t: _choice(t, SCORES),
        "heat": lambda t: _int(t, 1, latent_dim),
        "grid": lambda t: _int(t, GRID_RANGE[0], min(GRID_RANGE[1], latent_dim)),
    }
    for name in _FACES:
        parsers[name] = lambda t: parse_face(t.strip(), latent_dim, n_rows)
    for name, parse in parsers.items():
        text = get(name)
        if text is None:
            continue
        try:
            setattr(s, name, parse(str(text)))
        except _Partial as e:
            setattr(s, name, e.value)
            messages.append(f"URL parameter {name}={short(text)}: kept {', '.join(map(str, e.value))}; "
                            f"ignored {e}.")
        except ValueError as e:
            messages.append(f"URL parameter {name}={short(text)} ignored ({e}); using the default.")
    unknown = sorted(k for k in params if k not in parsers)
    if unknown:
        shown = ", ".join(short(k) for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        messages.append(f"Unknown URL parameters ignored: {shown}.")
    return s, messages


SHORT = 40  # characters of a value or a name that a message quotes: a long link must not flood the page


def short(text, limit: int = SHORT) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")




def _choice(text: str, options: Sequence[str]) -> str:
    t = text.strip()
    if t not in options:
        listed = ", ".join(options[:8]) + (", …" if len(options) > 8 else "")
        raise ValueError(f"expected one of {listed}")
    return t


def _dims(text: str, latent_dim: int) -> dict:
    return _items(text, lambda k, v: (_int(k, 0, latent_dim - 1), _float(v, *Z_RANGE)))


def _edit(text: str, names: list[str]) -> dict:
    def item(k, v):
        if k not in names:
            raise ValueError(f"{short(k)} is not one of the model's attributes")
        return k, _float(v, *WEIGHT_RANGE)
    return _items(text, item)


def _point(text: str, n_rows: int) -> int:
    if n_rows == 0:
        raise ValueError("this checkpoint has no encoded dataset faces")
    return _int(text, 0, n_rows - 1)


def _ckpt(text: str) -> str:
    t = text.strip()
    if not CHECKPOINT_ID.match(t):
        raise ValueError("a checkpoint is named as the picker names it, e.g. celeba64.pt or runs/run1.pt")
    return t


def _b64(z) -> str:
    """(D,) -> little-endian float16, base64 without padding (as z:BASE64 faces are written)."""
    return base64.urlsafe_b64encode(np.asarray(z, np.float16).astype("<f2").tobytes()).decode().rstrip("=")


def vector_text(z) -> tuple:
    """A vector as the state keeps it: rounded to float16 now, so what a link restores is what was used."""
    return tuple(float(v) for v in np.asarray(z, np.float32).astype(np.float16))


def _mine(text: str, latent_dim: int, taken: Sequence[str]) -> dict:
    """'name~BASE64,...' -> {name: vector}: the user's own directions, each a (D,) float16 vector."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, raw = item.partition("~")
        if not sep or not OWN_NAME.match(name):
            raise ValueError("expected NAME~BASE64 items, a name of letters, digits, _ and - (at most 32)")
        if name in taken or name in out:
            raise ValueError(f"{name!r} is already the name of a direction")
        try:
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            raise ValueError(f"{name}: not base64") from None
        if len(data) != 2 * latent_dim:
            raise ValueError(f"{name}: holds {len(data) // 2} values, the model has {latent_dim} dimensions")
        z = np.frombuffer(data, "<f2")
        if not np.all(np.isfinite(z)) or not np.any(z):
            raise ValueError(f"{name}: holds non-finite values or only zeros")
        out[name] = tuple(float(v) for v in z)
    return out


def parse_highlight(text: str, attribute_names: Sequence[str], n_rows: int) -> tuple[str, list, list]:
    """Map highlight 'Eyeglasses,-Male,12,40-45' -> (the text normalised, [(attribute, wanted 0/1)], [(first, last)
    row ranges]). A face is highlighted when it has every attribute condition (if any) or is in a range."""
    conds, ranges, parts = [], [], []
    items = [s.strip() for s in text.split(",") if s.strip()]
    if len(items) > HL_ITEMS:
        raise ValueError(f"at most {HL_ITEMS} items")
    for item in items:
        lo, dash, hi = item.partition("-")
        if lo.isdigit() and (not dash or hi.isdigit()):
            a, b = int(lo), int(hi) if dash else int(lo)
            if not 0 <= a <= b < n_rows:
                raise ValueError(f"rows {item[:40]!r} are outside 0..{max(n_rows - 1, 0)}")
            ranges.append((a, b))
            parts.append(f"{a}-{b}" if b > a else str(a))
            continue
        without = item.startswith("-")
        name = item[1:].strip() if without else item
        if name not in attribute_names:
            raise ValueError(f"{name[:40]!r} is neither a row, a range of rows nor an attribute")
        conds.append((name, 0 if without else 1))
        parts.append(("-" if without else "") + name)
    return ",".join(parts), conds, ranges


def _file_name(text: str) -> str:
    t = text.strip()
    if not FILE_NAME.match(t):
        raise ValueError("expected a dataset file name such as 000123.jpg")
    return t
