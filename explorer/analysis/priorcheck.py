"""Does the aggregate posterior fill the prior? The numbers behind the "Prior holes" view.

The VAE's prior is p(z) = N(0, I); the decoder is trained on z ~ q(z|x) for data x, i.e. on the
aggregate posterior q(z) = E_x q(z|x). Where q(z) leaves regions of the prior empty ("holes"), a
prior sample lands where the decoder never trained (Rosca et al. 2018, "Distribution matching in
variational inference"; Ghosh et al. 2020). Three checks, all from the analysis bundle:
- per dimension, Var_q(z_d) = Var_x(μ_d) + E_x[σ²_d] (law of total variance); ≈ 1 when q fills the
  prior along that axis, < 1 when the encodings occupy only part of it;
- the norm: under the prior ‖z‖ follows the χ distribution with D degrees of freedom, sharply
  concentrated near √D; the encodings' ‖μ‖ against it;
- the share of prior samples that fall where the fitted density of the encodings is lower than at
  almost every encoding.
Pure numpy.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["aggregate_variance", "chi_pdf", "chi_mean", "norm_histogram", "nearest_distances", "hole_fraction"]


def aggregate_variance(mu_variance, posterior_var_mean=None) -> np.ndarray:
    """(D,) Var_q(z_d) = Var_x(μ_d) + E_x[σ²_d(x)]. Without E[σ²] (old bundles) only Var_x(μ_d), which
    is then a lower bound: the encodings' means alone, without the posterior's own spread."""
    v = np.asarray(mu_variance, np.float64)
    if posterior_var_mean is None:
        return v.copy()
    s = np.asarray(posterior_var_mean, np.float64)
    if s.shape != v.shape:
        raise ValueError(f"Var(mu) {v.shape} and mean posterior variance {s.shape} differ in shape")
    return v + s


def chi_pdf(r, k: int) -> np.ndarray:
    """Density of ‖z‖ for z ~ N(0, I_k), the χ distribution with k degrees of freedom:
        f(r; k) = r^(k−1) e^(−r²/2) / (2^(k/2 − 1) Γ(k/2)),   r ≥ 0,
    evaluated in logs (r^127 overflows nothing that way)."""
    r = np.asarray(r, np.float64)
    k = int(k)
    if k < 1:
        raise ValueError(f"degrees of freedom must be ≥ 1, got {k}")
    out = np.zeros_like(r)
    pos = r > 0
    log_norm = (k / 2 - 1) * math.log(2) + math.lgamma(k / 2)
    out[pos] = np.exp((k - 1) * np.log(r[pos]) - r[pos] ** 2 / 2 - log_norm)
    if k == 1:
        out[r == 0] = math.sqrt(2 / math.pi)
    return out


def chi_mean(k: int) -> float:
    """E‖z‖ = √2 Γ((k+1)/2) / Γ(k/2) for z ~ N(0, I_k) (≈ √(k − ½) for large k)."""
    return math.sqrt(2) * math.exp(math.lgamma((k + 1) / 2) - math.lgamma(k / 2))


def norm_histogram(z, bins) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ‖z‖ over rows of z (N,D), normalised as a density: (counts per unit length, edges)."""
    norms = np.linalg.norm(np.asarray(z, np.float64), axis=1)
    density, edges = np.histogram(norms, bins=bins, density=True)
    return density, edges


def nearest_distances(points, encodings, chunk: int = 512) -> np.ndarray:
    """(n,) Euclidean distance from each point (n,D) to its nearest encoding (N,D), in chunks.
    |a − b|² = |a|² + |b|² − 2 a·b, clipped at 0 against rounding."""
    p = np.asarray(points, np.float64)
    e = np.asarray(encodings, np.float64)
    e2 = (e * e).sum(1)
    out = np.empty(len(p))
    for s in range(0, len(p), chunk):
        q = p[s:s + chunk]
        d2 = (q * q).sum(1)[:, None] + e2[None, :] - 2 * q @ e.T
        out[s:s + chunk] = np.sqrt(np.maximum(d2.min(1), 0))
    return out


def hole_fraction(sample_log_density, encoding_log_density, quantile: float = 0.01) -> tuple[float, float]:
    """(share of samples below the threshold, threshold): the threshold is the ``quantile`` of the fitted
    log-density over the encodings; a sample below it lies where fewer than that share of the real
    encodings are as unlikely, i.e. in a hole of the aggregate posterior."""
    thr = float(np.quantile(np.asarray(encoding_log_density, np.float64), quantile))
    return float(np.mean(np.asarray(sample_log_density) < thr)), thr
