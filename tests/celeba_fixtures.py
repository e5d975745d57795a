"""Tiny synthetic CelebA folders for tests.

Other test modules (cache builder, training) import :func:`make_celeba`; keep its signature stable.

    from celeba_fixtures import make_celeba          # tests/ is on sys.path under pytest
    data_dir = make_celeba(tmp_path, n=12, layout="zip", missing=2, corrupt=[0, 1, 2])
    index = explorer.celeba.open_celeba(data_dir)
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

# Kept here rather than imported so that the fixture also checks the module's own constant.
ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)
LAYOUTS = ("official", "torchvision", "kaggle", "zip", "drive")
CORRUPT_KINDS = ("truncated", "empty", "text")


def default_partitions(n: int) -> list[int]:
    """Train/valid/test in CelebA's order, about 2/3, 1/6, 1/6 (8/2/2 for n=12)."""
    n_valid = n_test = n // 6
    n_train = n - n_valid - n_test
    return [0] * n_train + [1] * n_valid + [2] * n_test


def jpeg_bytes(size: tuple[int, int], rng: np.random.Generator) -> bytes:
    """A real JPEG of ``size`` (width, height): a random background with a random block on it."""
    w, h = size
    img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
    x0, y0 = int(rng.integers(0, max(1, w // 2))), int(rng.integers(0, max(1, h // 2)))
    img.paste(tuple(int(c) for c in rng.integers(0, 256, 3)), (x0, y0, x0 + w // 3 + 1, y0 + h // 3 + 1))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def corrupt_bytes(kind: str, good: bytes) -> bytes:
    """Bytes of a broken image: ``truncated`` (headers intact, scan data cut), ``empty``, ``text``."""
    if kind == "truncated":
        # Keep the headers and half the scan data: Image.open succeeds and only load() fails,
        # which is how a cut-off download behaves.
        sos = good.find(b"\xff\xda")
        return good[: sos + max(16, (len(good) - sos) // 2)]
    if kind == "empty":
        return b""
    if kind == "text":
        return b"<html>404 Not Found</html>\n"
    raise ValueError(f"unknown corrupt kind {kind!r}; use one of {CORRUPT_KINDS}")


def _corrupt_map(corrupt: Iterable[int] | Mapping[int, str], n: int) -> dict[int, str]:
    if isinstance(corrupt, Mapping):
        out = {int(i): str(k) for i, k in corrupt.items()}
    else:
        out = {int(i): CORRUPT_KINDS[j % len(CORRUPT_KINDS)] for j, i in enumerate(corrupt)}
    for i, kind in out.items():
        if not 0 <= i < n:
            raise ValueError(f"corrupt index {i} out of range for n={n}")
        if kind not in CORRUPT_KINDS:
            raise ValueError(f"unknown corrupt kind {kind!r}; use one of {CORRUPT_KINDS}")
    return out


def make_celeba(
    root: Path,
    n: int = 12,
    layout: str = "official",
    size: tuple[int, int] = (178, 218),
    partitions: Iterable[int] | None = None,
    missing: int = 0,
    corrupt: Iterable[int] | Mapping[int, str] = (),
    crlf: bool = True,
    *,
    seed: int = 0,
    annotations: str | None = None,
    zip_prefix: str = "img_align_celeba/",
) -> Path:
    """Write a tiny CelebA-format folder under ``root`` and return the ``data_dir`` to pass to
    ``open_celeba`` (for ``torchvision`` that is the folder *holding* ``celeba/``).

    n           rows in the annotation files, named 000001.jpg ... in order.
    layout      "official" | "torchvision" | "kaggle" | "zip", or "drive" (the Google Drive tree:
                Img/img_align_celeba/, Anno/list_attr_celeba.txt, Eval/list_eval_partition.txt).
    size        image (width, height); CelebA's aligned faces are 178x218.
    partitions  one of 0/1/2 per row; default :func:`default_partitions` (8/2/2 for n=12).
    missing     the LAST ``missing`` rows get no image file (a partial download).
    corrupt     row indices whose image is broken, kinds cycling truncated, empty, text; or a
                mapping {row: kind}. Broken files still exist, so the index counts them present.
    crlf        end annotation lines with CRLF (as the official files do) instead of LF.
    seed        colours and attributes come from ``numpy.random.default_rng(seed)``.
    annotations "txt" or "csv"; default csv for kaggle, txt otherwise.
    zip_prefix  member folder of the images in the zip ("" for the zip root, "a/b/" nested).

    The files match the official formats byte for byte in shape: the txt attribute file has the
    row count on line 1, the names (with a trailing space) on line 2 and values printed as "%2d".
    Parse the written files with ``explorer.celeba.parse_attributes`` to get the expected values.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    if not 0 <= missing <= n:
        raise ValueError(f"missing={missing} must be between 0 and n={n}")
    fmt = annotations or ("csv" if layout == "kaggle" else "txt")
    if fmt not in ("txt", "csv"):
        raise ValueError(f"annotations must be 'txt' or 'csv', got {fmt!r}")
    parts = default_partitions(n) if partitions is None else [int(p) for p in partitions]
    if len(parts) != n:
        raise ValueError(f"partitions has {len(parts)} entries, expected n={n}")
    bad = _corrupt_map(corrupt, n)
    rng = np.random.default_rng(seed)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    attrs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, len(ATTRIBUTE_NAMES)))

    root = Path(root)
    data_dir = root
    base = root / "celeba" if layout == "torchvision" else root
    base.mkdir(parents=True, exist_ok=True)
    attr_dir = base / "Anno" if layout == "drive" else base
    part_dir = base / "Eval" if layout == "drive" else base
    attr_dir.mkdir(exist_ok=True)
    part_dir.mkdir(exist_ok=True)

    eol = "\r\n" if crlf else "\n"
    if fmt == "txt":
        attr_lines = [str(n), " ".join(ATTRIBUTE_NAMES) + " "]
        attr_lines += [f"{f} " + " ".join(f"{v:2d}" for v in row) for f, row in zip(names, attrs.tolist())]
        part_lines = [f"{f} {p}" for f, p in zip(names, parts)]
    else:
        attr_lines = ["image_id," + ",".join(ATTRIBUTE_NAMES)]
        attr_lines += [f + "," + ",".join(str(v) for v in row) for f, row in zip(names, attrs.tolist())]
        part_lines = ["image_id,partition"] + [f"{f},{p}" for f, p in zip(names, parts)]
    (attr_dir / f"list_attr_celeba.{fmt}").write_bytes((eol.join(attr_lines) + eol).encode())
    (part_dir / f"list_eval_partition.{fmt}").write_bytes((eol.join(part_lines) + eol).encode())

    images = {}
    for i, f in enumerate(names[: n - missing]):
        data = jpeg_bytes(size, rng)
        images[f] = corrupt_bytes(bad[i], data) if i in bad else data

    if layout == "zip":
        with zipfile.ZipFile(base / "img_align_celeba.zip", "w", zipfile.ZIP_STORED) as zf:
            for f, data in images.items():
                zf.writestr(zip_prefix + f, data)
        return data_dir
    img_dir = {
        "official": base / "img_align_celeba",
        "torchvision": base / "img_align_celeba",
        "kaggle": base / "img_align_celeba" / "img_align_celeba",
        "drive": base / "Img" / "img_align_celeba",
    }[layout]
    img_dir.mkdir(parents=True, exist_ok=True)
    for f, data in images.items():
        (img_dir / f).write_bytes(data)
    return data_dir


def synthetic_cache(n_train: int = 16, n_valid: int = 8, size: int = 32, seed: int = 0):
    """A decoded cache (train.prepare.CachedData) of random images, for driving the Trainer directly
    without a folder: n_train images in partition 0, then n_valid in partition 1."""
    from train.prepare import CachedData

    rng = np.random.default_rng(seed)
    n = n_train + n_valid
    return CachedData(images=rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8),
                      attributes=(rng.random((n, 40)) < 0.5).astype(np.uint8),
                      partition=np.array([0] * n_train + [1] * n_valid, np.uint8),
                      filenames=[f"{i + 1:06d}.jpg" for i in range(n)], attribute_names=list(ATTRIBUTE_NAMES))
