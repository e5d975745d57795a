"""AppTest runs of the Reconstruction view's "your own face": uploads and camera snapshots go through
find faces -> choose -> align -> preprocess -> encode (tiny checkpoint; real faces from the CelebA sample)."""
from __future__ import annotations

import io

from PIL import Image

from test_app import ckpt, image_captions, images, ok, start  # noqa: E402,F401  (fixtures for this module)
from test_faces import paste, realdata, sample_image, smooth_image, valid_names  # noqa: E402


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def checkbox(at, label: str):
    return next(c for c in at.checkbox if c.label == label)


def test_a_photo_without_a_face_says_so_and_offers_the_centre_crop(start):
    at = ok(start(view="reconstruct"))
    at.file_uploader(key="recon_upload").set_value(("wall.jpg", jpeg(smooth_image(640, 480)), "image/jpeg")).run()
    ok(at)
    assert any(w.value.startswith("wall.jpg: no face found") for w in at.warning)
    assert images(at) == []  # nothing is reconstructed until the person asks for the centre crop
    checkbox(at, "Use the plain centre crop instead").check().run()
    ok(at)
    assert len(images(at)) == 1 and "wall.jpg, centre crop: model input · reconstruction" in image_captions(at)
    at.button(key="recon_base_0").click().run()
    assert ok(at).query_params["base"].startswith("z:")


@realdata
def test_one_face_in_a_photo_is_aligned_and_reconstructed(start):
    face = sample_image(valid_names(1)[0])
    photo = paste((900, 650), [(face, 300, (420, 180))])
    at = ok(start(view="reconstruct"))
    at.file_uploader(key="recon_upload").set_value(("me.jpg", jpeg(photo), "image/jpeg")).run()
    ok(at)
    assert not at.warning and not at.main.get("radio")  # one face: nothing to choose
    assert "aligned like CelebA (178×218)" in image_captions(at)
    assert "me.jpg, the face: model input · reconstruction" in image_captions(at)
    assert {b.label for b in at.get("download_button")} >= {"Aligned crop", "Download PNG"}
    at.button(key="recon_base_0").click().run()
    assert ok(at).query_params["base"].startswith("z:")


@realdata
def test_several_faces_offer_a_choice_with_thumbnails(start):
    a, b = (sample_image(n) for n in valid_names(2))
    photo = paste((1000, 600), [(a, 220, (60, 150)), (b, 330, (560, 100))])
    at = ok(start(view="reconstruct"))
    at.file_uploader(key="recon_upload").set_value(("pair.jpg", jpeg(photo), "image/jpeg")).run()
    ok(at)
    assert any(c.value == "2 faces in pair.jpg, largest first:" for c in at.caption)
    radio = at.main.get("radio")[0]
    assert radio.label == "Face to reconstruct" and radio.options == ["Face 1", "Face 2"] and radio.value == 0
    first = images(at)
    assert "face 1 of 2" in image_captions(at)
    radio.set_value(1).run()
    ok(at)
    assert "face 2 of 2" in image_captions(at) and images(at)[1:] != first[1:]  # thumbnails stay, the face changes
    at.button(key="recon_base_0").click().run()
    assert ok(at).query_params["base"].startswith("z:")


@realdata
def test_a_camera_snapshot_goes_the_same_way(start):
    face = sample_image(valid_names(3)[2])
    at = ok(start(view="reconstruct"))
    assert not at.camera_input  # the browser is not asked for the camera until the person turns it on
    at.toggle(key="recon_camera_on").set_value(True).run()
    shot = paste((640, 480), [(face, 260, (190, 80))])
    at.camera_input(key="recon_camera").set_value(("image.jpg", jpeg(shot), "image/jpeg")).run()
    ok(at)
    assert "camera snapshot, the face: model input · reconstruction" in image_captions(at)


def test_broken_upload_still_reports_its_reason(start):
    at = start(view="reconstruct")
    at.file_uploader(key="recon_upload").set_value([("notes.png", b"plain text", "image/png"),
                                                    ("wall.jpg", jpeg(smooth_image(320, 240)), "image/jpeg")]).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["notes.png: not an image that can be read (JPEG, PNG or WebP expected)"]
    assert any(w.value.startswith("wall.jpg: no face found") for w in at.warning)

