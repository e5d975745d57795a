"""The run's config: everything `python -m train` was asked to do, as one typed dataclass.

The CLI fills it (train/cli.py), tests and benchmarks build it directly. Which flags a command line
named is the CLI's concern and travels beside the config, never inside it (see `resumed`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from explorer.config import LossConfig, VAEConfig

# The settings that define a run. On --resume they come from the checkpoint unless the command line
# names them, so the short `--resume` command continues the run as it was started. The architecture
# cannot change within a run; the objective and the schedule can, with a note.
MODEL_FIELDS = ("image_size", "latent_dim", "channels")
RUN_FIELDS = MODEL_FIELDS + ("batch_size", "lr", "warmup_steps", "likelihood", "sigma", "beta", "kl_warmup_epochs",
                             "free_bits", "seed")


@dataclass(frozen=True)
class TrainConfig:
    """Everything `python -m train` was asked to do (the CLI fills it; tests build it directly)."""

    data_dir: str | tuple[str, ...]  # one CelebA folder, or several united by image id (first wins)
    out: str
    # The defaults are the recipe of the shipped default model (checkpoints/README.md), so the shortest
    # command trains the model we recommend; tests/core/test_shipped_model.py checks that they agree.
    epochs: int = 30
    image_size: int = 64
    latent_dim: int = 128
    channels: tuple = (32, 64, 128, 256, 512)
    batch_size: int = 64  # global: split across DDP processes
    lr: float = 1e-3
    warmup_steps: int = 200
    likelihood: str = "fixed"
    sigma: float = 0.3
    beta: float = 1.0
    kl_warmup_epochs: float = 0.0
    free_bits: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    deterministic: bool = False  # CUDA: deterministic kernels, so --resume continues bit for bit (slower)
    resume: bool = False
    strict: bool = False
    workers: int | None = None
    cache_dir: str | None = None
    max_train_images: int | None = None
    allow_upscale: bool = False  # accept images whose crop is smaller than image_size
    export: bool = True
    bundle_splits: str = "all"
    bundle_max_images: int | None = 20_000
    tsne: bool = True
    threads: int | None = None
    progress: bool = True
    log_every: int = 20

    @property
    def data_dirs(self) -> tuple[str, ...]:
        return (self.data_dir,) if isinstance(self.data_dir, str) else tuple(self.data_dir)

    @property
    def model_config(self) -> VAEConfig:
        return VAEConfig(self.image_size, self.latent_dim, tuple(self.channels))

    def loss_config(self, steps_per_epoch: int) -> LossConfig:
        return LossConfig(likelihood=self.likelihood, sigma=self.sigma, beta=self.beta,
                          kl_warmup_steps=int(round(self.kl_warmup_epochs * steps_per_epoch)),
                          free_bits=self.free_bits)

    def run_settings(self) -> dict:
        """The RUN_FIELDS in plain types, as a checkpoint records them."""
        return {k: list(getattr(self, k)) if k == "channels" else getattr(self, k) for k in RUN_FIELDS}


def resumed(cfg: TrainConfig, saved_model: VAEConfig, saved: dict, named: frozenset | None,
            where: str) -> tuple[TrainConfig, list[str]]:
    """The config that continues a saved run, and the notes to print; `cfg` itself is left as it was.

    `named`: the RUN_FIELDS the command line gave (None: all of them, a config built in code). A named
    architecture change is refused (SystemExit naming `where`, the checkpoint); unnamed settings come
    from the checkpoint; a named setting that differs from the saved one changes the run, with a note.
    """
    named = set(RUN_FIELDS) if named is None else set(named)
    changes, notes = {}, []
    for k in MODEL_FIELDS:
        had = getattr(saved_model, k)
        asked = tuple(getattr(cfg, k)) if k == "channels" else getattr(cfg, k)
        if k in named and asked != had:
            flag = "--" + k.replace("_", "-")
            raise SystemExit(f"error: --resume: {where} holds a model with {k} {had}, and the command asks "
                             f"for {asked}; a run cannot change its architecture. Leave out {flag} to continue "
                             f"this run, or start a new one with another --out")
        changes[k] = had
    for k in RUN_FIELDS[len(MODEL_FIELDS):]:
        if k not in saved:
            continue
        if k not in named:
            changes[k] = saved[k]
        elif saved[k] != getattr(cfg, k):
            notes.append(f"note: --resume: --{k.replace('_', '-')} changes from {saved[k]} to {getattr(cfg, k)}")
    return replace(cfg, **changes), notes
