"""Faces in photos: does finding and aligning a face give the model what an aligned CelebA image gives it?

    python bench/bench_faces.py [--data-dir ../shared/celeba-sample] [--n 200] [--checkpoint checkpoints/celeba64.pt]
    python bench/bench_faces.py --measure        # CelebA's mean eye positions and box, for explorer/faces/detect.py
    python bench/bench_faces.py --factors --n 100   # the framing error, each part of the photo left out in turn

The photos: each valid-partition (partition 1) aligned image A is scaled so that it is 30–55% of a larger
canvas's width (480–1280 px, 4:3 or 3:4), turned by up to ±10°, feathered at its edges and pasted at a
random place on a synthetic background (smooth colour fields, shapes, grain), then saved as a JPEG (q=90).

The measure, per image, with x = vae.preprocess(A) the model input of the aligned original and
rec(y) = decode(encode_mu(y)):
    aligned:  MSE(rec(x), x)                                  the model's own error on the aligned image
    method:   MSE(rec(preprocess(method(photo))), x)          the photo's crop, compared with the original
ratio = mean over images of the method's MSE / mean of the aligned MSE (1.0 would be perfect). The last
column scores each input against itself instead, MSE(rec(y), y) / MSE(rec(x), x): how well the model
reconstructs the crop it was given, framing errors not counted. Methods:
    undo paste   the exact inverse of the paste transform (resampling and JPEG loss only: the floor)
    re-aligned   align_face on the aligned original itself, no photo: how far the app moves CelebA's own
                 framing; "landmarks only" without the framing network (the floor of any landmark alignment)
    landmarks + framing network   explorer.faces.align, the app: eyes and (half weight) mouth corners ->
                 CelebA's mean positions, then three passes of the framing network (explorer/faces/framing.py)
    landmarks only   the same without the framing network
    eyes         the two eyes alone -> CelebA's mean eye positions
    box          the detector's box -> CelebA's mean box, no eyes, no rotation
    centre crop  vae.preprocess(photo) unchanged: what the app did before
A photo where no face is found falls back to the centre crop for the landmark, eyes and box rows (the app offers the
same); the table also gives the ratio over the photos where the right face was found. Below it, the framing
error itself (explorer.faces.framing.transform_rms, px): the app's frame of the photo composed with the paste, and
its frame of CelebA's own image, against CelebA's framing.
"""
from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from explorer import load_checkpoint
from explorer.faces import detect as faces, framing
from explorer.celeba import open_celeba


def background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A cluttered but face-free scene: smooth colour fields at three scales, a few shapes, grain."""
    acc = np.zeros((h, w, 3))
    for cells, amp in ((3, 1.0), (9, 0.45), (27, 0.2)):
        grid = (rng.random((cells, cells, 3)) * 255).astype(np.uint8)
        acc += amp * np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC), float) / 255
    acc = (acc - acc.min()) / (acc.max() - acc.min() + 1e-9)
    img = Image.fromarray((acc * 255 * rng.uniform(0.6, 1.0)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(3, 9)):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(w // 20, w // 3), y0 + rng.integers(h // 20, h // 3)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x0, y0, x1, y1), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.5))
    grain = rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, float) + grain, 0, 255).astype(np.uint8))


def make_photo(aligned: Image.Image, rng: np.random.Generator, turn: bool = True, feather: bool = True,
               clutter: bool = True, jpeg: bool = True):
    """-> (JPEG-decoded photo, 2×3 affine taking A's pixel coordinates to the photo's). The flags leave
    one part of the making out (--factors): no turn, a hard edge, a plain grey scene, no JPEG."""
    w = int(rng.integers(480, 1281))
    h = int(w * (0.75 if rng.random() < 0.5 else 4 / 3))
    frac = rng.uniform(0.30, 0.55)
    s = frac * w / aligned.width
    angle = rng.uniform(-10, 10) if turn else 0.0  # degrees, counter-clockwise as PIL turns
    aw, ah = aligned.size
    # Feathered alpha: the paste blends into the scene instead of leaving a hard rectangle.
    alpha = Image.new("L", (aw, ah), 0)
    ImageDraw.Draw(alpha).rectangle((6, 6, aw - 7, ah - 7) if feather else (0, 0, aw, ah), fill=255)
    alpha = alpha.filter(ImageFilter.GaussianBlur(3)) if feather else alpha
    rgba = aligned.convert("RGB").copy()
    rgba.putalpha(alpha)
    sw, sh = round(aw * s), round(ah * s)
    patch = rgba.resize((sw, sh), Image.Resampling.LANCZOS).rotate(angle, Image.Resampling.BICUBIC, expand=True)
    ox = int(rng.integers(0, max(1, w - patch.width)))
    oy = int(rng.integers(0, max(1, h - patch.height)))
    # Where A's pixel (x, y) lands, in pixel-index coordinates (centres at integers):
    #   resize:  u = K·x + b,  K = diag(sw/aw, sh/ah), b = (K - 1)/2
    #   rotate:  PIL turns counter-clockwise on screen about the centre c (pixel centres at i + 0.5), and
    #            expand=True puts c on the new centre c': u' = R(u + 0.5 - c) + c' - 0.5, R = [[cos, sin], [-sin, cos]]
    #   paste:   q = u' + (ox, oy)
    th = math.radians(angle)
    rot = np.array([[math.cos(th), math.sin(th)], [-math.sin(th), math.cos(th)]])
    k = np.array([sw / aw, sh / ah])
    b = (k - 1) / 2
    c, c2 = np.array([sw / 2, sh / 2]), np.array([patch.width / 2, patch.height / 2])
    m = np.hstack([rot * k, (rot @ (b + 0.5 - c) + c2 - 0.5 + np.array([ox, oy]))[:, None]])
    scene = background(rng, w, h) if clutter else Image.new("RGB", (w, h), (128, 128, 128))
    scene.paste(patch, (ox, oy), patch)
    if not jpeg:
        return scene, m
    buf = io.BytesIO()
    scene.save(buf, "JPEG", quality=90)
    return Image.open(io.BytesIO(buf.getvalue())), m


def _warp_back(rgb: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Sample the photo at m(A's pixel grid): the aligned image back, up to resampling and JPEG loss."""
    import cv2

    return cv2.warpAffine(rgb, m, faces.ALIGNED_SIZE, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT_101)


def _landmarks(index, rows) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Detected landmarks (N,5,2) and boxes (N,4) of the largest face in each aligned image."""
    pts, boxes, missed, many = [], [], 0, 0
    for i in rows:
        found = faces.find_faces(index.open_image(int(i)))
        if not found:
            missed += 1
            continue
        many += len(found) > 1
        pts.append(found[0].landmarks)
        boxes.append(found[0].box)
    return np.array(pts), np.array(boxes), missed, many


def framing_error(pts: np.ndarray, method: str) -> np.ndarray:
    """Per image: how far the alignment would move an already aligned image, as the RMS displacement of
    a 9×9 grid over the model's crop (148×148 in the middle of 178×218), in pixels of the 178×218 frame."""
    weights = faces.LANDMARK_WEIGHTS[method]
    fits = (faces._landmark_transform(faces.Face((0, 0, 1, 1), tuple(map(tuple, p)), 1.0), weights) for p in pts)
    return np.array([framing.transform_rms(m) for m in fits])


def measure(data_dir: str, limit: int | None) -> None:
    index = open_celeba(data_dir)
    rows = np.flatnonzero(index.partition == 0)[:limit]
    t0 = time.perf_counter()
    pts, boxes, missed, many = _landmarks(index, rows)
    dt = time.perf_counter() - t0
    print(f"train-partition images: {len(rows)}; no face: {missed}; more than one: {many}; "
          f"{dt / len(rows) * 1000:.1f} ms per 178×218 image\n")
    names = ["eye on the image's left", "eye on the image's right", "nose tip", "mouth, left corner",
             "mouth, right corner"]
    print("| landmark | mean x | mean y | sd x | sd y |\n|---|---|---|---|---|")
    for k, name in enumerate(names):
        print(f"| {name} | {pts[:, k, 0].mean():.2f} | {pts[:, k, 1].mean():.2f} | {pts[:, k, 0].std():.2f} | "
              f"{pts[:, k, 1].std():.2f} |")
    mean = pts.mean(0)
    print("\nTARGET_LANDMARKS = (" + ", ".join(f"({x:.2f}, {y:.2f})" for x, y in mean) + ")")
    print("TARGET_BOX = (%.2f, %.2f, %.2f, %.2f)" % tuple(boxes.mean(0)))
    # How far each fit would move CelebA's own (already aligned) valid images, with the template in force
    valid, _, _, _ = _landmarks(index, np.flatnonzero(index.partition == 1)[:limit])
    print("\n| fit (valid partition, template in explorer/faces/detect.py) | RMS framing error, px of 178×218 |\n|---|---|")
    for method in faces.LANDMARK_WEIGHTS:
        e = framing_error(valid, method)
        print(f"| {method} {faces.LANDMARK_WEIGHTS[method]} | mean {e.mean():.2f}, median {np.median(e):.2f} |")


def right_faces(found: list, m: np.ndarray, aligned: Image.Image) -> list:
    """The faces of `found` whose eyes are where the paste `m` put the aligned image's (within 20% of its
    width in the photo): the face that was pasted, not another one."""
    # the true eye midpoint: CelebA's mean eye midpoint carried into the photo by the paste
    true_mid = m @ np.array([*np.mean(faces.TARGET_LANDMARKS[:2], 0), 1.0])
    width = math.hypot(*m[:, 0]) * aligned.width
    return [f for f in found if math.dist(np.mean(f.eyes, 0), true_mid) < 0.2 * width]


def photo_framing_error(photo: Image.Image, face, m: np.ndarray) -> float:
    """The app's framing error on a pasted photo, px: its frame of the photo composed with the paste
    (original -> photo -> frame), which is the identity when exact."""
    return framing.transform_rms(faces.frame_transform(photo, face) @ np.vstack([m, [0, 0, 1]]))


def factors(index, rows, seed: int) -> None:
    """The app's framing error (px) on photos made with one part of the making left out at a time, beside
    CelebA's own images re-aligned: which part of a photo costs framing. Each image's photos share their
    size, place and scale (one random generator per image)."""
    variants = {"the photo": {}, "no turn": {"turn": False}, "no JPEG": {"jpeg": False},
                "hard edge (no feather)": {"feather": False}, "plain grey scene": {"clutter": False}}
    err = {"CelebA's image, re-aligned": [], **{k: [] for k in variants}}
    for i in rows:
        a = index.open_image(int(i)).convert("RGB")
        own = faces.find_faces(a)
        if own:
            err["CelebA's image, re-aligned"].append(framing.transform_rms(faces.frame_transform(a, own[0])))
        for name, kw in variants.items():
            photo, m = make_photo(a, np.random.default_rng([seed, int(i)]), **kw)
            right = right_faces(faces.find_faces(photo), m, a)
            if right:
                err[name].append(photo_framing_error(photo, right[0], m))
    print(f"the app's framing error by part of the photo ({len(rows)} valid faces; px RMS over the model's crop)")
    print("| input | faces | mean px | median px |\n|---|---|---|---|")
    for k, v in err.items():
        print(f"| {k} | {len(v)} | {np.mean(v):.2f} | {np.median(v):.2f} |")


def sensitivity(vae, index, rows) -> None:
    """What a framing error costs: the aligned originals moved by a known shift, scale or turn (no detector)
    and reconstructed, as a ratio to the unmoved MSE. Any alignment from landmarks pays this for its error."""
    import cv2

    moves = {"shifted 1 px": (1, 1.0, 0.0), "shifted 2 px": (2, 1.0, 0.0), "shifted 3 px": (3, 1.0, 0.0),
             "scaled 2%": (0, 1.02, 0.0), "scaled 4%": (0, 1.04, 0.0), "turned 2°": (0, 1.0, 2.0)}
    ref, out = [], {k: [] for k in moves}
    for i in rows:
        a = index.open_image(int(i)).convert("RGB")
        x = vae.preprocess(a)
        rec = lambda y: float((vae.decode(vae.encode(y[None])[0])[0] - x).pow(2).mean())  # noqa: E731
        ref.append(rec(x))
        for k, (dx, s, angle) in moves.items():
            m = cv2.getRotationMatrix2D(((a.width - 1) / 2, (a.height - 1) / 2), angle, s)
            m[0, 2] += dx
            y = cv2.warpAffine(np.asarray(a), m, a.size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
            out[k].append(rec(vae.preprocess(Image.fromarray(y))))
    print(f"\nwhat a framing error costs ({len(rows)} aligned valid images moved, px of the 178×218 frame):")
    print("| the aligned original, | ratio to aligned |\n|---|---|")
    for k, v in out.items():
        print(f"| {k} | {np.mean(v) / np.mean(ref):.2f}× |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "celeba-sample"))
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "celeba64.pt"))
    ap.add_argument("--n", type=int, default=200, help="valid-partition images to paste (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--measure", action="store_true", help="print CelebA's mean eye positions and box instead")
    ap.add_argument("--limit", type=int, default=None, help="with --measure: use only this many train images")
    ap.add_argument("--factors", action="store_true",
                    help="print only the framing error with each part of the photo left out in turn")
    ap.add_argument("--save", default=None, help="folder to write a few photos and their aligned crops into")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.measure:
        measure(args.data_dir, args.limit)
        return

    vae = load_checkpoint(args.checkpoint)
    index = open_celeba(args.data_dir)
    rows = np.flatnonzero(index.partition == 1)[: args.n]
    if args.factors:
        factors(index, rows, args.seed)
        return
    rng = np.random.default_rng(args.seed)

    def rec_mse(x: torch.Tensor, ref: torch.Tensor) -> float:
        mu, _ = vae.encode(x[None])
        return float((vae.decode(mu)[0] - ref).pow(2).mean())

    own = {}  # per input: MSE(rec(y), y), the model's error on the crop itself, whatever its framing

    def scored(name: str, crop: Image.Image) -> float:
        y = vae.preprocess(crop)
        own.setdefault(name, []).append(rec_mse(y, y))
        return rec_mse(y, x)

    names = ["aligned original", "undo paste", "aligned original, re-aligned", "re-aligned, landmarks only",
             "landmarks + framing network (the app)", "landmarks only", "eyes", "box", "centre crop"]
    mse = {k: [] for k in names}
    found_right, found_wrong, found_none, many = 0, 0, 0, 0
    hit = []  # per photo: was the right face found (for the detected-only ratios)
    t_find, t_align, sizes = [], [], []
    px = {"CelebA's image, re-aligned": [], "the photo": []}  # the app's framing error, px RMS over the crop grid
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    for n, i in enumerate(rows):
        a = index.open_image(int(i)).convert("RGB")
        photo, m = make_photo(a, rng)
        x = vae.preprocess(a)
        mse["aligned original"].append(scored("aligned original", a))
        mse["undo paste"].append(scored("undo paste", Image.fromarray(_warp_back(np.asarray(photo), m))))
        # CelebA's own framing against the app's, and against the landmarks' alone (their floor)
        own_faces = faces.find_faces(a)
        for k, refine in (("aligned original, re-aligned", True), ("re-aligned, landmarks only", False)):
            mse[k].append(scored(k, faces.align(a, own_faces[0], refine=refine)) if own_faces else float("nan"))
        if own_faces:  # the framing error itself: how far the app's frame is from CelebA's, in px
            px["CelebA's image, re-aligned"].append(framing.transform_rms(faces.frame_transform(a, own_faces[0])))
        centre = scored("centre crop", photo)
        mse["centre crop"].append(centre)
        t = time.perf_counter()
        found = faces.find_faces(photo)
        t_find.append(time.perf_counter() - t)
        sizes.append(photo.width * photo.height)
        right = right_faces(found, m, a)
        many += len(found) > 1
        if right:
            found_right += 1
            face = right[0]
            t = time.perf_counter()
            crop = faces.align(photo, face)
            t_align.append(time.perf_counter() - t)
            mse["landmarks + framing network (the app)"].append(scored("landmarks + framing network (the app)", crop))
            px["the photo"].append(photo_framing_error(photo, face, m))
            mse["landmarks only"].append(scored("landmarks only", faces.align(photo, face, refine=False)))
            mse["eyes"].append(scored("eyes", faces.align(photo, face, "eyes", refine=False)))
            mse["box"].append(scored("box", faces.align(photo, face, "box", refine=False)))
            if save and n < 12:
                photo.save(save / f"{n:02d}_photo.jpg")
                crop.save(save / f"{n:02d}_aligned.png")
                a.save(save / f"{n:02d}_original.png")
        else:
            found_none += not found
            found_wrong += bool(found)
            for k in ("landmarks + framing network (the app)", "landmarks only", "eyes", "box"):
                mse[k].append(centre)
                own.setdefault(k, []).append(own["centre crop"][-1])
        hit.append(bool(right))
    hit = np.array(hit)
    n = len(rows)
    print(f"{n} valid-partition faces pasted into synthetic photos; checkpoint {Path(args.checkpoint).name}; "
          f"torch threads 1")
    print(f"detection: right face found in {found_right}/{n} ({found_right / n:.1%}); none found in {found_none}; "
          f"only a wrong one in {found_wrong}; photos with more than one face found: {many}\n")
    print("| input to preprocess | mean MSE | ratio to aligned | ratio where found | median per-image ratio | "
          "its own error, ratio |")
    print("|---|---|---|---|---|---|")
    for k in names:
        v = np.array(mse[k])  # nan (no face in an aligned original) is left out of the means below
        ok = ~np.isnan(v)
        ref = np.array(mse["aligned original"])
        per = v[ok] / ref[ok]
        found_ratio = v[hit & ok].mean() / ref[hit & ok].mean() if (hit & ok).any() else float("nan")
        mine = np.mean(own[k]) / np.mean(own["aligned original"]) if own.get(k) else float("nan")
        print(f"| {k} | {v[ok].mean():.5f} | {v[ok].mean() / ref[ok].mean():.2f}× | {found_ratio:.2f}× | "
              f"{np.median(per):.2f}× | {mine:.2f}× |")
    print("\nthe app's framing error, px RMS over the model's crop in the 178×218 frame (0: CelebA's own framing): "
          + "; ".join(f"{k} mean {np.mean(v):.2f}, median {np.median(v):.2f} ({len(v)})" for k, v in px.items()))
    import cv2

    print(f"\nfind_faces on {min(sizes) / 1e6:.2f}–{max(sizes) / 1e6:.2f} MP photos (OpenCV {cv2.__version__}, "
          f"{cv2.getNumThreads()} threads): median {statistics.median(t_find) * 1000:.0f} ms, "
          f"p90 {np.percentile(t_find, 90) * 1000:.0f} ms; align median {statistics.median(t_align) * 1000:.1f} ms")
    big = make_photo(index.open_image(int(rows[0])).convert("RGB"), np.random.default_rng(1))[0].resize((4032, 3024))
    times = []
    for _ in range(3):
        t = time.perf_counter()
        faces.find_faces(big)
        times.append(time.perf_counter() - t)
    print(f"find_faces on a 12 MP (4032×3024) photo: best of 3 {min(times) * 1000:.0f} ms")
    sensitivity(vae, index, rows[:100])


if __name__ == "__main__":
    main()
