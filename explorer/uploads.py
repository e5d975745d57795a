"""Reading a photo someone uploaded, with a clear reason for every way it can fail.

No Streamlit here, so the checks are tested on their own. A failure raises ``UploadError`` whose
message starts with the file name; the view shows it with ``st.error`` instead of a traceback.
"""
from __future__ import annotations

import io
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from explorer.faces import Face, FaceDetectorError, align, find_faces
from explorer.preprocess import upright_rgb

MAX_BYTES = 20 * 2**20  # the uploader's own limit (st.file_uploader max_upload_size) is the same
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is larger than any phone takes; beyond, a decompression bomb
FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP"}  # MPO: phone JPEGs with a depth map
EXTENSIONS = ["jpg", "jpeg", "png", "webp"]
MAX_FACES = 8  # faces offered from one photo, largest first


class UploadError(ValueError):
    """An upload that cannot be used; the message names the file and says why."""


def open_photo(data: bytes, name: str) -> Image.Image:
    """Bytes -> a lazily opened PIL image (so JPEG draft mode can still apply), after checking the
    format and the pixel count from the header alone: nothing large is decoded before the check."""
    if len(data) > MAX_BYTES:
        raise UploadError(f"{name}: {len(data) / 2**20:.0f} MB is more than the {MAX_BYTES // 2**20} MB allowed")
    if not data:
        raise UploadError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(f"{name}: refused, the image declares an enormous size (a decompression bomb)") from None
    except UnidentifiedImageError:
        raise UploadError(f"{name}: not an image that can be read (JPEG, PNG or WebP expected)") from None
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises SyntaxError for some corrupt headers
        raise UploadError(f"{name}: damaged image ({e})") from None
    if img.format not in FORMATS:
        raise UploadError(f"{name}: {img.format} images are not accepted; use JPEG, PNG or WebP")
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise UploadError(f"{name}: {w}×{h} pixels is more than the {MAX_PIXELS / 1e6:.0f} megapixels accepted "
                          "(a decompression bomb, or a photo to shrink first)")
    if w < 1 or h < 1:
        raise UploadError(f"{name}: the image has no pixels")
    return img


@contextmanager
def _decoding(name: str):
    """Turn what PIL raises while decoding into an UploadError that names the file and says why."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(f"{name}: refused, the image declares an enormous size (a decompression bomb)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        reason = "the file is truncated" if "truncated" in str(e) else f"damaged image ({e})"
        raise UploadError(f"{name}: {reason}") from None


def load_photo(data: bytes, name: str, preprocess):
    """Bytes -> the model input ``preprocess(image)`` (for ``LoadedVAE.preprocess``: (3,S,S) floats).

    Decoding happens inside ``preprocess``; a truncated or corrupt file fails there, and is reported
    the same way. EXIF rotation, transparency and grayscale are handled by the preprocessing itself.
    This is the plain centre crop; ``load_faces`` finds and aligns the faces instead.
    """
    img = open_photo(data, name)
    with _decoding(name):
        return preprocess(img)


@dataclass
class PhotoFaces:
    """The faces found in one photo, largest first, each with its crop aligned to CelebA's framing."""
    faces: list[Face]
    aligned: list[Image.Image]  # 178×218 RGB, ready for ``vae.preprocess``
    size: tuple[int, int]  # the upright photo's (width, height)


def load_faces(data: bytes, name: str, max_faces: int = MAX_FACES) -> PhotoFaces:
    """Bytes -> the photo's faces and their aligned crops (``explorer.faces``); no face -> empty lists.

    A group photo can hold dozens of faces: only the ``max_faces`` largest are aligned and offered.
    """
    img = open_photo(data, name)
    with _decoding(name):
        img = upright_rgb(img)  # decode once: finding and aligning both read the pixels
        found = find_faces(img)[:max_faces]
        return PhotoFaces(found, [align(img, f) for f in found], img.size)


def load_face_input(data: bytes, name: str, preprocess):
    """Bytes -> (``preprocess`` of the largest face aligned to CelebA's framing, True), or of the plain
    centre crop when the photo holds no face (False). For pickers that take one photo without asking."""
    try:
        found = load_faces(data, name, max_faces=1)
    except FaceDetectorError:
        found = None  # without the detector the centre crop still gives a face, as before faces.py
    if found is not None and found.aligned:
        return preprocess(found.aligned[0]), True
    return load_photo(data, name, preprocess), False
