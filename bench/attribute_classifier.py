"""A small CNN that predicts the 40 CelebA attributes from a 64x64 face: a judge for the VAE's edits.

A bench tool, not part of the app: bench/bench_quality.py asks it whether an edited face shows the
attribute that was added (z + 2·d) and how far the other 39 attributes drift, as a person would judge
the edit. It is trained on the training partition's images (real faces, never decoded ones), once per
data and image size, and cached beside the decoded images.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from explorer.latent import roc_auc


class AttributeCNN(nn.Module):
    """(N,3,S,S) in [0,1] -> 40 logits. Four stride-2 convolutions and a global average: about 0.4M
    parameters, enough to read hair colour, glasses, hats and mouths at 64x64."""

    def __init__(self, n_attributes: int = 40, width: int = 32):
        super().__init__()
        chans = (3, width, 2 * width, 4 * width, 8 * width)
        layers = []
        for cin, cout in zip(chans, chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1], n_attributes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


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
    model = AttributeCNN(cache.attributes.shape[1])
    if where.is_file():
        model.load_state_dict(torch.load(where, weights_only=True))
        log(f"attribute classifier: loaded {where}")
        return model.eval()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * (len(train_idx) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    labels = torch.from_numpy(cache.attributes[train_idx].astype(np.float32))
    pos = labels.sum(0).clamp(min=1)
    pos_weight = (len(labels) - pos) / pos if balanced else None
    t0 = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(train_idx), generator=gen)
        total = 0.0
        for s in range(len(train_idx) // batch):
            rows = order[s * batch:(s + 1) * batch]
            x = torch.from_numpy(cache.images[np.sort(train_idx[rows.numpy()])]).float() / 255
            y = labels[rows.sort().values]  # rows sorted the same way as the images were read
            flip = torch.rand(len(rows), generator=gen) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            loss = nn.functional.binary_cross_entropy_with_logits(model(x), y, pos_weight=pos_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        log(f"attribute classifier: epoch {epoch + 1}/{epochs}, BCE {total / max(1, s + 1):.4f}, "
            f"{time.perf_counter() - t0:.0f} s")
    model.eval()
    torch.save(model.state_dict(), where)
    return model


@torch.no_grad()
def probabilities(model: AttributeCNN, images: torch.Tensor, batch: int = 512) -> np.ndarray:
    """(N,3,S,S) float in [0,1] (or uint8) -> (N,40) attribute probabilities."""
    out = []
    for s in range(0, len(images), batch):
        x = images[s:s + batch]
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        out.append(torch.sigmoid(model(x)))
    return torch.cat(out).numpy()


def held_out_aucs(p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The judge's own ROC AUC per attribute from its probabilities ``p`` (N,40) on the valid images and
    their 0/1 labels: how far to trust it."""
    a = np.asarray(labels).astype(bool)
    return np.array([roc_auc(p[:, j], a[:, j]) for j in range(a.shape[1])])
