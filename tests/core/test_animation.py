"""Animated exports (explorer.animation): the files decode, loop forward and back, and start at the face the
page shows; each of the three views offers them (AppTest)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from explorer import animation, latent
from explorer.ui import models as ui_models
from test_app import ckpt, ok, start  # noqa: F401
from test_app_practitioner import served  # noqa: F401

N_FRAMES = 2 * animation.STEPS - 2


def gif_frames(data: bytes) -> tuple[list[np.ndarray], dict]:
    im = Image.open(io.BytesIO(data))
    assert im.format == "GIF"
    return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)], dict(im.info)


def mp4_frames(data: bytes, tmp_path) -> tuple[list[np.ndarray], dict]:
    import imageio_ffmpeg

    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader], meta


def shrink(frame: np.ndarray, scale: int = animation.SCALE) -> np.ndarray:
    """Undo the pixel repetition: one pixel of each scale×scale block."""
    return frame[scale // 2::scale, scale // 2::scale]


def close(a: np.ndarray, b: np.ndarray, mean: float, p99: float) -> bool:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return d.shape == (*b.shape[:2], 3) and d.mean() < mean and np.percentile(d, 99) < p99


def _faces(t: int, k: int = 1, size: int = 16) -> np.ndarray:
    """(t,k,S,S,3) faces whose colour says their step: a smooth ramp, as decoded faces are."""
    ramp = np.linspace(20, 235, t).astype(np.uint8)
    faces = np.zeros((t, k, size, size, 3), np.uint8)
    faces[..., 0] = ramp[:, None, None, None]
    faces[..., 1] = 255 - ramp[:, None, None, None]
    faces[..., 2] = np.arange(size, dtype=np.uint8)[None, None, :, None] * 8
    return faces


def test_frames_play_forward_and_back_without_repeating_the_ends():
    assert animation.back_and_forth(4).tolist() == [0, 1, 2, 3, 2, 1]
    faces = _faces(5, k=2)
    video = animation.frames(faces, scale=2, pad=2)
    assert video.shape == (8, 2 * 16, 2 * (2 * 16 + 2), 3)
    assert np.array_equal(shrink(video[0], 2)[:, :16], faces[0, 0]) and np.array_equal(video[4], video[2 * 1 + 2])
    assert np.array_equal(video[1], video[-1])  # the loop closes on the step after the first


def test_gif_and_mp4_decode_to_the_frames(tmp_path):
    faces = _faces(animation.STEPS)
    video = animation.frames(faces)
    frames, info = gif_frames(animation.gif_bytes(video))
    assert len(frames) == N_FRAMES and info.get("loop") == 0 and info.get("duration") == round(1000 / animation.FPS)
    assert frames[0].shape == video[0].shape and close(shrink(frames[0]), faces[0, 0], 3, 12)
    assert close(shrink(frames[animation.STEPS - 1]), faces[-1, 0], 3, 12)
    frames, meta = mp4_frames(animation.mp4_bytes(video), tmp_path)
    assert len(frames) == N_FRAMES and tuple(meta["size"]) == (video.shape[2], video.shape[1])
    assert meta["fps"] == animation.FPS and meta["codec"].startswith("h264")
    assert close(shrink(frames[0]), faces[0, 0], 4, 20) and close(shrink(frames[animation.STEPS - 1]), faces[-1, 0], 4, 20)
    with pytest.raises(animation.AnimationError, match="even"):
        animation.mp4_bytes(np.zeros((3, 15, 16, 3), np.uint8))


def _button(at, name: str, fmt: str):
    return next(b for b in at.get("download_button") if b.proto.id.endswith(f"dl_anim_{name}_{fmt}"))


def _model(at):
    import sys

    return ui_models.load_model(Path(sys.argv[sys.argv.index("--checkpoint") + 1]))


def _check(at, served, name: str, first: np.ndarray, last: np.ndarray, tmp_path) -> None:
    """Both files of ``name`` decode to N_FRAMES frames that start at ``first`` and turn at ``last``."""
    gif, _ = gif_frames(served(_button(at, name, "gif")))
    mp4, _ = mp4_frames(served(_button(at, name, "mp4")), tmp_path)
    for frames in (gif, mp4):
        assert len(frames) == N_FRAMES and frames[0].shape == (first.shape[0] * animation.SCALE,
                                                                first.shape[1] * animation.SCALE, 3)
        for got, want, other in ((frames[0], first, last), (frames[animation.STEPS - 1], last, first)):
            # the tiny test model draws colour noise, which a 256-colour GIF palette and H.264 blur by a few
            # levels (real faces: about 2): near the expected face, and far nearer it than the other end
            err = np.abs(shrink(got).astype(int) - want.astype(int)).mean()
            assert err < 6 and err < 0.5 * np.abs(shrink(got).astype(int) - other.astype(int)).mean()


def test_sliders_view_exports_the_traversal_of_the_face_shown(start, served, tmp_path):
    at = ok(start(view="sliders", dims="3:1.5", dim=2))
    model, s = _model(at), at.session_state["vs"]
    z = model.z_of(s.base)
    z[3] = 1.5
    ends = model.faces(latent.traversal(z, 2, np.array([-3.0, 3.0])))
    _check(at, served, "traversal_z2", ends[0], ends[1], tmp_path)


def test_arithmetic_view_exports_the_strength_sweep(start, served, tmp_path):
    at = ok(start(view="arithmetic", edit="Smiling:2"))
    model, s = _model(at), at.session_state["vs"]
    from explorer.ui.arithmetic import directions

    z0 = model.z_of(s.base)
    d = directions(model, s.direction)[model.edit_names.index("Smiling")]
    z1 = latent.edit(z0, d[None], [2.0])
    ends = model.faces(latent.strength_strip(z0, z1 - z0, [-1.0, 2.0]))
    _check(at, served, "strength_sweep", ends[0], ends[1], tmp_path)
    assert not [b for b in ok(start(view="arithmetic")).get("download_button") if "dl_anim_" in b.proto.id]  # no edit


def test_interpolation_view_exports_lerp_and_slerp_side_by_side(start, served, tmp_path):
    at = ok(start(view="interpolate", end="row:4"))
    model, s = _model(at), at.session_state["vs"]
    a, b = model.z_of(s.base), model.z_of(s.end)
    fa, fb = model.faces(np.stack([a, b]))
    pad = np.full((fa.shape[0], 2, 3), 255, np.uint8)
    _check(at, served, "interpolation", np.concatenate([fa, pad, fa], 1), np.concatenate([fb, pad, fb], 1), tmp_path)
