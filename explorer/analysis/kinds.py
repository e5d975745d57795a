"""Kinds of an attribute: the faces that have it, grouped by what the decoder draws where it shows.

One direction per attribute is the mean of everything the label covers. Where that is one thing (a
smile) the mean draws it; where it is many, the mean draws none of them: CelebA's Wearing_Hat covers
caps, beanies, cowboy hats, in black, white and every colour, and z + 2·d draws a dark band under a
light crown, a smear no one calls a hat. Eyeglasses covers sunglasses and clear glasses, and the one
direction draws sunglasses only.

So for such attributes the faces that have the attribute are grouped (k-means, seeded) by the colours
the decoder draws in the attribute's region of the face (the top of the head for a hat, the band of the
eyes for glasses), and each group gets directions of its own, fitted as if the attribute had only that
kind: the other kinds' faces are left out. The groups are found once, at export, from the decoder's own
reconstructions of the encodings (so they are what the model can draw), and stored in the bundle as one
label per row; the directions are fitted where they are used, with the same estimators as the 40
attribute directions.

An edit name for a kind is ``<attribute>.<k>`` (``Wearing_Hat.2``), kinds numbered from 1, largest first:
a name that fits a URL's ``edit=Wearing_Hat.2:1.5`` and that no CelebA attribute name can clash with.

What a kind looks like ("dark hat", "sunglasses") is read off the decoder's drawing of the kind's mean
encoding, in the same region, against the mean encoding of the faces without the attribute (``looks``):
the brightness and colour of that region. Where the kinds of an attribute draw that region alike (an
untrained decoder, or kinds that differ in shape only), the analysis cannot tell, and they stay "kind k".
The names in links stay ``<attribute>.<k>``, so every link written before keeps working.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from explorer.latent import direction_of

# Rows of the face, as fractions of its height, where each attribute shows on CelebA's aligned crops
REGIONS = {"Wearing_Hat": (0.0, 0.40), "Eyeglasses": (0.34, 0.62)}
N_KINDS = 3
MIN_SPREAD = 0.05  # luminance range over an attribute's kinds below which they look alike (0..1 scale)
MIN_CONTRAST = 0.05  # a hat this close to the bare head's brightness is not named by brightness
DARK, LIGHT = 0.33, 0.58  # hat region luminance: below DARK a dark hat, above LIGHT a light one
SUNGLASSES = -0.10  # eye band luminance against faces without glasses: at or below, sunglasses
CLEAR = -0.05  # at or above (lenses that let the eyes through), clear glasses; between, tinted
MIN_PER_KIND = 20  # a kind with fewer faces is noise: then the attribute has no kinds
SEP = "."


def kind_name(attribute: str, k: int) -> str:
    """Edit name of kind ``k`` (0-based) of ``attribute``: ``Wearing_Hat.1`` for the first."""
    return f"{attribute}{SEP}{k + 1}"


def kind_names(kinds: Mapping[str, np.ndarray]) -> list[tuple[str, str, int]]:
    """(edit name, attribute, 0-based kind) of every kind in a bundle's ``kinds``, in the order the app
    lists them and kind_directions returns them."""
    return [(kind_name(attribute, k), attribute, k) for attribute, labels in kinds.items()
            for k in range(int(labels.max()) + 1)]


def describe(kinds: Mapping[str, np.ndarray]) -> str:
    """One line for a log: "Wearing_Hat [152, 111, 101], Eyeglasses [185, 152, 147]" (faces per kind)."""
    return ", ".join(f"{n} {np.bincount(v[v >= 0]).tolist()}" for n, v in kinds.items()) or "none"


def split_name(name: str) -> tuple[str, int | None]:
    """``Wearing_Hat.2`` -> ("Wearing_Hat", 1); ``Smiling`` -> ("Smiling", None)."""
    attribute, sep, k = name.rpartition(SEP)
    if sep and k.isdigit() and int(k) >= 1:
        return attribute, int(k) - 1
    return name, None


def label(name: str, looks: Mapping[str, str] | None = None) -> str:
    """How a user reads an edit name: "Eyeglasses: sunglasses" where ``looks`` (from ``looks()``) names
    the kind, "Eyeglasses: clear glasses (kind 2)" where two kinds look alike, else "Eyeglasses, kind 2"."""
    attribute, k = split_name(name)
    text = attribute.replace("_", " ")
    if k is None:
        return text
    look = (looks or {}).get(name)
    if look is None:
        return f"{text}, kind {k + 1}"
    same = [n for n, v in (looks or {}).items() if v == look and split_name(n)[0] == attribute]
    return f"{text}: {look}" + (f" (kind {k + 1})" if len(same) > 1 else "")


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance of (…,3) RGB in [0,1] (ITU-R BT.601 weights, as in JPEG's Y)."""
    return np.asarray(rgb) @ np.array([0.299, 0.587, 0.114])


def _colour_word(rgb: np.ndarray) -> str | None:
    """A hue name for a clearly coloured region (HSV saturation ≥ 0.3), else None (greys, browns)."""
    import colorsys

    h, sat, v = colorsys.rgb_to_hsv(*(float(c) for c in rgb))
    if sat < 0.3 or v < 0.2:
        return None
    deg = h * 360
    for limit, word in ((20, "red"), (45, "orange"), (70, "yellow"), (170, "green"), (260, "blue"), (330, "purple")):
        if deg < limit:
            return word
    return "red"


def looks(decode: Callable[[np.ndarray], np.ndarray], mu: np.ndarray, attributes: np.ndarray,
          attribute_names: Sequence[str], kinds: Mapping[str, np.ndarray]) -> dict[str, str]:
    """{kind's edit name: what it looks like} for the kinds the analysis can tell apart: each kind's mean
    encoding and that of the faces without the attribute are decoded (``decode`` as in find_kinds), and the
    attribute's region of each drawing is compared by mean colour. Hats are named by the region's brightness
    (and hue where clearly coloured); glasses by how much they darken the eye band. Kinds whose regions are
    within MIN_SPREAD of each other in luminance are left unnamed (they look alike to this measure)."""
    out: dict[str, str] = {}
    a = np.asarray(attributes)
    for attribute, labels in kinds.items():
        if attribute not in REGIONS:
            continue
        j = list(attribute_names).index(attribute)
        n_kinds = int(labels.max()) + 1
        without = a[:, j] == 0
        if not without.any():
            continue
        zs = [np.asarray(mu)[without].mean(0)] + [np.asarray(mu)[labels == k].mean(0) for k in range(n_kinds)]
        images = np.asarray(decode(np.stack(zs).astype(np.float32)), np.float32)  # (1+K,3,S,S)
        s = images.shape[-1]
        top, bottom = (int(round(f * s)) for f in REGIONS[attribute])
        rgb = images[:, :, top:bottom, :].mean((2, 3))  # (1+K,3)
        lum = _luminance(rgb)
        if np.ptp(lum[1:]) < MIN_SPREAD:
            continue
        for k in range(n_kinds):
            delta = lum[k + 1] - lum[0]
            if attribute == "Eyeglasses":
                look = "sunglasses" if delta <= SUNGLASSES else "clear glasses" if delta >= CLEAR else "tinted glasses"
            else:
                if abs(delta) < MIN_CONTRAST:
                    continue
                tone = "dark" if lum[k + 1] < DARK else "light" if lum[k + 1] > LIGHT else "mid-tone"
                colour = _colour_word(rgb[k + 1])
                look = f"{tone} {colour} hat" if colour else f"{tone} hat"
            out[kind_name(attribute, k)] = look
    return out


def region_features(images: np.ndarray, region: tuple[float, float]) -> np.ndarray:
    """(N,3,S,S) float images in [0,1] -> (N,F): the region's rows, averaged in blocks of S/16 pixels
    (a 16-wide colour thumbnail), so that the grouping sees colours and shapes, not pixel noise."""
    x = np.asarray(images, np.float32)
    n, c, s, _ = x.shape
    block = max(1, s // 16)
    top, bottom = int(round(region[0] * s)) // block * block, int(round(region[1] * s)) // block * block
    r = x[:, :, top:bottom, : s // block * block]
    h, w = r.shape[2] // block, r.shape[3] // block
    return r.reshape(n, c, h, block, w, block).mean((3, 5)).reshape(n, -1)


def cluster(features: np.ndarray, k: int = N_KINDS, seed: int = 0) -> np.ndarray:
    """(N,F) -> (N,) kind per row in 0..k-1, numbered by size (0 the largest group), seeded."""
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(np.asarray(features, np.float64))
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    return np.argsort(order)[labels].astype(np.int8)


def find_kinds(decode: Callable[[np.ndarray], np.ndarray], mu: np.ndarray, attributes: np.ndarray,
               attribute_names: Sequence[str], k: int = N_KINDS, seed: int = 0, batch: int = 256) -> dict:
    """Kinds of every attribute in REGIONS: {attribute: (N,) int8}, the kind of each row that has the
    attribute and -1 elsewhere. ``decode`` maps (n,D) float32 latents to (n,3,S,S) float images in [0,1];
    only the faces that have the attribute are decoded. An attribute whose grouping leaves a kind with
    fewer than MIN_PER_KIND faces (too few faces, or a region the decoder draws alike) has none."""
    out = {}
    for name, region in REGIONS.items():
        if name not in attribute_names:
            continue
        has = np.flatnonzero(np.asarray(attributes)[:, list(attribute_names).index(name)] == 1)
        if len(has) < k * MIN_PER_KIND:
            continue
        feats = np.concatenate([region_features(decode(np.asarray(mu[has[s:s + batch]], np.float32)), region)
                                for s in range(0, len(has), batch)])
        if len(np.unique(feats, axis=0)) < k:
            continue
        groups = cluster(feats, k, seed)
        if np.bincount(groups, minlength=k).min() < MIN_PER_KIND:
            continue
        labels = np.full(len(mu), -1, np.int8)
        labels[has] = groups
        out[name] = labels
    return out


def kind_directions(kind: str, mu: np.ndarray, attributes: np.ndarray, attribute_names: Sequence[str],
                    kinds: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """The directions of every kind -> (edit names, (M,D)). Kind k of attribute j is fitted on the rows
    without attribute j and the rows of kind k, as if the attribute had that kind only; ``kind`` is the
    estimator (mean, balanced, held: explorer.latent.direction_of)."""
    a = np.asarray(attributes)
    names, rows = [], []
    for name, attribute, k in kind_names(kinds):
        j = list(attribute_names).index(attribute)
        keep = (a[:, j] == 0) | (kinds[attribute] == k)
        names.append(name)
        rows.append(direction_of(kind, mu[keep], a[keep], j))
    dim = np.asarray(mu).shape[1]
    return names, (np.stack(rows) if rows else np.zeros((0, dim))).astype(np.float32)
