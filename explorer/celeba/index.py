"""The index: the usable rows of one or several CelebA folders, and lazy access to their images."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.celeba.annotations import ATTRIBUTE_NAMES, PARTITION_NAMES, CelebAError, _err, _parse_attributes, \
    _parse_partition
from explorer.celeba.layout import _detect, _IMAGE_SUFFIXES, _list_dir, _zip_images


@dataclass
class UnreadableImage:
    """An image that is listed and present but cannot be decoded (filled in by the cache builder)."""

    filename: str
    reason: str


@dataclass(eq=False, repr=False)
class CelebAIndex:
    """The usable rows of one CelebA download: images that exist, with attributes and partition.

    Picklable: it holds plain arrays and paths; a zip is opened lazily in each process.
    """

    root: Path
    layout: str
    filenames: list[str]
    attributes: np.ndarray      # (N, 40) uint8 in {0, 1}
    partition: np.ndarray       # (N,) uint8: 0 train, 1 valid, 2 test
    attribute_names: list[str]
    missing_images: int
    extra_images: int
    attr_path: Path
    partition_path: Path
    images_location: str
    image_dir: Path | None = None          # folder layouts
    zip_path: Path | None = None           # zip layout
    zip_prefix: str = ""                   # member prefix of the images inside the zip
    _zip: zipfile.ZipFile | None = field(default=None, init=False)
    _zip_pid: int = field(default=-1, init=False)

    def __len__(self) -> int:
        return len(self.filenames)

    def __repr__(self) -> str:
        return f"CelebAIndex(layout={self.layout!r}, root={str(self.root)!r}, n={len(self)})"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_zip"], state["_zip_pid"] = None, -1      # an open file cannot cross processes
        return state

    def _zipfile(self) -> zipfile.ZipFile:
        # A ZipFile inherited through fork shares its file offset with the parent; reopen per process.
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.zip_path)
            self._zip_pid = os.getpid()
        return self._zip

    def image_path(self, i: int) -> str:
        """Where image ``i`` lives: a file path, or ``zip_path/member`` for the zip layout."""
        name = self.filenames[i]
        if self.zip_path is not None:
            return f"{self.zip_path}/{self.zip_prefix}{name}"
        return os.path.join(self.image_dir, name)

    def open_image(self, i: int) -> Image.Image:
        """Open image ``i`` without decoding it, so the caller can still use ``img.draft()``.

        Raises ``OSError`` (``FileNotFoundError``, ``PIL.UnidentifiedImageError``) as PIL does; the
        caller decides what an unreadable image means.
        """
        name = self.filenames[i]
        if self.zip_path is not None:
            data = self._zipfile().read(self.zip_prefix + name)
            return Image.open(io.BytesIO(data))
        return Image.open(os.path.join(self.image_dir, name))

    def counts(self) -> dict[str, int]:
        """Rows per partition, e.g. ``{"train": 8, "valid": 2, "test": 2}``."""
        c = np.bincount(self.partition, minlength=3)
        return {n: int(c[k]) for k, n in enumerate(PARTITION_NAMES)}

    def signature(self) -> str:
        """A short hash that changes when the data a cache was built from may have changed."""
        h = hashlib.sha256()
        h.update(f"{self.layout}\0{Path(self.root).resolve()}\0".encode())
        container = self.zip_path if self.zip_path is not None else self.image_dir
        for p in (self.attr_path, self.partition_path, container):
            try:
                st = os.stat(p)
                stamp = (st.st_size if p != self.image_dir else 0, st.st_mtime_ns)
            except OSError:
                stamp = ("missing",)
            h.update(f"{p}\0{stamp}\0".encode())
        h.update(self.zip_prefix.encode() + b"\0")
        h.update("\n".join(self.filenames).encode())
        return h.hexdigest()[:16]

    def describe(self) -> str:
        c = self.counts()
        text = (f"CelebA ({self.layout} layout) at {self.root}: {len(self):,} images "
                f"(train {c['train']:,} / valid {c['valid']:,} / test {c['test']:,})")
        notes = []
        if self.missing_images:
            notes.append(f"{self.missing_images:,} annotated images are absent (partial download)")
        if self.extra_images:
            notes.append(f"{self.extra_images:,} image files have no annotation row (ignored)")
        return text + ("\n" + "; ".join(notes) if notes else "")

    def subset(self, mask_or_indices) -> "CelebAIndex":
        """The same source restricted to some rows (a boolean mask of length N, or row indices).

        ``missing_images`` and ``extra_images`` still describe the whole download.
        """
        sel = np.asarray(mask_or_indices)
        if sel.dtype == bool:
            if sel.shape != (len(self),):
                raise ValueError(f"subset mask has shape {sel.shape}, expected ({len(self)},)")
            idx = np.flatnonzero(sel)
        elif sel.size == 0:
            idx = np.zeros(0, dtype=np.int64)
        elif np.issubdtype(sel.dtype, np.integer):
            idx = sel.reshape(-1).astype(np.int64)
            if idx.min() < -len(self) or idx.max() >= len(self):
                raise IndexError(f"subset index out of range for {len(self)} rows")
            idx = np.where(idx < 0, idx + len(self), idx)
        else:
            raise TypeError(f"subset expects a boolean mask or integer indices, got dtype {sel.dtype}")
        return dataclasses.replace(
            self,
            filenames=[self.filenames[k] for k in idx.tolist()],
            attributes=self.attributes[idx],
            partition=self.partition[idx],
            attribute_names=list(self.attribute_names),
        )


def open_celeba(data_dir: str | os.PathLike) -> CelebAIndex:
    """Detect the layout of ``data_dir``, parse its annotations and index the images present.

    Annotation rows without an image (a partial download) are counted in ``missing_images`` and left
    out; images without a row are counted in ``extra_images`` and ignored. A filename in the
    attribute file that the partition file lacks is an error: the two files then come from different
    releases, and guessing a split would leak test faces into training.
    """
    d = Path(os.path.abspath(os.fspath(data_dir)))
    if not d.exists():
        raise CelebAError(f"{d}: data folder does not exist")
    if not d.is_dir():
        raise CelebAError(f"{d}: not a folder; pass the folder that holds the CelebA files "
                          f"(for this file, probably {d.parent})")

    src, attr_path, part_path = _detect(d)
    attrs = _parse_attributes(attr_path)
    part = _parse_partition(part_path)

    fns = attrs.filenames
    if len(set(fns)) != len(fns):
        seen: dict[str, int] = {}
        for f, ln in zip(fns, attrs.lines.tolist()):
            if f in seen:
                raise _err(attr_path, f"{f!r} is listed twice (also on line {seen[f]})", ln)
            seen[f] = ln
    if part.filenames == fns:
        partition = part.values
    else:
        lookup = dict(zip(part.filenames, part.values.tolist()))
        got = [lookup.get(f, -1) for f in fns]
        absent = [k for k, p in enumerate(got) if p < 0]
        if absent:
            k = absent[0]
            raise CelebAError(
                f"{part_path}: {len(absent):,} filename(s) of {attr_path.name} are not in the partition "
                f"file, e.g. {fns[k]!r} ({attr_path.name} line {int(attrs.lines[k])}); are both files "
                "from the same release?")
        partition = np.asarray(got, dtype=np.uint8)

    if src.is_zip:
        zip_prefix, present_names = _zip_images(src.images)
        location = f"{src.images} (members {zip_prefix or '<zip root>/'}*.jpg)"
    else:
        zip_prefix, present_names = "", _list_dir(src.images)
        location = str(src.images)
    present = np.fromiter((f in present_names for f in fns), dtype=bool, count=len(fns))
    n_present = int(present.sum())
    if n_present == 0:
        sample = sorted(n for n in present_names if n.lower().endswith(_IMAGE_SUFFIXES))[:3]
        raise CelebAError(
            f"none of the {len(fns):,} images listed in {attr_path} (e.g. {fns[0]!r}) exist in {location}"
            + (f", which holds e.g. {', '.join(map(repr, sample))}" if sample else ", which holds no images"))
    annotated = set(fns)
    extra = sum(1 for n in present_names if n.lower().endswith(_IMAGE_SUFFIXES) and n not in annotated)

    keep = None if n_present == len(fns) else present
    return CelebAIndex(
        root=d,
        layout=src.layout,
        filenames=fns if keep is None else [f for f, p in zip(fns, present.tolist()) if p],
        attributes=attrs.values if keep is None else attrs.values[keep],
        partition=partition if keep is None else partition[keep],
        attribute_names=list(ATTRIBUTE_NAMES),
        missing_images=len(fns) - n_present,
        extra_images=extra,
        attr_path=attr_path,
        partition_path=part_path,
        images_location=location,
        image_dir=None if src.is_zip else src.images,
        zip_path=src.images if src.is_zip else None,
        zip_prefix=zip_prefix,
    )
