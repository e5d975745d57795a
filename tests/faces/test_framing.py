"""explorer.faces.framing: the move maths, the training command, and the shipped network on real CelebA faces."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from celeba_fixtures import make_celeba
from conftest import ROOT
from explorer.faces import detect as faces, framing
from test_faces import SAMPLE, realdata


def test_the_move_matrix_and_apply_move_agree():
    params = torch.tensor([[3.0, -2.0, 0.05, -0.03], [0.0, 0.0, 0.0, 0.0]])
    pts = torch.tensor([[0.0, 0.0], [177.0, 217.0], [40.0, 150.0]])
    moved = framing.apply_move(params, pts)
    for row, out in zip(params, moved):
        m = framing.move_matrix(row.numpy())
        expect = np.array([m @ np.array([x, y, 1.0]) for x, y in pts.numpy()])[:, :2]
        np.testing.assert_allclose(out.numpy(), expect, atol=1e-4)
    np.testing.assert_allclose(moved[1].numpy(), pts.numpy(), atol=1e-6)  # the zero move is the identity
    # the frame's centre stays put under a pure scale and turn
    centre = torch.tensor([framing.CENTRE])
    np.testing.assert_allclose(framing.apply_move(torch.tensor([[0, 0, 0.07, 0.02]]), centre)[0].numpy(),
                               centre.numpy(), atol=1e-4)


def test_warp_half_moves_the_picture_by_the_move():
    rng = np.random.default_rng(0)
    img = torch.from_numpy(rng.integers(0, 256, (1, 3, 109, 89), dtype=np.uint8))
    same = framing.warp_half(img, torch.zeros(1, 4))
    np.testing.assert_allclose(same.numpy(), img.numpy() / 255, atol=1e-5)
    # out(p) = image(p + t): a shift of 4 frame pixels is 2 half-resolution pixels
    shifted = framing.warp_half(img, torch.tensor([[4.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(shifted[..., :, :-2].numpy(), img[..., :, 2:].numpy() / 255, atol=1e-5)


def test_framing_rms_is_the_grid_displacement_in_pixels():
    zero = torch.zeros(1, 4)
    assert framing.framing_rms(zero, zero).item() == pytest.approx(0.0)
    assert framing.framing_rms(torch.tensor([[3.0, 4.0, 0.0, 0.0]]), zero).item() == pytest.approx(5.0, abs=1e-4)
    # the same measure for a 2×3 transform: the identity moves nothing, a shift by its length, and a move's
    # own matrix as far as framing_rms says
    assert framing.transform_rms(np.eye(3)[:2]) == pytest.approx(0.0)
    assert framing.transform_rms(np.array([[1.0, 0, 3], [0, 1.0, 4]])) == pytest.approx(5.0)
    move = torch.tensor([[1.0, -2.0, 0.03, 0.02]])
    assert framing.transform_rms(framing.move_matrix(move[0].numpy())[:2]) == pytest.approx(
        framing.framing_rms(move, zero).item(), rel=1e-5)


def test_predict_move_refuses_a_frame_of_another_size():
    with pytest.raises(ValueError, match="178×218"):
        framing.predict_move(np.zeros((64, 64, 3), np.uint8))


def test_the_training_command_writes_weights_that_load(tmp_path):
    data = make_celeba(tmp_path / "full", n=12)
    half = make_celeba(tmp_path / "half", n=6, size=(89, 109), seed=1, partitions=[0] * 6)
    out = tmp_path / "framing.pt"
    r = subprocess.run([sys.executable, "-m", "train.framing", "--data-dir", str(data), "--data-dir", str(half),
                        "--out", str(out), "--epochs", "1", "--batch", "4"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1" in r.stdout and "valid:" in r.stdout
    net = framing.load_net(str(out))
    move = framing.predict_move(np.zeros((218, 178, 3), np.uint8), net)
    assert move.shape == (4,) and np.isfinite(move).all()
    # the second stage goes on from the first one's weights: with a learning rate of almost nothing, it
    # ends where the first one did, not at a fresh network
    second = tmp_path / "framing-2.pt"
    r = subprocess.run([sys.executable, "-m", "train.framing", "--data-dir", str(data), "--init", str(out),
                        "--small-moves", "0.5", "--lr", "1e-9", "--out", str(second), "--epochs", "1", "--batch", "4"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    first_w, second_w = (framing.FramingNet.load(p).head[-1].weight for p in (out, second))
    assert torch.allclose(first_w, second_w, atol=1e-3)
    assert not torch.allclose(first_w, framing.FramingNet().head[-1].weight, atol=1e-3)


def test_the_training_command_names_an_image_of_the_wrong_size(tmp_path):
    data = make_celeba(tmp_path, n=4, size=(120, 150), partitions=[0] * 4)
    r = subprocess.run([sys.executable, "-m", "train.framing", "--data-dir", str(data), "--out",
                        str(tmp_path / "f.pt"), "--epochs", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "000001.jpg" in r.stderr and "120×150" in r.stderr
    assert not (tmp_path / "f.pt").exists()


def test_the_network_is_blind_to_the_edges_where_a_crop_shows_the_scene():
    """What lies within BLIND half-pixels of the crop's edges (the scene around a face in a photo, or a
    reflection in training) changes nothing; the middle does."""
    net = framing.FramingNet().eval()  # untrained weights: blindness is the architecture's, not learnt
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((1, 3, framing.HALF[1], framing.HALF[0]), np.float32))
    edges = x.clone()
    b = framing.BLIND
    for region in (np.s_[..., :b, :], np.s_[..., -b:, :], np.s_[..., :, :b], np.s_[..., :, -b:]):
        edges[region] = torch.from_numpy(rng.random(edges[region].shape, np.float32))
    middle = x.clone()
    middle[..., b + 5, b + 5] += 0.5
    with torch.no_grad():
        assert torch.equal(net(x), net(edges))
        assert not torch.allclose(net(x), net(middle))


def _valid_half_frames(n: int) -> torch.Tensor:
    from explorer.celeba import open_celeba
    from train.framing import load_half_frames

    index = open_celeba(SAMPLE)
    return load_half_frames(index, np.flatnonzero(index.partition == 1)[:n])


@realdata
def test_the_shipped_network_undoes_a_random_move_of_celeba_faces():
    """Valid-partition faces (people never trained on), moved by up to 8 px, 8% and 8° (9 px RMS on
    average): two passes bring them back to under 2.5 px (1.6 px with the shipped weights; 1.5 px after the
    third pass that align makes)."""
    net = framing.load_net()
    frames = _valid_half_frames(120)
    moves = framing.random_moves(len(frames), torch.Generator().manual_seed(5))
    before = framing.framing_rms(moves, torch.zeros_like(moves))
    with torch.no_grad():
        first = net(framing.warp_half(frames, moves))
        # the second pass sees the frame moved by what the first one left (the composition of the moves)
        left = torch.stack([torch.from_numpy(_compose(m, p)) for m, p in zip(moves.numpy(), first.numpy())]).float()
        second = net(framing.warp_half(frames, left))
        after = framing.framing_rms(torch.stack([torch.from_numpy(_compose(m, p)) for m, p in
                                                 zip(left.numpy(), second.numpy())]).float(), torch.zeros_like(moves))
    assert before.mean() > 5
    assert after.mean() < 2.5 and after.mean() < 0.3 * before.mean(), (before.mean(), after.mean())


def _compose(move: np.ndarray, correction: np.ndarray) -> np.ndarray:
    """The move left after a correction, as (tx, ty, a, b): the frame I∘Q re-cut by Q̂ (the app's m -> Q̂·m)
    is I∘Q∘Q̂⁻¹."""
    m = framing.move_matrix(move) @ np.linalg.inv(framing.move_matrix(correction))
    c = np.array(framing.CENTRE)
    a, b = m[0, 0] - 1, m[1, 0]
    t = m[:2, 2] - (c - m[:2, :2] @ c)
    return np.array([t[0], t[1], a, b])


@realdata
def test_the_network_frames_celeba_faces_closer_than_landmarks_alone():
    """CelebA's own valid images, found and aligned again: with the framing network the app moves them
    less off CelebA's framing than the landmark fit alone does."""
    from explorer.celeba import open_celeba

    index = open_celeba(SAMPLE)
    err = {True: [], False: []}
    for i in np.flatnonzero(index.partition == 1)[:40]:
        img = index.open_image(int(i)).convert("RGB")
        found = faces.find_faces(img)
        assert found, index.image_path(int(i))
        for refine in err:
            err[refine].append(framing.transform_rms(faces.frame_transform(img, found[0], refine=refine)))
    assert np.mean(err[True]) < 0.8 * np.mean(err[False]), (np.mean(err[True]), np.mean(err[False]))


def test_align_applies_the_network_and_can_leave_it_out(monkeypatch):
    """refine=False is the landmark fit alone; refine=True moves the frame by what the network predicts."""
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 260, 3), np.uint8))
    face = faces.Face(box=(0, 0, 1, 1), landmarks=faces.TARGET_LANDMARKS, score=1.0)
    calls = []

    def fake(frame, net=None):
        calls.append(frame.shape)
        return np.array([2.0, 0.0, 0.0, 0.0])

    monkeypatch.setattr(framing, "predict_move", fake)
    plain = faces.frame_transform(img, face, refine=False)
    refined = faces.frame_transform(img, face, refine=True)
    assert calls == [(218, 178, 3)] * faces.REFINE_STEPS
    np.testing.assert_allclose(plain, [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    # each pass composes its move Q with the transform (m -> Q·m): 2 px of x shift per pass
    np.testing.assert_allclose(refined[:, 2], [2.0 * faces.REFINE_STEPS, 0.0], atol=1e-9)
