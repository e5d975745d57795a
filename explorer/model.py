"""The convolutional VAE: architecture only (encode, reparameterize, decode).

The loss lives in train/losses.py and the I/O in explorer/checkpoint.py, as in diffusers'
AutoencoderKL. `decode` has fixed shapes per image size and no data-dependent control flow, so it
exports to ONNX for the in-browser decoder.
"""
from __future__ import annotations

import torch
from torch import nn

from explorer.config import VAEConfig


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)
    )


class VAE(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        chans = config.stage_channels
        top = chans[-1]
        self._top_shape = (top, 4, 4)
        # Encoder: (N,3,S,S) -> (N,top,4,4) -> (N,2D)
        self.encoder = nn.Sequential(*[_down(cin, cout) for cin, cout in zip((3,) + chans[:-1], chans)])
        self.to_posterior = nn.Linear(top * 16, 2 * config.latent_dim)
        # Decoder mirrors it: (N,D) -> (N,top,4,4) -> (N,c0,S,S) -> (N,3,S,S)
        self.from_latent = nn.Sequential(nn.Linear(config.latent_dim, top * 16), nn.LeakyReLU(0.2))
        rev = chans[::-1]
        self.decoder = nn.Sequential(*[_up(cin, cout) for cin, cout in zip(rev, rev[1:] + (chans[0],))])
        # Sigmoid, not tanh: inputs are in [0,1] (the AntixK/PyTorch-VAE #48 mismatch).
        self.to_image = nn.Sequential(nn.Conv2d(chans[0], 3, 3, 1, 1), nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,3,S,S) in [0,1] -> mu (N,D), logvar (N,D)."""
        h = self.encoder(x).flatten(1)
        mu, logvar = self.to_posterior(h).float().chunk(2, dim=1)
        # Bounds keep exp(logvar) finite in bf16/fp16 early in training; they never bind once trained.
        return mu, logvar.clamp(-30.0, 20.0)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps (Kingma & Welling 2014, section 2.4)."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N,D) -> (N,3,S,S) in [0,1]."""
        h = self.from_latent(z).view(z.shape[0], *self._top_shape)
        return self.to_image(self.decoder(h))

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
