"""Framing: how far a face crop sits from CelebA's own framing, predicted from the pixels.

Landmark alignment (explorer.faces) puts a face within about 2.7 px (RMS over the model's crop) of where
CelebA's aligned images have it, and the model pays for every pixel: 2 px of shift costs 1.3× its
reconstruction error. Landmarks cannot do better, because the detector's landmarks are not the ones
CelebA was aligned by. So a small CNN, trained on CelebA's aligned images themselves, looks at a crop
and predicts the similarity Q that would carry it back: the crop B is taken to be I∘Q, with I the face in
CelebA's framing, and the corrected photo-to-frame transform is Q·m. Training shows it each aligned image
moved by a random shift (±8 px), scale (±8%) and turn (±8°) and asks for that move back; later stages go
on with mostly half-size, then 30%-size moves, where the landmark fit leaves a face
(``python -m train.framing``). It does not see the crop's edges (BLIND), where a photo shows the scene.

Coordinates are pixels of the 178×218 frame; Q(p) = [[1+a, −b], [b, 1+a]]·(p − c) + c + (tx, ty) about the
frame's centre c, which is linear in its four parameters (tx, ty, a, b). The network reads the frame at
half resolution (89×109), enough for a model that sees 64×64.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FRAME = (178, 218)  # (width, height) of CelebA's aligned images
HALF = (89, 109)  # what the network reads
CENTRE = ((FRAME[0] - 1) / 2, (FRAME[1] - 1) / 2)
WEIGHTS = Path(__file__).with_name("framing.pt")
# The range of the training moves, which is also the scale of the network's outputs.
MOVE = {"shift": 8.0, "scale": 0.08, "turn_degrees": 8.0}
# The network does not see a band this wide (half-resolution pixels, 20 px of the frame) along the edges:
# there a crop from a photo shows the scene around the face, and a crop moved in training the reflection
# of the image, each with its own seam where the image ends. Shown the band, the network framed pasted
# photos worse than CelebA's own images re-aligned (1.62 against 1.41 px RMS, bench/bench_faces.py);
# blind to it and trained so (train/framing.py, fourth stage), equally well (1.43 and 1.41 px).
BLIND = 10


class FramingNet(nn.Module):
    """(N,3,109,89) in [0,1] -> (N,4) = (tx, ty, a, b). Five stride-2 convolutions keep the layout (no global
    pooling: where things are is the answer), then two linear layers."""

    def __init__(self, widths=(32, 64, 96, 128, 128)):
        super().__init__()
        layers, c = [], 3
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 4 * 3, 256), nn.ReLU(inplace=True), nn.Linear(256, 4))
        s = MOVE["scale"]
        self.register_buffer("out_scale", torch.tensor([MOVE["shift"], MOVE["shift"], s, s]), persistent=False)
        seen = torch.zeros(1, 1, HALF[1], HALF[0])
        seen[..., BLIND:-BLIND, BLIND:-BLIND] = 1
        self.register_buffer("seen", seen, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # centred on 0, so the band reads as mid-grey: no information
        return self.head(self.features((x - 0.5) * self.seen)) * self.out_scale

    @classmethod
    def load(cls, path) -> "FramingNet":
        """Weights as train/framing.py writes them (float16 state dict; weights_only, so no code runs)."""
        net = cls()
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        return net


def apply_move(params: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Q(pts) for each row of params (N,4); pts (...,2) in frame pixels -> (N,...,2)."""
    shape = (-1,) + (1,) * (pts.dim() - 1)
    tx, ty, a, b = (params[:, k].view(shape) for k in range(4))
    x, y = pts[..., 0] - CENTRE[0], pts[..., 1] - CENTRE[1]
    return torch.stack([(1 + a) * x - b * y + CENTRE[0] + tx, b * x + (1 + a) * y + CENTRE[1] + ty], -1)


def move_matrix(params) -> np.ndarray:
    """(tx, ty, a, b) -> the 3×3 matrix of Q in frame pixels."""
    tx, ty, a, b = (float(v) for v in params)
    lin = np.array([[1 + a, -b], [b, 1 + a]])
    c = np.array(CENTRE)
    return np.vstack([np.hstack([lin, (c - lin @ c + (tx, ty))[:, None]]), [0, 0, 1]])


def random_moves(n: int, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    """n moves drawn uniformly from MOVE's ranges (times ``scale``), as (tx, ty, a, b)."""
    u = lambda: (torch.rand(n, generator=gen) * 2 - 1) * scale  # noqa: E731
    tx, ty = u() * MOVE["shift"], u() * MOVE["shift"]
    s, th = torch.exp(u() * MOVE["scale"]), u() * math.radians(MOVE["turn_degrees"])
    return torch.stack([tx, ty, s * torch.cos(th) - 1, s * torch.sin(th)], 1)


def _half_grid() -> torch.Tensor:
    """Frame-pixel coordinates of the half-resolution pixel centres, (109,89,2)."""
    ys, xs = torch.meshgrid(torch.arange(HALF[1]) * 2 + 0.5, torch.arange(HALF[0]) * 2 + 0.5, indexing="ij")
    return torch.stack([xs, ys], -1).float()


def warp_half(images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Half-resolution frames (N,3,109,89 uint8) seen through the moves Q: out(p) = image(Q(p)), in [0,1].
    Reflection at the borders, as explorer.faces.align does."""
    q = apply_move(params, _half_grid())
    u = torch.stack([(2 * q[..., 0] + 1) / FRAME[0] - 1, (2 * q[..., 1] + 1) / FRAME[1] - 1], -1)
    return F.grid_sample(images.float() / 255, u, mode="bilinear", padding_mode="reflection", align_corners=False)


def crop_grid() -> torch.Tensor:
    """A 9×9 grid over the model's crop (148×148 in the middle of the frame): framing errors are measured
    as the RMS displacement of these points."""
    gx, gy = torch.meshgrid(torch.linspace(15, 163, 9), torch.linspace(35, 183, 9), indexing="xy")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)


def framing_rms(pa: torch.Tensor, pb: torch.Tensor) -> torch.Tensor:
    """Per row: RMS distance, in frame pixels, between where two moves put the crop grid."""
    g = crop_grid()
    return (apply_move(pa, g) - apply_move(pb, g)).pow(2).sum(-1).mean(-1).sqrt()


def transform_rms(m: np.ndarray) -> float:
    """How far a 2×3 photo-to-frame transform (explorer.faces) moves an image that is already in CelebA's
    framing: the RMS displacement of the crop grid, in frame pixels (0 for the identity)."""
    g = crop_grid().double().numpy()
    moved = g @ np.asarray(m, np.float64)[:, :2].T + np.asarray(m, np.float64)[:, 2]
    return float(np.sqrt(((moved - g) ** 2).sum(1).mean()))


@lru_cache(maxsize=1)
def load_net(path: str = str(WEIGHTS)) -> FramingNet:
    return FramingNet.load(path).eval()


@torch.no_grad()
def predict_move(frame_rgb: np.ndarray, net: FramingNet | None = None) -> np.ndarray:
    """A 178×218 RGB crop (H,W,3 uint8) -> the move (tx, ty, a, b) that carries it to CelebA's framing.

    The crop and its mirror image are both asked, and the mirror's answer mirrored back (tx and the turn
    change sign) before the two are averaged: CelebA's framing is left-right symmetric, and the average
    was 0.1 px closer than either with the first stage's weights (1.81 against 1.91 px RMS on the valid
    faces, after the landmark fit)."""
    if frame_rgb.shape[:2] != (FRAME[1], FRAME[0]):
        raise ValueError(f"predict_move: a {FRAME[0]}×{FRAME[1]} frame is needed, "
                         f"not {frame_rgb.shape[1]}×{frame_rgb.shape[0]}")
    half = frame_rgb.reshape(HALF[1], 2, HALF[0], 2, 3).mean((1, 3))  # 2×2 box average, as Image.reduce(2)
    x = torch.from_numpy(half.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    both = (net or load_net())(torch.cat([x, x.flip(3)])).numpy().astype(np.float64)
    return (both[0] + both[1] * (-1, 1, 1, -1)) / 2
