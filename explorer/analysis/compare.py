"""Two checkpoints side by side: which dataset faces both can show, the same edit in each, and their
diagnostics in one table. Pure numpy (no Streamlit, no torch), so the comparison view only draws.

A bundle holds the encodings of its own model only, and no images. The one face both models can show
without the dataset is a face both bundles encoded: the rows with the same CelebA file name. Each
model then decodes its own μ for that file, so the two pictures are two reconstructions of the same
photo.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from explorer import latent

__all__ = ["SharedFaces", "shared_faces", "gap_edit", "Diagnostics", "diagnostics", "comparison_rows",
           "KEY_ATTRIBUTES"]

# Attributes whose direction AUC goes into the table by name: frequent enough in CelebA (5-60 %) to score,
# and visible in a 64x64 face, so a reader can check the number against the edited pictures.
KEY_ATTRIBUTES = ("Smiling", "Male", "Eyeglasses", "Blond_Hair", "Young")


@dataclass(frozen=True)
class SharedFaces:
    """The files both bundles encoded, in the first bundle's row order."""

    filenames: list[str]
    rows_a: np.ndarray  # (M,) rows of the first bundle
    rows_b: np.ndarray  # (M,) rows of the second bundle

    def __len__(self) -> int:
        return len(self.filenames)

    def rows_of(self, filename: str) -> tuple[int, int]:
        """(row in A, row in B) of a shared file; KeyError when only one bundle (or neither) has it."""
        try:
            k = self.filenames.index(filename)
        except ValueError:
            raise KeyError(f"{filename} is not encoded in both bundles") from None
        return int(self.rows_a[k]), int(self.rows_b[k])


def shared_faces(files_a: Sequence[str], files_b: Sequence[str]) -> SharedFaces:
    """Match two bundles' rows by file name. A name listed twice in a bundle keeps its first row."""
    where_b: dict[str, int] = {}
    for j, name in enumerate(files_b):
        where_b.setdefault(name, j)
    names, ra, rb, seen = [], [], [], set()
    for i, name in enumerate(files_a):
        if name in where_b and name not in seen:
            seen.add(name)
            names.append(name)
            ra.append(i)
            rb.append(where_b[name])
    return SharedFaces(names, np.asarray(ra, np.int64), np.asarray(rb, np.int64))


def gap_edit(z, gap_direction, weight: float) -> np.ndarray:
    """z + weight · Δμ, with Δμ = mean(μ | attribute) − mean(μ | not) of that model: (D,).

    Two models do not share a latent scale (a β = 4 model packs faces closer to the origin than a β = 1
    one), so a weight in latent units would be a large edit in one and a small one in the other. In class
    gaps, weight 1 moves each model's face by the distance between its own two class means: the same edit
    in each model's terms."""
    return (np.asarray(z, np.float32) + float(weight) * np.asarray(gap_direction, np.float32)).astype(np.float32)


@dataclass(frozen=True)
class Diagnostics:
    """One checkpoint's health in numbers (each NaN where its bundle is absent)."""

    latent_dim: int
    image_size: int
    faces: int  # rows of the bundle
    active_units: float
    kl_per_image: float  # nats, mean over the bundle
    mse: float  # per-pixel reconstruction MSE from μ, mean over the bundle
    mse_shared: float  # the same mean over the faces both bundles encoded (the fair comparison)
    auc_mean: float  # held-out direction AUC, mean over the attributes with both classes present
    aucs: dict  # {attribute: held-out AUC} for KEY_ATTRIBUTES present in the model
    epochs: float
    objective: str


def diagnostics(bundle, latent_dim: int, image_size: int, summary: dict | None = None,
                shared_rows: np.ndarray | None = None) -> Diagnostics:
    """The numbers the diagnostics view shows (active units after Burda et al. 2016, mean KL per image,
    reconstruction MSE) and the held-out direction AUCs of the arithmetic view, from the bundle alone."""
    summary = summary or {}
    nan = float("nan")
    epochs = summary.get("epochs")
    objective = _objective(summary)
    if bundle is None or len(bundle) == 0:
        return Diagnostics(latent_dim, image_size, 0, nan, nan, nan, nan, nan, {}, float(epochs or nan), objective)
    heldout = latent.heldout_direction_aucs(bundle.mu, bundle.attributes)
    names = list(bundle.attribute_names)
    aucs = {n: float(heldout[names.index(n)]) for n in KEY_ATTRIBUTES if n in names}
    finite = heldout[np.isfinite(heldout)]
    shared = (float(np.mean(bundle.recon_mse[shared_rows])) if shared_rows is not None and len(shared_rows)
              else nan)
    return Diagnostics(
        latent_dim=latent_dim, image_size=image_size, faces=len(bundle),
        active_units=float(bundle.active_units.sum()),
        kl_per_image=float(np.mean(bundle.kl_per_image)) if bundle.kl_per_image is not None else nan,
        mse=float(np.mean(bundle.recon_mse)), mse_shared=shared,
        auc_mean=float(finite.mean()) if finite.size else nan, aucs=aucs,
        epochs=float(epochs) if epochs is not None else nan, objective=objective)


def _objective(summary: dict) -> str:
    """'β=1, fixed σ=0.5'-like text from a training summary (whatever part of it is recorded)."""
    if "loss" not in summary and summary.get("source"):
        return str(summary["source"])  # a foreign model (explorer.foreign): where it came from, its loss unknown
    obj = summary.get("loss") or {}  # LossConfig.to_dict(), as train/loop.py records it
    if not isinstance(obj, dict):
        return str(obj)
    parts = []
    if "beta" in obj:
        parts.append(f"β={obj['beta']:g}")
    if obj.get("likelihood"):
        lik = str(obj["likelihood"])
        if lik == "fixed" and obj.get("sigma") is not None:  # a calibrated σ's start value means nothing
            lik += f" σ={obj['sigma']:g}"
        parts.append(lik)
    if obj.get("free_bits"):
        parts.append(f"free bits {obj['free_bits']:g}")
    return ", ".join(parts)


def _fmt(v, digits: int) -> str:
    if isinstance(v, str):
        return v or "–"
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:,.{digits}f}"


def comparison_rows(a: Diagnostics, b: Diagnostics) -> list[tuple[str, str, str, str]]:
    """(measure, A, B, better) rows for one table; 'better' names A or B where a higher or lower value
    is plainly better, and is empty where it is a property, not a score."""
    def better(va, vb, higher: bool) -> str:
        if any(isinstance(v, float) and math.isnan(v) for v in (va, vb)) or va == vb:
            return ""
        return "A" if (va > vb) == higher else "B"

    rows = [
        ("latent dimensions", _fmt(a.latent_dim, 0), _fmt(b.latent_dim, 0), ""),
        ("image size", f"{a.image_size}×{a.image_size}", f"{b.image_size}×{b.image_size}", ""),
        ("objective", _fmt(a.objective, 0), _fmt(b.objective, 0), ""),
        ("epochs", _fmt(a.epochs, 0), _fmt(b.epochs, 0), ""),
        ("encoded faces (bundle)", _fmt(a.faces, 0), _fmt(b.faces, 0), ""),
        ("active units", f"{_fmt(a.active_units, 0)} / {a.latent_dim}", f"{_fmt(b.active_units, 0)} / {b.latent_dim}",
         ""),
        ("KL per image (nats)", _fmt(a.kl_per_image, 1), _fmt(b.kl_per_image, 1), ""),
        ("reconstruction MSE (own bundle)", _fmt(a.mse, 5), _fmt(b.mse, 5), better(a.mse, b.mse, False)),
        ("reconstruction MSE (shared faces)", _fmt(a.mse_shared, 5), _fmt(b.mse_shared, 5),
         better(a.mse_shared, b.mse_shared, False)),
        ("direction AUC, held out, mean of attributes", _fmt(a.auc_mean, 3), _fmt(b.auc_mean, 3),
         better(a.auc_mean, b.auc_mean, True)),
    ]
    for name in KEY_ATTRIBUTES:
        if name in a.aucs or name in b.aucs:
            va, vb = a.aucs.get(name, float("nan")), b.aucs.get(name, float("nan"))
            rows.append((f"AUC held out: {name.replace('_', ' ')}", _fmt(va, 3), _fmt(vb, 3), better(va, vb, True)))
    return rows
