"""explorer.analysis.density (the fitted "ex-post" density), explorer.analysis.dimscores and explorer.analysis.priorcheck: no Streamlit."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer import latent
from explorer.analysis import dimscores, priorcheck
from explorer.analysis.density import GaussianMixtureDensity, fit_density


def known_mixture(d: int = 4) -> GaussianMixtureDensity:
    """Three well-separated components with different shapes and weights 0.5, 0.3, 0.2."""
    rng = np.random.default_rng(0)
    means = np.stack([np.full(d, -4.0), np.zeros(d), np.r_[4.0, -4.0, np.zeros(d - 2)]])
    chol = []
    for scale in (0.5, 1.0, 0.7):
        a = rng.standard_normal((d, d)) * 0.3
        chol.append(np.linalg.cholesky(scale ** 2 * np.eye(d) + a @ a.T))
    return GaussianMixtureDensity(np.array([0.5, 0.3, 0.2]), means, np.stack(chol))


def test_fit_recovers_a_known_mixture():
    true = known_mixture()
    x = true.sample(12000, seed=1)
    fit = fit_density(x, n_components=3, seed=0)
    assert fit.n_components == 3 and fit.info["converged"]
    # match fitted components to true ones by their means
    match = [int(np.argmin(np.linalg.norm(fit.means - m, axis=1))) for m in true.means]
    assert sorted(match) == [0, 1, 2]
    np.testing.assert_allclose(fit.weights[match], true.weights, atol=0.02)
    np.testing.assert_allclose(fit.means[match], true.means, atol=0.1)
    np.testing.assert_allclose(fit.covariances[match], true.covariances, atol=0.12)
    # and its likelihood of fresh data is that of the truth (up to estimation error)
    fresh = true.sample(4000, seed=2)
    assert abs(fit.log_prob(fresh).mean() - true.log_prob(fresh).mean()) < 0.05


def test_log_prob_is_the_gaussian_formula():
    rng = np.random.default_rng(3)
    d = 3
    a = rng.standard_normal((d, d))
    cov = a @ a.T + np.eye(d)
    g = GaussianMixtureDensity([1.0], rng.standard_normal((1, d)), np.linalg.cholesky(cov)[None])
    z = rng.standard_normal((5, d))
    diff = z - g.means[0]
    expect = -0.5 * np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff) \
        - 0.5 * math.log(np.linalg.det(cov)) - d / 2 * math.log(2 * math.pi)
    np.testing.assert_allclose(g.log_prob(z), expect, rtol=1e-5)


def test_sampling_is_reproducible_by_seed_row_stable_and_scaled_by_tau():
    g = known_mixture()
    a = g.sample(64, seed=7)
    assert a.shape == (64, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a, g.sample(64, seed=7))
    assert not np.array_equal(a, g.sample(64, seed=8))
    np.testing.assert_array_equal(g.sample(16, seed=7), a[:16])  # a face keeps its place in a bigger grid
    comp = g.components_of(64, seed=7)
    np.testing.assert_allclose(g.sample(64, seed=7, tau=0.0), g.means[comp], atol=1e-6)  # τ = 0: the means
    half = g.sample(64, seed=7, tau=0.5)
    np.testing.assert_allclose(half - g.means[comp], 0.5 * (a - g.means[comp]), atol=1e-5)
    big = g.sample(20000, seed=0)
    np.testing.assert_allclose(np.bincount(g.components_of(20000, 0), minlength=3) / 20000, g.weights, atol=0.015)
    np.testing.assert_allclose(big.mean(0), g.weights @ g.means, atol=0.06)


def test_one_standard_component_samples_exactly_the_prior():
    d = 6
    g = GaussianMixtureDensity([1.0], np.zeros((1, d)), np.eye(d)[None])
    np.testing.assert_allclose(g.sample(10, seed=5, tau=0.8), latent.sample_z(10, d, 5, 0.8), atol=1e-6)


def test_plain_round_trip_through_torch_save(tmp_path):
    g = fit_density(known_mixture().sample(600, seed=0), n_components=3)
    torch.save(g.to_plain(), tmp_path / "g.pt")
    back = GaussianMixtureDensity.from_plain(torch.load(tmp_path / "g.pt", weights_only=True))
    np.testing.assert_array_equal(back.means, g.means)
    np.testing.assert_array_equal(back.chol, g.chol)
    np.testing.assert_allclose(back.weights, g.weights, rtol=1e-12)
    assert back.info == g.info
    np.testing.assert_array_equal(back.sample(8, 3, 0.9), g.sample(8, 3, 0.9))


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="at least 2"):
        fit_density(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        fit_density(np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]))
    with pytest.raises(ValueError, match="covariance"):
        fit_density(np.zeros((10, 2)), covariance="spherical")
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixtureDensity([0.5, 0.2], np.zeros((2, 2)), np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="lower triangular"):
        GaussianMixtureDensity([1.0], np.zeros((1, 2)), np.array([[[1.0, 0.5], [0.0, 1.0]]]))
    with pytest.raises(ValueError, match="lacks"):
        GaussianMixtureDensity.from_plain({"weights": torch.ones(1)})
    # a tiny bundle still gets a density, with fewer components
    assert fit_density(np.random.default_rng(0).standard_normal((6, 3)), n_components=10).n_components == 3


def test_widened_mixture_is_the_aggregate_posterior_of_equal_posteriors():
    # μ from a known mixture, z = μ + σ ε with the same σ for every x: z follows the widened mixture
    g = known_mixture()
    var = np.array([0.3, 0.1, 0.5, 0.2])
    mu = g.sample(20000, seed=3).astype(np.float64)
    z = mu + np.random.default_rng(4).standard_normal(mu.shape) * np.sqrt(var)
    wide = g.widened(var)
    np.testing.assert_allclose(wide.covariances, g.covariances + np.diag(var), atol=1e-5)
    assert wide.log_prob(z).mean() > g.log_prob(z).mean() + 0.1  # the widened density explains z better,
    assert abs(wide.log_prob(z).mean() - wide.log_prob(wide.sample(20000, seed=6)).mean()) < 0.05  # as its own
    np.testing.assert_allclose(np.cov(z.T), np.cov(wide.sample(20000, seed=5).T), atol=0.15)
    with pytest.raises(ValueError):
        g.widened(-var)


def test_diagonal_fit_and_fit_time_is_seconds():
    x = np.random.default_rng(0).standard_normal((5000, 128)).astype(np.float32)
    g = fit_density(x, n_components=10, covariance="full")
    assert g.info["seconds"] < 60  # a few seconds on one busy core; generous for shared CI machines
    assert np.all(np.triu(g.chol, 1) == 0)
    diag = fit_density(x[:, :8], n_components=2, covariance="diag")
    assert np.count_nonzero(diag.chol[0] - np.diag(np.diag(diag.chol[0]))) == 0


# --------------------------------------------------------------------------------------------
# Dimension × attribute scores
# --------------------------------------------------------------------------------------------

def test_dimension_scores_find_the_planted_dimensions():
    rng = np.random.default_rng(1)
    n, d = 3000, 6
    attrs = rng.integers(0, 2, (n, 3)).astype(np.uint8)
    attrs[:, 2] = 0  # nobody has it
    mu = rng.standard_normal((n, d))
    mu[:, 4] += 2.0 * attrs[:, 0]  # attribute 0 raises z4
    mu[:, 1] -= 1.0 * attrs[:, 1]  # attribute 1 lowers z1
    auc = dimscores.dimension_aucs(mu, attrs)
    assert auc.shape == (d, 3)
    assert auc[4, 0] > 0.9 and auc[1, 1] < 0.3
    others = np.delete(auc[:, :2], [4 * 2 + 0, 1 * 2 + 1])
    assert np.all(np.abs(others - 0.5) < 0.05)
    assert np.all(np.isnan(auc[:, 2]))
    # each entry is latent.roc_auc of that column
    for dd, k in ((4, 0), (1, 1), (0, 1)):
        assert auc[dd, k] == pytest.approx(latent.roc_auc(mu[:, dd], attrs[:, k]))
    r = dimscores.point_biserial(mu, attrs)
    assert r[4, 0] == pytest.approx(np.corrcoef(mu[:, 4], attrs[:, 0])[0, 1])
    assert r[1, 1] < -0.3 and np.all(np.isnan(r[:, 2]))
    top = dimscores.top_attributes(auc, 4, ["a", "b", "c"], "auc", k=1)
    assert top[0][0] == "a"
    # the AUC ignores a monotone rescaling of z; the correlation does not
    warped = mu.copy()
    warped[:, 4] = np.exp(warped[:, 4])
    assert dimscores.dimension_aucs(warped, attrs)[4, 0] == pytest.approx(auc[4, 0])
    assert dimscores.point_biserial(warped, attrs)[4, 0] != pytest.approx(r[4, 0])
    with pytest.raises(ValueError):
        dimscores.score_table(mu, attrs, "gini")
    with pytest.raises(ValueError):
        dimscores.dimension_aucs(mu[:10], attrs)


def test_ordered_dims_puts_the_largest_kl_first():
    assert list(dimscores.ordered_dims([0.1, 3.0, 1.0, 2.0], 4, 3)) == [1, 3, 2]
    assert list(dimscores.ordered_dims(None, 4, 2)) == [0, 1]


# --------------------------------------------------------------------------------------------
# Prior checks
# --------------------------------------------------------------------------------------------

def test_chi_pdf_integrates_to_one_and_matches_the_prior_norms():
    for k in (1, 2, 5, 128):
        r = np.linspace(0, 25, 20001)
        f = priorcheck.chi_pdf(r, k)
        assert np.trapezoid(f, r) == pytest.approx(1.0, abs=1e-4)
        assert np.trapezoid(r * f, r) == pytest.approx(priorcheck.chi_mean(k), abs=1e-4)
    z = latent.sample_z(20000, 128, seed=0)
    density, edges = priorcheck.norm_histogram(z, bins=40)
    centres = (edges[:-1] + edges[1:]) / 2
    np.testing.assert_allclose(density, priorcheck.chi_pdf(centres, 128), atol=0.06)
    assert np.linalg.norm(z, axis=1).mean() == pytest.approx(priorcheck.chi_mean(128), rel=0.005)
    assert priorcheck.chi_mean(128) == pytest.approx(math.sqrt(127.5), rel=1e-3)
    with pytest.raises(ValueError):
        priorcheck.chi_pdf([1.0], 0)


def test_scipy_agrees_with_the_closed_form():
    stats = pytest.importorskip("scipy.stats")
    r = np.linspace(0.1, 15, 50)
    np.testing.assert_allclose(priorcheck.chi_pdf(r, 128), stats.chi.pdf(r, 128), rtol=1e-8, atol=1e-300)


def test_aggregate_variance_is_the_law_of_total_variance():
    # z = μ(x) + σ ε: Var(z) = Var(μ) + E σ²; an encoder that fills the prior gives 1
    rng = np.random.default_rng(0)
    mu = rng.standard_normal((50000, 3)) * np.array([0.8, 0.3, 0.0])
    sigma2 = np.array([0.36, 0.91, 1.0])
    z = mu + rng.standard_normal(mu.shape) * np.sqrt(sigma2)
    agg = priorcheck.aggregate_variance(mu.var(0), sigma2)
    np.testing.assert_allclose(agg, z.var(0), atol=0.02)
    np.testing.assert_allclose(agg, 1.0, atol=0.02)
    np.testing.assert_array_equal(priorcheck.aggregate_variance(mu.var(0)), mu.var(0))
    with pytest.raises(ValueError):
        priorcheck.aggregate_variance(np.ones(3), np.ones(2))


def test_nearest_distances_and_hole_fraction():
    enc = np.array([[0.0, 0.0], [3.0, 4.0]])
    pts = np.array([[0.0, 1.0], [3.0, 4.0], [6.0, 8.0]])
    np.testing.assert_allclose(priorcheck.nearest_distances(pts, enc, chunk=2), [1.0, 0.0, 5.0], atol=1e-9)
    frac, thr = priorcheck.hole_fraction([-10, -1, 0, 5], np.linspace(-5, 5, 101), quantile=0.1)
    assert thr == pytest.approx(-4.0) and frac == 0.25
    # encodings that fill only a thin slab of the prior: most prior samples fall in its holes,
    # samples from the fitted density almost never do
    rng = np.random.default_rng(0)
    enc = rng.standard_normal((3000, 4)) * np.array([1.0, 1.0, 1.0, 0.1])
    g = fit_density(enc, n_components=2)
    prior = latent.sample_z(1000, 4, seed=1)
    in_holes, _ = priorcheck.hole_fraction(g.log_prob(prior), g.log_prob(enc))
    fitted, _ = priorcheck.hole_fraction(g.log_prob(g.sample(1000, seed=1)), g.log_prob(enc))
    assert in_holes > 0.5 and fitted < 0.05


def test_the_new_view_state_round_trips_through_the_url_and_defaults_stay_out():
    from explorer.urlstate import ViewState, decode, encode

    names = ["Smiling", "Male"]
    assert encode(ViewState()) == {}
    s = ViewState(view="holes", density="prior", score="corr", heat=12, grid=4)  # "fitted" is the default
    params = encode(s)
    assert params == {"view": "holes", "density": "prior", "score": "corr", "heat": "12", "grid": "4"}
    back, messages = decode(params, 16, names)
    assert back == s and messages == []
    # validated against the model: no more heatmap dimensions or grid rows than it has
    back, messages = decode({"heat": "17", "grid": "0", "view": "dimattr"}, 16, names)
    assert (back.heat, back.grid, back.view) == (32, 8, "dimattr") and len(messages) == 2
