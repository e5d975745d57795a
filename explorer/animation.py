"""Animated exports: a path through latent space as a GIF or an MP4 that plays forward and back (a loop
with no jump at the seam), for slides and talks. No Streamlit: the views hand over the latents they show.

A path is (T,K,D): T steps, K faces side by side in each frame (an interpolation shows lerp and slerp
together). Faces are scaled up by pixel repetition, so a frame is exactly the decoded faces, only larger.
GIF: Pillow, each frame on its own 256-colour palette. MP4: H.264 in yuv420p (what browsers, slide
software and phones play) through the ffmpeg binary that the imageio-ffmpeg wheel carries, so nothing is
downloaded at run time.
"""
from __future__ import annotations

import io
import os
import tempfile
from typing import Callable

import numpy as np
from PIL import Image

from explorer.imaging import image_grid

FPS = 20  # GIF delays count hundredths of a second: 50 ms is exact, 15 fps (66.7 ms) is not
STEPS = 24  # faces from one end of a path to the other (a back-and-forth cycle is 2·STEPS − 2 frames)
SCALE = 4  # 64-pixel faces become 256 pixels: even sizes, as yuv420p needs


class AnimationError(RuntimeError):
    """The encoder could not write the file (the message says why)."""


def back_and_forth(n: int) -> np.ndarray:
    """Frame order of a seamless loop over n steps: 0 … n−1 … 1 (the ends are not repeated)."""
    return np.concatenate([np.arange(n), np.arange(n - 2, 0, -1)]) if n > 2 else np.arange(n)


def frames(faces: np.ndarray, scale: int = SCALE, pad: int = 2) -> np.ndarray:
    """(T,K,S,S,3) uint8 faces -> (T', H, W, 3) uint8 frames played forward and back, K faces in a row per
    frame, each pixel repeated ``scale`` times."""
    faces = np.asarray(faces, np.uint8)
    if faces.ndim == 4:  # one face per frame
        faces = faces[:, None]
    tiles = np.stack([image_grid(f, len(f), pad=pad) for f in faces])  # (T,h,w,3)
    big = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    return big[back_and_forth(len(big))]


def render(decode: Callable[[np.ndarray], np.ndarray], path: np.ndarray) -> np.ndarray:
    """Decode a (T,K,D) or (T,D) latent path with ``decode`` ((N,D) -> (N,S,S,3) uint8) -> (T,K,S,S,3)."""
    path = np.asarray(path, np.float32)
    if path.ndim == 2:
        path = path[:, None]
    t, k, d = path.shape
    faces = np.asarray(decode(path.reshape(t * k, d)), np.uint8)
    return faces.reshape(t, k, *faces.shape[1:])


def gif_bytes(video: np.ndarray, fps: int = FPS) -> bytes:
    """(T,H,W,3) uint8 -> an endlessly looping GIF."""
    images = [Image.fromarray(f) for f in np.asarray(video, np.uint8)]
    buf = io.BytesIO()
    # GIF stores delays in hundredths of a second; disposal 1 keeps no stale pixels since every frame is whole
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=round(1000 / fps), disposal=1, optimize=False)
    return buf.getvalue()


def mp4_bytes(video: np.ndarray, fps: int = FPS) -> bytes:
    """(T,H,W,3) uint8 (H and W even) -> H.264 MP4 bytes, one back-and-forth cycle (players loop it)."""
    import imageio_ffmpeg

    video = np.asarray(video, np.uint8)
    t, h, w, _ = video.shape
    if h % 2 or w % 2:
        raise AnimationError(f"an MP4 in yuv420p needs even sizes, got {w}×{h}")
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        # crf 18: visually lossless for these small, smooth faces; faststart: the index first, so a browser
        # plays the file before it has all of it
        writer = imageio_ffmpeg.write_frames(path, (w, h), fps=fps, codec="libx264", macro_block_size=1,
                                             quality=None, output_params=["-crf", "18", "-movflags", "+faststart"],
                                             ffmpeg_log_level="error")
        writer.send(None)  # start the generator: it launches ffmpeg
        for f in video:
            writer.send(np.ascontiguousarray(f))
        writer.close()
        with open(path, "rb") as fh:
            return fh.read()
    except (OSError, RuntimeError) as e:
        raise AnimationError(f"the MP4 encoder failed: {e}") from None
    finally:
        os.unlink(path)


def encode(video: np.ndarray, fmt: str, fps: int = FPS) -> bytes:
    """``fmt`` "gif" or "mp4"."""
    if fmt == "gif":
        return gif_bytes(video, fps)
    if fmt == "mp4":
        return mp4_bytes(video, fps)
    raise ValueError(f"format must be gif or mp4, got {fmt!r}")
