"""`python -m train`: fit the VAE on a CelebA folder and write one checkpoint (plus its run folder).

Many GPUs: `torchrun --nproc_per_node=K -m train ...` (DistributedDataParallel; --batch-size is the
global batch, split across processes).
"""
from __future__ import annotations

import argparse
import sys

EPILOG = """\
outputs:
  OUT                 the checkpoint: weights, config, preprocessing, attribute names, training summary,
                      curves, analysis bundle and resume state (written atomically after every epoch)
  OUT_STEM_run/       metrics.csv, grids/epochNNN_{reconstruction,samples}.png, tensorboard/ (if installed)

examples:
  python -m train --data-dir ~/data/celeba --out runs/vae64.pt --epochs 30
  python -m train --data-dir ~/data/celeba --out runs/vae64.pt --epochs 40 --resume   # continue to 40
  python -m train --data-dir ~/data/celeba --data-dir ~/data/more --out runs/vae64.pt  # two folders, united by id
  torchrun --nproc_per_node=8 -m train --data-dir ~/data/celeba --out runs/vae64.pt --batch-size 2048 --lr 3e-3

on GPUs:
  data                the decoded set lives on the GPU when it fits in half its free memory (full CelebA at
                      64x64: 2.5 GB), else in pinned host memory with asynchronous copies; the cache is built
                      before any CUDA context or process group exists
  speed               bf16 autocast, channels_last, cuDNN autotuning (cudnn.benchmark), fused AdamW; TF32 for
                      what stays in float32; --compile adds torch.compile (applied to the DDP-wrapped model)
  batch               --batch-size is the global batch: K processes take 1/K each. The default 64 is the
                      shipped model's recipe; on 8 GPUs it leaves 8 images per GPU, which idles an H100 and
                      makes BatchNorm's statistics noisy (the run says so): give 256 or more per GPU, with a
                      larger --lr
  --resume            continues the run from its last checkpoint: the same step, learning rate, data order
                      and flips, and every process's noise generator. On the CPU, with the same thread
                      count, it ends where the run that never stopped ends (tests/train/test_train.py checks it,
                      also after a SIGKILL mid-write). On a GPU a new process may autotune cuDNN to other
                      kernels and atomics add in any order, so it matches only to rounding; --deterministic
                      makes it exact (tests/train/test_cuda.py; not checked with --compile). A run moved between
                      CPU and GPU, or to another number of processes, continues with its noise re-seeded
                      from the saved step, and says so
"""


def build_parser() -> argparse.ArgumentParser:
    from train.config import TrainConfig

    d = TrainConfig(data_dir="", out="")
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--data-dir", required=True, action="append",
                   help="CelebA folder: official layout, torchvision root (DIR/celeba), Kaggle layout, or "
                        "img_align_celeba.zip beside the annotation files. Give it several times to unite "
                        "folders by image id (the first folder that has an id gives its image and rows)")
    g.add_argument("--cache-dir", default=None, help="where decoded images are cached (default ~/.cache/vae-explorer)")
    g.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores)")
    g.add_argument("--strict", action="store_true", help="stop at the first unreadable image instead of skipping it")
    g.add_argument("--allow-upscale", action="store_true",
                   help="accept images whose centred crop is smaller than --image-size (they are upscaled); "
                        "without it such images stop the run with a message")
    g.add_argument("--max-train-images", type=int, default=None, help="use only the first N train images (quick runs)")
    g = p.add_argument_group("model")
    g.add_argument("--image-size", type=int, default=d.image_size, choices=(32, 64, 128), help="(default %(default)s)")
    g.add_argument("--latent-dim", type=int, default=d.latent_dim, help="(default %(default)s)")
    g.add_argument("--channels", type=lambda s: tuple(int(c) for c in s.split(",")), default=d.channels,
                   help="encoder channels per stage, comma separated (default 32,64,128,256,512)")
    g = p.add_argument_group("objective")
    g.add_argument("--likelihood", choices=("calibrated", "fixed"), default=d.likelihood,
                   help="Gaussian decoder: 'fixed' uses --sigma; 'calibrated' sets sigma^2 to the batch MSE "
                        "(sigma-VAE: sharper reconstructions, but samples from N(0,I) suffer) (default %(default)s)")
    g.add_argument("--sigma", type=float, default=d.sigma, help="sigma of the fixed Gaussian likelihood (default %(default)s)")
    g.add_argument("--beta", type=float, default=d.beta, help="weight of the KL term (default %(default)s)")
    g.add_argument("--kl-warmup-epochs", type=float, default=d.kl_warmup_epochs,
                   help="ramp beta linearly from 0 over this many epochs (default %(default)s)")
    g.add_argument("--free-bits", type=float, default=d.free_bits,
                   help="nats per latent dimension below which the KL is not penalised (default %(default)s)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--out", required=True, help="checkpoint path to write (and to read with --resume)")
    g.add_argument("--epochs", type=int, default=d.epochs, help="total epochs, counting resumed ones (default %(default)s)")
    g.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="global batch size, split across processes (default %(default)s; see 'batch' below)")
    g.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate (default %(default)s)")
    g.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="linear LR warm-up, then cosine (default %(default)s)")
    g.add_argument("--seed", type=int, default=d.seed, help="(default %(default)s)")
    g.add_argument("--resume", action="store_true", help="continue the run saved at --out")
    g = p.add_argument_group("hardware")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="(default %(default)s)")
    g.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="auto = bf16 autocast on CUDA, fp32 on CPU; on CUDA, float32 matmuls and convolutions "
                        "use TF32 (default %(default)s)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (worth it for long GPU runs)")
    g.add_argument("--deterministic", action="store_true",
                   help="CUDA: deterministic kernels and no cuDNN autotuning, so --resume continues bit for bit "
                        "(slower; see '--resume' below)")
    g.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: PyTorch's choice)")
    g = p.add_argument_group("analysis bundle (written at the end)")
    g.add_argument("--no-export", action="store_true", help="skip the analysis bundle")
    g.add_argument("--bundle-splits", default=d.bundle_splits, help="splits to encode: comma list or 'all' (default %(default)s)")
    g.add_argument("--bundle-max-images", type=int, default=d.bundle_max_images,
                   help="encode at most N images, a seeded random sample; a folder without valid or test images "
                        "falls back to a sample of the train split (default %(default)s)")
    g.add_argument("--no-tsne", action="store_true", help="skip t-SNE in the bundle (PCA only)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    return p


def main(argv=None) -> None:
    from explorer.celeba import CelebAError
    from train.config import RUN_FIELDS, TrainConfig
    from train.loop import TrainingStopped, train

    a = build_parser().parse_args(argv)
    # Parse again with no defaults for the run's settings, to learn which ones the command line named
    # (--resume takes the others from the checkpoint; argparse also accepts abbreviated flags).
    probe = build_parser()
    probe.set_defaults(**{k: None for k in RUN_FIELDS})
    given = probe.parse_args(argv)
    named = frozenset(k for k in RUN_FIELDS if getattr(given, k) is not None)
    cfg = TrainConfig(
        data_dir=tuple(a.data_dir), out=a.out, epochs=a.epochs, image_size=a.image_size, latent_dim=a.latent_dim,
        channels=a.channels, batch_size=a.batch_size, lr=a.lr, warmup_steps=a.warmup_steps,
        likelihood=a.likelihood, sigma=a.sigma, beta=a.beta, kl_warmup_epochs=a.kl_warmup_epochs,
        free_bits=a.free_bits, seed=a.seed, device=a.device, precision=a.precision, compile=a.compile,
        deterministic=a.deterministic,
        resume=a.resume, strict=a.strict, workers=a.workers, cache_dir=a.cache_dir,
        max_train_images=a.max_train_images, allow_upscale=a.allow_upscale, export=not a.no_export,
        bundle_splits=a.bundle_splits,
        bundle_max_images=a.bundle_max_images, tsne=not a.no_tsne, threads=a.threads, progress=not a.no_progress,
    )
    try:
        train(cfg, named=named)
    except CelebAError as e:
        sys.exit(f"error: {e}")
    except TrainingStopped as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit(130)
