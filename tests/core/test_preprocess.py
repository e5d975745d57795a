import io

import numpy as np
import pytest
from PIL import Image

from explorer.config import PreprocessConfig
from explorer.preprocess import preprocess_to_uint8


def _jpeg(size=(178, 218), color=(200, 30, 40)) -> Image.Image:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=95)
    buf.seek(0)
    return Image.open(buf)  # lazily opened, as the cache builder and the app hand it over


@pytest.mark.parametrize("size", [32, 64, 128])
def test_celeba_crop_and_resize(size):
    out = preprocess_to_uint8(_jpeg(), PreprocessConfig(image_size=size))
    assert out.shape == (3, size, size) and out.dtype == np.uint8
    assert abs(int(out[0].mean()) - 200) < 4 and abs(int(out[1].mean()) - 30) < 4


def test_crop_is_centred_square_of_the_short_side():
    # left third red, right third blue: a centred crop of 148/178 of the width keeps both edges' colours
    img = Image.new("RGB", (178, 218), (0, 255, 0))
    img.paste((255, 0, 0), (0, 0, 20, 218))
    img.paste((0, 0, 255), (158, 0, 178, 218))
    out = preprocess_to_uint8(img, PreprocessConfig(image_size=64, draft=False))
    # 15 px of margin cut from each side (178-148)/2: the 20-px bands leave ~5 px, i.e. ~2 px at 64
    assert out[0, 32, 0] > 150 and out[2, 32, 63] > 150 and out[1, 32, 32] > 200


def test_draft_mode_stays_close_to_full_decode():
    # Photos are smooth at the scale of a 64-px face; per-pixel noise would measure aliasing instead.
    from PIL import ImageFilter

    rng = np.random.default_rng(0)
    arr = (rng.random((218, 178, 3)) * 255).astype(np.uint8)
    smooth = Image.fromarray(arr).filter(ImageFilter.GaussianBlur(6))
    buf = io.BytesIO()
    smooth.save(buf, "JPEG", quality=95)
    fast = preprocess_to_uint8(Image.open(io.BytesIO(buf.getvalue())), PreprocessConfig(draft=True))
    full = preprocess_to_uint8(Image.open(io.BytesIO(buf.getvalue())), PreprocessConfig(draft=False))
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 3


def test_rgba_grayscale_and_exif_rotation():
    rgba = Image.new("RGBA", (100, 100), (255, 0, 0, 0))  # fully transparent -> white, not black
    assert preprocess_to_uint8(rgba, PreprocessConfig(image_size=32)).min() > 250
    gray = Image.new("L", (50, 80), 128)
    assert preprocess_to_uint8(gray, PreprocessConfig(image_size=32)).shape == (3, 32, 32)
    # a landscape picture whose EXIF says "rotate 90": the content must come out upright
    img = Image.new("RGB", (200, 100), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 100, 100))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 270 (clockwise 90) to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    out = preprocess_to_uint8(Image.open(io.BytesIO(buf.getvalue())), PreprocessConfig(image_size=32, crop_fraction=1.0))
    # after transposing, the former left half is on top
    assert out[:, :8].mean() > 200 and out[:, -8:].mean() < 50
