"""Training throughput of the default model, through the real training loop (train.loop.Trainer).

    python bench/bench_train.py                   # CPU: 1 thread and all cores, batch 64 and 256
    python bench/bench_train.py --device cuda     # GPU: 162,770 synthetic training images (CelebA's train split)

Prints a Markdown table: images/s of one training epoch over a synthetic uint8 cache (the loop cannot
tell it from CelebA), forward and training FLOPs per image, peak memory, and the time to decode one
latent (the app's slider path).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from explorer.celeba import ATTRIBUTE_NAMES
from explorer.config import LossConfig, VAEConfig
from explorer.model import VAE, count_parameters
from train.loop import TrainConfig, Trainer
from train.losses import vae_loss
from train.prepare import CachedData


def synthetic_cache(n_train: int, size: int, n_valid: int = 256) -> CachedData:
    """n_train training images (an epoch is exactly that many) plus a few for validation."""
    rng = np.random.default_rng(0)
    n = n_train + n_valid
    images = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    partition = np.zeros(n, np.uint8)
    partition[n_train:] = 1
    return CachedData(images=images, attributes=rng.integers(0, 2, (n, 40), dtype=np.uint8), partition=partition,
                      filenames=[f"{i:06d}.jpg" for i in range(n)], attribute_names=list(ATTRIBUTE_NAMES))


def flops_per_image(cfg: VAEConfig) -> tuple[float, float]:
    from torch.utils.flop_counter import FlopCounterMode

    model = VAE(cfg)
    x = torch.rand(8, 3, cfg.image_size, cfg.image_size)
    with FlopCounterMode(display=False) as fwd:
        model(x)
    with FlopCounterMode(display=False) as full:
        recon, mu, logvar = model(x)
        vae_loss(x, recon, mu, logvar, LossConfig(), 1.0).loss.backward()
    return fwd.get_total_flops() / 8, full.get_total_flops() / 8


def decode_ms(cfg: VAEConfig, device, threads: int) -> float:
    torch.set_num_threads(threads)
    model = VAE(cfg).to(device).eval()
    z = torch.randn(1, cfg.latent_dim, device=device)
    with torch.inference_mode():
        for _ in range(5):
            model.decode(z)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(50):
            model.decode(z)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - t) / 50 * 1000


def epoch_rate(cache, batch, device, threads, precision, compile_):
    cfg = TrainConfig(data_dir="<synthetic>", out="/tmp/bench_train_unused.pt", batch_size=batch, device=device,
                      threads=threads, precision=precision, compile=compile_, progress=False, epochs=2,
                      warmup_steps=10, export=False)
    trainer = Trainer(cfg, log=lambda m: None, cache=cache)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    full = trainer.steps_per_epoch
    trainer.steps_per_epoch = min(full, 8)  # a short warm-up (and compilation) epoch
    trainer.train_epoch()
    trainer.steps_per_epoch = full
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    row = trainer.train_epoch()
    assert row["images_per_s"] > 0 and trainer.batch_in_epoch == 0  # a whole epoch was timed
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    images = trainer.steps_per_epoch * trainer.batch
    peak = (torch.cuda.max_memory_allocated() if trainer.device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return images / seconds, seconds, images, peak, trainer.precision


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--images", type=int, default=None,
                   help="synthetic training images per epoch (default: CelebA's 162,770 on cuda, 2,048 on cpu)")
    p.add_argument("--batches", default="64,256")
    p.add_argument("--threads", default=None, help="CPU thread counts to try (default: 1 and all cores)")
    p.add_argument("--compile", action="store_true")
    a = p.parse_args()
    cfg = VAEConfig()
    n = a.images or (162_770 if a.device == "cuda" else 2_048)
    cache = synthetic_cache(n, cfg.image_size)
    fwd, train_flops = flops_per_image(cfg)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
          + (f", {torch.cuda.get_device_name()}" if a.device == "cuda" else ""))
    print(f"model: default 64x64, latent {cfg.latent_dim}, {count_parameters(VAE(cfg)) / 1e6:.2f}M parameters; "
          f"{fwd / 1e6:.0f} MFLOPs forward, {train_flops / 1e6:.0f} MFLOPs per training image (fwd+bwd)")
    threads = [int(t) for t in a.threads.split(",")] if a.threads else ([1, os.cpu_count()] if a.device == "cpu" else [os.cpu_count()])
    print(f"\n| device | threads | batch | precision | images/s | epoch of {n:,} | peak memory |")
    print("|---|---|---|---|---|---|---|")
    for t in sorted(set(threads)):
        for b in [int(x) for x in a.batches.split(",")]:
            rate, secs, imgs, peak, prec = epoch_rate(cache, b, a.device, t, "auto", a.compile)
            print(f"| {a.device} | {t} | {b} | {prec} | {rate:,.0f} | {n / rate:.1f} s | {peak / 2**20:,.0f} MiB |",
                  flush=True)
    dev = torch.device(a.device)
    print(f"\ndecode one latent (batch 1): {decode_ms(cfg, dev, 1):.2f} ms on 1 thread")


if __name__ == "__main__":
    main()
