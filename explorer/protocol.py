"""A model is a protocol, not a class: what the views, the analysis and the export see of a VAE.

    vae.latent_dim, vae.image_size, vae.attribute_names, vae.has_logvar, vae.source
    x = vae.preprocess(pil_image)     # (3,S,S) float32 in [0,1]: the crop and resize this model expects
    mu, logvar = vae.encode(batch)    # (N,3,S,S) in [0,1] -> (N,D), (N,D) or None where the model gives none
    images = vae.decode(z)            # (N,D) -> (N,3,S,S) float in [0,1]

Three implementations: our convolutional VAE (explorer.checkpoint.LoadedVAE), a pair of ONNX files and a
user's PyTorch module (explorer.foreign). Each keeps its own pixel ranges inside: every caller speaks [0,1].
A view that needs the posterior variance asks ``has_logvar`` and says so in one line where it is False.
No Streamlit here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from explorer.config import PreprocessConfig
from explorer.preprocess import preprocess_to_uint8, uint8_to_float

# What the picker shows beside a file's name, by where its model came from.
BADGES = {"ours": "", "onnx": "ONNX", "torch": "PyTorch"}


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "ours", "onnx" or "torch"
    detail: str = ""  # e.g. "encoder.onnx + decoder.onnx", "mypkg.models:build"

    @property
    def badge(self) -> str:
        return BADGES.get(self.kind, self.kind)

    def describe(self) -> str:
        if self.kind == "ours":
            return "trained by python -m train"
        what = {"onnx": "ONNX", "torch": "PyTorch module"}.get(self.kind, self.kind)
        return f"{what}: {self.detail}" if self.detail else what


@dataclass(frozen=True)
class PixelRange:
    """The value range a foreign model reads or writes pixels in; [0,1] or [-1,1] in practice."""

    low: float = 0.0
    high: float = 1.0

    @classmethod
    def parse(cls, text: str) -> "PixelRange":
        try:
            low, high = (float(v) for v in str(text).split(","))
        except ValueError:
            raise ValueError(f"pixel range {text!r}: expected two numbers such as 0,1 or -1,1") from None
        if not high > low:
            raise ValueError(f"pixel range {text!r}: the second number must be larger than the first")
        return cls(low, high)

    def __str__(self) -> str:
        return f"{self.low:g},{self.high:g}"

    def to_list(self) -> list[float]:
        return [self.low, self.high]

    def from_unit(self, x):
        """[0,1] pixels -> this range."""
        return x * (self.high - self.low) + self.low if (self.low, self.high) != (0.0, 1.0) else x

    def to_unit(self, y):
        """This range -> [0,1] pixels (not clamped: the checks look at what lies outside)."""
        return (y - self.low) / (self.high - self.low) if (self.low, self.high) != (0.0, 1.0) else y


class LatentModel:
    """The shared half of every implementation: where it came from, the checkpoint's metadata, the
    preprocessing and the [0,1] tensor conventions of encode and decode. Subclasses set ``latent_dim``,
    ``image_size``, ``has_logvar``, ``source`` and implement ``_encode`` and ``_decode`` on float32 tensors."""

    latent_dim: int
    image_size: int
    has_logvar: bool = True
    source: ModelSource = ModelSource("ours")
    # 1 where the decoder takes one z at a time (an ONNX file with a fixed batch axis): callers may still
    # pass any N, and the page's live decoder loops.
    decoder_batch: int | None = None

    def _set_metadata(self, data: dict, path: Path, device: str, bundle=None) -> None:
        self.path = Path(path)
        self.device = torch.device(device)
        self.preprocess_config = PreprocessConfig.from_dict(data["preprocess"])
        names = data.get("attribute_names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("no list of attribute names ('attribute_names')")
        self.attribute_names: list[str] = list(names)
        self.summary: dict = dict(data.get("summary") or {})
        self.history: list = list(data.get("history") or [])
        self.bundle = bundle

    def preprocess(self, image) -> torch.Tensor:
        """PIL image -> (3,S,S) float32 in [0,1]: the exact crop and resize this model expects."""
        return uint8_to_float(preprocess_to_uint8(image, self.preprocess_config))

    @torch.inference_mode()
    def encode(self, batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N,3,S,S) in [0,1] -> mu (N,D), logvar (N,D) or None (a model without a posterior variance)."""
        x = torch.as_tensor(np.asarray(batch) if not torch.is_tensor(batch) else batch, dtype=torch.float32)
        mu, logvar = self._encode(x)
        return mu.float().cpu(), (logvar.float().cpu() if logvar is not None else None)

    @torch.inference_mode()
    def decode(self, z) -> torch.Tensor:
        """(N,D) -> (N,3,S,S) float in [0,1] (a foreign decoder's own range is mapped back to [0,1])."""
        z = torch.as_tensor(np.asarray(z) if not torch.is_tensor(z) else z, dtype=torch.float32)
        return self._decode(z.reshape(-1, self.latent_dim)).float().cpu()

    def _encode(self, x: torch.Tensor):
        raise NotImplementedError

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def browser_decoder(self, out: str | os.PathLike) -> Path:
        """Write an ONNX graph ``z`` (N,D) -> ``image`` (N,3,S,S) in [0,1] for the page's live decoder.
        Implementations whose decoder is PyTorch export it in a child process (explorer.onnx_export)."""
        from explorer.onnx_export import export_in_child

        return export_in_child(self.path, Path(out))

    def torch_decoder(self) -> torch.nn.Module:
        """A module whose ``decode(z)`` gives images in [0,1], for explorer.onnx_export's exporter."""
        raise NotImplementedError(f"{self.source.describe()}: no PyTorch decoder to export")
