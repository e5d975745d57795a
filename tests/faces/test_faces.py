"""explorer.faces: the alignment maths on synthetic images, the detector on real CelebA faces."""
from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from explorer.faces import detect as faces
from explorer.config import PreprocessConfig
from explorer.preprocess import preprocess_to_uint8
from explorer import uploads

SAMPLE = Path(os.environ.get("CELEBA_SAMPLE", Path(__file__).resolve().parents[3] / "shared" / "celeba-sample"))
NO_SAMPLE = pytest.mark.skipif(not (SAMPLE / "img_align_celeba").is_dir(), reason=f"no CelebA sample at {SAMPLE}")


def realdata(test):
    """Marked realdata, and skipped where the CelebA sample is absent."""
    return pytest.mark.realdata(NO_SAMPLE(test))


def smooth_image(w: int, h: int, seed: int = 0) -> Image.Image:
    """Texture at several scales, so a misplaced crop changes many pixels."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (h // 4, w // 4, 3), np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    return img.filter(ImageFilter.GaussianBlur(1))


def face_at(landmarks, box=(0, 0, 1, 1)) -> faces.Face:
    return faces.Face(box=tuple(box), landmarks=tuple(tuple(map(float, p)) for p in landmarks), score=1.0)


def moved(m: np.ndarray, pts) -> list[tuple[float, float]]:
    return [tuple(m @ np.array([x, y, 1.0])) for x, y in pts]


# --------------------------------------------------------------------------------------------
# Alignment, without the detector: the landmark maths on textures, so without the framing network,
# which is tested on faces in test_framing.py
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["landmarks", "eyes"])
def test_a_face_already_at_the_target_comes_back_unchanged(method):
    img = smooth_image(*faces.ALIGNED_SIZE)
    out = faces.align(img, face_at(faces.TARGET_LANDMARKS), method, refine=False)
    assert out.size == faces.ALIGNED_SIZE and out.mode == "RGB"
    assert np.abs(np.asarray(out, int) - np.asarray(img, int)).max() <= 1


def test_box_alignment_maps_the_box_onto_celebas_mean_box():
    img = smooth_image(*faces.ALIGNED_SIZE)
    out = faces.align(img, face_at(faces.TARGET_LANDMARKS, faces.TARGET_BOX), "box", refine=False)
    assert np.abs(np.asarray(out, int) - np.asarray(img, int)).max() <= 1


@pytest.mark.parametrize("scale,angle", [(2.5, 0.0), (3.0, 17.0), (0.8, -25.0), (6.0, 8.0)])
def test_alignment_undoes_a_known_rotation_scale_and_shift(scale, angle):
    """Put an aligned image into a bigger photo by a known similarity; the landmarks carried along with it
    must bring back the original. Scale 6 exercises the block-averaging path for big photos."""
    original = smooth_image(*faces.ALIGNED_SIZE, seed=1)
    w, h = int(178 * scale * 1.5) + 300, int(218 * scale * 1.5) + 200  # room for the turned image, and more
    m = cv2.getRotationMatrix2D((89.0, 109.0), angle, scale)
    m[:, 2] += (w / 2 - 89 + 60, h / 2 - 109 - 40)  # off centre, all of it inside the photo
    photo = Image.fromarray(cv2.warpAffine(np.asarray(original), m, (w, h), flags=cv2.INTER_CUBIC,
                                           borderMode=cv2.BORDER_REFLECT_101))
    out = faces.align(photo, face_at(moved(m, faces.TARGET_LANDMARKS)), refine=False)
    # compare where the model looks (its centre crop); the photo's resampling costs a little sharpness
    cfg = PreprocessConfig(image_size=64, draft=False)
    a, b = preprocess_to_uint8(out, cfg).astype(int), preprocess_to_uint8(original, cfg).astype(int)
    assert np.abs(a - b).mean() < 4
    shifted = preprocess_to_uint8(original.transform(original.size, Image.Transform.AFFINE, (1, 0, 4, 0, 1, 0)),
                                  cfg).astype(int)
    assert np.abs(shifted - b).mean() > 3 * np.abs(a - b).mean()  # a 4-px slip would have shown


def test_alignment_refuses_degenerate_landmarks_and_unknown_methods():
    img = smooth_image(200, 200)
    with pytest.raises(ValueError, match="coincide"):
        faces.align(img, face_at([(50, 50)] * 5))
    with pytest.raises(ValueError, match="method must be"):
        faces.align(img, face_at(faces.TARGET_LANDMARKS), "nose")


# --------------------------------------------------------------------------------------------
# The detector on inputs without faces
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("img", [
    Image.new("RGB", (400, 300), (128, 128, 128)),
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)),
    smooth_image(640, 480, seed=3),
    Image.new("RGB", (8, 8), (0, 0, 0)),  # smaller than the detector's smallest window
    Image.new("L", (300, 300), 40),
], ids=["grey", "noise", "texture", "tiny", "grayscale"])
def test_no_face_gives_none(img):
    assert faces.find_faces(img) == []
    assert faces.align_face(img) is None


# --------------------------------------------------------------------------------------------
# Real CelebA faces
# --------------------------------------------------------------------------------------------

def sample_image(name: str) -> Image.Image:
    return Image.open(SAMPLE / "img_align_celeba" / name).convert("RGB")


def paste(canvas_size, items, seed: int = 0) -> Image.Image:
    """items: (image, width in pixels, (left, top)) pasted on a textured background, saved as a JPEG."""
    canvas = smooth_image(*canvas_size, seed=seed)
    for img, width, pos in items:
        canvas.paste(img.resize((width, round(width * img.height / img.width)), Image.Resampling.LANCZOS), pos)
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=92)
    return Image.open(io.BytesIO(buf.getvalue()))


@realdata
def test_eyes_of_aligned_celeba_images_sit_near_the_target():
    for name in valid_names(3):  # the target was measured on the train partition
        found = faces.find_faces(sample_image(name))
        assert len(found) == 1 and found[0].score > 0.95
        for (x, y), (tx, ty) in zip(found[0].eyes, faces.TARGET_LANDMARKS[:2]):
            assert abs(x - tx) < 8 and abs(y - ty) < 8, (name, found[0].eyes)


def valid_names(n: int) -> list[str]:
    rows = [line.split() for line in (SAMPLE / "list_eval_partition.txt").read_text().splitlines() if line.strip()]
    names = [r[0] for r in rows if r[1] == "1" and (SAMPLE / "img_align_celeba" / r[0]).exists()]
    if len(names) < n:
        pytest.skip("the sample has too few valid-partition images")
    return names[:n]


@realdata
def test_a_face_pasted_into_a_photo_comes_back_framed_like_celeba():
    cfg = PreprocessConfig(image_size=64, draft=False)
    for k, name in enumerate(valid_names(3)):
        original = sample_image(name)
        photo = paste((900, 700), [(original, 330, (120 + 150 * k, 160 + 40 * k))], seed=k)
        aligned = faces.align_face(photo)
        assert aligned is not None and aligned.size == (178, 218)
        ref = preprocess_to_uint8(original, cfg).astype(int)
        err = np.abs(preprocess_to_uint8(aligned, cfg).astype(int) - ref).mean()
        centre = np.abs(preprocess_to_uint8(photo, cfg).astype(int) - ref).mean()
        assert err < 20 and err < centre / 3, (name, err, centre)


@realdata
def test_several_faces_are_all_found_largest_first():
    a, b = (sample_image(n) for n in valid_names(2))
    photo = paste((1000, 600), [(a, 220, (60, 150)), (b, 330, (560, 100))])
    found = faces.find_faces(photo)
    assert len(found) == 2
    assert found[0].width > found[1].width
    assert found[0].box[0] > 500 and found[1].box[0] < 300  # the larger face is the one on the right
    got = uploads.load_faces(_jpeg(photo), "two.jpg")
    assert len(got.faces) == 2 and [im.size for im in got.aligned] == [(178, 218)] * 2 and got.size == (1000, 600)


def _jpeg(img: Image.Image, exif=None) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92, **({"exif": exif} if exif else {}))
    return buf.getvalue()


@realdata
def test_faces_are_found_in_the_upright_photo_of_an_exif_rotated_jpeg():
    face = sample_image(valid_names(1)[0])
    upright = paste((600, 800), [(face, 300, (150, 200))])
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone stores it, with orientation 6 in EXIF
    exif = Image.Exif()
    exif[0x0112] = 6
    got = uploads.load_faces(_jpeg(stored, exif), "phone.jpg")
    assert got.size == (600, 800) and len(got.faces) == 1
    assert 150 < got.faces[0].box[0] < 450 and 200 < got.faces[0].box[1] < 600


def test_load_faces_reports_bad_files_by_name():
    with pytest.raises(uploads.UploadError, match="^notes.txt: not an image"):
        uploads.load_faces(b"hello", "notes.txt")
    good = _jpeg(smooth_image(320, 240))
    with pytest.raises(uploads.UploadError, match="^cut.jpg: the file is truncated"):
        uploads.load_faces(good[: len(good) // 2], "cut.jpg")
    empty = uploads.load_faces(good, "wall.jpg")
    assert empty.faces == [] and empty.aligned == [] and empty.size == (320, 240)


@realdata
def test_the_sidebar_photo_uses_the_largest_face_or_else_the_centre_crop():
    a, b = (sample_image(n) for n in valid_names(2))
    pair = _jpeg(paste((1000, 600), [(a, 220, (60, 150)), (b, 330, (560, 100))]))
    prep = lambda img: np.asarray(img.convert("RGB"))  # noqa: E731  (the model input, as pixels)
    x, found = uploads.load_face_input(pair, "pair.jpg", prep)
    assert found and x.shape == (218, 178, 3)
    assert np.array_equal(x, np.asarray(uploads.load_faces(pair, "pair.jpg").aligned[0]))  # the larger face
    wall = _jpeg(smooth_image(320, 240))
    x, found = uploads.load_face_input(wall, "wall.jpg", prep)
    assert not found and x.shape == (240, 320, 3)  # the photo itself, for the centre crop
