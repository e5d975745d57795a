"""The fitted ("ex-post") density of the encodings: a Gaussian mixture fitted to the posterior means μ.

Ghosh et al. 2020 ("From variational to deterministic autoencoders", §4) sample a trained
autoencoder by fitting a density to its encodings after training, instead of drawing from the
prior: when the aggregate posterior q(z) = E_x q(z|x) does not fill N(0, I), prior samples land in
the prior's "holes" where the decoder saw no data, and decode to implausible faces. A mixture of
about ten full-covariance Gaussians was their choice for CelebA; it is ours.

No Streamlit and no torch here. The mixture is kept as plain arrays (weights, means, lower
Cholesky factors of the covariances), so it travels inside the checkpoint's analysis bundle and
loads with ``torch.load(weights_only=True)``. Fitting uses scikit-learn (imported only to fit).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from explorer.latent import sample_z

__all__ = ["GaussianMixtureDensity", "fit_density", "DEFAULT_COMPONENTS", "DEFAULT_REG"]

DEFAULT_COMPONENTS = 10  # Ghosh et al. 2020 use a 10-component full-covariance GMM on CelebA
# Ridge added to every covariance, relative to the mean per-dimension variance of μ (scikit-learn's
# reg_covar is absolute; encodings of different models differ in scale). With N ≈ 5k encodings,
# a 10-way split leaves ≈ 500 points per 128×128 covariance: estimable, but its small eigenvalues
# are noisy and the ridge keeps each factor well conditioned. Chosen on held-out log-likelihood
# (bench/bench_density.py).
DEFAULT_REG = 1e-3


@dataclass
class GaussianMixtureDensity:
    """p(z) = Σ_k w_k N(z; m_k, L_k L_kᵀ). ``weights`` (K,), ``means`` (K,D), ``chol`` (K,D,D) lower."""

    weights: np.ndarray
    means: np.ndarray
    chol: np.ndarray
    info: dict = field(default_factory=dict)  # how it was fitted: k, covariance, reg, n, seconds, …

    def __post_init__(self):
        self.weights = np.asarray(self.weights, np.float64)
        self.means = np.asarray(self.means, np.float32)
        self.chol = np.asarray(self.chol, np.float32)
        k = len(self.weights)
        if self.weights.ndim != 1 or k == 0:
            raise ValueError(f"fitted density: weights must be a non-empty vector, got shape {self.weights.shape}")
        if self.means.ndim != 2 or len(self.means) != k:
            raise ValueError(f"fitted density: means {self.means.shape} do not match {k} weights")
        d = self.means.shape[1]
        if self.chol.shape != (k, d, d):
            raise ValueError(f"fitted density: Cholesky factors {self.chol.shape}, expected {(k, d, d)}")
        if not (np.all(np.isfinite(self.weights)) and np.all(np.isfinite(self.means)) and np.all(np.isfinite(self.chol))):
            raise ValueError("fitted density: non-finite values")
        if np.any(self.weights < 0) or abs(self.weights.sum() - 1.0) > 1e-3:
            raise ValueError(f"fitted density: weights must be ≥ 0 and sum to 1 (sum {self.weights.sum():.4f})")
        if np.any(np.triu(self.chol, 1) != 0) or np.any(np.diagonal(self.chol, axis1=1, axis2=2) <= 0):
            raise ValueError("fitted density: Cholesky factors must be lower triangular with a positive diagonal")
        self.weights = self.weights / self.weights.sum()

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return len(self.weights)

    @property
    def covariances(self) -> np.ndarray:
        """(K,D,D) Σ_k = L_k L_kᵀ."""
        c = self.chol.astype(np.float64)
        return c @ np.swapaxes(c, 1, 2)

    def sample(self, n: int, seed: int, tau: float = 1.0) -> np.ndarray:
        """n draws, (n,D) float32: z = m_c + τ L_c ε with c ~ Categorical(w), ε ~ N(0, I).

        τ scales the spread inside each component as the temperature scales the prior (τ = 1 is the
        fitted density itself; τ = 0 gives the component means). ε is exactly the prior's draw for the
        same seed (``explorer.latent.sample_z``), and the component choice comes from a second stream
        filled row by row, so row i is the same whatever n is, and "the same seed" means the same noise
        for the prior grid and the fitted grid.
        """
        n = int(n)
        eps = sample_z(n, self.dim, seed, 1.0).astype(np.float64)  # (n,D)
        u = np.random.default_rng([int(seed), 1]).random(n)  # (n,) uniforms, independent of eps
        comp = np.minimum(np.searchsorted(np.cumsum(self.weights), u, side="right"), self.n_components - 1)
        z = np.empty((n, self.dim), np.float64)
        for k in np.unique(comp):
            rows = comp == k
            z[rows] = self.means[k] + float(tau) * eps[rows] @ self.chol[k].astype(np.float64).T
        return z.astype(np.float32)

    def components_of(self, n: int, seed: int) -> np.ndarray:
        """(n,) the component each row of ``sample(n, seed, ·)`` was drawn from."""
        u = np.random.default_rng([int(seed), 1]).random(int(n))
        return np.minimum(np.searchsorted(np.cumsum(self.weights), u, side="right"), self.n_components - 1)

    def log_prob(self, z) -> np.ndarray:
        """log p(z) in nats for (N,D) points: (N,).

            log N(z; m, LLᵀ) = -½ |L⁻¹(z - m)|² - Σ_i log L_ii - (D/2) log 2π,
        combined over components with log-sum-exp."""
        z = np.atleast_2d(np.asarray(z, np.float64))
        if z.shape[1] != self.dim:
            raise ValueError(f"points have {z.shape[1]} dimensions, the density {self.dim}")
        out = np.empty((self.n_components, len(z)))
        const = 0.5 * self.dim * math.log(2 * math.pi)
        for k in range(self.n_components):
            chol = self.chol[k].astype(np.float64)
            y = np.linalg.solve(chol, (z - self.means[k]).T)  # (D,N) = L⁻¹(z - m)
            out[k] = (math.log(self.weights[k]) if self.weights[k] > 0 else -np.inf) \
                - 0.5 * (y * y).sum(0) - np.log(np.diag(chol)).sum() - const
        top = out.max(0)
        return top + np.log(np.exp(out - top).sum(0))

    def widened(self, variance) -> "GaussianMixtureDensity":
        """The mixture convolved with N(0, diag(variance)): each Σ_k becomes Σ_k + diag(variance).

        A mixture fitted to the means μ(x) describes where the encodings' centres lie; the decoder was
        trained on z = μ(x) + σ(x) ε, drawn from the aggregate posterior q(z) = E_x N(μ(x), diag σ²(x)).
        With variance = E_x[σ²(x)] this is that q(z), exactly when σ² is the same for every x and
        approximately otherwise: the density to judge prior samples against."""
        v = np.asarray(variance, np.float64)
        if v.shape != (self.dim,) or np.any(v < 0) or not np.all(np.isfinite(v)):
            raise ValueError(f"variance must be {self.dim} finite values ≥ 0, got shape {v.shape}")
        chol = np.linalg.cholesky(self.covariances + np.diag(v)[None])
        return GaussianMixtureDensity(self.weights, self.means, chol, {**self.info, "widened_by_mean_variance": float(v.mean())})

    def to_plain(self) -> dict:
        """Tensors and plain types only (what ``torch.load(weights_only=True)`` accepts)."""
        import torch

        return {"weights": torch.as_tensor(self.weights, dtype=torch.float64),
                "means": torch.as_tensor(self.means, dtype=torch.float32),
                "chol": torch.as_tensor(self.chol, dtype=torch.float32),
                "info": dict(self.info)}

    @classmethod
    def from_plain(cls, data: dict) -> "GaussianMixtureDensity":
        missing = {"weights", "means", "chol"} - set(data)
        if missing:
            raise ValueError(f"fitted density lacks {sorted(missing)}")

        def arr(x):
            return x.numpy() if hasattr(x, "numpy") else np.asarray(x)
        return cls(arr(data["weights"]), arr(data["means"]), arr(data["chol"]), dict(data.get("info") or {}))


def fit_density(mu, n_components: int = DEFAULT_COMPONENTS, covariance: str = "full", reg: float = DEFAULT_REG,
                seed: int = 0, max_iter: int = 200, threads: int | None = 1) -> GaussianMixtureDensity:
    """Fit a Gaussian mixture to the encodings ``mu`` (N,D) by EM (scikit-learn, k-means++ start).

    ``covariance`` is "full" or "diag"; ``reg`` is the ridge added to each covariance's diagonal,
    as a fraction of the mean per-dimension variance of μ. Deterministic for a given seed. The number
    of components is lowered when there are too few points (at least 2 per component, and fewer
    components than points), so a tiny bundle still gets a density.

    ``threads`` caps the BLAS/OpenMP threads of the fit (None: the library's default). One by default:
    on a busy machine OpenMP's spinning threads fight each other and whatever else runs (measured on 2
    shared cores, 5,441 × 128 encodings: 177 s with 2 threads, 22 s with 1).
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    x = np.asarray(mu, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need at least 2 encodings (N,D) to fit a density, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("encodings hold non-finite values; cannot fit a density")
    if covariance not in ("full", "diag"):
        raise ValueError(f"covariance must be 'full' or 'diag', got {covariance!r}")
    k = int(max(1, min(n_components, len(x) // 2)))
    scale = float(x.var(0).mean()) or 1.0
    t0 = time.perf_counter()
    with threadpool_limits(limits=threads):
        gmm = GaussianMixture(n_components=k, covariance_type=covariance, reg_covar=reg * scale, max_iter=max_iter,
                              init_params="k-means++", random_state=int(seed)).fit(x)
        seconds = time.perf_counter() - t0
        score = float(gmm.score(x))
    if covariance == "full":
        chol = np.linalg.cholesky(gmm.covariances_)
    else:
        chol = np.stack([np.diag(np.sqrt(v)) for v in gmm.covariances_])
    info = {"method": "gaussian-mixture", "components": k, "covariance": covariance, "reg": float(reg),
            "reg_covar": reg * scale, "images": int(len(x)), "seed": int(seed), "seconds": round(seconds, 2),
            "iterations": int(gmm.n_iter_), "converged": bool(gmm.converged_),
            "mean_log_likelihood": score}
    return GaussianMixtureDensity(gmm.weights_, gmm.means_, chol, info)
