"""Turning model outputs into pictures: uint8 arrays, grids and PNG bytes (shared by training and app)."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def to_uint8_images(x) -> np.ndarray:
    """(N,3,S,S) float in [0,1] (tensor or array) -> (N,S,S,3) uint8."""
    t = torch.as_tensor(x).detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    return t.permute(0, 2, 3, 1).numpy()


def image_grid(images: np.ndarray, ncols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """(N,H,W,3) uint8 -> one (rows*H', cols*W', 3) uint8 mosaic with `pad` pixels between tiles."""
    n, h, w, c = images.shape
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, q * (w + pad): q * (w + pad) + w] = images[i]
    return out


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    img = Image.fromarray(image)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
