"""An attribute classifier that ships in the checkpoint: a judge of what an edit changes.

A small CNN (about 0.4M parameters) predicts CelebA's 40 attributes from a face at the model's framing. The
export trains it on the analysis bundle's faces (real images, never decoded ones) and stores it in the
bundle with its held-out ROC AUCs, in plain types (``torch.load(weights_only=True)`` reads it). The app
asks it, for an edited face, how much every attribute's probability moved against the unedited face: the
intended attribute first, then the largest unintended changes ("Smiling +0.62, Male +0.18, Young −0.11");
and, for a traversal of a latent dimension, which attributes the dimension moves when decoded.

It is the "calibrated" judge of bench/bench_quality.py (plain cross-entropy): its probability is the chance
of the attribute given how common it is, so a change of +0.3 means the same on every attribute. It is
rarely sure of rare attributes (hats), which the bench's class-balanced variant (``balanced=True``) sees
more often at the price of calibration.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from explorer.latent import roc_auc

__all__ = ["AttributeCNN", "AttributeClassifier", "fit_cnn", "train_classifier", "held_out_aucs", "side_effects",
           "effect_text", "traversal_effects"]

MIN_HELD_OUT = 100  # fewer non-train faces than this: hold out a seeded random share of the faces instead
HELD_OUT_SHARE = 0.1


class AttributeCNN(nn.Module):
    """(N,3,S,S) in [0,1] -> K logits. Four stride-2 convolutions and a global average: about 0.4M
    parameters at width 32, enough to read hair colour, glasses, hats and mouths at 64x64."""

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


def fit_cnn(images, labels: np.ndarray, rows: np.ndarray | None = None, epochs: int = 6, batch: int = 128,
            seed: int = 0, balanced: bool = False, width: int = 32, log=print) -> AttributeCNN:
    """Fit an AttributeCNN on uint8 images (N,3,S,S) (an array or a memory map) and 0/1 labels (N,K), on the
    rows ``rows`` (all when None), with random horizontal flips; AdamW and a one-cycle schedule. Returns it
    in eval mode. Deterministic for a seed on one machine.

    ``balanced=False`` (calibrated): plain cross-entropy. ``balanced=True``: each attribute's positives weigh
    neg/pos times more (``pos_weight``), as if every attribute were worn by half the faces, so P > 0.5 asks
    "does this face look more like those with it than those without", whatever its rarity."""
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows)
    if len(rows) < batch:
        raise ValueError(f"need at least one batch of {batch} faces to train the attribute classifier, got {len(rows)}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = AttributeCNN(labels.shape[1], width)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    per_epoch = len(rows) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * per_epoch)
    y_all = torch.from_numpy(np.asarray(labels)[rows].astype(np.float32))
    pos = y_all.sum(0).clamp(min=1)
    pos_weight = (len(y_all) - pos) / pos if balanced else None
    t0 = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(rows), generator=gen)
        total = 0.0
        for s in range(per_epoch):
            pick = order[s * batch:(s + 1) * batch].sort().values  # sorted: a memory map reads forward
            x = torch.from_numpy(np.ascontiguousarray(images[rows[pick.numpy()]])).float() / 255
            flip = torch.rand(len(pick), generator=gen) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            loss = nn.functional.binary_cross_entropy_with_logits(model(x), y_all[pick], pos_weight=pos_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        log(f"attribute classifier: epoch {epoch + 1}/{epochs}, BCE {total / per_epoch:.4f}, "
            f"{time.perf_counter() - t0:.0f} s")
    return model.eval()


@torch.no_grad()
def cnn_probabilities(model: AttributeCNN, images, batch: int = 512) -> np.ndarray:
    """(N,3,S,S) float in [0,1] or uint8 (tensor or array) -> (N,K) attribute probabilities."""
    out = []
    for s in range(0, len(images), batch):
        x = torch.as_tensor(np.asarray(images[s:s + batch]) if not torch.is_tensor(images) else images[s:s + batch])
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        out.append(torch.sigmoid(model(x)))
    return torch.cat(out).numpy() if out else np.zeros((0, model.head.out_features), np.float32)


def held_out_aucs(p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The judge's own ROC AUC per attribute from its probabilities ``p`` (N,K) on faces it did not train on
    and their 0/1 labels: how far to trust it. NaN where a class is empty."""
    a = np.asarray(labels).astype(bool)
    return np.array([roc_auc(p[:, j], a[:, j]) for j in range(a.shape[1])])


@dataclass
class AttributeClassifier:
    """The shipped judge: the CNN, the names of its outputs, the image size it reads, and how good it is."""

    model: AttributeCNN
    attribute_names: list
    image_size: int
    aucs: np.ndarray  # (K,) held-out ROC AUC per attribute
    info: dict = field(default_factory=dict)  # faces trained on and held out, epochs, seconds, seed

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def probabilities(self, images) -> np.ndarray:
        """(N,3,S,S) faces in [0,1] (or uint8) -> (N,K) probabilities. Faces of another size are resized
        (area averaging) to the size it was trained at."""
        x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"attribute classifier: expected (N,3,S,S) faces, got {tuple(x.shape)}")
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
            x = nn.functional.interpolate(x, size=(self.image_size, self.image_size), mode="area")
        return cnn_probabilities(self.model, x)

    def to_plain(self) -> dict:
        """Tensors and plain types: float16 weights (half the bytes; the judge's outputs move by about 1e-3)."""
        state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
                 for k, v in self.model.state_dict().items()}
        return {"width": int(self.model.features[0].out_channels), "state_dict": state,
                "attribute_names": list(self.attribute_names), "image_size": int(self.image_size),
                "aucs": torch.as_tensor(np.asarray(self.aucs, np.float32)), "info": dict(self.info)}

    @classmethod
    def from_plain(cls, data: dict) -> "AttributeClassifier":
        missing = {"width", "state_dict", "attribute_names", "image_size", "aucs"} - set(data)
        if missing:
            raise ValueError(f"attribute classifier lacks {sorted(missing)}")
        names = list(data["attribute_names"])
        model = AttributeCNN(len(names), int(data["width"]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()})
        aucs = data["aucs"].float().numpy() if torch.is_tensor(data["aucs"]) else np.asarray(data["aucs"], np.float32)
        if aucs.shape != (len(names),):
            raise ValueError(f"attribute classifier: {aucs.shape} AUCs for {len(names)} attributes")
        return cls(model.eval(), names, int(data["image_size"]), aucs, dict(data.get("info") or {}))


def train_classifier(images, attributes, partition, seed: int = 0, log=print, attribute_names=None,
                     epochs: int = 8) -> AttributeClassifier:
    """The export's judge: uint8 faces (N,3,S,S), their 0/1 labels (N,K) and partition (N,) 0 train, 1 valid,
    2 test. Trains on the train partition and scores the others (people it never saw); where fewer than
    MIN_HELD_OUT faces are outside the train partition, or fewer than half are in it, a seeded random
    HELD_OUT_SHARE is held out instead. Eight epochs (the bench's six on all 14k train images): a bundle
    holds about half of them."""
    attributes = np.asarray(attributes)
    partition = np.asarray(partition)
    if len(images) != len(attributes) or len(partition) != len(attributes):
        raise ValueError(f"attribute classifier: {len(images)} faces, {len(attributes)} label rows, "
                         f"{len(partition)} partition entries")
    held = partition != 0
    how = "the valid and test partitions (people not trained on)"
    if held.sum() < MIN_HELD_OUT or (~held).sum() < len(held) // 2:
        held = np.zeros(len(attributes), bool)
        held[np.random.default_rng(seed).permutation(len(held))[: max(1, int(HELD_OUT_SHARE * len(held)))]] = True
        how = f"a seeded random {HELD_OUT_SHARE:.0%} of the faces"
    t0 = time.perf_counter()
    model = fit_cnn(images, attributes, np.flatnonzero(~held), epochs=epochs, seed=seed, log=log)
    rows = np.flatnonzero(held)
    p = cnn_probabilities(model, np.ascontiguousarray(images[rows]))
    aucs = held_out_aucs(p, attributes[rows])
    names = list(attribute_names) if attribute_names is not None else [f"attribute {j}" for j in range(attributes.shape[1])]
    info = {"trained_on": int((~held).sum()), "held_out": int(held.sum()), "held_out_from": how, "epochs": epochs,
            "seed": int(seed), "seconds": round(time.perf_counter() - t0, 1), "loss": "cross-entropy (calibrated)",
            "mean_auc": float(np.nanmean(aucs))}
    log(f"attribute classifier: mean held-out AUC {info['mean_auc']:.3f} on {info['held_out']} faces, "
        f"{info['seconds']} s")
    return AttributeClassifier(model, names, int(images.shape[-1]), aucs, info)


# --------------------------------------------------------------------------------------------
# Judging edits
# --------------------------------------------------------------------------------------------

def side_effects(before, after, names, intended=()) -> list[tuple[str, float, bool]]:
    """(name, Δp, intended) for every attribute: the change of the classifier's probability from the face
    ``before`` (K,) to ``after`` (K,). The intended attributes come first in the order given (an edit name
    like "Wearing_Hat.2", a kind of explorer.analysis.kinds, counts as its attribute), then the others by |Δp|."""
    delta = np.asarray(after, np.float64) - np.asarray(before, np.float64)
    names = list(names)
    first = []
    for n in intended:
        base = str(n).split(".")[0]
        if base in names and base not in first:
            first.append(base)
    rest = sorted((n for n in names if n not in first), key=lambda n: -abs(delta[names.index(n)]))
    return [(n, float(delta[names.index(n)]), n in first) for n in first + rest]


def effect_text(effects, unintended: int = 2) -> str:
    """"Smiling +0.62, Male +0.18, Young −0.11": the intended changes, then the ``unintended`` largest others."""
    shown = [e for e in effects if e[2]] + [e for e in effects if not e[2]][:unintended]
    return ", ".join(f"{n.replace('_', ' ')} {'+' if d >= 0 else '−'}{abs(d):.2f}" for n, d, _ in shown)


def traversal_effects(decode, classifier: AttributeClassifier, z, dims, lo: float = -3.0,
                      hi: float = 3.0) -> np.ndarray:
    """(len(dims), K): for each dimension d, the mean over the faces z (M,D) of the change of every attribute's
    probability when z_d goes from ``lo`` to ``hi`` (everything else as it is), decoded by ``decode`` ((n,D)
    -> (n,3,S,S) in [0,1]). Positive: larger z_d draws more of the attribute."""
    z = np.atleast_2d(np.asarray(z, np.float32))
    dims = [int(d) for d in dims]
    out = np.empty((len(dims), len(classifier.attribute_names)))
    for i, d in enumerate(dims):
        zs = np.concatenate([z, z])  # (2M,D): the faces at lo, then at hi
        zs[: len(z), d], zs[len(z):, d] = lo, hi
        p = classifier.probabilities(decode(zs))
        out[i] = (p[len(z):] - p[: len(z)]).mean(0)
    return out
