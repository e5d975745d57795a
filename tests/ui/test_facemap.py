"""Faces on the map: explorer.analysis.sprites on its own, then the map's Faces toggle in AppTest."""
from __future__ import annotations

import json

import numpy as np
import torch

from explorer import load_checkpoint
from explorer.analysis import sprites
from test_app import ckpt, image_captions, ok, start  # noqa: F401  (ckpt and start are fixtures)


def test_decode_thumbnails_batches_and_shrinks_exactly():
    calls = []

    def decode(z):  # face i is flat grey i/10, 8x8 pixels
        calls.append(len(z))
        return z[:, :1, None, None].expand(len(z), 3, 8, 8) / 10

    mu = np.arange(10, dtype=np.float32)[:, None].repeat(3, 1)
    thumbs, seconds = sprites.decode_thumbnails(decode, mu, size=4, batch=4)
    assert calls == [4, 4, 2] and thumbs.shape == (10, 4, 4, 3) and thumbs.dtype == np.uint8 and seconds >= 0
    assert thumbs[7, 2, 1, 0] == round(0.7 * 255)  # area averaging of a flat image keeps its value


def test_sprite_sheet_places_face_i_at_its_cell():
    thumbs = np.stack([np.full((4, 4, 3), i, np.uint8) for i in range(10)])
    sheet, cols = sprites.sprite_sheet(thumbs)
    assert cols == 4 and sheet.shape == (12, 16, 3)
    for i in range(10):
        r, c = divmod(i, cols)
        assert (sheet[r * 4:(r + 1) * 4, c * 4:(c + 1) * 4] == i).all()
    jpeg = sprites.sheet_bytes(np.full((64, 64, 3), 128, np.uint8))
    assert jpeg[:2] == b"\xff\xd8"


def test_place_thumbnails_never_overlaps_and_follows_the_priority():
    rng = np.random.default_rng(0)
    px = rng.random((3000, 2)) * 500
    order = sprites.priority_order(len(px), seed=1)
    kept = sprites.place_thumbnails(px, 20, order)
    assert kept[0] == order[0] and 100 < len(kept) < 700
    d = np.abs(px[kept][:, None] - px[kept][None])
    overlap = (d[..., 0] < 20) & (d[..., 1] < 20)
    assert overlap.sum() == len(kept)  # each only with itself
    # greedy is maximal: every point left out overlaps a kept one
    out = np.setdiff1d(np.arange(len(px)), kept)
    e = np.abs(px[out][:, None] - px[kept][None])
    assert ((e[..., 0] < 20) & (e[..., 1] < 20)).any(1).all()
    inside = sprites.place_thumbnails(px, 20, order, bounds=(0, 0, 250, 250), limit=5)
    assert len(inside) == 5 and (px[inside] <= 240).all() and (px[inside] >= 10).all()


def test_map_mosaic_draws_faces_at_their_points():
    xy = np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 0.0]])
    thumbs = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 100, 200)])
    img = sprites.map_mosaic(xy, thumbs, width=200, height=200, size=8)
    assert img.shape == (200, 200, 3)
    px = sprites.to_pixels(xy, 200, 200, margin=6)
    for i, v in enumerate((10, 100, 200)):
        x, y = np.round(px[i]).astype(int)
        assert (img[y - 2:y + 2, x - 2:x + 2] == v).all()
    assert px[1, 1] < px[2, 1]  # y points up on the map, down in the picture


def test_thumbnails_are_kept_on_disk_once_per_checkpoint(tmp_path):
    calls = []

    def decode(z):
        calls.append(len(z))
        return torch.rand(len(z), 3, 8, 8)

    mu = np.zeros((6, 3), np.float32)
    a, _, cached = sprites.cached_thumbnails(decode, mu, "ck.pt:1", size=4, folder=tmp_path)
    b, _, cached2 = sprites.cached_thumbnails(decode, mu, "ck.pt:1", size=4, folder=tmp_path)
    assert not cached and cached2 and calls == [6] and (a == b).all()
    sprites.cached_thumbnails(decode, mu, "ck.pt:2", size=4, folder=tmp_path)  # a newer file: decoded again
    assert calls == [6, 6]
    for f in tmp_path.iterdir():
        f.write_bytes(b"garbage")
    _, _, cached3 = sprites.cached_thumbnails(decode, mu, "ck.pt:1", size=4, folder=tmp_path)
    assert not cached3 and calls == [6, 6, 6]


def _component(at):
    return next(e for e in at.main.get("bidi_component"))


def test_map_faces_toggle_sends_points_and_a_sheet(start, ckpt, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    at = ok(start(view="map"))
    assert at.get("plotly_chart") and not at.main.get("bidi_component")
    at.toggle(key="map_faces_on").set_value(True).run()
    ok(at)
    assert at.query_params["faces"] == "1" and not at.get("plotly_chart")
    data = json.loads(_component(at).proto.json)
    n = len(load_checkpoint(ckpt).bundle)
    assert len(data["x"]) == len(data["y"]) == len(data["c"]) == n and sorted(data["order"]) == list(range(n))
    assert data["sheet"].endswith(".jpg") and data["cols"] ** 2 >= n and data["faces"] and data["selected"] is None
    assert data["legend"][1][0].startswith("Smiling (")  # coloured by Smiling, the default
    assert "faces decoded from their encodings" in " ".join(c.value for c in at.caption)
    assert list(tmp_path.glob("sprites/*.npy"))  # kept for the next server start
    at.number_input(key="map_row").set_value(5).run()
    assert json.loads(_component(ok(at)).proto.json)["selected"] == 5 and "row 5" in image_captions(at)
    at.selectbox(key="map_color").set_value("kl").run()
    data = json.loads(_component(ok(at)).proto.json)
    assert len(data["palette"]) == 16 and max(data["c"]) == 15 and min(data["c"]) == 0
    again = ok(start(view="map", faces="1"))
    assert again.main.get("bidi_component") and again.toggle(key="map_faces_on").value is True
    bad = start(view="map", faces="yes")
    assert not bad.exception and any("faces=" in w.value for w in bad.warning)


def test_thumbnail_size_keeps_the_decoded_sheet_small():
    assert sprites.thumb_size(5441) == 32 and sprites.thumb_size(12000) == 24 and sprites.thumb_size(25000) == 16
    assert sprites.thumb_size(12000) ** 2 * 4 * 12000 <= 28 * 2**20


def test_the_bundled_sprite_sheet_gives_back_each_face_at_its_place():
    """sprites.bundled is the sheet train.export stores; unbundled cuts it back into faces, face i at i."""

    def decode(z):  # smooth faces (JPEG keeps them): a left-to-right ramp whose colour is set by z
        ramp = torch.linspace(0, 1, 64)[None, None, None, :].expand(len(z), 3, 64, 64)
        return (0.2 + 0.6 * torch.sigmoid(z[:, :3, None, None]) * ramp).clamp(0, 1)

    mu = np.random.default_rng(0).normal(size=(90, 8)).astype(np.float32)
    packed = sprites.bundled(decode, mu)
    thumbs = sprites.unbundled(packed, len(mu))
    want, _ = sprites.decode_thumbnails(decode, mu.astype(np.float16).astype(np.float32), packed["size"])
    assert thumbs.shape == want.shape == (90, packed["size"], packed["size"], 3)
    assert packed["size"] == sprites.BUNDLED_THUMB < sprites.thumb_size(90)  # a checkpoint's sheet stays small
    assert np.abs(thumbs.astype(int) - want.astype(int)).mean() < 3  # JPEG (quality 80): close, not equal
    # face i is at place i: each thumbnail is nearer its own face than any other
    err = np.abs(thumbs[:, None].astype(int) - want[None].astype(int)).mean(axis=(2, 3, 4))
    assert (err.argmin(axis=1) == np.arange(90)).all()
    try:
        sprites.unbundled(packed, 500)
        raise AssertionError("a sheet too small for 500 faces was read")
    except ValueError as e:
        assert "does not hold 500 faces" in str(e)


def test_the_export_bundles_the_map_faces_and_the_app_reads_them_from_the_checkpoint(start, tmp_path, monkeypatch):
    """A bundle that carries the sprite sheet (train.export decodes every encoding once) makes the Faces
    toggle read the sheet instead of decoding the bundle again, and the caption says where they came from."""
    from explorer.checkpoint import atomic_torch_save, read_checkpoint_dict
    from test_app import make_checkpoint_file

    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    path = make_checkpoint_file(tmp_path / "with_faces.pt", n_rows=90, latent_dim=8)
    vae = load_checkpoint(path)
    packed = sprites.bundled(vae.decode, vae.bundle.mu)
    data = read_checkpoint_dict(path)
    vae.bundle.sprites = packed
    data["bundle"] = vae.bundle.to_plain()
    atomic_torch_save(data, path)
    assert load_checkpoint(path).bundle.sprites["jpeg"] == packed["jpeg"]  # the round trip through the file

    def decode_fails(*a, **k):
        raise AssertionError("the faces were decoded again")

    monkeypatch.setattr(sprites, "decode_thumbnails", decode_fails)
    at = ok(start("--checkpoint", str(path), view="map", faces=1))
    with_sheet = [c.value for c in at.caption if "faces read in" in c.value]
    assert with_sheet and "90 faces" in with_sheet[0] and "from the checkpoint" in with_sheet[0]
