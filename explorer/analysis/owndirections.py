"""Directions of the user's own: the difference of two groups' mean encodings, and directions as .npy files.

A group is a set of bundle rows (a lasso on the map, or the faces it highlights). The direction from group
A to group B is mean(μ_B) − mean(μ_A): added with weight 1 it carries A's mean encoding to B's, as the
attribute directions (explorer.latent, mean difference) carry the faces without an attribute to those with it.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np

MAX_NPY_BYTES = 1 << 20  # a direction of a few thousand floats is a few kB


class DirectionFileError(ValueError):
    """A .npy file that is not one direction for this model; the message names the file and the problem."""


def group_direction(mu: np.ndarray, rows_a, rows_b) -> np.ndarray:
    """(D,) float32: mean of the encodings of rows_b minus that of rows_a."""
    a, b = np.asarray(list(rows_a), np.int64), np.asarray(list(rows_b), np.int64)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("both groups need at least one face")
    return (np.asarray(mu[b], np.float64).mean(0) - np.asarray(mu[a], np.float64).mean(0)).astype(np.float32)


def npy_bytes(v: np.ndarray) -> bytes:
    """(D,) float32 as a .npy file (numpy's own format: np.load reads it without pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(v, np.float32), allow_pickle=False)
    return buf.getvalue()


def read_npy(data: bytes, filename: str, dim: int) -> np.ndarray:
    """A .npy file's bytes -> (D,) float32 for a model with ``dim`` latent dimensions. Accepts shape (D,) or
    (1, D) of any real dtype; refuses pickled objects, other shapes, non-finite values and all zeros."""
    if len(data) > MAX_NPY_BYTES:
        raise DirectionFileError(f"{filename}: {len(data) / 2**20:.1f} MB; a direction is a few kB (at most 1 MB)")
    if zipfile.is_zipfile(io.BytesIO(data)):
        raise DirectionFileError(f"{filename}: an .npz archive; save one direction with np.save(path, v)")
    if not data.startswith(b"\x93NUMPY"):  # np.load would take anything else for a pickle
        raise DirectionFileError(f"{filename}: not a .npy array (no numpy header); save one with numpy.save")
    try:
        v = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise DirectionFileError(f"{filename}: holds Python objects, not numbers (refused)") from None
        raise DirectionFileError(f"{filename}: not a .npy array ({e})") from None
    except (OSError, EOFError) as e:
        raise DirectionFileError(f"{filename}: not a .npy array ({e or 'empty'})") from None
    if not isinstance(v, np.ndarray) or v.dtype.kind not in "fiu":
        raise DirectionFileError(f"{filename}: holds {getattr(v, 'dtype', type(v))} values, not real numbers")
    if v.ndim == 2 and v.shape[0] == 1:
        v = v[0]
    if v.shape != (dim,):
        raise DirectionFileError(f"{filename}: shape {v.shape}; this model's directions have shape ({dim},)")
    v = v.astype(np.float32)
    if not np.all(np.isfinite(v)):
        raise DirectionFileError(f"{filename}: holds non-finite values (NaN or infinity)")
    if not np.any(v):
        raise DirectionFileError(f"{filename}: all zeros, which moves no face")
    return v
