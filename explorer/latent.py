"""Latent-space math for the explorer: sampling, interpolation, attribute directions and edits.

Pure numpy (no Streamlit, no torch): every function takes and returns arrays, so the views only
draw and the tests check the math on its own. Latent vectors are float32; shapes are written as
(N,D) for N vectors of dimension D and (K,D) for K attribute directions.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

__all__ = [
    "sample_z", "sample_face", "lerp", "slerp", "interpolate", "unit", "edit", "strength_strip", "analogy",
    "roc_auc", "direction_aucs", "mean_difference_directions", "attribute_directions", "held_directions",
    "direction_of", "heldout_direction_aucs", "dims_by_kl", "dims_by_information",
    "traversal", "selection_mean", "face_vector", "EDIT_START_SHARES", "EDIT_SEEN_SHARES", "EDIT_SEEN_P",
    "start_shares",
]

# The weight a newly chosen edit starts at, in shares of its attribute's class gap, largest first: the app
# takes the first share whose edited face stays typical (explorer.ui.arithmetic.start_weight). Chosen by the
# "first face" table of bench/bench_quality.py (checkpoints/README.md), where the judge sees each share's edit.
EDIT_START_SHARES = (2.0, 1.5, 1.0, 0.75, 0.5, 0.25)
# Where the checkpoint carries an attribute classifier, a face that shows the edit at a smaller step starts
# there: the smallest of these shares at which the classifier sees the edit (P above EDIT_SEEN_P; below
# 1 − EDIT_SEEN_P when taking away) and the face stays typical. Same faces shown, less drift of the other
# attributes (bench/bench_directions.py, checkpoints/README.md).
EDIT_SEEN_SHARES = (0.5, 0.75, 1.0, 1.5, 2.0)
EDIT_SEEN_P = 0.9


def start_shares(typical: dict, seen: dict | None = None, shares=EDIT_START_SHARES) -> np.ndarray:
    """Per face, the share of its class gap a newly chosen edit starts at. ``typical[s]`` (N,) bool: the face
    edited by share s stays typical, for every s of ``shares`` (the typical rule's ladder, largest first; the
    app's is EDIT_START_SHARES) and, with ``seen``, of EDIT_SEEN_SHARES; ``seen[s]`` (N,) bool: the classifier
    sees the edit at share s. The smallest seen share that stays typical; else the largest of ``shares`` that
    stays typical; else the smallest of them."""
    n = len(np.asarray(typical[shares[0]]))
    pick = np.full(n, shares[-1])
    for s in reversed(shares):
        pick = np.where(typical[s], s, pick)
    if seen is not None:
        for s in reversed(EDIT_SEEN_SHARES):
            pick = np.where(np.asarray(seen[s]) & np.asarray(typical[s]), s, pick)
    return pick


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------

def sample_z(n: int, dim: int, seed: int, tau: float = 1.0) -> np.ndarray:
    """n draws from N(0, tau^2 I): (n,D) float32.

    The generator fills row by row, so row i is the same whatever n is (as long as n > i): a face
    picked from a grid of 16 stays the same face in a grid of 64, and ``sample_face`` can rebuild it.
    """
    rng = np.random.default_rng(int(seed))
    return (rng.standard_normal((int(n), int(dim)), dtype=np.float64) * float(tau)).astype(np.float32)


def sample_face(seed: int, index: int, dim: int, tau: float = 1.0) -> np.ndarray:
    """Row ``index`` of ``sample_z(index + 1, dim, seed, tau)``: (D,)."""
    return sample_z(int(index) + 1, dim, seed, tau)[int(index)]


# --------------------------------------------------------------------------------------------
# Interpolation
# --------------------------------------------------------------------------------------------

def _ts(t) -> np.ndarray:
    return np.atleast_1d(np.asarray(t, dtype=np.float64))


def lerp(a, b, t) -> np.ndarray:
    """(1 - t) a + t b for each t: (T,D)."""
    a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), _ts(t)[:, None]
    return ((1 - t) * a + t * b).astype(np.float32)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation (White 2016, "Sampling Generative Networks", eq. 1): (T,D).

        slerp(a, b; t) = sin((1 - t) θ) / sin θ · a + sin(t θ) / sin θ · b,   cos θ = â · b̂

    In high dimension almost all of N(0, I)'s mass lies near the sphere of radius sqrt(D), and the
    straight line between two samples passes well inside it (its midpoint has norm about
    sqrt(D/2)): lerp shows the decoder atypical latents, which look blurred and averaged. When
    |a| = |b| slerp stays on that sphere. For (anti)parallel or zero vectors θ is undefined and
    the formula degenerates; there we fall back to lerp.
    """
    a64, b64, t = np.asarray(a, np.float64), np.asarray(b, np.float64), _ts(t)[:, None]
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    if na < 1e-8 or nb < 1e-8:
        return lerp(a, b, t[:, 0])
    cos = float(np.clip(a64 @ b64 / (na * nb), -1.0, 1.0))
    theta = np.arccos(cos)
    s = np.sin(theta)
    if s < 1e-6:
        return lerp(a, b, t[:, 0])
    return (np.sin((1 - t) * theta) / s * a64 + np.sin(t * theta) / s * b64).astype(np.float32)


def interpolate(a, b, steps: int, method: str = "slerp") -> np.ndarray:
    """``steps`` evenly spaced points from a to b inclusive: (steps,D)."""
    t = np.linspace(0.0, 1.0, int(steps))
    if method == "lerp":
        return lerp(a, b, t)
    if method == "slerp":
        return slerp(a, b, t)
    raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")


# --------------------------------------------------------------------------------------------
# Directions and edits
# --------------------------------------------------------------------------------------------

def unit(v, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to length 1 ((D,) or (K,D)); an all-zero row (an attribute absent from the data)
    stays zero rather than becoming NaN."""
    v = np.asarray(v, np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > eps, v / np.maximum(n, eps), 0.0).astype(np.float32)


def edit(z, directions, weights) -> np.ndarray:
    """z + Σ_k w_k d_k with the directions made unit length: (D,) -> (D,), (N,D) -> (N,D).

    With unit directions a weight is a distance in latent units (the prior's standard deviation),
    so weights of different attributes are comparable. ``directions`` (K,D), ``weights`` (K,).
    """
    z = _f32(z)
    d = unit(np.atleast_2d(directions))
    w = np.asarray(weights, np.float32).reshape(-1)
    if len(w) != len(d):
        raise ValueError(f"{len(w)} weights for {len(d)} directions")
    return (z + w @ d).astype(np.float32)


def strength_strip(z, delta, strengths: Sequence[float]) -> np.ndarray:
    """z + s · delta for each strength s: (T,D). Shows how an edit grows, and where it breaks."""
    s = np.asarray(strengths, np.float32)[:, None]
    return (_f32(z)[None, :] + s * _f32(delta)[None, :]).astype(np.float32)


def analogy(a, b, c) -> np.ndarray:
    """A - B + C (Mikolov-style word analogies, applied to faces by White 2016): what C becomes when
    it changes the way B changes into A."""
    return (_f32(a) - _f32(b) + _f32(c)).astype(np.float32)


def mean_difference_directions(mu, attributes) -> np.ndarray:
    """(N,D) encodings, (N,K) 0/1 labels -> (K,D): mean(mu | attribute) - mean(mu | not).

    The same estimator train/export.py stores in the bundle; here for held-out scoring. A column
    with only one class gives a zero row.
    """
    mu = np.asarray(mu, np.float64)
    a = np.asarray(attributes).astype(bool)
    pos = a.sum(0)
    neg = len(a) - pos
    sum_pos = a.T.astype(np.float64) @ mu  # (K,D)
    total = mu.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = sum_pos / pos[:, None] - (total[None, :] - sum_pos) / neg[:, None]
    d[(pos == 0) | (neg == 0)] = 0.0
    return d.astype(np.float32)


def held_directions(mu, attributes) -> np.ndarray:
    """(N,D) encodings, (N,K) 0/1 labels -> (K,D): the change of the mean encoding when one attribute
    flips and the other K-1 stay as they are.

    One least-squares regression of mu on all the labels at once (with an intercept); row k is the
    coefficient of label k. Where attributes travel together (Male with Goatee, Smiling with
    High_Cheekbones), the mean difference carries all of them and the balanced kind removes only the
    most correlated one; here every other attribute is held. A column with only one class gives a zero row.
    """
    mu = np.asarray(mu, np.float64)
    a = np.asarray(attributes).astype(bool)
    varies = a.any(0) & ~a.all(0)
    x = np.hstack([a[:, varies].astype(np.float64), np.ones((len(a), 1))])
    coef, *_ = np.linalg.lstsq(x, mu, rcond=None)
    out = np.zeros((a.shape[1], mu.shape[1]))
    out[varies] = coef[:-1]
    return out.astype(np.float32)


def direction_of(kind: str, mu, attributes, j: int) -> np.ndarray:
    """(N,D) encodings, (N,K) 0/1 labels -> (D,): attribute j's direction of one kind, "mean" (the plain
    mean difference), "balanced" (White 2016) or "held" (all other attributes fixed). Only j's is computed
    where the estimator allows: balancing all 40 to keep one took 40 times as long."""
    if kind == "mean":
        return mean_difference_directions(mu, np.asarray(attributes)[:, [j]])[0]
    if kind == "balanced":
        return attribute_directions(mu, attributes, columns=[j])[1][j]
    if kind == "held":
        return held_directions(mu, attributes)[j]  # one regression on all labels at once
    raise ValueError(f"unknown kind of direction {kind!r}: expected mean, balanced or held")


def attribute_directions(mu: np.ndarray, attrs: np.ndarray, columns=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Per attribute: mean(mu | a) - mean(mu | not a), and White's (2016) bias-corrected variant (for the
    attributes in ``columns`` only when given; the others' balanced rows are left plain).

    White balances a correlated label by replicating data so that it is equally common among the
    images with and without the attribute; that equals averaging the mean difference within each
    stratum of the confounder. We use, per attribute, the other attribute most correlated with it
    (for Smiling that is High_Cheekbones; for Heavy_Makeup, Male).
    """
    a = attrs.astype(bool)
    plain = mean_difference_directions(mu, a)
    balanced = plain.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(a.T.astype(np.float64)))
    np.fill_diagonal(corr, 0)
    confounders = [int(np.argmax(np.abs(corr[j]))) for j in range(a.shape[1])]
    for j in range(a.shape[1]) if columns is None else columns:
        c = confounders[j]
        diffs = [mean_difference_directions(mu[s], a[s][:, [j]])[0] for s in (a[:, c], ~a[:, c])
                 if a[s, j].any() and (~a[s, j]).any()]
        if diffs:
            balanced[j] = np.mean(diffs, axis=0)
    return plain, balanced, confounders


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (what the Mann-Whitney statistic needs)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(starts) - 1  # group id of each sorted element
    first = np.flatnonzero(starts)  # 0-based start of each tie group
    counts = np.diff(np.r_[first, len(xs)])
    avg = first + (counts + 1) / 2.0  # average of ranks first+1 .. first+count
    ranks = np.empty(len(x), np.float64)
    ranks[order] = avg[group]
    return ranks


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve from ranks (Mann-Whitney U / (n1 n0)); ties count one half.

    The probability that a random positive scores above a random negative: 0.5 is chance, 1 is
    perfect separation. NaN when one class is empty.
    """
    s = np.asarray(scores, np.float64).reshape(-1)
    y = np.asarray(labels).astype(bool).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} differ in length")
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = _average_ranks(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def direction_aucs(mu, attributes, directions) -> np.ndarray:
    """For each attribute k, the ROC AUC of the projection mu · d̂_k against label k: (K,).

    How well one straight direction separates the faces with the attribute from those without:
    near 1, adding the direction reliably adds the attribute; near 0.5, it is mostly noise.
    """
    mu = np.asarray(mu, np.float32)
    a = np.asarray(attributes)
    proj = mu @ unit(directions).T  # (N,K)
    return np.array([roc_auc(proj[:, k], a[:, k]) for k in range(a.shape[1])])


def heldout_direction_aucs(mu, attributes, seed: int = 0) -> np.ndarray:
    """Two-fold cross-fitted AUC: directions from one random half score the other half, and back;
    the two AUCs are averaged: (K,). The bundle's directions were fitted on the same encodings the
    plain AUC scores, so this is the honest figure for a face the directions have not seen."""
    mu = np.asarray(mu, np.float32)
    a = np.asarray(attributes)
    fold = np.random.default_rng(seed).permutation(len(mu)) % 2 == 0
    out = []
    for train in (fold, ~fold):
        d = mean_difference_directions(mu[train], a[train])
        out.append(direction_aucs(mu[~train], a[~train], d))
    if len(mu) < 4:
        return np.full(a.shape[1], np.nan)
    with warnings.catch_warnings():  # an attribute absent from both folds is NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(out), axis=0)


# --------------------------------------------------------------------------------------------
# Dimensions, traversals, selections
# --------------------------------------------------------------------------------------------

def dims_by_information(bundle, dim: int) -> tuple[np.ndarray, str]:
    """Dimension indices, most informative first, and a sentence saying by what: the mean KL per dimension;
    for a model without logvar (no KL) the variance of μ across faces, the activity of Burda et al. 2016;
    without a bundle, natural order."""
    if bundle is None:
        return np.arange(dim), "This checkpoint has no analysis bundle: natural order."
    if bundle.kl_per_dim is not None:
        return dims_by_kl(bundle.kl_per_dim), "Most informative dimensions first (mean KL per dimension over the encoded faces)."
    return (dims_by_kl(bundle.mu_variance),
            "Most active dimensions first (variance of μ over the encoded faces: this model gives no logvar, so no KL).")


def dims_by_kl(kl_per_dim) -> np.ndarray:
    """Dimension indices, most informative (largest mean KL) first; ties keep index order."""
    kl = np.nan_to_num(np.asarray(kl_per_dim, np.float64), nan=-np.inf)
    return np.argsort(-kl, kind="stable")


def traversal(z, dim: int, values) -> np.ndarray:
    """Copies of z with coordinate ``dim`` set to each value: (T,D)."""
    z = _f32(z)
    out = np.repeat(z[None, :], len(values), axis=0)
    out[:, int(dim)] = np.asarray(values, np.float32)
    return out


def selection_mean(mu, rows) -> np.ndarray:
    """Mean encoding of the selected rows: (D,). Raises ValueError on an empty selection."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if rows.size == 0:
        raise ValueError("empty selection")
    return np.asarray(mu, np.float64)[rows].mean(0).astype(np.float32)


def face_vector(ref, latent_dim: int, mu=None) -> np.ndarray:
    """The latent vector (D,) a face reference names (``explorer.urlstate.FaceRef``, duck-typed):
    kind 'zero', 'sample' (seed, index, tau), 'row' (a row of the bundle's encodings ``mu``) or
    'z' (the vector itself, e.g. an encoded upload)."""
    if ref.kind == "zero":
        return np.zeros(latent_dim, np.float32)
    if ref.kind == "sample":
        return sample_face(ref.seed, ref.index, latent_dim, ref.tau)
    if ref.kind == "row":
        if mu is None or not 0 <= ref.index < len(mu):
            raise ValueError(f"no encoded face number {ref.index}")
        return np.asarray(mu[ref.index], np.float32)
    if ref.kind == "z":
        z = _f32(ref.z)
        if z.shape != (latent_dim,):
            raise ValueError(f"latent vector has {z.size} values, the model needs {latent_dim}")
        return z
    raise ValueError(f"unknown face kind {ref.kind!r}")


def demo_rows(recon_mse, attributes, partition, attribute_names) -> dict:
    """Default faces for a fresh page, as bundle rows: the best-reconstructed held-out faces, and for
    the analogy a smiling man (A), a man not smiling (B) and a woman not smiling (C), so that
    A − B + C shows a smiling woman. Keys base, a, b, c, end; an empty dict for an empty bundle."""
    err = np.asarray(recon_mse, np.float64)
    if len(err) == 0:
        return {}
    a = np.asarray(attributes).astype(bool)
    names = list(attribute_names)
    held_out = np.asarray(partition) != 0
    pool = held_out if held_out.any() else np.ones(len(err), bool)

    def best(mask, skip=()):
        m = pool & mask
        m[list(skip)] = False
        if not m.any():
            m = pool.copy()
            m[list(skip)] = False
        return int(np.flatnonzero(m)[np.argmin(err[m])]) if m.any() else 0

    everyone = np.ones(len(err), bool)
    if "Male" in names and "Smiling" in names:
        male, smile = a[:, names.index("Male")], a[:, names.index("Smiling")]
        rows = {"a": best(male & smile), "b": best(male & ~smile), "c": best(~male & ~smile)}
    else:
        rows = {"a": best(everyone), "b": best(everyone, [best(everyone)]), "c": best(everyone)}
    rows["base"] = best(everyone)
    rows["end"] = best(everyone, [rows["base"]])
    return rows
