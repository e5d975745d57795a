"""Kinds of an attribute (explorer.analysis.kinds): grouping the faces that have it by what the decoder draws,
and one direction per kind."""
import numpy as np
import pytest

from explorer import latent
from explorer.analysis import kinds
from explorer.celeba import ATTRIBUTE_NAMES

HAT = ATTRIBUTE_NAMES.index("Wearing_Hat")


def _two_kinds_of_hat(n=3000, seed=0):
    """Hats in two kinds: a dark one that moves dimension 0 and a light one that moves dimension 1 (60/40).
    The fake decoder paints the top of the head dark where z0 is high and light where z1 is."""
    rng = np.random.default_rng(seed)
    a = (rng.random((n, 40)) < 0.2).astype(np.uint8)
    truth = np.where(a[:, HAT] == 1, (rng.random(n) < 0.4).astype(np.int8), -1)
    mu = rng.standard_normal((n, 6)).astype(np.float32) * 0.3
    mu[:, 0] += 2.0 * (truth == 0)
    mu[:, 1] += 2.0 * (truth == 1)

    def decode(z, rows=slice(0, 9)):  # the top of the head, above the eyes (the band from 34% of 32 rows)
        img = np.full((len(z), 3, 32, 32), 0.5, np.float32)
        shade = np.clip(0.5 + 0.2 * z[:, 1] - 0.2 * z[:, 0], 0, 1)
        img[:, :, rows] = shade[:, None, None, None]
        return img
    return mu, a, truth, decode


def test_kinds_are_found_from_what_the_decoder_draws_and_each_gets_its_own_direction():
    mu, a, truth, decode = _two_kinds_of_hat()
    found = kinds.find_kinds(decode, mu, a, ATTRIBUTE_NAMES, k=2)
    # Eyeglasses has faces enough, but the decoder draws every pair of eyes alike: no kinds
    assert list(found) == ["Wearing_Hat"]
    labels = found["Wearing_Hat"]
    assert ((labels >= 0) == (a[:, HAT] == 1)).all()
    # numbered by size: the 60% kind (truth 0) is kind 0; almost every face in its true group
    has = labels >= 0
    assert (labels[has] == truth[has]).mean() > 0.97
    one = latent.held_directions(mu, a)[HAT]
    for estimator in ("held", "balanced", "mean"):
        names, d = kinds.kind_directions(estimator, mu, a, ATTRIBUTE_NAMES, found)
        assert names == ["Wearing_Hat.1", "Wearing_Hat.2"]
        np.testing.assert_allclose(d[0, :2], [2.0, 0.0], atol=0.15)
        np.testing.assert_allclose(d[1, :2], [0.0, 2.0], atol=0.15)
    # the one direction of the attribute is the smear between them
    np.testing.assert_allclose(one[:2], [1.2, 0.8], atol=0.15)


def test_eyeglasses_kinds_read_the_band_of_the_eyes_not_the_top_of_the_head():
    mu, a, truth, decode = _two_kinds_of_hat()
    glasses = ATTRIBUTE_NAMES.index("Eyeglasses")
    a[:, glasses] = a[:, HAT]
    found = kinds.find_kinds(lambda z: decode(z, rows=slice(13, 18)), mu, a, ATTRIBUTE_NAMES, k=2)
    assert list(found) == ["Eyeglasses"]  # the decoder now draws the two kinds at the eyes only
    has = a[:, glasses] == 1
    assert (found["Eyeglasses"][has] == truth[has]).mean() > 0.97


def test_too_few_faces_with_the_attribute_give_no_kinds():
    mu, a, truth, decode = _two_kinds_of_hat(n=200)
    a[:, HAT] = 0
    a[:kinds.N_KINDS * kinds.MIN_PER_KIND - 1, HAT] = 1
    assert "Wearing_Hat" not in kinds.find_kinds(decode, mu, a, ATTRIBUTE_NAMES)


@pytest.mark.parametrize("name, parsed, shown", [
    ("Wearing_Hat.1", ("Wearing_Hat", 0), "Wearing Hat, kind 1"),
    ("Eyeglasses.3", ("Eyeglasses", 2), "Eyeglasses, kind 3"),
    ("5_o_Clock_Shadow", ("5_o_Clock_Shadow", None), "5 o Clock Shadow"),
    ("Smiling.0", ("Smiling.0", None), "Smiling.0"),
])
def test_edit_names_of_kinds(name, parsed, shown):
    assert kinds.split_name(name) == parsed and kinds.label(name) == shown
    if parsed[1] is not None:
        assert kinds.kind_name(*parsed) == name


def test_region_features_average_the_region_rows_in_blocks():
    img = np.zeros((1, 3, 64, 64), np.float32)
    img[:, 0, :8] = 1.0  # red in the top 8 rows
    f = kinds.region_features(img, (0.0, 0.25)).reshape(3, 4, 16)  # rows 0..16 in 4-pixel blocks
    assert f[0, :2].min() == 1.0 and f[0, 2:].max() == 0.0 and f[1:].max() == 0.0


def test_export_kinds_only_adds_kinds_to_a_checkpoint_and_keeps_the_rest(tmp_path, capsys):
    """The shipped files got their kinds this way: from the bundle's own encodings, no dataset, the map
    and the weights untouched."""
    import torch

    from explorer import load_checkpoint
    from test_app import make_checkpoint_file
    from train.export import main as export_main

    path = make_checkpoint_file(tmp_path / "m.pt", n_rows=900, latent_dim=8)
    before = torch.load(path, weights_only=True)
    del before["bundle"]["kinds"]  # as written before kinds existed
    torch.save(before, path)
    assert load_checkpoint(path).bundle.kinds is None
    export_main([str(path), "--kinds-only", "--out", str(tmp_path / "k.pt")])
    assert "kinds: Wearing_Hat [" in capsys.readouterr().out
    after = load_checkpoint(tmp_path / "k.pt").bundle
    hat = after.attributes[:, HAT] == 1
    assert ((after.kinds["Wearing_Hat"] >= 0) == hat).all()
    assert np.bincount(after.kinds["Wearing_Hat"][hat]).min() >= kinds.MIN_PER_KIND
    raw = torch.load(tmp_path / "k.pt", weights_only=True)
    for key in ("state_dict", "summary", "history"):
        assert str(raw[key]) == str(before[key])
    for key in ("mu", "tsne", "pca", "directions"):
        assert torch.equal(raw["bundle"][key], before["bundle"][key])


def test_export_kinds_only_needs_a_bundle(tmp_path):
    from test_app import make_checkpoint_file
    from train.export import main as export_main

    path = make_checkpoint_file(tmp_path / "bare.pt", bundle=False)
    with pytest.raises(SystemExit, match="no analysis bundle"):
        export_main([str(path), "--kinds-only"])


def test_bundle_kinds_round_trip_and_bad_kinds_are_refused(tmp_path):
    import torch

    from explorer import load_checkpoint
    from test_app import make_checkpoint_file

    b = load_checkpoint(make_checkpoint_file(tmp_path / "m.pt")).bundle
    labels = b.kinds["Wearing_Hat"]
    assert labels.dtype == np.int8 and ((labels >= 0) == (b.attributes[:, HAT] == 1)).all()
    again = type(b).from_plain(b.to_plain())
    np.testing.assert_array_equal(again.kinds["Wearing_Hat"], labels)
    for bad_kinds in ({"Wearing_Hat": torch.zeros(len(b) + 1, dtype=torch.int8)},
                      {"Not_An_Attribute": torch.zeros(len(b), dtype=torch.int8)}):
        bad = b.to_plain()
        bad["kinds"] = bad_kinds
        with pytest.raises(ValueError, match="kinds of"):
            type(b).from_plain(bad)
