"""How typical a latent z is for a model: a percentile against the model's own encodings.

A face edited by sliders, attribute weights or an interpolation can leave the region where the
decoder saw data, and then decodes to noise or a blur without any sign on the page. The score here
says how far out it is, in terms a user can read: the percentile of z's typicality among the
encodings μ(x) of the bundle's images. 50 is a middling encoding; 0 means less typical than every
encoding; below ``ATYPICAL`` (1: past the 99th percentile of atypicality) the page warns.

Typicality is the log-density under the bundle's fitted mixture (``explorer.analysis.density``, Ghosh et al.
2020 §4), the density the encodings were fitted by: the score of z is compared with the scores of
the encodings themselves, so the percentile does not depend on the density's scale or dimension. A
bundle without a density (written before densities existed) falls back to the distance to the
nearest encoding, compared with each encoding's distance to its nearest other encoding.

No Streamlit and no torch here.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ATYPICAL", "WARNING", "Reference", "reference", "percentile", "scores", "warning"]

ATYPICAL = 1.0  # percentile below which z is flagged: less typical than 99 % of the encodings


class _Whitened:
    """A fitted mixture's log-density with each component's L⁻¹ computed once: the same
    log N(z; m, LLᵀ) = −½ |L⁻¹(z − m)|² − Σ log L_ii − (D/2) log 2π as GaussianMixtureDensity.log_prob, as
    products instead of a triangular solve per call (one face: 10 solves of 128 × 128 took milliseconds, more
    on a busy machine; the page asks for it after every release, and for 500 points per slider view)."""

    def __init__(self, density):
        chol = np.asarray(density.chol, np.float64)
        self.inv = np.linalg.inv(chol)  # (K,D,D) lower triangular
        self.means = np.asarray(density.means, np.float64)
        w = np.asarray(density.weights, np.float64)
        with np.errstate(divide="ignore"):
            self.const = np.log(w) - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1) \
                - 0.5 * density.dim * math.log(2 * math.pi)  # (K,)

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        out = np.empty((len(self.const), len(z)))
        for k in range(len(self.const)):
            y = (z - self.means[k]) @ self.inv[k].T  # (N,D) = (L⁻¹(z − m))ᵀ
            out[k] = self.const[k] - 0.5 * (y * y).sum(1)
        top = out.max(0)
        return top + np.log(np.exp(out - top).sum(0))


@dataclass(frozen=True)
class Reference:
    """The encodings' own scores (higher = more typical), sorted ascending, and how they were scored."""

    method: str  # "density": log p(z) in nats under the fitted mixture; "distance": −‖z − nearest μ‖
    sorted_scores: np.ndarray  # (N,) float64
    whitened: _Whitened | None = field(default=None, repr=False)  # the density, ready to score (method "density")

    def percentile(self, s) -> np.ndarray:
        """Percent of encodings whose score is ≤ s, for each score: (N,) in [0, 100]."""
        s = np.atleast_1d(np.asarray(s, np.float64))
        return 100.0 * np.searchsorted(self.sorted_scores, s, side="right") / len(self.sorted_scores)


def _nearest_distance(z: np.ndarray, mu: np.ndarray, exclude_self: bool = False, chunk: int = 1024) -> np.ndarray:
    """(N,) Euclidean distance from each row of z to its nearest row of mu (another row when ``exclude_self``,
    for z = mu). Chunked so that 5k × 5k encodings need only chunk × 5k floats at a time."""
    mu = np.asarray(mu, np.float64)
    mu_sq = (mu * mu).sum(1)
    out = np.empty(len(z))
    for start in range(0, len(z), chunk):
        block = np.asarray(z[start:start + chunk], np.float64)
        d2 = (block * block).sum(1)[:, None] + mu_sq[None] - 2.0 * block @ mu.T  # (B,M) ‖a−b‖² = ‖a‖²+‖b‖²−2a·b
        if exclude_self:
            d2[np.arange(len(block)), start + np.arange(len(block))] = np.inf
        out[start:start + len(block)] = np.sqrt(np.maximum(d2.min(1), 0.0))
    return out


def _method(bundle) -> str:
    return "density" if getattr(bundle, "density", None) is not None else "distance"


def scores(bundle, z) -> np.ndarray:
    """(N,) typicality scores of z (N,D) or (D,), on the scale of ``reference(bundle)``."""
    z = np.atleast_2d(np.asarray(z, np.float64))
    if z.shape[1] != bundle.mu.shape[1]:
        raise ValueError(f"z has {z.shape[1]} dimensions, the bundle's encodings {bundle.mu.shape[1]}")
    ref = reference(bundle)
    if ref.whitened is not None:
        return ref.whitened.log_prob(z)
    return -_nearest_distance(z, bundle.mu)


# id(bundle) -> (weak reference to it, its Reference): computed once per bundle (a full pass over the
# encodings). A bundle is a mutable dataclass and not hashable, hence ids guarded by a weak reference.
_CACHE: dict[int, tuple[weakref.ref, Reference]] = {}


def reference(bundle) -> Reference:
    """The encodings' own scores for ``bundle``, computed on first use and kept while the bundle lives."""
    key = id(bundle)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is bundle:
        return hit[1]
    mu = np.asarray(bundle.mu, np.float64)
    if len(mu) < 2:
        raise ValueError(f"need at least 2 encodings to judge typicality, the bundle has {len(mu)}")
    if _method(bundle) == "density":
        whitened = _Whitened(bundle.density)
        own = whitened.log_prob(mu)
    else:
        whitened, own = None, -_nearest_distance(mu, mu, exclude_self=True)
    ref = Reference(_method(bundle), np.sort(own), whitened)
    _CACHE[key] = (weakref.ref(bundle, lambda _r, k=key: _CACHE.pop(k, None)), ref)
    return ref


def percentile(bundle, z) -> np.ndarray:
    """How typical each z is: (N,) float in [0, 100], the percent of the bundle's encodings that are
    no more typical than z (log-density under the fitted mixture, or nearness to the nearest encoding
    where the bundle has no density)."""
    return reference(bundle).percentile(scores(bundle, z))


WARNING = ("Outside the data: this z is less typical than 99 % of the encodings, so the decoder is guessing "
           "and the face may show it.")


def warning(p: float) -> str | None:
    """The one-line warning for a face at percentile ``p``, or None when it is typical enough."""
    return WARNING if p < ATYPICAL else None
