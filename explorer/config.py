"""Typed configuration: the model takes only its config (nanoGPT's GPTConfig habit).

Everything here is plain data so that it can be written into a checkpoint as a dict
and rebuilt without the training code.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

SUPPORTED_IMAGE_SIZES = (32, 64, 128)


def _from_dict(cls, data: dict, what: str):
    """Build a dataclass from a dict, refusing unknown keys (a misspelled option must not vanish)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{what}: unknown keys {unknown}; expected a subset of {sorted(names)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**kwargs)


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of the convolutional VAE.

    The encoder halves the resolution once per entry of ``channels`` until the feature map
    is 4x4, so ``image_size`` fixes how many stages are used: 32 -> 3, 64 -> 4, 128 -> 5.
    """

    image_size: int = 64
    latent_dim: int = 128
    channels: tuple[int, ...] = (32, 64, 128, 256, 512)

    def __post_init__(self):
        if self.image_size not in SUPPORTED_IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {SUPPORTED_IMAGE_SIZES}, got {self.image_size}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
        if len(self.channels) < self.num_stages:
            raise ValueError(
                f"image_size {self.image_size} needs {self.num_stages} channel entries, got {self.channels}"
            )

    @property
    def num_stages(self) -> int:
        return {32: 3, 64: 4, 128: 5}[self.image_size]

    @property
    def stage_channels(self) -> tuple[int, ...]:
        return tuple(self.channels[: self.num_stages])

    def to_dict(self) -> dict:
        return {"image_size": self.image_size, "latent_dim": self.latent_dim, "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: dict) -> "VAEConfig":
        return _from_dict(cls, data, "model config")


@dataclass(frozen=True)
class PreprocessConfig:
    """How a photo becomes a model input; written once, used by training, export, app and tests.

    ``crop_fraction`` is the side of the centred square crop relative to the shorter image side:
    148/178 reproduces the usual 148-pixel crop of CelebA's 178x218 aligned faces and extends it
    to photos of any size. ``draft`` lets the JPEG decoder downscale by 1/2, 1/4 or 1/8 while
    decoding (PIL draft mode), which is several times cheaper at small sizes.
    """

    image_size: int = 64
    crop_fraction: float = 148 / 178
    draft: bool = True
    # Height / width of the crop: 1 is the square crop above; 218/178 with crop_fraction 1 keeps the whole
    # aligned 178x218 image (squeezed to S x S), as some public VAE pipelines train (`--crop 178x218`).
    crop_aspect: float = 1.0

    def __post_init__(self):
        if not (0 < self.crop_fraction <= 1) or self.crop_aspect <= 0:
            raise ValueError(f"invalid preprocessing crop: fraction {self.crop_fraction}, aspect {self.crop_aspect}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if self.crop_aspect == 1.0:
            # Square crops are written as before crop_aspect existed, so the training caches' keys (which
            # hash this dict) and older checkpoints stay the same.
            del d["crop_aspect"]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "PreprocessConfig":
        return _from_dict(cls, data, "preprocessing config")


@dataclass(frozen=True)
class LossConfig:
    """The ELBO's knobs; kept out of the model, which is architecture only.

    likelihood: "fixed" is a Gaussian with constant sigma; "calibrated" sets sigma^2 to the batch's
    mean squared error, its maximum-likelihood value (Rybkin et al. 2021, "sigma-VAE"), so the
    balance between reconstruction and KL needs no hand tuning.
    """

    likelihood: str = "calibrated"
    sigma: float = 0.1
    beta: float = 1.0
    kl_warmup_steps: int = 0
    free_bits: float = 0.0
    min_sigma: float = 1e-3

    def __post_init__(self):
        if self.likelihood not in ("fixed", "calibrated"):
            raise ValueError(f"likelihood must be 'fixed' or 'calibrated', got {self.likelihood!r}")
        if self.sigma <= 0 or self.beta < 0 or self.free_bits < 0 or self.kl_warmup_steps < 0:
            raise ValueError(f"invalid loss config {self}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LossConfig":
        return _from_dict(cls, data, "loss config")
