"""The shipped attribute classifier (explorer.analysis.classifier): it learns, its held-out AUCs are honest, it survives
the checkpoint's plain-types round trip, and it judges an edit's side effects in the order the app shows."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from explorer.analysis.classifier import (AttributeClassifier, effect_text, held_out_aucs, side_effects, train_classifier,
                                 traversal_effects)

S = 32


def faces(n: int, seed: int):
    """uint8 (n,3,S,S) noise images with two planted attributes: 'Red' (a red cast) and 'Left' (a bright left
    half); a third, 'Coin', is a coin flip nothing in the image shows."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 3)) < 0.4).astype(np.uint8)
    x = rng.integers(0, 120, (n, 3, S, S)).astype(np.int64)
    x[labels[:, 0] == 1, 0] += 100
    x[labels[:, 1] == 1, :, :, : S // 2] += 100
    return np.clip(x, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def judge():
    images, labels = faces(768, 0)
    partition = np.where(np.arange(768) < 640, 0, 1).astype(np.uint8)
    return train_classifier(images, labels, partition, seed=0, log=lambda m: None,
                            attribute_names=["Red", "Left", "Coin"], epochs=4), images, labels


def test_it_learns_what_the_images_show_and_its_held_out_aucs_say_so(judge):
    clf, images, labels = judge
    assert clf.info["trained_on"] == 640 and clf.info["held_out"] == 128 and clf.image_size == S
    assert clf.aucs[0] > 0.95 and clf.aucs[1] > 0.95 and abs(clf.aucs[2] - 0.5) < 0.15
    fresh, fresh_labels = faces(300, 1)  # the stored AUCs agree with faces it never saw
    np.testing.assert_allclose(held_out_aucs(clf.probabilities(fresh), fresh_labels)[:2], clf.aucs[:2], atol=0.05)


def test_plain_round_trip_through_torch_load_weights_only(judge):
    clf, images, _ = judge
    buf = io.BytesIO()
    torch.save({"classifier": clf.to_plain()}, buf)
    buf.seek(0)
    back = AttributeClassifier.from_plain(torch.load(buf, weights_only=True)["classifier"])
    assert back.attribute_names == ["Red", "Left", "Coin"] and back.info == clf.info
    np.testing.assert_allclose(back.aucs, clf.aucs, atol=1e-6)
    # float16 weights: the probabilities move by far less than any change the app reports (2 decimals)
    np.testing.assert_allclose(back.probabilities(images[:64]), clf.probabilities(images[:64]), atol=5e-3)
    with pytest.raises(ValueError, match="lacks"):
        AttributeClassifier.from_plain({"width": 8})


def test_faces_of_another_size_are_resized(judge):
    clf, images, _ = judge
    big = torch.from_numpy(images[:32]).float().div(255).repeat_interleave(2, 2).repeat_interleave(2, 3)
    np.testing.assert_allclose(clf.probabilities(big), clf.probabilities(images[:32]), atol=1e-4)
    with pytest.raises(ValueError, match=r"\(N,3,S,S\)"):
        clf.probabilities(np.zeros((2, S, S)))


def test_held_out_falls_back_to_a_random_share_without_a_valid_partition():
    images, labels = faces(400, 2)
    clf = train_classifier(images, labels, np.zeros(400, np.uint8), seed=0, log=lambda m: None, epochs=1)
    assert clf.info["held_out"] == 40 and "random" in clf.info["held_out_from"]
    with pytest.raises(ValueError, match="399 label rows"):
        train_classifier(images, labels[:399], np.zeros(400, np.uint8))


def test_side_effects_put_the_intended_first_then_the_largest_others():
    names = ["Male", "Smiling", "Young", "Wearing_Hat", "Bald"]
    before = np.array([0.2, 0.1, 0.7, 0.0, 0.05])
    after = np.array([0.38, 0.72, 0.59, 0.3, 0.06])
    effects = side_effects(before, after, names, intended=["Smiling", "Wearing_Hat.2"])
    assert [e[0] for e in effects] == ["Smiling", "Wearing_Hat", "Male", "Young", "Bald"]
    assert [e[2] for e in effects] == [True, True, False, False, False]
    assert effects[0][1] == pytest.approx(0.62)
    assert effect_text(effects) == "Smiling +0.62, Wearing Hat +0.30, Male +0.18, Young −0.11"
    assert effect_text(side_effects(before, after, names), unintended=1) == "Smiling +0.62"


def test_traversal_effects_find_the_dimension_that_draws_an_attribute(judge):
    clf = judge[0]

    noise = np.random.default_rng(5).integers(0, 120, (3, S, S)) / 255.0

    def decode(z):  # z0 paints the red cast of the training faces, z1 nothing
        x = np.repeat(noise[None], len(z), 0)
        x[:, 0] += (np.asarray(z)[:, 0:1, None] > 0) * 100 / 255
        return torch.from_numpy(x).float()
    effects = traversal_effects(decode, clf, np.zeros((3, 2)), dims=[0, 1])
    assert effects.shape == (2, 3)
    assert effects[0, 0] > 0.3 and abs(effects[0, 1:]).max() < 0.1 and abs(effects[1]).max() < 1e-6


def test_a_bundle_carries_the_judge_and_the_scorecard_through_a_checkpoint_file(tmp_path):
    from explorer import load_checkpoint
    from explorer.celeba import ATTRIBUTE_NAMES
    from explorer.checkpoint import atomic_torch_save, read_checkpoint_dict
    from explorer.analysis.classifier import AttributeCNN
    from explorer.analysis.scorecard import compute_scorecard
    from test_app import make_checkpoint_file

    path = make_checkpoint_file(tmp_path / "a.pt", latent_dim=8)
    old = load_checkpoint(path).bundle
    assert old.scorecard is None and old.classifier is None  # a file written before these fields still loads
    torch.manual_seed(0)
    clf = AttributeClassifier(AttributeCNN(40, 8).eval(), list(ATTRIBUTE_NAMES), 32, np.linspace(0.6, 0.9, 40),
                              {"trained_on": 10})
    old.scorecard, old.classifier = compute_scorecard(old), clf
    data = read_checkpoint_dict(path)
    data["bundle"] = old.to_plain()
    atomic_torch_save(data, path)
    b = load_checkpoint(path).bundle  # weights_only=True
    assert b.scorecard == old.scorecard and b.classifier.info == {"trained_on": 10}
    faces = torch.rand(4, 3, 32, 32)
    np.testing.assert_allclose(b.classifier.probabilities(faces), clf.probabilities(faces), atol=5e-3)
