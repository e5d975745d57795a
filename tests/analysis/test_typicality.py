"""explorer.analysis.typicality: how typical a latent is, as a percentile among the encodings (no Streamlit)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from explorer.analysis import typicality
from explorer.analysis.density import GaussianMixtureDensity


@dataclass(eq=False)
class Bundle:
    """The two fields of explorer.analysis.bundle.AnalysisBundle that typicality reads."""
    mu: np.ndarray
    density: GaussianMixtureDensity | None


def mixture_bundle(n: int = 400, d: int = 6, density: bool = True):
    """Encodings drawn from a known two-component mixture, with that mixture as the bundle's density."""
    rng = np.random.default_rng(3)
    means = np.stack([np.full(d, -2.0), np.full(d, 2.0)])
    chol = np.stack([np.linalg.cholesky(np.eye(d) * s) for s in (0.5, 1.5)])
    dens = GaussianMixtureDensity(np.array([0.4, 0.6]), means, chol)
    mu = dens.sample(n, seed=int(rng.integers(1000))).astype(np.float32)
    return Bundle(mu, dens if density else None)


def test_percentile_is_the_share_of_encodings_with_a_lower_log_density():
    b = mixture_bundle()
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 6)) * 3
    own = b.density.log_prob(b.mu)
    want = np.array([100.0 * np.mean(own <= s) for s in b.density.log_prob(z)])
    np.testing.assert_allclose(typicality.percentile(b, z), want)
    assert typicality.reference(b).method == "density"


def test_encodings_spread_evenly_and_far_points_are_flagged():
    b = mixture_bundle()
    p = typicality.percentile(b, b.mu)
    # every encoding is at its own rank: the sorted percentiles are 100·k/N, k = 1…N
    np.testing.assert_allclose(np.sort(p), 100.0 * np.arange(1, len(b.mu) + 1) / len(b.mu))
    centre, far = typicality.percentile(b, np.stack([b.density.means[0], np.full(6, 40.0)]))  # the narrow peak; far out
    assert centre > 90 and far == 0.0
    assert typicality.warning(far) is not None and typicality.warning(centre) is None
    assert typicality.warning(typicality.ATYPICAL) is None


def test_a_single_z_gives_one_percentile_in_range():
    b = mixture_bundle()
    p = typicality.percentile(b, b.mu[0])
    assert p.shape == (1,) and 0.0 <= p[0] <= 100.0


def test_without_a_density_the_nearest_encoding_decides():
    b = mixture_bundle(n=120, density=False)
    mu = b.mu.astype(np.float64)
    d = np.linalg.norm(mu[:, None] - mu[None], axis=2)
    np.fill_diagonal(d, np.inf)
    own = -d.min(1)  # each encoding's distance to its nearest other encoding
    rng = np.random.default_rng(1)
    z = mu[:10] + rng.standard_normal((10, 6)) * 0.7
    dz = -np.linalg.norm(z[:, None] - mu[None], axis=2).min(1)
    want = np.array([100.0 * np.mean(own <= s) for s in dz])
    np.testing.assert_allclose(typicality.percentile(b, z), want)
    assert typicality.reference(b).method == "distance"
    assert typicality.percentile(b, np.full(6, 100.0))[0] == 0.0
    assert typicality.percentile(b, mu[5])[0] == 100.0  # on an encoding: nearer than any pair of encodings


def test_the_reference_is_computed_once_per_bundle():
    b = mixture_bundle()
    first = typicality.reference(b)
    assert typicality.reference(b) is first
    other = mixture_bundle()
    assert typicality.reference(other) is not first


def test_dimension_mismatch_is_one_clear_error():
    with pytest.raises(ValueError, match="dimensions"):
        typicality.percentile(mixture_bundle(), np.zeros(5))


def test_scores_are_the_fitted_mixtures_log_density():
    b = mixture_bundle()
    z = np.random.default_rng(5).standard_normal((30, 6)) * 4
    np.testing.assert_allclose(typicality.scores(b, z), b.density.log_prob(z), rtol=1e-10, atol=1e-8)
