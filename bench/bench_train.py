"""Training throughput of the default model through the real training loop (train.loop.Trainer), beside
the common pipeline's VanillaVAE measured in the same run.

    python bench/bench_train.py                                   # CPU, 1 thread, batch 64: ours and the reference
    python bench/bench_train.py --threads 1,2 --batches 64,256    # more CPU settings
    python bench/bench_train.py --device cuda --batches 256,1024 --compile both   # GPU: an epoch of 162,770

Prints a Markdown table: images/s (median of --repeats timed passes, ours and the reference alternated so
that a neighbour's load hits both alike), the time of one epoch of the synthetic set, and peak memory.
"Ours" is whole training epochs over a synthetic uint8 cache (the loop cannot tell it from CelebA): the
gather, flips, conversion, forward, loss, backward and AdamW. The reference is the architecture and loss
of AntixK/PyTorch-VAE's VanillaVAE (models/vanilla_vae.py: five stride-2 3x3 convolutions, 3.9M
parameters, MSE + weighted KL, Adam), stepped on a ready float batch in the NCHW layout its code uses:
no data pipeline at all, which favours it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from torch import nn

from explorer.celeba import ATTRIBUTE_NAMES
from explorer.config import LossConfig, VAEConfig
from explorer.model import VAE, count_parameters
from train.config import TrainConfig
from train.loop import Trainer
from train.losses import vae_loss
from train.prepare import CachedData

CELEBA_TRAIN = 162_770


def synthetic_cache(n_train: int, size: int, n_valid: int = 256) -> CachedData:
    """n_train training images (an epoch is exactly that many) plus a few for validation."""
    rng = np.random.default_rng(0)
    n = n_train + n_valid
    images = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    partition = np.zeros(n, np.uint8)
    partition[n_train:] = 1
    return CachedData(images=images, attributes=rng.integers(0, 2, (n, 40), dtype=np.uint8), partition=partition,
                      filenames=[f"{i:06d}.jpg" for i in range(n)], attribute_names=list(ATTRIBUTE_NAMES))


class ReferenceVAE(nn.Module):
    """The yardstick: AntixK/PyTorch-VAE's VanillaVAE at 64x64 (latent 128, widths 32..512), rebuilt
    layer for layer; only its speed is used here."""

    def __init__(self, latent: int = 128, widths=(32, 64, 128, 256, 512)):
        super().__init__()

        def block(conv):
            return nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels), nn.LeakyReLU())

        ins = (3,) + widths[:-1]
        self.encoder = nn.Sequential(*[block(nn.Conv2d(i, o, 3, 2, 1)) for i, o in zip(ins, widths)])
        self.fc_mu = nn.Linear(widths[-1] * 4, latent)
        self.fc_var = nn.Linear(widths[-1] * 4, latent)
        self.decoder_input = nn.Linear(latent, widths[-1] * 4)
        rev = widths[::-1]
        self.decoder = nn.Sequential(*[block(nn.ConvTranspose2d(i, o, 3, 2, 1, output_padding=1))
                                       for i, o in zip(rev, rev[1:])])
        self.final_layer = nn.Sequential(block(nn.ConvTranspose2d(widths[0], widths[0], 3, 2, 1, output_padding=1)),
                                         nn.Conv2d(widths[0], 3, 3, padding=1), nn.Tanh())
        self.top = widths[-1]

    def forward(self, x):
        h = self.encoder(x).flatten(1)
        mu, log_var = self.fc_mu(h), self.fc_var(h)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        return self.final_layer(self.decoder(self.decoder_input(z).view(-1, self.top, 2, 2))), mu, log_var

    @staticmethod
    def loss(x, recon, mu, log_var, kld_weight=0.00025):  # its CelebA config's M_N
        kld = torch.mean(-0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp(), dim=1))
        return nn.functional.mse_loss(recon, x) + kld_weight * kld


def flops_per_image(model: nn.Module, loss) -> float:
    """Training FLOPs per image (forward and backward), counted by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(8, 3, 64, 64)
    with FlopCounterMode(display=False) as full:
        recon, mu, logvar = model(x)
        loss(x, recon, mu, logvar).backward()
    return full.get_total_flops() / 8


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


class Ours:
    """Whole epochs of the real training loop."""

    name = "ours (train.loop)"

    def __init__(self, cache, batch, device, threads, compile_):
        cfg = TrainConfig(data_dir="<synthetic>", out="/tmp/bench_train_unused.pt", batch_size=batch, device=device,
                          threads=threads, compile=compile_, progress=False, epochs=10**6, warmup_steps=10,
                          export=False)
        self.trainer = t = Trainer(cfg, log=lambda m: None, cache=cache)
        self.device, self.precision = t.device, t.precision
        self.images = t.steps_per_epoch * t.batch
        full = t.steps_per_epoch
        t.steps_per_epoch = min(full, 8)  # a short warm-up (and compilation) epoch
        t.train_epoch()
        t.steps_per_epoch = full

    def timed_pass(self) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        row = self.trainer.train_epoch()
        _sync(self.device)
        assert row["images_per_s"] > 0 and self.trainer.batch_in_epoch == 0  # a whole epoch was timed
        return time.perf_counter() - t0


class Reference:
    """The reference's training step on a ready batch, as many steps as one of our epochs; in its own
    NCHW layout, or given channels_last (a change its code does not make, shown to be fair to it)."""

    def __init__(self, images, batch, device, threads, compile_, channels_last=False):
        if threads:
            torch.set_num_threads(threads)
        self.name = "VanillaVAE (AntixK), ready batch, " + ("channels_last" if channels_last else "NCHW")
        self.device = torch.device(device)
        self.precision = "fp32"
        torch.manual_seed(0)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = ReferenceVAE().to(self.device, memory_format=fmt)
        self.net = torch.compile(model) if compile_ else model
        self.opt = torch.optim.Adam(model.parameters(), lr=0.005)  # its CelebA config
        self.x = torch.rand(batch, 3, 64, 64, device=self.device).contiguous(memory_format=fmt)
        self.steps = max(1, images // batch)
        self.images = self.steps * batch
        for _ in range(3):
            self._step()

    def _step(self):
        recon, mu, log_var = self.net(self.x)
        loss = ReferenceVAE.loss(self.x, recon, mu, log_var)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def timed_pass(self) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        for _ in range(self.steps):
            self._step()
        _sync(self.device)
        return time.perf_counter() - t0


def peak_memory(device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB RSS"


def decode_ms(cfg: VAEConfig, device, threads: int) -> float:
    torch.set_num_threads(threads)
    model = VAE(cfg).to(device).eval()
    z = torch.randn(1, cfg.latent_dim, device=device)
    with torch.inference_mode():
        for _ in range(5):
            model.decode(z)
        _sync(device)
        t = time.perf_counter()
        for _ in range(50):
            model.decode(z)
        _sync(device)
    return (time.perf_counter() - t) / 50 * 1000


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--images", type=int, default=None,
                   help=f"synthetic training images per epoch (default: CelebA's {CELEBA_TRAIN:,} on cuda, 1,024 on cpu)")
    p.add_argument("--batches", default=None, help="comma list (default: 64 on cpu, 256,1024 on cuda)")
    p.add_argument("--threads", default=None, help="CPU thread counts, comma list (default: 1 on cpu)")
    p.add_argument("--compile", default="off", choices=("off", "on", "both"), help="torch.compile ours (default off)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per row; the median is shown (default 3)")
    p.add_argument("--reference", default=None, choices=("yes", "no"),
                   help="also time the reference VanillaVAE (default: yes on cpu, no on cuda)")
    p.add_argument("--json", default=None, help="also write the rows to this file (bench/gpu_check.sh reads it)")
    a = p.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda: PyTorch sees no CUDA device")
    cfg = VAEConfig()
    n = a.images or (CELEBA_TRAIN if a.device == "cuda" else 1_024)
    batches = [int(b) for b in (a.batches or ("256,1024" if a.device == "cuda" else "64")).split(",")]
    threads = [int(t) for t in a.threads.split(",")] if a.threads else ([1] if a.device == "cpu" else [None])
    compiles = {"off": [False], "on": [True], "both": [False, True]}[a.compile]
    reference = (a.reference or ("yes" if a.device == "cpu" else "no")) == "yes"
    cache = synthetic_cache(n, cfg.image_size)
    machine = (f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
               + (f", {torch.cuda.get_device_name()}" if dev.type == "cuda" else "")
               + f"; load average {os.getloadavg()[0]:.1f} at the start")
    print(machine)
    table = []
    ours_flops = flops_per_image(VAE(cfg), lambda x, r, m, lv: vae_loss(x, r, m, lv, LossConfig(), 1.0).loss)
    print(f"ours: {count_parameters(VAE(cfg)) / 1e6:.2f}M parameters, {ours_flops / 1e6:.0f} MFLOPs per training "
          f"image; reference: {count_parameters(ReferenceVAE()) / 1e6:.2f}M parameters, "
          f"{flops_per_image(ReferenceVAE(), ReferenceVAE.loss) / 1e6:.0f} MFLOPs")
    print(f"\n| model | device | threads | batch | precision | compile | images/s (median of {a.repeats}) | "
          f"epoch of {n:,} | peak memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t in threads:
        for b in batches:
            for c in compiles:
                runners = [Ours(cache, b, a.device, t, c)]
                if reference:
                    runners += [Reference(n, b, a.device, t, c, cl) for cl in (False, True)]
                rates = {r: [] for r in runners}
                for _ in range(a.repeats):  # alternated: a neighbour's load falls on both alike
                    for r in runners:
                        rates[r].append(r.images / r.timed_pass())
                for r in runners:
                    rate = statistics.median(rates[r])
                    spread = f" ({min(rates[r]):,.0f}-{max(rates[r]):,.0f})" if a.repeats > 1 else ""
                    table.append({"model": r.name, "device": a.device, "threads": t or torch.get_num_threads(),
                                  "batch": b, "precision": r.precision, "compile": c, "images_per_s": rate,
                                  "epoch_s": n / rate, "peak_memory": peak_memory(dev)})
                    print(f"| {r.name} | {a.device} | {t or torch.get_num_threads()} | {b} | {r.precision} | "
                          f"{'yes' if c else 'no'} | {rate:,.0f}{spread} | {n / rate:.1f} s | {peak_memory(dev)} |",
                          flush=True)
                del runners, rates
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": machine, "images": n, "rows": table}, indent=1))
    print(f"\ndecode one latent (batch 1): {decode_ms(cfg, dev, 1):.2f} ms on 1 thread")


if __name__ == "__main__":
    main()
