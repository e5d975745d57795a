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

from explorer.bundle import AnalysisBundle
from explorer.config import PreprocessConfig, VAEConfig
from explorer.model import VAE
from explorer.preprocess import preprocess_to_uint8, uint8_to_float

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


class LoadedVAE:
    """The public face of a checkpoint: the model in eval mode plus everything needed to use it."""

    def __init__(self, data: dict, path: Path, device: str = "cpu"):
        self.path = path
        self.device = torch.device(device)
        try:
            self.config = VAEConfig.from_dict(data["model_config"])
            self.preprocess_config = PreprocessConfig.from_dict(data["preprocess"])
            self.model = VAE(self.config)
            state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
            self.model.load_state_dict(state)
            self.bundle = AnalysisBundle.from_plain(data["bundle"]) if data.get("bundle") else None
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"{path}: inconsistent checkpoint ({type(e).__name__}: {e})") from None
        self.model.to(self.device).eval()
        self.attribute_names: list[str] = list(data["attribute_names"])
        self.summary: dict = dict(data.get("summary") or {})
        self.history: list = list(data.get("history") or [])

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def preprocess(self, image) -> torch.Tensor:
        """PIL image -> (3,S,S) float32 in [0,1]: the exact crop and resize used in training."""
        return uint8_to_float(preprocess_to_uint8(image, self.preprocess_config))

    @torch.inference_mode()
    def encode(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,3,S,S) in [0,1] -> mu (N,D), logvar (N,D)."""
        x = torch.as_tensor(batch, dtype=torch.float32, device=self.device)
        mu, logvar = self.model.encode(x)
        return mu.cpu(), logvar.cpu()

    @torch.inference_mode()
    def decode(self, z) -> torch.Tensor:
        """(N,D) -> (N,3,S,S) float in [0,1]."""
        z = torch.as_tensor(np.asarray(z) if not torch.is_tensor(z) else z, dtype=torch.float32, device=self.device)
        return self.model.decode(z).cpu()


def load_checkpoint(path: str | os.PathLike, device: str = "cpu") -> LoadedVAE:
    path = Path(path)
    return LoadedVAE(read_checkpoint_dict(path), path, device)
