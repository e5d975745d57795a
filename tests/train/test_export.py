"""The analysis bundle's math: the 2-D PCA map and the attribute directions (plain and balanced)."""
import numpy as np
import pytest

from explorer.celeba import ATTRIBUTE_NAMES
from explorer.latent import attribute_directions
from train.export import pca_2d

SMILING, MALE = ATTRIBUTE_NAMES.index("Smiling"), ATTRIBUTE_NAMES.index("Male")


def test_pca_2d_finds_the_two_largest_variance_axes():
    rng = np.random.default_rng(0)
    n = 2000
    # variances 9, 4, 1, 0.01 along a random rotation of the axes, shifted away from the origin
    latent = rng.standard_normal((n, 4)) * np.array([3.0, 2.0, 1.0, 0.1])
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    x = (latent @ q.T + 5.0).astype(np.float32)
    p = pca_2d(x)
    assert p.shape == (n, 2) and p.dtype == np.float32
    np.testing.assert_allclose(p.mean(0), 0, atol=1e-4)  # centred
    var = p.var(0)
    assert var[0] == pytest.approx(9.0, rel=0.1) and var[1] == pytest.approx(4.0, rel=0.1)
    assert abs(np.corrcoef(p.T)[0, 1]) < 1e-4  # uncorrelated components
    # up to sign, the components are the latent's first two coordinates
    for k in range(2):
        assert abs(np.corrcoef(p[:, k], latent[:, k])[0, 1]) > 0.99
    # and the projection is the best rank-2 one: what it keeps equals the top-2 eigenvalues
    eig = np.sort(np.linalg.eigvalsh(np.cov(x.T.astype(np.float64))))[::-1]
    np.testing.assert_allclose(np.sort(var)[::-1], eig[:2], rtol=1e-3)
    assert pca_2d(x, k=3).shape == (n, 3)


def test_balanced_directions_remove_a_confounder_that_the_plain_mean_difference_keeps():
    """Smiling is confounded with Male (80% of men smile, 20% of women). Dimension 0 encodes Male
    only, dimension 1 Smiling only. The plain mean difference for Smiling leans on dimension 0 (it
    would make an edited face more male); White's balanced estimate does not."""
    rng = np.random.default_rng(1)
    n, d = 6000, 6
    attrs = (rng.random((n, 40)) < 0.3).astype(np.uint8)  # the other 38 labels: independent noise
    male = rng.random(n) < 0.5
    smiling = rng.random(n) < np.where(male, 0.8, 0.2)
    attrs[:, MALE], attrs[:, SMILING] = male, smiling
    mu = rng.standard_normal((n, d)).astype(np.float32) * 0.5
    mu[:, 0] += 2.0 * male
    mu[:, 1] += 1.0 * smiling
    plain, balanced, confounders = attribute_directions(mu, attrs)
    assert confounders[SMILING] == MALE and confounders[MALE] == SMILING
    # plain: E[dim0 | smiling] - E[dim0 | not] = 2 * (P(male|smiling) - P(male|not)) = 2 * 0.6
    assert plain[SMILING, 0] == pytest.approx(1.2, abs=0.1)
    assert abs(balanced[SMILING, 0]) < 0.1
    assert balanced[SMILING, 1] == pytest.approx(1.0, abs=0.1)
    assert plain[SMILING, 1] == pytest.approx(1.0, abs=0.1)
    # symmetric for Male: the plain direction picks up Smiling's dimension, the balanced one does not
    assert plain[MALE, 1] == pytest.approx(0.6, abs=0.1) and abs(balanced[MALE, 1]) < 0.1
    # an attribute with no confounding is the same both ways
    other = ATTRIBUTE_NAMES.index("Eyeglasses")
    np.testing.assert_allclose(balanced[other], plain[other], atol=0.15)
