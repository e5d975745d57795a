"""Two small VAEs that are not ours, as a user's own code would define them (tests/core/test_foreign.py).

- ``MLPVAE``: 32x32 images, D = 8, fully connected, sigmoid output on [0,1]; the tests export it as two ONNX
  files, the decoder with its batch axis fixed at 1 (as many exports are).
- ``ConvVAE``: 64x64, D = 12, a different convolutional shape from ours, reads and writes pixels in [-1,1]
  (decoder ending in tanh), and returns PyTorch-VAE's ``[mu, log_var]`` list from ``encode``; the tests open
  it with ``--torch foreign_models:build_conv``.

A few training steps on the test's own faces make each reconstruct better than a constant, so the export's
range checks see a real model.
"""
from __future__ import annotations

import torch
from torch import nn


class MLPVAE(nn.Module):
    def __init__(self, size: int = 32, dim: int = 8):
        super().__init__()
        self.size = size
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 64), nn.ReLU(), nn.Linear(64, 2 * dim))
        self.dec = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, 3 * size * size), nn.Sigmoid())

    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z):
        return self.dec(z).view(-1, 3, self.size, self.size)


class ConvVAE(nn.Module):
    def __init__(self, dim: int = 12):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1), nn.ELU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ELU(),
            nn.Conv2d(16, 16, 3, 2, 1), nn.ELU(), nn.Flatten())  # (N,16,8,8) -> (N,1024)
        self.fc_mu = nn.Linear(1024, dim)
        self.fc_var = nn.Linear(1024, dim)
        self.decoder_input = nn.Linear(dim, 1024)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(16, 16, 4, 2, 1), nn.ELU(), nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ELU(),
            nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh())

    def encode(self, x):
        h = self.encoder(x)
        return [self.fc_mu(h), self.fc_var(h)]

    def decode(self, z):
        return self.decoder(self.decoder_input(z).view(-1, 16, 8, 8))


def build_conv() -> ConvVAE:
    torch.manual_seed(0)
    return ConvVAE()


def build_broken():
    raise RuntimeError("this factory fails on purpose")


def fit(model: nn.Module, x01: torch.Tensor, steps: int = 60, to_model=lambda x: x, from_model=lambda y: y) -> nn.Module:
    """A few Adam steps of reconstruction from mu (no KL: the tests need a decoder that tracks its input)."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        out = model.encode(to_model(x01))
        mu = out[0]
        loss = (from_model(model.decode(mu)) - x01).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
