"""The latent-structure scorecard (explorer.analysis.scorecard) on synthetic codes whose answers are known: a code whose
dimensions each carry one factor scores near 1, a random rotation of it lower, noise near 0."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from explorer.analysis import scorecard as sc
from explorer.analysis.density import GaussianMixtureDensity

N, K = 4000, 8


def codes(seed: int = 0):
    """Factors v_k = [s_k > 0] of independent sources s; three codes of them: axis-aligned (z_k = s_k, plus
    four dimensions of faint noise), a random rotation of the same, and noise unrelated to v."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((N, K))
    v = (s > 0).astype(np.uint8)
    faint = 0.01 * rng.standard_normal((N, 4))
    q, _ = np.linalg.qr(rng.standard_normal((K, K)))
    return v, {"aligned": np.hstack([s, faint]), "rotated": np.hstack([s @ q, faint]),
               "noise": rng.standard_normal((N, K + 4))}


@pytest.fixture(scope="module")
def synthetic():
    return codes()


def test_mutual_information_of_a_code_that_determines_the_factor_is_its_entropy():
    rng = np.random.default_rng(1)
    z = rng.uniform(-1, 1, (2000, 2))
    v = np.stack([z[:, 0] > 0, rng.random(2000) < 0.3], 1)  # the first factor is a function of z_0 (a bin edge at 0)
    mi = sc.mutual_information(z, v, bins=20)
    p = v.mean(0)
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    assert mi[0, 0] == pytest.approx(h[0], rel=1e-6)
    assert mi[1, 0] < 0.01 and mi[:, 1].max() < 0.01  # unrelated dimension and factor: only the plug-in bias


def test_mig(synthetic):
    v, z = synthetic
    scores = {name: sc.mig(c, v) for name, c in z.items()}
    assert scores["aligned"] > 0.85
    assert scores["rotated"] < 0.5 * scores["aligned"]
    assert scores["noise"] < 0.02


def test_sap(synthetic):
    v, z = synthetic
    scores = {name: sc.sap(c, v) for name, c in z.items()}
    assert scores["aligned"] > 0.9  # a threshold at 0 on z_k recovers v_k; every other dimension is at chance
    assert scores["rotated"] < 0.5 * scores["aligned"]
    assert scores["noise"] < 0.06


def test_sap_matrix_is_youdens_j_of_the_best_threshold_held_out():
    rng = np.random.default_rng(2)
    v = (rng.random((1000, 1)) < 0.1).astype(np.uint8)  # a rare factor: accuracy would be 0.9 for any dimension
    z = np.hstack([v * 2.0 - 1.0 + 0.1 * rng.standard_normal((1000, 1)),  # separates the classes
                   -(v * 2.0 - 1.0),  # separates them the other way round
                   rng.standard_normal((1000, 1))])
    m = sc.sap_matrix(z, v)
    assert m[0, 0] == pytest.approx(1.0) and m[1, 0] == pytest.approx(1.0) and abs(m[2, 0]) < 0.2


def test_dci_from_importance_known_matrices():
    assert sc.dci_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    assert sc.dci_from_importance(np.ones((4, 4))) == pytest.approx((0.0, 0.0), abs=1e-12)
    one_code = np.zeros((4, 3))
    one_code[0] = 1.0  # one dimension serves every factor: each factor is complete, nothing is disentangled
    assert sc.dci_from_importance(one_code) == pytest.approx((0.0, 1.0), abs=1e-12)
    assert sc.dci_from_importance(np.zeros((4, 3))) == (0.0, 0.0)


def test_dci(synthetic):
    v, z = synthetic
    scores = {name: sc.dci(c, v) for name, c in z.items()}
    assert scores["aligned"]["disentanglement"] > 0.95 and scores["aligned"]["completeness"] > 0.95
    assert scores["rotated"]["disentanglement"] < 0.5 and scores["rotated"]["completeness"] < 0.5
    # a rotation keeps the information, which a linear read-out finds: only the structure scores drop
    assert scores["aligned"]["informativeness"] > 0.99 and scores["rotated"]["informativeness"] > 0.99
    assert scores["noise"]["disentanglement"] == 0.0 and scores["noise"]["completeness"] == 0.0
    assert abs(scores["noise"]["informativeness"] - 0.5) < 0.05


def test_active_units():
    z = np.hstack([np.random.default_rng(3).standard_normal((500, 3)), np.full((500, 2), 0.5)])
    z[:, 2] *= 0.05  # variance 0.0025, below Burda et al.'s 0.01
    assert sc.active_units(z) == 2


def test_total_correlation_of_a_gaussian_matches_the_closed_form():
    cov = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 2.0]])
    one = GaussianMixtureDensity(np.ones(1), np.zeros((1, 3)), np.linalg.cholesky(cov)[None])
    tc, se = sc.total_correlation(one, n=4000)
    exact = sc.gaussian_total_correlation(cov)
    assert exact == pytest.approx(0.5 * (math.log(2.0) - math.log(np.linalg.det(cov))))
    assert abs(tc - exact) < 4 * se + 1e-9 and se < 0.05
    independent = GaussianMixtureDensity(np.ones(1), np.zeros((1, 3)), np.diag([1.0, 2.0, 0.5])[None])
    assert sc.total_correlation(independent)[0] == pytest.approx(0.0, abs=1e-9)
    # two components on the diagonal: each is independent inside, but which one a point came from couples x and y
    two = GaussianMixtureDensity(np.array([0.5, 0.5]), np.array([[-3.0, -3.0], [3.0, 3.0]]),
                                 np.stack([np.eye(2) * 0.5] * 2))
    assert sc.total_correlation(two)[0] == pytest.approx(math.log(2), rel=0.05)  # I(x; y) → H(component)


def test_udr():
    rng = np.random.default_rng(4)
    za = rng.standard_normal((3000, 10))
    perm = rng.permutation(10)
    # the same code up to a permutation, sign flips and a monotone rescaling of each dimension
    same = np.tanh(za[:, perm] * 0.5) * np.where(rng.random(10) < 0.5, -1, 1) * rng.uniform(0.5, 3, 10)
    q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    assert sc.udr(za, same) == pytest.approx(1.0)
    assert 0.05 < sc.udr(za, za @ q) < 0.6
    assert sc.udr(za, rng.standard_normal((3000, 12))) < 0.02
    # only the active dimensions count: an inactive one on either side changes nothing
    assert sc.udr(np.hstack([za, np.zeros((3000, 1))]), same) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same faces"):
        sc.udr(za, za[:10])


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="same N"):
        sc.mig(np.zeros((20, 3)), np.zeros((19, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        sc.dci(np.full((20, 3), np.nan), np.zeros((20, 2)))


# --------------------------------------------------------------------------------------------
# A bundle's scorecard and the command line
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    from test_app import make_checkpoint_file

    folder = tmp_path_factory.mktemp("scorecard")
    return (make_checkpoint_file(folder / "a.pt", latent_dim=8, n_rows=400),
            make_checkpoint_file(folder / "b.pt", latent_dim=8, n_rows=300, seed=1))


def test_compute_scorecard_of_a_bundle(two_files):
    from explorer import load_checkpoint

    b = load_checkpoint(two_files[0]).bundle
    card = sc.compute_scorecard(b)
    assert set(sc.KEYS) <= set(card) and card["faces"] == 400 and card["latent_dim"] == 8
    assert card["active_units"] == 6  # make_checkpoint_file: the last quarter of the dimensions is inactive
    assert "total_correlation" not in card  # this bundle has no fitted density
    # make_checkpoint_file puts Smiling on z0 and Male on z1, the other 38 labels are noise
    r, _, aucs = sc.importance_matrix(b.mu, b.attributes)
    names = b.attribute_names
    assert int(np.argmax(r[:, names.index("Smiling")])) == 0 and int(np.argmax(r[:, names.index("Male")])) == 1
    assert aucs[names.index("Smiling")] > 0.75


def test_cli_prints_a_table_and_json(two_files, capsys):
    sc.main([str(p) for p in two_files])
    out = capsys.readouterr().out
    assert "| metric | a.pt | b.pt |" in out and "| MIG |" in out and "UDR similarity of a.pt and b.pt" in out
    sc.main(["--json", *map(str, two_files)])
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"a.pt", "b.pt"}
    for card in data.values():
        assert set(sc.KEYS) <= set(card)
    # the two bundles share their first 300 file names, but their codes are unrelated draws
    assert data["a.pt"]["UDR_faces"]["b.pt"] == 300 and data["a.pt"]["UDR"]["b.pt"] < 0.2


def test_cli_refuses_a_file_it_cannot_score(tmp_path, capsys):
    from test_app import make_checkpoint_file

    bare = make_checkpoint_file(tmp_path / "bare.pt", latent_dim=8, bundle=False)
    with pytest.raises(SystemExit, match="bare.pt: no analysis bundle"):
        sc.main([str(bare)])
    with pytest.raises(SystemExit, match="nothere.pt"):
        sc.main([str(tmp_path / "nothere.pt")])


# --------------------------------------------------------------------------------------------
# python -m train.export CKPT --scorecard-only
# --------------------------------------------------------------------------------------------

def _same(x, y) -> bool:
    """Deep equality of two checkpoint dicts (tensors compared by value)."""
    import torch

    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return isinstance(y, (list, tuple)) and len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    if torch.is_tensor(x):
        return torch.is_tensor(y) and x.dtype == y.dtype and torch.equal(x, y)
    return x == y


def test_export_scorecard_only_adds_the_judge_and_the_scorecard_and_changes_nothing_else(tmp_path, capsys):
    from celeba_fixtures import make_celeba
    from test_app import make_checkpoint_file

    from explorer import load_checkpoint
    from explorer.checkpoint import read_checkpoint_dict
    from train.export import main as export_main

    ckpt = make_checkpoint_file(tmp_path / "m.pt", latent_dim=8, n_rows=300)  # bundle rows 000001.jpg … 000300.jpg
    data_dir = make_celeba(tmp_path / "celeba", n=300)
    before = read_checkpoint_dict(ckpt)
    export_main([str(ckpt), "--scorecard-only", "--out", str(tmp_path / "card.pt")])
    assert "no --data-dir, so no attribute classifier" in capsys.readouterr().out
    only_card = load_checkpoint(tmp_path / "card.pt").bundle
    assert only_card.classifier is None and set(sc.KEYS) <= set(only_card.scorecard)
    export_main([str(ckpt), "--scorecard-only", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(tmp_path / "both.pt")])
    after = read_checkpoint_dict(tmp_path / "both.pt")
    added = {k: after["bundle"].pop(k) for k in ("classifier", "scorecard")}
    assert _same(before, after)  # weights, summary, history and every other bundle entry as they were
    b = load_checkpoint(tmp_path / "both.pt").bundle
    # the bundle's faces are all in the valid partition: a seeded tenth is held out instead
    assert b.classifier.info["trained_on"] == 270 and b.classifier.info["held_out"] == 30
    assert b.classifier.image_size == 32 and b.scorecard == added["scorecard"]
    fresh = sc.compute_scorecard(b)  # the stored numbers are those of the stored encodings
    assert all(b.scorecard[k] == fresh[k] for k in sc.KEYS)


def test_export_scorecard_only_refuses_data_that_lacks_the_bundles_faces(tmp_path):
    from celeba_fixtures import make_celeba
    from test_app import make_checkpoint_file

    from train.export import main as export_main

    ckpt = make_checkpoint_file(tmp_path / "m.pt", latent_dim=8, n_rows=300)
    data_dir = make_celeba(tmp_path / "celeba", n=200)
    with pytest.raises(SystemExit, match="100 of the bundle's 300 faces"):
        export_main([str(ckpt), "--scorecard-only", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "c")])
    bare = make_checkpoint_file(tmp_path / "bare.pt", latent_dim=8, bundle=False)
    with pytest.raises(SystemExit, match="bare.pt: no analysis bundle to score"):
        export_main([str(bare), "--scorecard-only"])


def test_the_export_stores_the_scorecard_and_the_judge_in_the_bundle():
    from celeba_fixtures import synthetic_cache

    from explorer.config import VAEConfig
    from explorer.model import VAE
    from train.export import build_bundle

    cache = synthetic_cache(n_train=1024, n_valid=128, size=32)
    model = VAE(VAEConfig(image_size=32, latent_dim=8, channels=(4, 8, 8))).eval()
    b = build_bundle(model, cache, [0, 1], "cpu", tsne=False, log=lambda m: None)
    assert b.classifier.info["trained_on"] == 1024 and b.classifier.info["held_out"] == 128
    assert b.classifier.attribute_names == list(cache.attribute_names)
    assert set(sc.KEYS) <= set(b.scorecard) and b.scorecard["faces"] == 1152
    small = build_bundle(model, synthetic_cache(n_train=64, n_valid=16, size=32), [0, 1], "cpu", tsne=False,
                         log=lambda m: None)
    assert small.classifier is None and small.scorecard is not None  # too few faces to train a judge on


def test_comparison_text_says_which_code_is_more_disentangled():
    a = {"MIG": 0.010, "SAP": 0.027, "DCI_disentanglement": 0.314, "DCI_completeness": 0.1890,
         "DCI_informativeness": 0.779, "total_correlation": 19.0, "active_units": 128}
    b = {"MIG": 0.016, "SAP": 0.034, "DCI_disentanglement": 0.362, "DCI_completeness": 0.1886,
         "DCI_informativeness": 0.757, "total_correlation": 6.3, "active_units": 128}
    text = sc.comparison_text(a, b, "β=1", "β=4")
    assert text.startswith("β=4's code is the more disentangled: it scores higher than β=1 on 3 of the 4")
    assert "β=1's code predicts the attributes better" in text and "β=4's dimensions are closer to independent" in text
    assert sc.better("DCI_completeness", 0.1890, 0.1886) == ""  # equal to the three decimals shown
    assert sc.better("total_correlation", 19.0, 6.3) == "B" and sc.better("active_units", 128, 64) == ""
    split = dict(a, MIG=0.02, SAP=0.04)  # two scores each
    assert sc.comparison_text(split, b).startswith("Neither code is clearly the more disentangled")
