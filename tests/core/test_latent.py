import math

import numpy as np
import pytest

from explorer import latent
from explorer.urlstate import FaceRef


def test_sample_is_seeded_scaled_and_row_stable():
    a = latent.sample_z(16, 8, seed=3, tau=0.5)
    assert a.shape == (16, 8) and a.dtype == np.float32
    np.testing.assert_array_equal(a, latent.sample_z(16, 8, seed=3, tau=0.5))
    assert not np.array_equal(a, latent.sample_z(16, 8, seed=4, tau=0.5))
    # the temperature only scales, and a face keeps its place in a bigger grid
    np.testing.assert_allclose(latent.sample_z(16, 8, 3, 1.0) * 0.5, a, rtol=1e-6)
    np.testing.assert_array_equal(latent.sample_z(64, 8, 3, 0.5)[:16], a)
    np.testing.assert_array_equal(latent.sample_face(3, 7, 8, 0.5), a[7])
    assert np.all(latent.sample_z(4, 8, 0, 0.0) == 0)
    big = latent.sample_z(4000, 16, 0, 0.7)
    assert abs(big.std() - 0.7) < 0.01


def test_slerp_keeps_norms_and_endpoints():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(128), rng.standard_normal(128)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    path = latent.interpolate(a, b, 9, "slerp")
    assert path.shape == (9, 128)
    np.testing.assert_allclose(path[0], a, atol=1e-5)
    np.testing.assert_allclose(path[-1], b, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-5)
    # lerp cuts through the sphere: its midpoint is markedly shorter (about 1/sqrt 2 for random a, b)
    mid = latent.interpolate(a, b, 9, "lerp")[4]
    assert np.linalg.norm(mid) < 0.8 * np.linalg.norm(a)
    # unequal norms: endpoints still exact
    p2 = latent.slerp(a, 2 * b, [0.0, 1.0])
    np.testing.assert_allclose(p2[1], 2 * b, atol=1e-5)


def test_slerp_degenerate_cases_fall_back_to_lerp():
    a = np.ones(4)
    for b in (np.zeros(4), 3 * a):  # zero vector; parallel
        np.testing.assert_allclose(latent.slerp(a, b, [0.25]), latent.lerp(a, b, [0.25]), atol=1e-6)
    assert np.all(np.isfinite(latent.slerp(a, -a, np.linspace(0, 1, 5))))
    with pytest.raises(ValueError):
        latent.interpolate(a, a, 3, "cubic")


def test_directions_are_unit_and_point_the_right_way():
    # synthetic encodings: attribute 0 shifts dimension 2 up, attribute 1 shifts dimension 5 down
    rng = np.random.default_rng(1)
    n, d = 4000, 8
    attrs = rng.integers(0, 2, size=(n, 3)).astype(np.uint8)
    attrs[:, 2] = 0  # an attribute nobody has
    mu = rng.standard_normal((n, d)).astype(np.float32)
    mu[:, 2] += 2.0 * attrs[:, 0]
    mu[:, 5] -= 1.5 * attrs[:, 1]
    raw = latent.mean_difference_directions(mu, attrs)
    assert raw.shape == (3, d)
    u = latent.unit(raw)
    np.testing.assert_allclose(np.linalg.norm(u[:2], axis=1), 1.0, rtol=1e-6)
    assert np.all(u[2] == 0)  # no NaN for an empty class
    assert np.argmax(u[0]) == 2 and u[0, 2] > 0.95
    assert np.argmin(u[1]) == 5 and u[1, 5] < -0.95
    assert abs(np.linalg.norm(raw[0]) - 2.0) < 0.15  # the class gap along the direction

    aucs = latent.direction_aucs(mu, attrs, raw)
    assert aucs[0] > 0.85 and aucs[1] > 0.8 and math.isnan(aucs[2])
    held = latent.heldout_direction_aucs(mu, attrs)
    assert abs(held[0] - aucs[0]) < 0.02 and math.isnan(held[2])
    # a direction of pure noise separates nothing
    noise = latent.direction_aucs(mu, rng.integers(0, 2, size=(n, 1)), rng.standard_normal((1, d)))
    assert abs(noise[0] - 0.5) < 0.05


def test_edit_adds_weighted_unit_directions():
    z = np.zeros(4, np.float32)
    dirs = np.array([[2.0, 0, 0, 0], [0, 0, 5.0, 0]])
    np.testing.assert_allclose(latent.edit(z, dirs, [1.5, -2.0]), [1.5, 0, -2.0, 0])
    batch = np.ones((3, 4), np.float32)
    assert latent.edit(batch, dirs, [1.0, 0.0]).shape == (3, 4)
    with pytest.raises(ValueError):
        latent.edit(z, dirs, [1.0])
    strip = latent.strength_strip(z, [1, 0, 0, 0], [-1, 0, 2])
    np.testing.assert_allclose(strip[:, 0], [-1, 0, 2])
    np.testing.assert_allclose(latent.analogy([3, 3], [1, 0], [0, 1]), [2, 4])


def test_roc_auc_matches_definition_with_ties():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    labels = np.array([0, 0, 1, 1, 1])
    # brute force: P(score_pos > score_neg) + 0.5 P(equal)
    pos, neg = scores[labels == 1], scores[labels == 0]
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert latent.roc_auc(scores, labels) == pytest.approx(brute)
    assert latent.roc_auc([1, 2, 3], [0, 1, 1]) == 1.0
    assert latent.roc_auc([1, 2, 3], [1, 0, 0]) == 0.0
    assert latent.roc_auc([5, 5, 5, 5], [0, 1, 0, 1]) == 0.5
    assert math.isnan(latent.roc_auc([1, 2], [1, 1]))
    rng = np.random.default_rng(0)
    s, y = rng.standard_normal(3000), rng.integers(0, 2, 3000)
    assert latent.roc_auc(s, y) == pytest.approx(1 - latent.roc_auc(-s, y))


def test_dims_by_kl_traversal_selection():
    np.testing.assert_array_equal(latent.dims_by_kl([0.1, 3.0, 0.0, 3.0, np.nan]), [1, 3, 0, 2, 4])
    z = np.arange(4, dtype=np.float32)
    t = latent.traversal(z, 2, np.linspace(-3, 3, 7))
    assert t.shape == (7, 4)
    np.testing.assert_allclose(t[:, 2], np.linspace(-3, 3, 7))
    np.testing.assert_array_equal(t[:, [0, 1, 3]], np.tile(z[[0, 1, 3]], (7, 1)))
    mu = np.array([[0, 0], [2, 4], [4, 8]], np.float32)
    np.testing.assert_allclose(latent.selection_mean(mu, [1, 2]), [3, 6])
    with pytest.raises(ValueError):
        latent.selection_mean(mu, [])


def test_face_vector_resolves_every_kind():
    mu = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.all(latent.face_vector(FaceRef(), 4) == 0)
    np.testing.assert_array_equal(latent.face_vector(FaceRef.sample(5, 2, 0.7), 4), latent.sample_z(3, 4, 5, 0.7)[2])
    np.testing.assert_array_equal(latent.face_vector(FaceRef.row(1), 4, mu), mu[1])
    np.testing.assert_allclose(latent.face_vector(FaceRef.vector([0.5, -1, 2, 0.1]), 4), [0.5, -1, 2, 0.1], atol=1e-3)
    with pytest.raises(ValueError):
        latent.face_vector(FaceRef.row(9), 4, mu)
    with pytest.raises(ValueError):
        latent.face_vector(FaceRef.vector([1, 2]), 4)


def test_demo_rows_pick_well_reconstructed_held_out_faces_for_the_analogy():
    from explorer.latent import demo_rows

    names = ["Male", "Smiling"]
    attrs = np.array([[1, 1], [1, 0], [0, 0], [1, 1], [0, 0], [0, 1]])
    part = np.array([0, 1, 1, 1, 2, 1])
    err = np.array([0.0, 0.5, 0.3, 0.2, 0.1, 0.05])  # row 0 is best but in train: not chosen
    rows = demo_rows(err, attrs, part, names)
    assert rows == {"a": 3, "b": 1, "c": 4, "base": 5, "end": 4}
    assert demo_rows(np.array([]), np.zeros((0, 2)), np.array([]), names) == {}


def test_held_directions_hold_every_other_attribute_where_balancing_one_is_not_enough():
    """Attribute 0 travels with attributes 1 and 2 (each copies it 80% of the time). Dimensions 1 and 2
    encode attributes 1 and 2, dimension 0 attribute 0. Balancing by the one most correlated attribute
    leaves the other confounder in; the regression on all labels gives each attribute its own dimension."""
    from explorer.latent import attribute_directions

    rng = np.random.default_rng(3)
    n = 8000
    a = np.zeros((n, 6), np.uint8)
    a[:, 0] = rng.random(n) < 0.5
    for k in (1, 2):
        a[:, k] = np.where(rng.random(n) < 0.8, a[:, 0], rng.random(n) < 0.5)
    a[:, 3] = rng.random(n) < 0.3  # independent
    a[:, 5] = 1  # present on every face: no direction can be estimated
    mu = rng.standard_normal((n, 4)) * 0.5
    mu[:, 0] += 1.0 * a[:, 0]
    mu[:, 1] += 2.0 * a[:, 1]
    mu[:, 2] += 2.0 * a[:, 2]
    held = latent.held_directions(mu, a)
    np.testing.assert_allclose(held[0], [1.0, 0, 0, 0], atol=0.06)
    np.testing.assert_allclose(held[1], [0, 2.0, 0, 0], atol=0.06)
    np.testing.assert_allclose(held[3], [0, 0, 0, 0], atol=0.06)
    assert not held[5].any() and not held[4].any()
    plain, balanced, _ = attribute_directions(mu, a)
    # the other kinds drag attribute 1 or 2 along with attribute 0
    assert plain[0, 1] > 0.8 and plain[0, 2] > 0.8
    assert max(balanced[0, 1], balanced[0, 2]) > 0.5


def test_start_shares_prefer_the_smallest_seen_share_then_the_largest_typical_one():
    """explorer.latent.start_shares, per face: a share the classifier sees and that stays typical wins, the
    smallest of them; without one (or without a classifier) the largest typical share of EDIT_START_SHARES;
    the smallest share where none stays typical."""
    from explorer.latent import EDIT_SEEN_SHARES, EDIT_START_SHARES, start_shares

    every = sorted(set(EDIT_START_SHARES) | set(EDIT_SEEN_SHARES))
    # face 0: typical everywhere, seen from 1 class gap on; face 1: typical only up to ½, seen only at 2 (atypical
    # there); face 2: never typical; face 3: typical everywhere, never seen
    typical = {s: np.array([True, s <= 0.5, False, True]) for s in every}
    seen = {s: np.array([s >= 1.0, s == 2.0, True, False]) for s in EDIT_SEEN_SHARES}
    assert start_shares(typical).tolist() == [EDIT_START_SHARES[0], 0.5, EDIT_START_SHARES[-1], EDIT_START_SHARES[0]]
    assert start_shares(typical, seen).tolist() == [1.0, 0.5, EDIT_START_SHARES[-1], EDIT_START_SHARES[0]]
    # another ladder (the bench compares several): its largest typical share, else its last
    assert start_shares(typical, shares=(1.0, 0.75)).tolist() == [1.0, 0.75, 0.75, 1.0]
