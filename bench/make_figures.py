"""The model figures in the README and checkpoints/README.md, from a checkpoint and the CelebA sample.

    python bench/make_figures.py [CHECKPOINT] [--data-dir ../shared/celeba-sample] [--out docs/model]

Writes samples.png (64 faces from N(0, I)), samples-fitted.png (64 from the bundle's fitted density, when
it has one), reconstructions.png (valid-partition faces over their
reconstructions from mu) and edits.png (valid faces, each row: input, reconstruction, then one
attribute toggled per column by its balanced direction: added where the face lacks it,
removed where it has it, by 1.5 times the gap between the class means; the last columns do the same with
each kind of hat, explorer.analysis.kinds), and hat-kinds.png (10 valid faces without a hat: reconstruction, then
+Wearing_Hat and + each kind of hat at twice the class gap, one per row).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch
from PIL import Image, ImageDraw

from explorer import load_checkpoint
from explorer.celeba import open_celeba
from explorer.imaging import image_grid, to_uint8_images
from explorer.analysis.kinds import kind_directions
from explorer.latent import edit, sample_z

EDITS = ["Smiling", "Male", "Eyeglasses", "Blond_Hair", "Black_Hair", "Bangs", "Wearing_Hat", "Mouth_Slightly_Open"]


def label_row(labels, tile: int, pad: int = 2) -> np.ndarray:
    img = Image.new("RGB", (len(labels) * (tile + pad) - pad, 14), "white")
    d = ImageDraw.Draw(img)
    for i, t in enumerate(labels):
        d.text((i * (tile + pad) + 1, 1), t[:11], fill=(0, 0, 0))
    return np.asarray(img)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default=str(ROOT / "checkpoints" / "celeba64.pt"))
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "celeba-sample"))
    p.add_argument("--out", default=str(ROOT / "docs" / "model"))
    p.add_argument("--faces", default="2,40,95,150,300,520", help="rows of the valid partition to show")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    vae = load_checkpoint(a.checkpoint)
    s = vae.image_size
    up = lambda arr: np.asarray(Image.fromarray(arr).resize((arr.shape[1] * 2, arr.shape[0] * 2), Image.NEAREST))

    samples = to_uint8_images(vae.decode(sample_z(64, vae.latent_dim, seed=0)))
    Image.fromarray(up(image_grid(samples, 8))).save(out / "samples.png")
    density = vae.bundle.density if vae.bundle is not None else None
    if density is not None:  # the same seed from the density fitted to the encodings (explorer.analysis.density)
        fitted = to_uint8_images(vae.decode(density.sample(64, seed=0).astype(np.float32)))
        Image.fromarray(up(image_grid(fitted, 8))).save(out / "samples-fitted.png")

    index = open_celeba(a.data_dir)
    valid = np.flatnonzero(index.partition == 1)
    rows = [int(valid[int(r)]) for r in a.faces.split(",")] + [int(v) for v in valid[600:610]]
    x = []
    for i in rows:
        with index.open_image(i) as img:
            x.append(vae.preprocess(img))
    x = torch.stack(x)
    mu, _ = vae.encode(x)
    recon = vae.decode(mu)
    n = len(rows)
    pair = np.concatenate([to_uint8_images(x), to_uint8_images(recon)])
    order = np.concatenate([np.arange(n), np.arange(n) + n]).reshape(2, n).reshape(-1)
    Image.fromarray(up(image_grid(pair[order], n))).save(out / "reconstructions.png")

    b = vae.bundle
    names = list(vae.attribute_names)
    # (label, direction, gap, attribute): the gap is the plain class-mean distance, as the app's weights
    columns = [(f"±{n}", b.directions_balanced[names.index(n)], np.linalg.norm(b.directions[names.index(n)]),
                names.index(n)) for n in EDITS]
    hats = {"Wearing_Hat": b.kinds["Wearing_Hat"]} if b.kinds and "Wearing_Hat" in b.kinds else {}
    if hats:
        _, balanced = kind_directions("balanced", b.mu, b.attributes, names, hats)
        _, plain = kind_directions("mean", b.mu, b.attributes, names, hats)
        columns += [(f"±hat kind {q + 1}", d, np.linalg.norm(g), names.index("Wearing_Hat"))
                    for q, (d, g) in enumerate(zip(balanced, plain))]
    tiles = []
    for r, i in enumerate(rows[:6]):
        z = mu[r].numpy()
        has = index.attributes[i]
        zs = [z]
        for _, d, gap, k in columns:
            sign = -1.0 if has[k] else 1.0
            zs.append(edit(z, d, [sign * 1.5 * float(gap)]))
        faces = to_uint8_images(vae.decode(np.stack(zs)))
        tiles.append(np.concatenate([to_uint8_images(x[r:r + 1]), faces]))
    grid = image_grid(np.concatenate(tiles), len(columns) + 2)
    labels = label_row(["input", "recon", *[c[0] for c in columns]], s)
    Image.fromarray(up(np.concatenate([labels, np.full((2, grid.shape[1], 3), 255, np.uint8), grid]))).save(
        out / "edits.png")
    if hats:
        # 10 valid faces without a hat, each row one edit at twice its class gap, as bench_quality's z + 2·d
        k = names.index("Wearing_Hat")
        bare = [int(i) for i in valid if not index.attributes[i][k]][::70][:10]
        xb = []
        for i in bare:
            with index.open_image(i) as img:
                xb.append(vae.preprocess(img))
        zb = vae.encode(torch.stack(xb))[0].numpy()
        hat_rows = [("recon", zb)] + [(label, np.stack([edit(z, d, [2 * float(gap)]) for z in zb]))
                                      for label, d, gap, j in columns if j == k]
        grid = image_grid(np.concatenate([to_uint8_images(vae.decode(z)) for _, z in hat_rows]), len(bare))
        Image.fromarray(up(grid)).save(out / "hat-kinds.png")
    print(f"wrote {out}/samples.png, samples-fitted.png, reconstructions.png, edits.png" + (", hat-kinds.png" if hats else ""))


if __name__ == "__main__":
    main()
