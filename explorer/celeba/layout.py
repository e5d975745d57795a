"""Where a CelebA download keeps its files: layout detection and image listing."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from explorer.celeba.annotations import CelebAError

LAYOUTS: tuple[str, ...] = ("official", "torchvision", "kaggle", "zip")

IMAGE_DIR = "img_align_celeba"
IMAGE_ZIP = "img_align_celeba.zip"
ATTR_STEM = "list_attr_celeba"
PARTITION_STEM = "list_eval_partition"
IDENTITY_FILE = "identity_CelebA.txt"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class _Source:
    layout: str
    base: Path                  # the folder that holds the annotation files
    images: Path                # image folder or zip file
    is_zip: bool


def _first_existing(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _annotation_candidates(base: Path, stem: str, subdirs: tuple[str, ...]) -> list[Path]:
    return [d / f"{stem}{ext}" for d in (base, *(base / s for s in subdirs)) for ext in (".txt", ".csv")]


def _attr_candidates(base: Path) -> list[Path]:
    return _annotation_candidates(base, ATTR_STEM, ("Anno",))


def _partition_candidates(base: Path) -> list[Path]:
    # The Drive release keeps it in Eval/; some mirrors move it next to the attributes in Anno/.
    return _annotation_candidates(base, PARTITION_STEM, ("Eval", "Anno"))


def _image_sources(d: Path) -> list[_Source]:
    """Every place in ``d`` that holds CelebA-like images, in order of preference.

    Folders come before zips: torchvision keeps both after extracting, and a folder needs no
    central-directory read per worker process. An empty folder (extraction not started) is skipped
    so that a zip beside it is still found.
    """
    tv = d / "celeba"
    folders = [
        ("kaggle", d, d / IMAGE_DIR / IMAGE_DIR),
        ("official", d, d / IMAGE_DIR),
        ("official", d, d / "Img" / IMAGE_DIR),             # the Google Drive tree
        ("torchvision", tv, tv / IMAGE_DIR),
    ]
    out = [_Source(layout, base, f, False) for layout, base, f in folders if _has_images(f)]
    for base, z in ((d, d / IMAGE_ZIP), (d, d / "Img" / IMAGE_ZIP), (tv, tv / IMAGE_ZIP)):
        if z.is_file():
            out.append(_Source("zip", base, z, True))
    return out


_LOOKED_FOR = (
    "  official:    {d}/img_align_celeba/*.jpg + {d}/list_attr_celeba.txt + {d}/list_eval_partition.txt\n"
    "  torchvision: {d}/celeba/img_align_celeba/*.jpg + {d}/celeba/list_attr_celeba.txt + ...\n"
    "  kaggle:      {d}/img_align_celeba/img_align_celeba/*.jpg + {d}/list_attr_celeba.csv"
    " + {d}/list_eval_partition.csv\n"
    "  zip:         {d}/img_align_celeba.zip + the annotation files (.txt or .csv) beside it"
)


def _has_images(d: Path, limit: int = 2000) -> bool:
    try:
        with os.scandir(d) as it:
            for k, e in enumerate(it):
                if e.name.lower().endswith(_IMAGE_SUFFIXES):
                    return True
                if k >= limit:
                    break
    except OSError:
        pass
    return False


def _no_layout_error(d: Path) -> CelebAError:
    """Explain why ``d`` is not a CelebA folder, pointing at a better folder when one is nearby."""
    if d.name == IMAGE_DIR or _has_images(d):
        parent = d.parent.parent if d.parent.name == IMAGE_DIR else d.parent
        return CelebAError(
            f"{d}: this looks like the image folder itself. Pass the folder that contains it and the "
            f"annotation files (list_attr_celeba.txt/.csv, list_eval_partition.txt/.csv), probably {parent}")
    found_attr = _first_existing(_attr_candidates(d))
    if found_attr is not None:
        return CelebAError(
            f"{d}: found {found_attr.name} but no images: expected .jpg files in {d / IMAGE_DIR}/ "
            f"(official) or {d / IMAGE_DIR / IMAGE_DIR}/ (Kaggle), or {d / IMAGE_ZIP}")
    try:
        children = sorted(p for p in d.iterdir() if p.is_dir())[:200]
    except OSError:
        children = []
    for child in children:
        if _image_sources(child) and _first_existing(_attr_candidates(child)):
            return CelebAError(f"{d}: no CelebA layout directly in this folder, but {child} has one: "
                               "pass that folder instead")
    return CelebAError(f"{d}: no CelebA layout found. Looked for:\n" + _LOOKED_FOR.format(d=d))


def _detect(d: Path) -> tuple[_Source, Path, Path]:
    sources = _image_sources(d)
    if not sources:
        raise _no_layout_error(d)
    # Prefer a source that is complete; otherwise report what the first one lacks.
    for src in sources:
        attr = _first_existing(_attr_candidates(src.base))
        part = _first_existing(_partition_candidates(src.base))
        if attr and part:
            return src, attr, part
    src = sources[0]
    attr = _first_existing(_attr_candidates(src.base))
    if attr is None:
        looked = ", ".join(str(p) for p in _attr_candidates(src.base))
        raise CelebAError(f"{src.base}: attribute file missing (images found at {src.images}); "
                          f"looked for {looked}")
    looked = ", ".join(str(p) for p in _partition_candidates(src.base))
    raise CelebAError(f"{src.base}: partition file missing (images found at {src.images}); looked for {looked}")


def _list_dir(d: Path) -> set[str]:
    # One scandir for the whole folder: 200k exists() calls would be 200k system calls.
    try:
        with os.scandir(d) as it:
            return {e.name for e in it if not e.is_dir()}
    except OSError as e:
        raise CelebAError(f"{d}: cannot list image folder ({e.strerror or e})") from None


def _zip_images(z: Path) -> tuple[str, set[str]]:
    """Return the member prefix holding the images (e.g. ``"img_align_celeba/"``) and the names in it."""
    try:
        with zipfile.ZipFile(z) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise CelebAError(f"{z}: cannot read zip file ({e})") from None
    by_dir: dict[str, set[str]] = {}
    for n in names:
        if not n.lower().endswith(_IMAGE_SUFFIXES) or n.startswith("__MACOSX/"):
            continue
        prefix, _, base = n.rpartition("/")
        if base.startswith("._"):                            # macOS resource forks
            continue
        by_dir.setdefault(prefix + "/" if prefix else "", set()).add(base)
    if not by_dir:
        raise CelebAError(f"{z}: zip file holds no .jpg images")
    prefix = max(by_dir, key=lambda p: len(by_dir[p]))
    return prefix, by_dir[prefix]


def _identity_candidates(base: Path) -> list[Path]:
    # Released beside the attributes (Anno/ in the Drive tree); only .txt exists.
    return [base / IDENTITY_FILE, base / "Anno" / IDENTITY_FILE]
