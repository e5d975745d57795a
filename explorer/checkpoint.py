"""One self-describing checkpoint file: weights, config, preprocessing, attribute names, training
summary and curves, the analysis bundle, and (while training) the state needed to resume.

Everything is plain types and tensors, so `torch.load(weights_only=True)` reads it: opening a
checkpoint never runs code from the file, and the model is rebuilt from its config alone.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import torch

from explorer.analysis.bundle import AnalysisBundle
from explorer.config import PreprocessConfig, VAEConfig
from explorer.model import VAE
from explorer.protocol import LatentModel, ModelSource

FORMAT = "vae-explorer-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be opened; the message names the file and the reason."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_dead_writers_files(path: Path) -> None:
    """A process killed mid-write (SIGKILL, power loss) leaves its hidden temporary file behind; the
    next write to the same checkpoint removes the ones whose writer is gone."""
    for old in path.parent.glob(f".{path.name}.*.tmp"):
        pid = old.name[len(path.name) + 2:].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            old.unlink(missing_ok=True)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: a crash mid-write leaves
    the previous file intact (rename is atomic on POSIX within one filesystem). The temporary file is
    hidden and ends in .tmp, so a half-written one is never taken for a checkpoint (`*.pt`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_writers_files(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        # the rename itself must reach the disk too, or a power cut could still lose it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(obj):
    """numpy scalars and arrays, tuples and Paths -> Python types that weights_only=True accepts."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}  # keys kept: optimizer state is keyed by int
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def make_checkpoint(model: VAE, preprocess: PreprocessConfig, attribute_names, summary: dict,
                    history: list, bundle: AnalysisBundle | None = None, train_state: dict | None = None,
                    half: bool = False) -> dict:
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if half:  # shipped files: fp16 weights halve the size; load_checkpoint restores float32
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "preprocess": preprocess.to_dict(),
        "attribute_names": list(attribute_names),
        "state_dict": state,
        "summary": _plain(summary),
        "history": _plain(history),
        "bundle": bundle.to_plain() if bundle is not None else None,
        "train_state": _plain(train_state) if train_state is not None else None,
    }


def make_foreign_checkpoint(model: LatentModel, attribute_names, summary: dict, bundle: AnalysisBundle | None) -> dict:
    """The same self-describing file for a foreign model (explorer.foreign): its kind and what rebuilds it
    (ONNX bytes, or a module's import path and weights) instead of our architecture's config and weights."""
    from explorer.foreign import checkpoint_fields

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **checkpoint_fields(model),
        "preprocess": model.preprocess_config.to_dict(),
        "attribute_names": list(attribute_names),
        "summary": _plain(summary),
        "history": [],
        "bundle": bundle.to_plain() if bundle is not None else None,
        "train_state": None,
    }


def read_checkpoint_dict(path: str | os.PathLike) -> dict:
    """Load and validate the raw dict. Refuses pickled objects (weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused: the file holds Python objects other than tensors and plain data, and "
            f"loading them could run code. Only vae-explorer checkpoints are opened. ({str(e).splitlines()[0]})"
        ) from None
    except Exception as e:  # zip damaged, truncated, not a torch file at all
        raise CheckpointError(f"{path}: damaged or not a checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a vae-explorer checkpoint (no '{FORMAT}' format marker)")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {data.get('format_version')!r}; this program reads "
            f"version {FORMAT_VERSION}"
        )
    return data


class LoadedVAE(LatentModel):
    """Our convolutional VAE as the protocol (explorer.protocol): the model in eval mode plus everything
    needed to use it."""

    has_logvar = True
    source = ModelSource("ours")

    def __init__(self, data: dict, path: Path, device: str = "cpu"):
        try:
            self._set_metadata(data, path, device)
            self.config = VAEConfig.from_dict(data["model_config"])
            self.model = VAE(self.config)
            state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
            self.model.load_state_dict(state)
            self.bundle = AnalysisBundle.from_plain(data["bundle"]) if data.get("bundle") else None
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"{path}: inconsistent checkpoint ({type(e).__name__}: {e})") from None
        self.model.to(self.device).eval()

    @classmethod
    def around(cls, model: VAE, device) -> "LoadedVAE":
        """The protocol around a module in training (train.export builds the bundle from it): no file yet."""
        self = cls.__new__(cls)
        self.model, self.config, self.device = model, model.config, torch.device(device)
        self.path, self.bundle, self.summary, self.history = None, None, {}, []
        return self

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def _encode(self, x: torch.Tensor):
        mu, logvar = self.model.encode(x.to(self.device))
        return mu, logvar

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z.to(self.device))

    def torch_decoder(self) -> torch.nn.Module:
        return self.model


def load_checkpoint(path: str | os.PathLike, device: str = "cpu") -> LatentModel:
    """Open any checkpoint this project writes: our VAE, or a foreign model made by ``python -m train.export
    --onnx/--torch``. Only a file made with ``--torch`` imports code (the module it names), never another."""
    path = Path(path)
    data = read_checkpoint_dict(path)
    kind = data.get("model_kind", "ours")
    if kind == "ours":
        return LoadedVAE(data, path, device)
    from explorer import foreign

    return foreign.open_foreign(data, path, device)


def model_kind(path: str | os.PathLike) -> str:
    """Where a checkpoint's model came from ("ours", "onnx", "torch"), for the picker's badge; reads the file
    lazily (mmap), so listing many files stays cheap."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return "ours"  # opening it will say what is wrong
    return str(data.get("model_kind", "ours")) if isinstance(data, dict) else "ours"
