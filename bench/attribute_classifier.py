"""The attribute classifier of explorer.analysis.classifier as the quality bench uses it: a judge for the VAE's edits,
trained on all the train partition's images (real faces, never decoded ones), once per data and image size,
and cached beside the decoded images.

bench/bench_quality.py asks it whether an edited face shows the attribute that was added (z + 2·d) and how
far the other 39 attributes drift, as a person would judge the edit. The checkpoints ship the same CNN,
trained by the export on the bundle's faces only.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from explorer.analysis.classifier import AttributeCNN, cnn_probabilities as probabilities, fit_cnn, held_out_aucs

__all__ = ["train_classifier", "probabilities", "held_out_aucs"]


def _key(cache, train_idx: np.ndarray, epochs: int, seed: int, balanced: bool) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"n": int(len(train_idx)), "shape": list(cache.images.shape[1:]), "epochs": epochs,
                         "seed": seed, "path": str(cache.path), "balanced": balanced}).encode())
    h.update(np.ascontiguousarray(cache.attributes[train_idx]).tobytes())
    return h.hexdigest()[:16]


def train_classifier(cache, train_idx: np.ndarray, epochs: int = 6, batch: int = 128, seed: int = 0,
                     balanced: bool = False, log=print) -> AttributeCNN:
    """Fit on the uint8 cache rows `train_idx` (with random flips), or load the cached fit.

    ``balanced=False`` (calibrated): plain cross-entropy, so a probability is the chance of the attribute
    given how common it is, and P > 0.5 on a rare attribute needs overwhelming evidence: this judge
    misses most real hats (4% of the images wear one). ``balanced=True``: each attribute's positives
    weigh neg/pos times more (``pos_weight``), as if every attribute were worn by half the faces, so
    P > 0.5 asks "does this face look more like those with it than those without", whatever its rarity.
    """
    key = _key(cache, train_idx, epochs, seed, balanced)
    where = (Path(cache.path) if cache.path else Path("/tmp")) / f"attribute-cnn-{key}.pt"
    if where.is_file():
        model = AttributeCNN(cache.attributes.shape[1])
        model.load_state_dict(torch.load(where, weights_only=True))
        log(f"attribute classifier: loaded {where}")
        return model.eval()
    model = fit_cnn(cache.images, cache.attributes, np.asarray(train_idx), epochs=epochs, batch=batch, seed=seed,
                    balanced=balanced, log=log)
    torch.save(model.state_dict(), where)
    return model
