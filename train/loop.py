"""The training loop: data on the device, bf16 autocast, DDP, resumable, never loses a checkpoint.

One epoch = one pass over the train partition in a random order drawn on the device. The whole
state needed to continue (weights, optimizer, step, RNG states, position inside the epoch) goes into
the checkpoint, so `--resume` continues a run as if it had never stopped.
"""
from __future__ import annotations

import csv
import math
import os
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from explorer.celeba import CelebAIndex, open_celeba
from explorer.checkpoint import CheckpointError, atomic_torch_save, make_checkpoint, read_checkpoint_dict
from explorer.config import LossConfig, PreprocessConfig, VAEConfig
from explorer.imaging import image_grid, to_uint8_images
from explorer.model import VAE, count_parameters
from train.config import MODEL_FIELDS, RUN_FIELDS, TrainConfig, resumed  # noqa: F401  (re-exported)
from train.losses import beta_at, vae_loss
from train.prepare import CachedData, check_image_sizes, load_or_build_cache


class TrainingStopped(RuntimeError):
    """A run that cannot go on (non-finite loss); the message says what was kept."""


class _StopRequested(Exception):
    """Ctrl-C (or SIGTERM) was pressed: leave at the next step boundary, where the state is whole."""


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.enabled:
            dist.barrier()


def init_distributed(device_pref: str) -> tuple[Dist, torch.device]:
    """torchrun sets RANK/WORLD_SIZE/LOCAL_RANK; without them this is a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    d = Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda was asked for, but PyTorch sees no CUDA device")
    if use_cuda:
        torch.cuda.set_device(d.local_rank)
        device = torch.device("cuda", d.local_rank)
    else:
        device = torch.device("cpu")
    if d.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return d, device


def lr_at(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Linear warm-up, then cosine decay to a tenth: a pure function of the step, so resuming the
    step resumes the schedule."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


class Trainer:
    def __init__(self, cfg: TrainConfig, log=None, cache: CachedData | None = None, named: frozenset | None = None):
        """`cache` replaces reading cfg.data_dir (benchmarks pass a synthetic one); `named`: the RUN_FIELDS
        the command line gave (None: all of them), for --resume."""
        self.cfg = cfg
        self.named = named
        self.dist, self.device = init_distributed(cfg.device)
        self.log = log or (lambda msg: print(msg, flush=True) if self.dist.main else None)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out)
        self.run_dir = self.out.with_name(self.out.stem + "_run")
        self._stop_requested = False  # set by Ctrl-C / SIGTERM while run() is in progress
        self.resume_state = self._read_resume_state() if cfg.resume else None
        self._setup_data(cache)
        self._setup_model()

    # ----- setup ---------------------------------------------------------------------------------
    def _read_resume_state(self) -> dict:
        if not self.out.is_file():
            raise SystemExit(f"error: --resume: no checkpoint at {self.out} to resume from")
        try:
            data = read_checkpoint_dict(self.out)
        except CheckpointError as e:
            raise SystemExit(f"error: --resume: {e}") from None
        if not data.get("train_state"):
            raise SystemExit(f"error: --resume: {self.out} holds no training state (it was slimmed for "
                             f"shipping); start a new run with another --out")
        ts = data["train_state"]
        self.cfg, notes = resumed(self.cfg, VAEConfig.from_dict(data["model_config"]), ts.get("config") or {},
                                  self.named, str(self.out))
        for note in notes:
            self.log(note)
        return {"data": data, "ts": ts}

    def _setup_data(self, cache: CachedData | None):
        cfg = self.cfg
        self.pre = PreprocessConfig(image_size=cfg.image_size)
        self.index: CelebAIndex | None = None  # None for a cache passed in (benchmarks)
        if cache is None:
            index = self.index = open_celeba(cfg.data_dirs)
            self.log(index.describe())
            # Every rank checks (it reads headers only), so a refusal stops all of them alike; one
            # process each beside rank 0, so K ranks do not start K pools.
            check_image_sizes(index, self.pre, cfg.allow_upscale, log=self.log,
                              workers=cfg.workers if self.dist.main else 1)
            # Rank 0 decodes; the others wait and then read the same cache files.
            if self.dist.main:
                cache = load_or_build_cache(index, self.pre, cfg.cache_dir, cfg.workers, cfg.progress, cfg.strict,
                                            log=self.log)
            self.dist.barrier()
            if not self.dist.main:
                cache = load_or_build_cache(index, self.pre, cfg.cache_dir, 1, False, cfg.strict,
                                            log=lambda m: None)
        self.cache: CachedData = cache
        self.data_folders = self._folder_summary()
        self.train_idx = cache.split([0])
        if cfg.max_train_images:
            self.train_idx = self.train_idx[: cfg.max_train_images]
        self.val_idx = cache.split([1])
        if len(self.train_idx) < 2:
            raise SystemExit(f"error: {', '.join(cfg.data_dirs)}: the train partition has {len(self.train_idx)} "
                             f"usable image(s); at least 2 are needed")
        if len(self.val_idx) == 0:
            self.log("note: no valid-partition images; per-epoch validation is skipped")
        self.train_images = self._to_device(cache.images[self.train_idx], "train")
        self.val_images = torch.from_numpy(np.ascontiguousarray(cache.images[self.val_idx]))
        n_rank = len(self.train_idx) // self.dist.world
        self.batch = max(2, min(cfg.batch_size // self.dist.world, n_rank))
        self.steps_per_epoch = max(1, n_rank // self.batch)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.loss_cfg = cfg.loss_config(self.steps_per_epoch)

    def _to_device(self, images: np.ndarray, what: str) -> torch.Tensor:
        """Keep the uint8 set on the GPU when it fits (full CelebA at 64x64 is 2.5 GB), so the input
        pipeline is a gather, never a host->device copy per batch."""
        t = torch.from_numpy(np.ascontiguousarray(images))
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            if t.nbytes < 0.5 * free:
                t = t.to(self.device)
            else:
                self.log(f"note: the {what} set ({t.nbytes / 2**30:.1f} GiB) does not fit in half the free GPU "
                         f"memory; batches are copied from pinned host memory")
                t = t.pin_memory()
        return t

    def _setup_model(self):
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        self.model_config = VAEConfig(cfg.image_size, cfg.latent_dim, tuple(cfg.channels))
        self.model = VAE(self.model_config).to(self.device)
        cuda = self.device.type == "cuda"
        # channels_last suits cuDNN's tensor-core kernels and, measured here, also makes oneDNN's
        # transposed convolutions ~1.5x faster on the CPU (bench/bench_train.py).
        self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.0,
                                     **({"fused": True} if cuda else {}))
        precision = cfg.precision if cfg.precision != "auto" else ("bf16" if cuda else "fp32")
        self.autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16) if precision == "bf16"
                         else nullcontext())
        self.precision = precision
        # The data order has its own generator, on the device so permutations and flips stay there.
        self.data_gen = torch.Generator(device=self.device)
        self.data_gen.manual_seed(cfg.seed + 1000 * self.dist.rank)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.epoch_gen_state = self.data_gen.get_state()
        self.sigma_estimate = None
        self.history: list[dict] = []
        self.elapsed = 0.0
        if self.resume_state:
            self._restore(self.resume_state)
        self.net = self.model
        if cfg.compile:
            self.net = torch.compile(self.net)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.net = DDP(self.net, device_ids=[self.device.index] if cuda else None)
        self.log(f"model: {count_parameters(self.model) / 1e6:.2f}M parameters, latent {cfg.latent_dim}, "
                 f"{cfg.image_size}x{cfg.image_size}; device {self.device}, {precision}, "
                 f"{self.dist.world} process(es), batch {self.batch} per process, "
                 f"{self.steps_per_epoch} steps per epoch")

    # ----- state -----------------------------------------------------------------------------------
    def _train_state(self) -> dict:
        return {
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "epoch": self.epoch,  # epochs completed
            "batch_in_epoch": self.batch_in_epoch,  # >0 only for a save from inside an epoch (Ctrl-C)
            "epoch_gen_state": self.epoch_gen_state,  # data RNG at the start of this epoch: rebuilds its order
            "data_gen_state": self.data_gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "sigma_estimate": self.sigma_estimate,
            "elapsed": self.elapsed,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.cfg).items()},
        }

    def _restore(self, rs: dict):
        data, ts = rs["data"], rs["ts"]
        state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
        self.model.load_state_dict(state)
        self.opt.load_state_dict(ts["optimizer"])
        self.step, self.epoch, self.batch_in_epoch = ts["step"], ts["epoch"], ts["batch_in_epoch"]
        self.epoch_gen_state = ts["epoch_gen_state"]
        self.data_gen.set_state(ts["data_gen_state"])
        torch.set_rng_state(ts["torch_rng"])
        if ts.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(ts["cuda_rng"], self.device)
        self.sigma_estimate, self.elapsed = ts["sigma_estimate"], ts["elapsed"]
        self.history = list(data.get("history") or [])
        where = f"epoch {self.epoch}" + (f", batch {self.batch_in_epoch}" if self.batch_in_epoch else "")
        self.log(f"resuming {self.out} after {where} (step {self.step})")
        if self.epoch >= self.cfg.epochs:
            self.log(f"note: the run already has {self.epoch} epochs; --epochs {self.cfg.epochs} is the total")

    def summary(self, final: dict | None = None) -> dict:
        cfg = self.cfg
        return {
            "data": {**self.data_folders, "train_images": int(len(self.train_idx)),
                     "valid_images": int(len(self.val_idx)), "unreadable_images": len(self.cache.unreadable)},
            "epochs": self.epoch, "steps": self.step, "seconds": round(self.elapsed, 1),
            "loss": self.loss_cfg.to_dict(), "likelihood_sigma": self.sigma_estimate,
            "batch_size": self.batch * self.dist.world, "lr": cfg.lr, "seed": cfg.seed,
            "device": str(self.device), "precision": self.precision, "processes": self.dist.world,
            "parameters": count_parameters(self.model),
            # every setting that defines the run, as the command line gave it (see RUN_FIELDS)
            "recipe": cfg.run_settings(),
            "final_metrics": final or (self.history[-1] if self.history else {}),
        }

    def _folder_summary(self) -> dict:
        """Per data folder: base name (no absolute path: the checkpoint travels), layout, images that
        decoded, persons among them (None without identity_CelebA.txt) and ids left to an earlier
        folder; and the persons of all folders together."""
        if self.index is None:  # a cache passed in (benchmarks): no folders
            return {"folders": [], "persons": None}
        row = {f: i for i, f in enumerate(self.index.filenames)}
        rows = [row[f] for f in self.cache.filenames]
        return {"folders": self.index.folder_summary(rows), "persons": self.index.count_persons(rows)}

    def save(self, bundle=None, train_state=True):
        if not self.dist.main:
            return
        ckpt = make_checkpoint(self.model, self.pre, self.cache.attribute_names, self.summary(), self.history,
                               bundle=bundle, train_state=self._train_state() if train_state else None)
        atomic_torch_save(ckpt, self.out)

    # ----- one epoch ------------------------------------------------------------------------------------
    def _batches(self):
        """Yield index tensors for this rank, continuing from batch_in_epoch (a resumed epoch)."""
        n = len(self.train_idx)
        self.data_gen.set_state(self.epoch_gen_state)
        # Every rank draws the same permutation (same seed for the order), then takes its own slice.
        order_gen = torch.Generator(device=self.device)
        order_gen.manual_seed(self.cfg.seed + 7919 * (self.epoch + 1))
        perm = torch.randperm(n, generator=order_gen, device=self.device)
        perm = perm[self.dist.rank:: self.dist.world]
        for b in range(self.steps_per_epoch):
            idx = perm[b * self.batch:(b + 1) * self.batch]
            flip = torch.rand(len(idx), generator=self.data_gen, device=self.device) < 0.5
            if b >= self.batch_in_epoch:
                yield b, idx, flip

    def _input(self, images: torch.Tensor, idx: torch.Tensor, flip: torch.Tensor | None) -> torch.Tensor:
        x = images[idx.to(images.device)].to(self.device, non_blocking=True).float().div_(255.0)
        if flip is not None:  # horizontal flips: training-only augmentation, drawn on the device
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x.contiguous(memory_format=torch.channels_last)

    def train_epoch(self) -> dict:
        from tqdm import tqdm

        self.model.train()
        sums = torch.zeros(4, device=self.device)  # nelbo, kl, mse, sigma
        count, t0 = 0, time.perf_counter()
        bar = tqdm(total=self.steps_per_epoch, initial=self.batch_in_epoch, desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
                   unit="step", disable=not (self.cfg.progress and self.dist.main), dynamic_ncols=True, leave=False)
        for b, idx, flip in self._batches():
            for group in self.opt.param_groups:
                group["lr"] = lr_at(self.cfg, self.step, self.total_steps)
            x = self._input(self.train_images, idx, flip)
            with self.autocast:
                recon, mu, logvar = self.net(x)
            terms = vae_loss(x, recon, mu, logvar, self.loss_cfg, beta_at(self.loss_cfg, self.step))
            self.opt.zero_grad(set_to_none=True)
            terms.loss.backward()
            self.opt.step()
            self.step += 1
            self.batch_in_epoch = b + 1
            sums += torch.stack([terms.nelbo.detach(), terms.kl.detach(), terms.mse.detach(), terms.sigma.detach()])
            count += 1
            bar.update()
            sync = count % self.cfg.log_every == 0 or b + 1 == self.steps_per_epoch
            if self._should_stop(sync):
                raise _StopRequested
            if sync:
                # One host sync per log interval, not per step: it also catches NaN/inf early.
                mean = (sums / count).tolist()
                self._check_finite(mean[0])
                rate = count * len(idx) * self.dist.world / (time.perf_counter() - t0)
                bar.set_postfix(loss=f"{mean[0]:.1f}", kl=f"{mean[1]:.1f}", mse=f"{mean[2]:.4f}", img_s=f"{rate:.0f}")
        bar.close()
        if count:
            if self.dist.enabled:
                dist.all_reduce(sums)
                sums /= self.dist.world
            mean = (sums / count).tolist()
            self._check_finite(mean[0])
        # The epoch is complete: the next one starts at its first batch, from this RNG state.
        self.epoch += 1
        self.batch_in_epoch = 0
        self.epoch_gen_state = self.data_gen.get_state()
        if count == 0:  # resumed exactly at the end of an epoch: nothing was left to train
            return {}
        seconds = time.perf_counter() - t0
        sigma = mean[3]
        # The likelihood sigma this epoch settled on (the calibrated one is re-estimated every batch);
        # validation scores the ELBO with it.
        self.sigma_estimate = sigma if self.loss_cfg.likelihood == "calibrated" else self.loss_cfg.sigma
        return {"train_nelbo": mean[0], "train_kl": mean[1], "train_mse": mean[2], "sigma": sigma,
                "epoch_seconds": seconds, "images_per_s": count * self.batch * self.dist.world / seconds}

    def _should_stop(self, sync: bool) -> bool:
        """One process checks its flag every step; DDP ranks agree at sync points (max over ranks),
        so all of them stop after the same step and none waits forever in a collective."""
        if not self.dist.enabled:
            return self._stop_requested
        if not sync:
            return False
        flag = torch.tensor([float(self._stop_requested)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _on_signal(self, signum, frame):
        if self._stop_requested:  # a second Ctrl-C: the user wants out now, without saving
            raise KeyboardInterrupt
        self._stop_requested = True
        self.log("\nstop requested: finishing this step, then saving (press Ctrl-C again to abort without saving)")

    def _check_finite(self, value: float):
        if not math.isfinite(value):
            kept = f"the last good checkpoint {self.out} (epoch {self.epoch}) is kept" if self.out.is_file() \
                else "no checkpoint had been written yet"
            raise TrainingStopped(f"the loss became {value} at epoch {self.epoch + 1}, step {self.step}; stopping. "
                                  f"{kept.capitalize()}. Try a lower --lr, --kl-warmup-epochs, or --precision fp32.")

    @torch.no_grad()
    def validate(self) -> dict:
        if len(self.val_idx) == 0 or not self.dist.main:
            return {}
        self.model.eval()
        gen = torch.Generator(device=self.device)
        gen.manual_seed(12345)  # the same noise every epoch, so curves compare like with like
        sigma = self.sigma_estimate or self.loss_cfg.sigma
        fixed = LossConfig(likelihood="fixed", sigma=max(sigma, 1e-3))
        sums, n = np.zeros(3), 0
        for start in range(0, len(self.val_idx), 512):
            x = self._input(self.val_images, torch.arange(start, min(start + 512, len(self.val_idx))), None)
            with self.autocast:
                mu, logvar = self.model.encode(x)
                eps = torch.randn(mu.shape, generator=gen, device=self.device)
                recon_z = self.model.decode(mu + torch.exp(0.5 * logvar) * eps)
                recon_mu = self.model.decode(mu)
            t = vae_loss(x, recon_z, mu, logvar, fixed, 1.0)
            mse_mu = (recon_mu.float() - x).pow(2).mean()
            sums += np.array([t.nelbo.item(), t.kl.item(), mse_mu.item()]) * len(x)
            n += len(x)
        self.model.train()
        v = sums / n
        return {"val_nelbo": v[0], "val_kl": v[1], "val_mse": v[2]}

    # ----- artefacts ------------------------------------------------------------------------------------
    @torch.no_grad()
    def write_artifacts(self, row: dict):
        if not self.dist.main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        metrics = self.run_dir / "metrics.csv"
        new = not metrics.exists()
        with metrics.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        self.model.eval()
        from PIL import Image

        grids = self.run_dir / "grids"
        grids.mkdir(exist_ok=True)
        src = self.val_images if len(self.val_images) else self.train_images
        x = self._input(src, torch.arange(min(8, len(src))), None)
        recon = self.model.decode(self.model.encode(x)[0])
        pair = np.concatenate([to_uint8_images(x), to_uint8_images(recon)])
        Image.fromarray(image_grid(pair, len(x))).save(grids / f"epoch{self.epoch:03d}_reconstruction.png")
        z = torch.randn(64, self.model_config.latent_dim, generator=torch.Generator().manual_seed(0)).to(self.device)
        Image.fromarray(image_grid(to_uint8_images(self.model.decode(z)), 8)).save(
            grids / f"epoch{self.epoch:03d}_samples.png")
        self.model.train()
        if self.tb is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, self.epoch)

    # ----- the run ----------------------------------------------------------------------------------
    def run(self):
        cfg = self.cfg
        self.tb = None
        if self.dist.main:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:
                pass  # TensorBoard is optional; metrics.csv always has the same numbers
        # Ctrl-C (SIGINT; torchrun forwards SIGTERM) only sets a flag: the loop stops at the next
        # step boundary, so the saved state is never half an optimizer update.
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self.epoch < cfg.epochs:
                t0 = time.perf_counter()
                row = {"epoch": self.epoch + 1}
                row.update(self.train_epoch())
                row.update(self.validate())
                row.update(step=self.step, lr=lr_at(cfg, self.step, self.total_steps),
                           beta=beta_at(self.loss_cfg, self.step))
                self.elapsed += time.perf_counter() - t0
                row["elapsed_s"] = self.elapsed
                row = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
                self.history.append(row)
                self.write_artifacts(row)
                self.save()
                self.log(_format_row(row))
        except _StopRequested:
            if self.dist.main:
                self.save()
                self.log(f"interrupted: saved {self.out} at epoch {self.epoch}, batch {self.batch_in_epoch} "
                         f"(step {self.step}); continue with the same command plus --resume")
            raise KeyboardInterrupt from None
        finally:
            for sig, h in handlers.items():
                signal.signal(sig, h)
            if self.tb is not None:
                self.tb.close()
        if cfg.export and self.dist.main:
            from train.export import build_bundle, parse_splits

            bundle = build_bundle(self.model, self.cache, parse_splits(cfg.bundle_splits), self.device,
                                  max_images=cfg.bundle_max_images, tsne=cfg.tsne, seed=cfg.seed, log=self.log,
                                  progress=cfg.progress)
            self.save(bundle=bundle)
            self.log(f"wrote {self.out} with an analysis bundle of {len(bundle)} images")
        else:
            self.log(f"wrote {self.out}")
        return self.out


def _format_row(row: dict) -> str:
    keys = ["train_nelbo", "train_kl", "train_mse", "val_nelbo", "val_kl", "val_mse", "images_per_s"]
    parts = [f"{k}={row[k]:.4g}" for k in keys if k in row]
    return f"epoch {row['epoch']}: " + " ".join(parts)


def train(cfg: TrainConfig, log=None, named: frozenset | None = None) -> Path:
    trainer = Trainer(cfg, log=log, named=named)
    try:
        return trainer.run()
    finally:
        if trainer.dist.enabled and dist.is_initialized():
            dist.destroy_process_group()
