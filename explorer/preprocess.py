"""The one preprocessing function: centre crop, resize, [0,1] floats.

Training caches its output as uint8, the app and export call it on photos; flips are a training-only
augmentation and live in the training loop, never here.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageOps

from explorer.config import PreprocessConfig


def crop_side(width: int, height: int, cfg: PreprocessConfig) -> int:
    """Width in pixels of the centred crop of a ``width`` x ``height`` image, before the resize (its height is
    ``cfg.crop_aspect`` times that). Below ``cfg.image_size`` the resize upscales: the data checks use this
    to find such images.
    """
    return crop_box(width, height, cfg)[2]


def crop_box(width: int, height: int, cfg: PreprocessConfig) -> tuple[int, int, int, int]:
    """(left, top, crop width, crop height) of the centred crop; a crop taller than the image is shrunk,
    keeping its aspect, so it never reaches outside."""
    cw = min(width, height) * cfg.crop_fraction
    ch = cw * cfg.crop_aspect
    if ch > height:
        cw, ch = cw * height / ch, height
    if cw > width:
        cw, ch = width, ch * width / cw
    cw, ch = max(1, round(cw)), max(1, round(ch))
    return (width - cw) // 2, (height - ch) // 2, cw, ch


def preprocess_to_uint8(img: Image.Image, cfg: PreprocessConfig) -> np.ndarray:
    """Photo -> (3, S, S) uint8 array. ``img`` may be lazily opened, so JPEG draft mode can apply."""
    size = cfg.image_size
    w, h = img.size
    if cfg.draft and img.format == "JPEG":  # no effect on an image that is already loaded
        # Ask the decoder for the smallest DCT scale that still leaves >= `size` pixels in the crop.
        need = size / (cfg.crop_fraction * min(1.0, cfg.crop_aspect)) / min(w, h)
        img.draft("RGB", (math.ceil(w * need), math.ceil(h * need)))
    img = upright_rgb(img)
    left, top, cw, ch = crop_box(*img.size, cfg)
    img = img.crop((left, top, left + cw, top + ch))
    img = img.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def upright_rgb(img: Image.Image) -> Image.Image:
    """Any photo -> an upright RGB image: EXIF rotation applied, transparency composited on white.
    Face finding (explorer.faces) works in this frame too, so its coordinates match what is shown."""
    img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF; CelebA has none
    if img.mode != "RGB":
        # RGBA/LA: composite on white rather than dropping alpha, which leaves black fringes.
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, rgba)
        img = img.convert("RGB")
    return img


def uint8_to_float(arr):
    """uint8 (…,3,S,S) array or tensor -> float32 in [0,1] (torch tensor)."""
    return torch.as_tensor(arr).float().div_(255.0)

