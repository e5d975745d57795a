"""The trainer: data resident where it is used, bf16 autocast on GPUs, DDP, resumable, never loses a checkpoint.

One epoch = one pass over the train partition in an order drawn on the CPU from (seed, epoch), the same
on every rank, which then takes its own slice. The state needed to continue (weights, optimizer, step,
position inside the epoch, every rank's noise generator) goes into the checkpoint, so `--resume`
continues a run as if it had never stopped (see `python -m train --help` for what that means on GPUs).

The run's settings are train/config.py, the process group train/distributed.py; this module is the loop.
"""
from __future__ import annotations

import csv
import gc
import math
import os
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from explorer.celeba import CelebAIndex, open_celeba
from explorer.checkpoint import CheckpointError, atomic_torch_save, make_checkpoint, read_checkpoint_dict
from explorer.config import LossConfig, PreprocessConfig, VAEConfig
from explorer.imaging import image_grid, to_uint8_images
from explorer.model import VAE, count_parameters
from explorer.analysis.runlog import epoch_rows
from train import distributed
from train.config import MODEL_FIELDS, RUN_FIELDS, TrainConfig, resumed  # noqa: F401  (re-exported)
from train.losses import beta_at, vae_loss
from train.prepare import CachedData, check_image_sizes, load_or_build_cache, wait_for_cache

# Below this many images per process a GPU idles between kernels and BatchNorm's batch statistics get noisy.
SMALL_GPU_BATCH = 32


class TrainingStopped(RuntimeError):
    """A run that cannot go on (non-finite loss); the message says what was kept."""


class _StopRequested(Exception):
    """Ctrl-C (or SIGTERM) was pressed: leave at the next step boundary, where the state is whole."""


def lr_at(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Linear warm-up, then cosine decay to a tenth: a pure function of the step, so resuming the
    step resumes the schedule."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def epoch_plan(seed: int, epoch: int, n: int, rank: int, world: int, steps: int, batch: int):
    """This rank's batches of one epoch: positions into the train set, (steps, batch) int64, and the
    horizontal flips, (steps, batch) bool. The order depends on (seed, epoch) only, so every rank draws
    the same one and takes its own slice; the flips also on the rank. Nothing here is generator state:
    a resumed run, on any device, redraws the same epoch."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    mine = order[rank::world][: steps * batch].reshape(steps, batch)
    flips = np.random.default_rng([seed, epoch, 1 + rank]).random((steps, batch)) < 0.5
    return torch.from_numpy(mine), torch.from_numpy(flips)


def noise_seed(seed: int, rank: int, step: int = 0) -> int:
    """Rank r draws its reparameterisation noise from seed + r, so the ranks' samples are independent
    (one shared stream would give sample i of every rank the same eps). A resume that cannot reuse the
    saved generators re-seeds from the step, a stream no earlier step used."""
    return seed + rank + 1_000_003 * step


def reseed_reason(saved: dict | None, device_type: str, world: int, state_numel: int) -> str | None:
    """Why the saved noise generators cannot continue here (None: they can, exactly).

    Each device type has its own generator state: the CPU's Mersenne Twister (5,056 bytes) and CUDA's
    Philox seed and offset (16 bytes). A state saved on one is refused by the other, so a run that
    moves between them, or changes its number of processes, re-seeds instead."""
    if not saved or "states" not in saved:
        return "the checkpoint holds no per-rank noise generators (an earlier version wrote it)"
    if saved["device"] != device_type:
        return f"the run was saved on {saved['device']} and continues on {device_type}"
    if len(saved["states"]) != world:
        return f"the run was saved by {len(saved['states'])} process(es) and continues with {world}"
    if any(s.numel() != state_numel for s in saved["states"]):
        return f"its noise generator states do not have the {state_numel} bytes of a {device_type} generator"
    return None


def _printer(main: bool):
    """The default log: rank 0 prints. A free function, not a lambda over the trainer, so the trainer
    (and its DDP wrapper) is freed when the run returns, not in a reference cycle at interpreter exit."""
    return (lambda msg: print(msg, flush=True)) if main else (lambda msg: None)


def backend_settings(device: torch.device, deterministic: bool) -> None:
    """cuDNN and TF32 choices for a CUDA run (no effect on the CPU)."""
    if device.type != "cuda":
        return
    # Every step has the same shapes: cuDNN times its algorithms once and keeps the fastest ones,
    # unless the run must repeat bit for bit (timing may pick differently from run to run).
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; it is read when cuBLAS starts, which is later.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    # TF32 (10-bit mantissa) for what runs in float32 on Ampere and later: all of --precision fp32, and
    # the few float32 ops under bf16 autocast. The loss is reduced in float32 on CUDA cores either way.
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # torch >= 2.9
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def prepare_data(cfg: TrainConfig, d: distributed.Dist, log) -> tuple[CachedData, CelebAIndex]:
    """Open the folders, check image sizes, build or load the cache: before any CUDA context or
    process group exists, so the worker processes fork from a plain process, and no rank waits in a
    collective (under NCCL's timeout) while another decodes images."""
    pre = PreprocessConfig(image_size=cfg.image_size)
    index = open_celeba(cfg.data_dirs)
    log(index.describe())
    # Every rank checks (it reads headers only), so a refusal stops all of them alike; one process
    # each beside the builder, so K ranks do not start K pools.
    check_image_sizes(index, pre, cfg.allow_upscale, log=log, workers=cfg.workers if d.local_main else 1)
    if d.local_main:
        return load_or_build_cache(index, pre, cfg.cache_dir, cfg.workers, cfg.progress, cfg.strict, log=log), index
    wait_for_cache(index, pre, cfg.cache_dir)
    return load_or_build_cache(index, pre, cfg.cache_dir, 1, False, cfg.strict, log=lambda m: None), index


def _progress_bar(**kw):
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0  # no monitor thread: nothing of ours outlives the run

    return Bar(**kw)


class Trainer:
    def __init__(self, cfg: TrainConfig, log=None, cache: CachedData | None = None, named: frozenset | None = None):
        """`cache` replaces reading cfg.data_dir (benchmarks pass a synthetic one); `named`: the RUN_FIELDS
        the command line gave (None: all of them), which --resume keeps instead of the saved ones."""
        self.dist = distributed.from_env()
        self.log = log or _printer(self.dist.main)
        distributed.wants_cuda(cfg.device)  # an impossible --device fails now, not after the cache is built
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out)
        self.run_dir = self.out.with_name(self.out.stem + "_run")
        self._stop_requested = False  # set by Ctrl-C / SIGTERM while run() is in progress
        self._closed = False  # training over, process group left (close)
        self.cfg = cfg
        resume_state = None
        if cfg.resume:
            resume_state = self._read_resume_state()
            self.cfg, notes = resumed(cfg, VAEConfig.from_dict(resume_state["data"]["model_config"]),
                                      resume_state["ts"].get("config") or {}, named, str(self.out))
            for note in notes:
                self.log(note)
        self.index: CelebAIndex | None = None  # None for a cache passed in (benchmarks)
        if cache is None:
            cache, self.index = prepare_data(self.cfg, self.dist, self.log)
        self.device = distributed.device_for(self.dist, self.cfg.device)
        backend_settings(self.device, self.cfg.deterministic)
        distributed.start(self.dist, self.device, self.log)
        self._setup_data(cache)
        self._setup_model(resume_state)

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
        return {"data": data, "ts": data["train_state"]}

    def _setup_data(self, cache: CachedData):
        cfg, d = self.cfg, self.dist
        self.pre = PreprocessConfig(image_size=cfg.image_size)
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
        n_rank = len(self.train_idx) // d.world
        self.batch = max(2, min(cfg.batch_size // d.world, n_rank))
        self.train_images = self._place(cache.images[self.train_idx], "train")
        self.val_images = _nhwc(cache.images[self.val_idx])
        if self.batch * d.world != cfg.batch_size:
            self.log(f"note: --batch-size {cfg.batch_size} over {d.world} process(es) gives {self.batch} each, "
                     f"a global batch of {self.batch * d.world}")
        if self.device.type == "cuda" and self.batch < SMALL_GPU_BATCH:
            self.log(f"note: {self.batch} images per GPU leave it mostly idle and make BatchNorm's statistics "
                     f"noisy; a larger --batch-size (global: {SMALL_GPU_BATCH * d.world} or more here) with a "
                     f"larger --lr trains faster")
        self.steps_per_epoch = max(1, n_rank // self.batch)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.loss_cfg = cfg.loss_config(self.steps_per_epoch)

    def _place(self, images: np.ndarray, what: str) -> torch.Tensor:
        """The uint8 set, converted once to NHWC (channels_last) order, kept where batches are made: on
        the GPU when it fits in half its free memory (full CelebA at 64x64 is 2.5 GB), so a batch is a
        gather on the device; otherwise in pinned host memory, gathered into pinned staging buffers."""
        t = _nhwc(images)
        self._staging = None
        if self.device.type != "cuda":
            return t
        free, _ = torch.cuda.mem_get_info(self.device)
        if t.nbytes < 0.5 * free:
            return t.to(self.device)
        self.log(f"note: the {what} set ({t.nbytes / 2**30:.1f} GiB) does not fit in half the free GPU memory; "
                 f"batches are gathered in pinned host memory and copied asynchronously")
        # Two buffers: the next batch is gathered into one while the other's copy is still in flight.
        shape = (self.batch, *t.shape[1:])
        self._staging = [(torch.empty(shape, dtype=torch.uint8, pin_memory=True), None) for _ in range(2)]
        self._slot = 0
        return t.pin_memory()

    def _setup_model(self, resume_state: dict | None):
        cfg, d = self.cfg, self.dist
        torch.manual_seed(cfg.seed)  # the initial weights (DDP also broadcasts rank 0's to the others)
        self.model_config = cfg.model_config
        # channels_last suits cuDNN's tensor-core kernels and, measured here, also makes oneDNN's
        # transposed convolutions ~1.5x faster on the CPU (bench/bench_train.py).
        self.model = VAE(self.model_config).to(self.device, memory_format=torch.channels_last)
        cuda = self.device.type == "cuda"
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.0,
                                     **({"fused": True} if cuda else {}))
        precision = cfg.precision if cfg.precision != "auto" else ("bf16" if cuda else "fp32")
        self.autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16) if precision == "bf16"
                         else nullcontext())
        self.precision = precision
        torch.manual_seed(noise_seed(cfg.seed, d.rank))
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.sigma_estimate = None
        self.history: list[dict] = []
        self.elapsed = 0.0
        if resume_state:
            self._restore(resume_state)
        self.net = self.model
        if d.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.net = DDP(self.net, device_ids=[self.device.index] if cuda else None)
        if cfg.compile:
            # The DDP-wrapped module is compiled (not the reverse): Dynamo's DDPOptimizer then splits
            # the graph at DDP's gradient buckets, so their all-reduces overlap the backward pass.
            self.net = torch.compile(self.net)
        self.log(f"model: {count_parameters(self.model) / 1e6:.2f}M parameters, latent {cfg.latent_dim}, "
                 f"{cfg.image_size}x{cfg.image_size}; device {self.device}, {precision}, "
                 f"{d.world} process(es), batch {self.batch} per process, "
                 f"{self.steps_per_epoch} steps per epoch")

    # ----- state -----------------------------------------------------------------------------------
    def _noise_state(self) -> torch.Tensor:
        if self.device.type == "cuda":
            return torch.cuda.get_rng_state(self.device)
        return torch.get_rng_state()

    def _train_state(self, noise_states: list) -> dict:
        return {
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "epoch": self.epoch,  # epochs completed
            "batch_in_epoch": self.batch_in_epoch,  # >0 only for a save from inside an epoch (Ctrl-C)
            # every rank's reparameterisation-noise generator, in rank order (the data draw needs no state)
            "noise_rng": {"device": self.device.type, "states": noise_states},
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
        saved = ts.get("noise_rng")
        reason = reseed_reason(saved, self.device.type, self.dist.world, self._noise_state().numel())
        if reason is None:
            state = saved["states"][self.dist.rank]
            if self.device.type == "cuda":
                torch.cuda.set_rng_state(state, self.device)
            else:
                torch.set_rng_state(state)
        else:
            torch.manual_seed(noise_seed(self.cfg.seed, self.dist.rank, self.step))
            self.log(f"note: --resume: {reason}; the reparameterisation noise is re-seeded from step {self.step} "
                     f"(the data order and flips do not depend on it), so the run continues, though not bit for "
                     f"bit as one that never stopped")
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
            "final_metrics": final or (epoch_rows(self.history)[-1] if epoch_rows(self.history) else {}),
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
        """While training, every rank calls this (it gathers their noise generators); rank 0 writes.
        After close(), the generators as training left them are written again."""
        if not self._closed:
            self._noise_states = [self._noise_state()]
            if self.dist.enabled:
                self._noise_states = [None] * self.dist.world
                dist.all_gather_object(self._noise_states, self._noise_state())
        if not self.dist.main:
            return
        ckpt = make_checkpoint(self.model, self.pre, self.cache.attribute_names, self.summary(), self.history,
                               bundle=bundle,
                               train_state=self._train_state(self._noise_states) if train_state else None)
        atomic_torch_save(ckpt, self.out)

    # ----- one epoch ------------------------------------------------------------------------------------
    def _batches(self):
        """Yield (b, positions, flips) for this rank, continuing from batch_in_epoch (a resumed epoch).
        The plan is drawn on the CPU and, for a set on the GPU, copied there once per epoch."""
        idx, flips = epoch_plan(self.cfg.seed, self.epoch, len(self.train_idx), self.dist.rank, self.dist.world,
                                self.steps_per_epoch, self.batch)
        if self.device.type == "cuda":
            flips = flips.pin_memory().to(self.device, non_blocking=True)
            if self.train_images.is_cuda:
                idx = idx.pin_memory().to(self.device, non_blocking=True)
        for b in range(self.batch_in_epoch, self.steps_per_epoch):
            yield b, idx[b], flips[b]

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
        """The uint8 NHWC batch at `idx`, on the device."""
        images = self.train_images
        if self._staging is None:  # the set is where the model is
            return images[idx]
        buf, copied = self._staging[self._slot]
        if copied is not None:
            copied.synchronize()  # this buffer's copy of two steps ago has left it
        buf = buf[: len(idx)]
        torch.index_select(images, 0, idx, out=buf)
        x = buf.to(self.device, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self._staging[self._slot] = (self._staging[self._slot][0], done)
        self._slot ^= 1
        return x

    def _as_input(self, x: torch.Tensor, flip: torch.Tensor | None) -> torch.Tensor:
        """uint8 NHWC on the device -> float NCHW in [0,1], channels_last (a view of NHWC, no copy)."""
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if flip is not None:  # horizontal flips: training-only augmentation
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x

    def _input(self, images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Evaluation inputs (validation, grids): no flips."""
        return self._as_input(images[idx.to(images.device)].to(self.device), None)

    def train_step(self, x: torch.Tensor) -> torch.Tensor:
        """One optimizer step on the batch x; returns (nelbo, kl, mse[, sigma]) on the device, no host sync."""
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.cfg, self.step, self.total_steps)
        with self.autocast:
            recon, mu, logvar = self.net(x)
        terms = vae_loss(x, recon, mu, logvar, self.loss_cfg, beta_at(self.loss_cfg, self.step))
        self.opt.zero_grad(set_to_none=True)
        terms.loss.backward()
        self.opt.step()
        self.step += 1
        stats = [terms.nelbo, terms.kl, terms.mse] + ([terms.sigma] if torch.is_tensor(terms.sigma) else [])
        return torch.stack(stats).detach()

    def train_epoch(self) -> dict:
        self.model.train()
        calibrated = self.loss_cfg.likelihood == "calibrated"
        sums = torch.zeros(4 if calibrated else 3, device=self.device)  # nelbo, kl, mse[, sigma]
        window = torch.zeros_like(sums)  # since the last logged step: that row of the per-step curve
        count, in_window, t0 = 0, 0, time.perf_counter()
        bar = _progress_bar(total=self.steps_per_epoch, initial=self.batch_in_epoch,
                            desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}", unit="step",
                            disable=not (self.cfg.progress and self.dist.main), dynamic_ncols=True, leave=False)
        for b, idx, flip in self._batches():
            stats = self.train_step(self._as_input(self._gather(idx), flip))
            sums += stats
            window += stats
            self.batch_in_epoch = b + 1
            count += 1
            in_window += 1
            bar.update()
            # By the global step, not the count since this process started: a resumed run logs the same steps.
            sync = self.step % self.cfg.log_every == 0 or b + 1 == self.steps_per_epoch
            if self._should_stop(sync):
                raise _StopRequested
            if sync:
                # One host sync per log interval, not per step: it also catches NaN/inf early.
                both = torch.stack([sums / count, window / in_window]).tolist()
                mean, recent = both
                self._check_finite(mean[0])
                self._log_step(recent)
                window.zero_()
                in_window = 0
                rate = count * self.batch * self.dist.world / (time.perf_counter() - t0)
                bar.set_postfix(loss=f"{mean[0]:.1f}", kl=f"{mean[1]:.1f}", mse=f"{mean[2]:.4f}", img_s=f"{rate:.0f}")
        bar.close()
        if count:
            if self.dist.enabled:
                dist.all_reduce(sums)
                sums /= self.dist.world
            mean = (sums / count).tolist()
            self._check_finite(mean[0])
        # The epoch is complete: the next one starts at its first batch.
        self.epoch += 1
        self.batch_in_epoch = 0
        if count == 0:  # resumed exactly at the end of an epoch: nothing was left to train
            return {}
        seconds = time.perf_counter() - t0
        # The likelihood sigma this epoch settled on (the calibrated one is re-estimated every batch);
        # validation scores the ELBO with it.
        sigma = mean[3] if calibrated else self.loss_cfg.sigma
        self.sigma_estimate = sigma
        return {"train_nelbo": mean[0], "train_kl": mean[1], "train_mse": mean[2], "sigma": sigma,
                "epoch_seconds": seconds, "images_per_s": count * self.batch * self.dist.world / seconds}

    def _log_step(self, recent: list[float]) -> None:
        """One row of the per-step curves (the Diagnostics view draws them): the training values averaged over
        the steps since the last row, this process's batches (no collective for a curve). Kept in the
        checkpoint's history beside the epoch rows; a row without "epoch" is a step's (explorer.analysis.runlog)."""
        if not self.dist.main:
            return
        row = {"step": self.step, "train_nelbo": recent[0], "train_kl": recent[1], "train_mse": recent[2]}
        self.history.append({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
        if getattr(self, "tb", None) is not None:
            for k in ("train_nelbo", "train_kl", "train_mse"):
                self.tb.add_scalar(f"step/{k}", row[k], self.step)

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
            x = self._input(self.val_images, torch.arange(start, min(start + 512, len(self.val_idx))))
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
        x = self._input(src, torch.arange(min(8, len(src))))
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
            self.save()  # every rank stopped after the same step (see _should_stop)
            self.log(f"interrupted: saved {self.out} at epoch {self.epoch}, batch {self.batch_in_epoch} "
                     f"(step {self.step}); continue with the same command plus --resume")
            self.close()
            raise KeyboardInterrupt from None
        finally:
            for sig, h in handlers.items():
                signal.signal(sig, h)
            if self.tb is not None:
                self.tb.close()  # joins the writer's thread
        # Training is over on every rank: leave the process group together, then rank 0 exports alone
        # (t-SNE on 20,000 images can outlast any collective timeout).
        self.close()
        if cfg.deterministic:  # the bundle needs no exactness, and some of its ops may lack deterministic kernels
            torch.use_deterministic_algorithms(False)
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

    def close(self) -> None:
        """End training: leave the process group in order (train/distributed.py: stop). The DDP wrapper,
        which holds a reference to the group, is dropped first, so destroy_process_group really frees it.
        What is left (rank 0's export and save) runs alone."""
        self._closed = True
        if not (self.dist.enabled and dist.is_initialized()):
            return
        self.net = self.model
        gc.collect()
        distributed.stop(self.dist)


def _format_row(row: dict) -> str:
    keys = ["train_nelbo", "train_kl", "train_mse", "val_nelbo", "val_kl", "val_mse", "images_per_s"]
    parts = [f"{k}={row[k]:.4g}" for k in keys if k in row]
    return f"epoch {row['epoch']}: " + " ".join(parts)


def _nhwc(images: np.ndarray) -> torch.Tensor:
    """(N,3,S,S) uint8 -> (N,S,S,3) contiguous: a batch gathered from it and permuted back to NCHW is
    channels_last with no copy (the cache is converted once, not every batch)."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 2, 3, 1)))


def train(cfg: TrainConfig, log=None, named: frozenset | None = None) -> Path:
    trainer = Trainer(cfg, log=log, named=named)
    try:
        return trainer.run()
    finally:
        # A run that failed: no last barrier (a peer may be gone), but the group still goes while the
        # interpreter is whole.
        trainer.net = None
        if dist.is_initialized():
            dist.destroy_process_group()
