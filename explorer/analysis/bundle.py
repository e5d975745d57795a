"""The analysis bundle: what the app needs to draw maps and edit attributes without the dataset.

Written by train/export.py into the checkpoint as tensors (plain types, loadable with
weights_only=True) and read back here as numpy arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from explorer.analysis.classifier import AttributeClassifier
from explorer.analysis.density import GaussianMixtureDensity

# name -> dtype stored in the checkpoint. float16 for the big per-image arrays keeps the file small.
_ARRAYS = {
    "mu": torch.float16,  # (N,D) posterior means
    "attributes": torch.uint8,  # (N,40) 0/1
    "partition": torch.uint8,  # (N,) 0 train, 1 valid, 2 test
    "recon_mse": torch.float32,  # (N,) per-pixel MSE of the reconstruction from mu
    "mu_variance": torch.float32,  # (D,) Var over x of E_q[z_u] (Burda et al. 2016 activity)
    "directions": torch.float32,  # (40,D) mean(mu | attr) - mean(mu | not attr)
    "directions_balanced": torch.float32,  # (40,D) same, other attributes balanced (see export)
    "pca": torch.float32,  # (N,2)
    "tsne": torch.float32,  # (N,2)
}

# KL needs the posterior variance: a foreign model without logvar (explorer.foreign) has none.
_KL = {
    "kl_per_image": torch.float32,  # (N,) KL(q(z|x) || N(0,I)) in nats
    "kl_per_dim": torch.float32,  # (D,) mean over images
}

_OPTIONAL = ("posterior_var_mean", "density", "kinds", "scorecard", "classifier", "sprites", *_KL)


@dataclass
class AnalysisBundle:
    mu: np.ndarray
    attributes: np.ndarray
    partition: np.ndarray
    recon_mse: np.ndarray
    mu_variance: np.ndarray
    directions: np.ndarray
    directions_balanced: np.ndarray
    pca: np.ndarray
    tsne: np.ndarray
    filenames: list
    attribute_names: list
    info: dict  # how it was made: splits, counts, t-SNE backend, seconds
    # Optional fields (None in checkpoints written before they existed; such checkpoints still load):
    kl_per_image: np.ndarray | None = None  # None for a model without logvar
    kl_per_dim: np.ndarray | None = None
    posterior_var_mean: np.ndarray | None = None  # (D,) E_x[σ²_d(x)], the mean posterior variance
    density: GaussianMixtureDensity | None = None  # the fitted density of mu (explorer.analysis.density)
    kinds: dict | None = None  # {attribute: (N,) int8 kind of each row that has it, -1 elsewhere} (explorer.analysis.kinds)
    scorecard: dict | None = None  # {metric: number} (explorer.analysis.scorecard.compute_scorecard)
    classifier: AttributeClassifier | None = None  # the attribute judge trained on these faces (explorer.analysis.classifier)
    sprites: dict | None = None  # the map's faces: {"jpeg": bytes of the sprite sheet, "size": side} (explorer.analysis.sprites)

    ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016: a unit is active if Cov_x(E_q[z_u]) > 0.01

    @property
    def active_units(self) -> np.ndarray:
        return self.mu_variance > self.ACTIVE_THRESHOLD

    def __len__(self) -> int:
        return len(self.filenames)

    def to_plain(self) -> dict:
        out = {name: torch.as_tensor(np.asarray(getattr(self, name))).to(dtype) for name, dtype in _ARRAYS.items()}
        out.update(filenames=list(self.filenames), attribute_names=list(self.attribute_names), info=dict(self.info))
        out.update({name: torch.as_tensor(np.asarray(getattr(self, name))).to(dtype) for name, dtype in _KL.items()
                    if getattr(self, name) is not None})
        if self.posterior_var_mean is not None:
            out["posterior_var_mean"] = torch.as_tensor(np.asarray(self.posterior_var_mean), dtype=torch.float32)
        if self.density is not None:
            out["density"] = self.density.to_plain()
        if self.kinds is not None:
            out["kinds"] = {name: torch.as_tensor(np.asarray(v), dtype=torch.int8) for name, v in self.kinds.items()}
        if self.scorecard is not None:
            out["scorecard"] = dict(self.scorecard)
        if self.classifier is not None:
            out["classifier"] = self.classifier.to_plain()
        if self.sprites is not None:
            out["sprites"] = {"jpeg": torch.frombuffer(bytearray(self.sprites["jpeg"]), dtype=torch.uint8),
                              "size": int(self.sprites["size"])}
        return out

    @classmethod
    def from_plain(cls, data: dict) -> "AnalysisBundle":
        expected = {f.name for f in fields(cls)} - set(_OPTIONAL)
        missing = expected - set(data)
        if missing:
            raise ValueError(f"analysis bundle lacks {sorted(missing)}")
        kw = {name: data[name].float().numpy() if data[name].is_floating_point() else data[name].numpy()
              for name in _ARRAYS}
        kw.update(filenames=list(data["filenames"]), attribute_names=list(data["attribute_names"]),
                  info=dict(data["info"]))
        kw.update({name: data[name].float().numpy() for name in _KL if data.get(name) is not None})
        n = len(kw["filenames"])
        for name in ("mu", "attributes", "partition", "recon_mse", "pca", "tsne") + (("kl_per_image",) if "kl_per_image" in kw else ()):
            if len(kw[name]) != n:
                raise ValueError(f"analysis bundle: {name} has {len(kw[name])} rows, filenames {n}")
        dim = kw["mu"].shape[1]
        if data.get("posterior_var_mean") is not None:
            kw["posterior_var_mean"] = data["posterior_var_mean"].float().numpy()
            if kw["posterior_var_mean"].shape != (dim,):
                raise ValueError(f"analysis bundle: posterior_var_mean has shape {kw['posterior_var_mean'].shape}, "
                                 f"expected ({dim},)")
        if data.get("density") is not None:
            kw["density"] = GaussianMixtureDensity.from_plain(data["density"])
            if kw["density"].dim != dim:
                raise ValueError(f"analysis bundle: the fitted density has {kw['density'].dim} dimensions, mu {dim}")
        if data.get("kinds") is not None:
            kw["kinds"] = {str(name): v.numpy().astype(np.int8) for name, v in dict(data["kinds"]).items()}
            for name, v in kw["kinds"].items():
                if name not in kw["attribute_names"] or v.shape != (n,):
                    raise ValueError(f"analysis bundle: kinds of {name!r} has shape {v.shape}; expected one of the "
                                     f"attributes with ({n},) labels")
        if data.get("scorecard") is not None:
            kw["scorecard"] = dict(data["scorecard"])
        if data.get("classifier") is not None:
            kw["classifier"] = AttributeClassifier.from_plain(data["classifier"])
        if data.get("sprites") is not None:
            kw["sprites"] = {"jpeg": data["sprites"]["jpeg"].numpy().tobytes(), "size": int(data["sprites"]["size"])}
        return cls(**kw)
