"""Faces on the map: every encoding decoded once into a small thumbnail, packed into one sprite sheet
(as TensorBoard's embedding projector does), and a choice of thumbnails that do not overlap.

No Streamlit here. The map view caches ``decode_thumbnails`` once per checkpoint and sends the sheet to
the browser once; the browser repeats ``place_thumbnails``'s greedy choice at every zoom (the same rule,
in JavaScript, see ``explorer/ui/facemap/``). ``map_mosaic`` draws the whole map with faces as one
picture for the PNG download. The faces are reconstructions decoded from μ, never CelebA's images.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from explorer.imaging import to_uint8_images
from explorer.paths import cache_root

__all__ = ["THUMB", "thumb_size", "decode_thumbnails", "cached_thumbnails", "sprite_sheet", "sheet_bytes", "bundled",
           "unbundled", "priority_order", "place_thumbnails", "map_mosaic"]

THUMB = 32  # pixels per thumbnail side: 5,441 faces make a 2,368² sheet; 12,000 a 3,520² one


def thumb_size(n: int, budget: int = 28 * 2**20, sizes=(THUMB, 24, 16)) -> int:
    """The largest thumbnail side whose sheet stays within ``budget`` bytes once the browser has decoded it
    (4 bytes a pixel). Past about 32 MB of bitmaps, headless Chromium redrew the map's faces 15-20x slower
    (12,000 faces at 32 px: 30-45 ms a frame; at 24 px, within budget: see the README)."""
    for s in sizes:
        if n * s * s * 4 <= budget:
            return s
    return sizes[-1]


def decode_thumbnails(decode, mu, size: int = THUMB, batch: int = 512) -> tuple[np.ndarray, float]:
    """(N,D) encodings -> ((N,size,size,3) uint8 thumbnails, seconds taken).

    ``decode`` maps an (B,D) float32 tensor to (B,3,S,S) images in [0,1] (``LoadedVAE.decode``).
    Batches bound the memory (one batch of 512 64×64 faces is 25 MB of activations) while keeping the
    per-call overhead small. Area averaging is the correct filter for shrinking by a whole factor:
    it does not alias the way nearest or bilinear sampling does."""
    mu = np.asarray(mu, np.float32)
    t0 = time.perf_counter()
    out = np.empty((len(mu), size, size, 3), np.uint8)
    with torch.inference_mode():
        for i in range(0, len(mu), batch):
            x = torch.as_tensor(decode(torch.from_numpy(mu[i:i + batch])))  # (B,3,S,S)
            if x.shape[-1] != size:
                x = F.interpolate(x.float(), size=(size, size), mode="area")
            out[i:i + batch] = to_uint8_images(x)
    return out, time.perf_counter() - t0


def cache_dir() -> Path:
    """Where decoded thumbnails are kept between server starts: ``sprites/`` of the cache folder
    (``explorer.paths``)."""
    return cache_root() / "sprites"


def cached_thumbnails(decode, mu, identity: str, size: int = THUMB, folder: Path | None = None
                      ) -> tuple[np.ndarray, float, bool]:
    """``decode_thumbnails`` with a disk cache: (thumbnails, seconds, from_cache).

    Decoding every face of a bundle costs 20 s to minutes on a small CPU; the result depends only on the
    checkpoint file and the thumbnail size, so it is kept on disk under a hash of ``identity`` (the file's
    path, modification time and size). A cache that cannot be read or written is only slower, never wrong:
    the faces are then decoded again, and a stale file never matches because its identity differs."""
    folder = folder or cache_dir()
    mu = np.asarray(mu, np.float32)
    name = hashlib.sha256(f"{identity}|{size}|{mu.shape}".encode()).hexdigest()[:32] + ".npy"
    path = folder / name
    t0 = time.perf_counter()
    thumbs = _read(path)
    if thumbs is not None and thumbs.shape == (len(mu), size, size, 3) and thumbs.dtype == np.uint8:
        return thumbs, time.perf_counter() - t0, True
    thumbs, seconds = decode_thumbnails(decode, mu, size)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=name, suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            np.save(f, thumbs, allow_pickle=False)
        os.replace(tmp, path)  # atomic: another server decoding the same file never sees half of it
    except OSError as e:
        print(f"[explorer] cannot keep decoded faces in {folder}: {e}", flush=True)
    return thumbs, seconds, False


def _read(path: Path) -> np.ndarray | None:
    """The cached array, or None when there is none or it cannot be read (then it is decoded again)."""
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        print(f"[explorer] ignoring unreadable face cache {path}: {e}", flush=True)
        return None


def sprite_sheet(thumbs: np.ndarray) -> tuple[np.ndarray, int]:
    """(N,t,t,3) -> ((rows·t, cols·t, 3) uint8 sheet, cols). Face i sits at column i % cols, row i // cols.
    Square-ish, so that neither side passes a browser's canvas limit (16,384 pixels in Chromium)."""
    n, t = len(thumbs), thumbs.shape[1]
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    sheet = np.zeros((rows * t, cols * t, 3), np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        sheet[r * t:(r + 1) * t, c * t:(c + 1) * t] = thumbs[i]
    return sheet, cols


def sheet_bytes(sheet: np.ndarray, fmt: str = "JPEG", quality: int = 90) -> bytes:
    """The sheet compressed for the browser. The decoder's outputs are smooth, so JPEG at quality 90 looks
    the same as the PNG at a fifth of its size, and encodes 40-60x faster than PNG or WebP (5,441 faces on
    the shipped model: JPEG 2.0 MB in 0.1 s, WebP 1.7 MB in 3.8 s, PNG 10 MB in 6 s, on a busy 2-core CPU)."""
    buf = io.BytesIO()
    if fmt.upper() == "PNG":
        Image.fromarray(sheet).save(buf, format="PNG")
    elif fmt.upper() == "WEBP":
        Image.fromarray(sheet).save(buf, format="WEBP", quality=quality, method=4)
    else:
        Image.fromarray(sheet).save(buf, format=fmt, quality=quality)
    return buf.getvalue()


# The sheet a checkpoint carries: thumbnails of at most 24 px, at JPEG quality 80 (8,000 faces take 1.6 MB; at
# quality 90, 2.2 MB; 5,000 faces at 32 px would take more than 8,000 at 24), so the shipped files stay small.
BUNDLED_THUMB, BUNDLED_QUALITY = 24, 80


def bundled(decode, mu, quality: int = BUNDLED_QUALITY) -> dict:
    """The map's faces as the analysis bundle carries them (train.export decodes them once, so the app's first
    "Faces" toggle reads a sheet instead of decoding every encoding: 49 s for 8,000 faces on this machine):
    the JPEG sprite sheet of the thumbnails decoded from ``mu`` as the bundle stores it (float16), and their side.
    The shipped checkpoints must stay small, hence a lower quality than the sheet the app makes itself."""
    mu16 = np.asarray(mu, np.float16).astype(np.float32)  # what the app would decode from the stored bundle
    size = min(thumb_size(len(mu16)), BUNDLED_THUMB)
    thumbs, _ = decode_thumbnails(decode, mu16, size)
    return {"jpeg": sheet_bytes(sprite_sheet(thumbs)[0], quality=quality), "size": size}


def unbundled(data: dict, n: int) -> np.ndarray:
    """``bundled``'s sheet back as (n,t,t,3) uint8 thumbnails."""
    t = int(data["size"])
    sheet = np.asarray(Image.open(io.BytesIO(bytes(data["jpeg"]))).convert("RGB"))
    cols = max(1, math.ceil(math.sqrt(n)))
    if sheet.shape[0] < math.ceil(n / cols) * t or sheet.shape[1] != cols * t:
        raise ValueError(f"sprite sheet of {sheet.shape[1]}x{sheet.shape[0]} pixels does not hold {n} faces of {t} px")
    out = np.empty((n, t, t, 3), np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[i] = sheet[r * t:(r + 1) * t, c * t:(c + 1) * t]
    return out


def priority_order(n: int, seed: int = 0) -> np.ndarray:
    """Which faces win a place first when thumbnails would overlap: a fixed random order. Fixed, so a
    face that is shown stays shown while zooming in (its competitors only move away); random, so the
    faces shown are a fair sample of each region rather than, say, the best reconstructed ones."""
    return np.random.default_rng(seed).permutation(n).astype(np.int32)


def place_thumbnails(px: np.ndarray, size: float, order: np.ndarray | None = None,
                     bounds: tuple[float, float, float, float] | None = None, limit: int | None = None) -> np.ndarray:
    """Greedy choice of points whose size×size squares, centred on the points, do not overlap.

    ``px`` (N,2) are screen positions; points are tried in ``order`` and kept when no kept square is
    closer than ``size`` in both x and y. With a grid of cells ``size`` wide, two points in one cell always
    overlap, so each cell holds at most one kept point and a test looks at 3×3 cells: O(N). ``bounds``
    (x0, y0, x1, y1) skips points whose square would leave the drawing area. Returns the kept indices, in
    the order they were kept."""
    px = np.asarray(px, np.float64)
    order = np.arange(len(px)) if order is None else np.asarray(order)
    cells: dict[tuple[int, int], int] = {}
    kept: list[int] = []
    h = size / 2
    for i in order:
        x, y = px[i]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        if bounds is not None and not (bounds[0] + h <= x <= bounds[2] - h and bounds[1] + h <= y <= bounds[3] - h):
            continue
        cx, cy = int(x // size), int(y // size)
        free = True
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                j = cells.get((cx + dx, cy + dy))
                if j is not None and abs(px[j, 0] - x) < size and abs(px[j, 1] - y) < size:
                    free = False
                    break
            if not free:
                break
        if free:
            cells[(cx, cy)] = int(i)
            kept.append(int(i))
            if limit is not None and len(kept) >= limit:
                break
    return np.asarray(kept, np.int64)


def to_pixels(xy: np.ndarray, width: int, height: int, margin: float) -> np.ndarray:
    """(N,2) map coordinates -> (N,2) pixel positions filling width×height less a margin, y pointing down,
    with one scale for both axes (a t-SNE map has no preferred axis, so it is not stretched)."""
    xy = np.asarray(xy, np.float64)
    lo, hi = np.nanmin(xy, 0), np.nanmax(xy, 0)
    span = np.maximum(hi - lo, 1e-12)
    scale = min((width - 2 * margin) / span[0], (height - 2 * margin) / span[1])
    centre = (lo + hi) / 2
    px = np.empty_like(xy)
    px[:, 0] = width / 2 + (xy[:, 0] - centre[0]) * scale
    px[:, 1] = height / 2 - (xy[:, 1] - centre[1]) * scale
    return px


def map_mosaic(xy: np.ndarray, thumbs: np.ndarray, colors: np.ndarray | None = None, width: int = 1600,
               height: int = 1200, size: int | None = None, order: np.ndarray | None = None) -> np.ndarray:
    """The whole map as one (height,width,3) uint8 picture: every point as a dot (in ``colors``, (N,3)
    uint8, grey when None) and, on top, thumbnails at the points ``place_thumbnails`` keeps."""
    size = size or thumbs.shape[1]
    canvas = np.full((height, width, 3), 255, np.uint8)
    px = to_pixels(xy, width, height, margin=size / 2 + 2)
    colors = np.full((len(xy), 3), 150, np.uint8) if colors is None else np.asarray(colors, np.uint8)
    ix = np.clip(np.round(px).astype(np.int64), 1, [width - 2, height - 2])
    for dx in (-1, 0, 1):  # 3×3 dots: visible at this resolution without hiding each other
        for dy in (-1, 0, 1):
            canvas[ix[:, 1] + dy, ix[:, 0] + dx] = colors
    if thumbs.shape[1] != size:
        thumbs = to_uint8_images(F.interpolate(torch.from_numpy(thumbs).permute(0, 3, 1, 2).float() / 255,
                                               size=(size, size), mode="area"))
    for i in place_thumbnails(px, size + 2, order, bounds=(0, 0, width, height)):
        x0, y0 = int(round(px[i, 0] - size / 2)), int(round(px[i, 1] - size / 2))
        canvas[y0:y0 + size, x0:x0 + size] = thumbs[i]
    return canvas
