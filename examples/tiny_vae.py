"""A VAE written the way many public repositories write one, to show "Explore your own VAE" end to end.

It is deliberately *not* this project's model: the layout of PyTorch-VAE's VanillaVAE (AntixK/PyTorch-VAE),
smaller, reading and writing pixels in [-1, 1] (its decoder ends in tanh), with ``encode`` returning
``[mu, log_var]``. Nothing here imports the explorer: it stands for your own code.

    # train it for a minute on a CelebA folder (or bring your own weights: any state dict of build())
    python -m examples.tiny_vae train --data-dir ../shared/celeba-sample --out runs/tiny_vae.pt
    # optional: the same model as two ONNX files
    python -m examples.tiny_vae onnx --weights runs/tiny_vae.pt --out runs/tiny_vae
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn


class TinyVAE(nn.Module):
    def __init__(self, latent_dim: int = 64, hidden=(32, 64, 128, 256)):
        super().__init__()
        layers, c = [], 3
        for h in hidden:  # 64 -> 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(c, h, 3, 2, 1), nn.BatchNorm2d(h), nn.LeakyReLU()]
            c = h
        self.encoder = nn.Sequential(*layers)
        self.fc_mu = nn.Linear(hidden[-1] * 16, latent_dim)
        self.fc_var = nn.Linear(hidden[-1] * 16, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, hidden[-1] * 16)
        layers, rev = [], hidden[::-1]
        for a, b in zip(rev, rev[1:]):
            layers += [nn.ConvTranspose2d(a, b, 3, 2, 1, output_padding=1), nn.BatchNorm2d(b), nn.LeakyReLU()]
        layers += [nn.ConvTranspose2d(rev[-1], rev[-1], 3, 2, 1, output_padding=1), nn.BatchNorm2d(rev[-1]),
                   nn.LeakyReLU(), nn.Conv2d(rev[-1], 3, 3, 1, 1), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)
        self.top = hidden[-1]

    def encode(self, x):  # x in [-1, 1]
        h = self.encoder(x).flatten(1)
        return [self.fc_mu(h), self.fc_var(h)]

    def decode(self, z):  # -> [-1, 1]
        return self.decoder(self.decoder_input(z).view(-1, self.top, 4, 4))

    def forward(self, x):
        mu, log_var = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        return self.decode(z), mu, log_var


def build() -> TinyVAE:
    """The factory `python -m train.export --torch examples.tiny_vae:build` calls."""
    return TinyVAE()


def _images(folder: Path, limit: int) -> torch.Tensor:
    """The usual pipeline: centre crop 148, resize 64, to [-1, 1]."""
    from PIL import Image

    files = sorted(p for p in folder.rglob("*.jpg"))[:limit]
    if not files:
        raise SystemExit(f"error: {folder}: no .jpg images below it")
    out = np.empty((len(files), 3, 64, 64), np.uint8)
    for i, f in enumerate(files):
        im = Image.open(f).convert("RGB")
        w, h = im.size
        s = round(min(w, h) * 148 / 178)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((64, 64), Image.BICUBIC)
        out[i] = np.asarray(im).transpose(2, 0, 1)
    return torch.from_numpy(out).float() / 127.5 - 1


def train(data_dir: Path, out: Path, epochs: int, limit: int, kld_weight: float = 0.00025) -> None:
    torch.manual_seed(0)
    x = _images(data_dir, limit)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x) - 63, 64):
            batch = x[perm[i:i + 64]]
            recon, mu, log_var = model(batch)
            # VanillaVAE's loss: MSE plus a weighted KL (Kingma & Welling 2014, Appendix B)
            kld = torch.mean(-0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp(), dim=1))
            loss = nn.functional.mse_loss(recon, batch) + kld_weight * kld
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    print(f"wrote {out}")


def to_onnx(weights: Path, out: Path) -> None:
    import warnings

    model = build()
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()

    class Enc(nn.Module):
        def forward(self, x):
            return tuple(model.encode(x))

    class Dec(nn.Module):
        def forward(self, z):
            return model.decode(z)

    out.mkdir(parents=True, exist_ok=True)
    batch = {0: torch.export.Dim("batch", min=1, max=4096)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Enc(), (torch.zeros(2, 3, 64, 64),), str(out / "encoder.onnx"), dynamo=True,
                          input_names=["x"], output_names=["mu", "log_var"], dynamic_shapes={"x": batch})
        torch.onnx.export(Dec(), (torch.zeros(2, 64),), str(out / "decoder.onnx"), dynamo=True,
                          input_names=["z"], output_names=["x_hat"], dynamic_shapes={"z": batch})
    print(f"wrote {out / 'encoder.onnx'} and {out / 'decoder.onnx'}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m examples.tiny_vae", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="fit it on a folder of CelebA images")
    t.add_argument("--data-dir", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--limit", type=int, default=5000, help="at most this many images")
    o = sub.add_parser("onnx", help="export encoder.onnx and decoder.onnx")
    o.add_argument("--weights", type=Path, required=True)
    o.add_argument("--out", type=Path, required=True, help="folder for the two files")
    a = p.parse_args(argv)
    if a.cmd == "train":
        train(a.data_dir, a.out, a.epochs, a.limit)
    else:
        to_onnx(a.weights, a.out)


if __name__ == "__main__":
    main()
