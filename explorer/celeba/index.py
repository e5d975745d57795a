"""The index: the usable rows of one or several CelebA folders, and lazy access to their images."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.celeba.annotations import ATTRIBUTE_NAMES, PARTITION_NAMES, CelebAError, _err, _parse_attributes, \
    _parse_partition, parse_identity
from explorer.celeba.layout import _IMAGE_SUFFIXES, _detect, _first_existing, _identity_candidates, _list_dir, \
    _zip_images


@dataclass
class UnreadableImage:
    """An image that is listed and present but cannot be decoded (filled in by the cache builder)."""

    filename: str
    reason: str


# Bytes read to find a JPEG's size: CelebA's headers end within the first kilobyte; a file whose
# frame header lies further in (a big EXIF block) is measured by PIL instead.
_HEAD_BYTES = 4096
# Start-of-frame markers (baseline, progressive, lossless, ...); they carry the height and width.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header in ``head``, or None if it is not found there.

    Eight times faster than PIL's lazy open (35 against 160-290 us per CelebA image, measured on
    this project's machine), which matters for an exact check of 200k images.
    """
    if not head.startswith(b"\xff\xd8"):
        return None
    i, n = 2, len(head)
    while i + 9 <= n:
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:                                  # fill byte before a marker
            i += 1
            continue
        if marker in _SOF_MARKERS:
            height, width = int.from_bytes(head[i + 5:i + 7], "big"), int.from_bytes(head[i + 7:i + 9], "big")
            return (width, height) if width and height else None
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:        # markers without a length field
            i += 2
            continue
        i += 2 + int.from_bytes(head[i + 2:i + 4], "big")
    return None


def _partition_counts(partition: np.ndarray) -> dict[str, int]:
    c = np.bincount(partition, minlength=3)
    return {n: int(c[k]) for k, n in enumerate(PARTITION_NAMES)}


def _image_id(filename: str) -> str:
    """The official id of an image file: its name without the extension (000123.jpg -> 000123)."""
    return filename.rpartition(".")[0] or filename


@dataclass(eq=False, repr=False)
class CelebAFolder:
    """One data folder as found on disk: where its files are and what it holds by itself.

    Picklable: a zip is opened lazily in each process (see :meth:`_zipfile`).
    """

    root: Path
    layout: str
    attr_path: Path
    partition_path: Path
    identity_path: Path | None             # identity_CelebA.txt, when the folder has one
    images_location: str
    rows: int                              # annotated images present in this folder
    partition_counts: dict[str, int]       # of those rows, per partition
    missing_images: int                    # annotated rows without an image (a partial download)
    extra_images: int                      # image files without an annotation row (ignored)
    image_dir: Path | None = None          # folder layouts
    zip_path: Path | None = None           # zip layout
    zip_prefix: str = ""                   # member prefix of the images inside the zip
    duplicates: int = 0                    # rows whose id an earlier folder of the union already gave
    _zip: zipfile.ZipFile | None = field(default=None, init=False)
    _zip_pid: int = field(default=-1, init=False)

    @property
    def name(self) -> str:
        """The folder's base name: what a checkpoint records, since absolute paths are this machine's."""
        return self.root.name

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

    def image_path(self, name: str) -> str:
        if self.zip_path is not None:
            return f"{self.zip_path}/{self.zip_prefix}{name}"
        return os.path.join(self.image_dir, name)

    def open_image(self, name: str) -> Image.Image:
        if self.zip_path is not None:
            return Image.open(io.BytesIO(self._zipfile().read(self.zip_prefix + name)))
        return Image.open(os.path.join(self.image_dir, name))

    def header_size(self, name: str) -> tuple[int, int]:
        """(width, height) of one image from its header, without decoding it."""
        if self.zip_path is not None:
            with self._zipfile().open(self.zip_prefix + name) as f:
                head = f.read(_HEAD_BYTES)
        else:
            with open(f"{self.image_dir}{os.sep}{name}", "rb") as f:
                head = f.read(_HEAD_BYTES)
        size = _jpeg_size(head)
        if size is None:                                    # PNG, or an unusual JPEG: let PIL parse it
            with self.open_image(name) as img:
                size = img.size
        return size

    def describe(self) -> str:
        c = self.partition_counts
        text = (f"CelebA ({self.layout} layout) at {self.root}: {self.rows:,} images "
                f"(train {c['train']:,} / valid {c['valid']:,} / test {c['test']:,})")
        notes = []
        if self.missing_images:
            notes.append(f"{self.missing_images:,} annotated images are absent (partial download)")
        if self.extra_images:
            notes.append(f"{self.extra_images:,} image files have no annotation row (ignored)")
        return text + ("\n" + "; ".join(notes) if notes else "")


@dataclass(eq=False, repr=False)
class CelebAIndex:
    """The usable rows of one or several CelebA folders: images that exist, with attributes and partition.

    Several folders are united by official image id; the first folder that has an id gives its row
    (its image and its own annotation rows). ``folder_of`` says which folder each row comes from.
    Picklable: it holds plain arrays and paths; a zip is opened lazily in each process.
    """

    folders: list[CelebAFolder]
    filenames: list[str]
    attributes: np.ndarray      # (N, 40) uint8 in {0, 1}
    partition: np.ndarray       # (N,) uint8: 0 train, 1 valid, 2 test
    folder_of: np.ndarray       # (N,) int32: index into ``folders``
    person: np.ndarray          # (N,) int64: person id from identity_CelebA.txt, -1 where unknown
    attribute_names: list[str]

    def __len__(self) -> int:
        return len(self.filenames)

    def __repr__(self) -> str:
        roots = ", ".join(repr(str(f.root)) for f in self.folders)
        return f"CelebAIndex(layout={self.layout!r}, root={roots}, n={len(self)})"

    # The first folder's place, for the many callers that pass one folder.
    @property
    def root(self) -> Path:
        return self.folders[0].root

    @property
    def layout(self) -> str:
        """The layout, or the folders' layouts joined by '+' when they differ."""
        return "+".join(dict.fromkeys(f.layout for f in self.folders))

    @property
    def images_location(self) -> str:
        return "; ".join(f.images_location for f in self.folders)

    # Whole-download counts: summed over the folders; a subset keeps them.
    @property
    def missing_images(self) -> int:
        return sum(f.missing_images for f in self.folders)

    @property
    def extra_images(self) -> int:
        return sum(f.extra_images for f in self.folders)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.folders)

    def image_path(self, i: int) -> str:
        """Where image ``i`` lives: a file path, or ``zip_path/member`` for the zip layout."""
        return self.folders[int(self.folder_of[i])].image_path(self.filenames[i])

    def open_image(self, i: int) -> Image.Image:
        """Open image ``i`` without decoding it, so the caller can still use ``img.draft()``.

        Raises ``OSError`` (``FileNotFoundError``, ``PIL.UnidentifiedImageError``) as PIL does; the
        caller decides what an unreadable image means.
        """
        return self.folders[int(self.folder_of[i])].open_image(self.filenames[i])

    def counts(self) -> dict[str, int]:
        """Rows per partition, e.g. ``{"train": 8, "valid": 2, "test": 2}``."""
        return _partition_counts(self.partition)

    def signature(self) -> str:
        """A short hash that changes when the data a cache was built from may have changed.

        It covers every folder (annotation files, image container) and the united file list with the
        folder of each row; for one folder it is what it was before folders could be united, so
        existing caches stay valid.
        """
        h = hashlib.sha256()
        for f in self.folders:
            h.update(f"{f.layout}\0{Path(f.root).resolve()}\0".encode())
            container = f.zip_path if f.zip_path is not None else f.image_dir
            for p in (f.attr_path, f.partition_path, container):
                try:
                    st = os.stat(p)
                    stamp = (st.st_size if p != f.image_dir else 0, st.st_mtime_ns)
                except OSError:
                    stamp = ("missing",)
                h.update(f"{p}\0{stamp}\0".encode())
            h.update(f.zip_prefix.encode() + b"\0")
        h.update("\n".join(self.filenames).encode())
        if len(self.folders) > 1:
            h.update(np.ascontiguousarray(self.folder_of, dtype=np.int32).tobytes())
        return h.hexdigest()[:16]

    def image_sizes(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(K, 2) int64 width and height of images ``start:stop`` (default all), from their headers.

        Exact rather than sampled: a folder is usually uniform, but a mixed one must not pass on the
        strength of its first image. An image whose header cannot be read gets (0, 0); the cache
        builder reports it as unreadable when it fails to decode it.
        """
        stop = len(self) if stop is None else stop
        sizes = []
        # Plain lists, not numpy scalars, in this loop: it runs once per image.
        for name, k in zip(self.filenames[start:stop], self.folder_of[start:stop].tolist()):
            try:
                sizes.append(self.folders[k].header_size(name))
            except (OSError, SyntaxError, ValueError, zipfile.BadZipFile, KeyError):
                sizes.append((0, 0))  # not an image, or gone: decoding it later reports it by name
        return np.asarray(sizes, dtype=np.int64).reshape(-1, 2)

    def describe(self) -> str:
        """One line per folder (plus its notes); with several folders, one more line for the union."""
        lines = [f.describe() for f in self.folders]
        if len(self.folders) == 1:
            return lines[0]
        c = self.counts()
        dupes = ", ".join(f"{f.duplicates:,} in {f.root}" for f in self.folders if f.duplicates)
        lines.append(f"united {len(self.folders)} folders by image id: {len(self):,} images "
                     f"(train {c['train']:,} / valid {c['valid']:,} / test {c['test']:,}); "
                     f"{self.duplicates:,} duplicate ids" + (f" ({dupes}; the first folder's image and rows used)"
                                                             if dupes else ""))
        return "\n".join(lines)

    def folder_summary(self, rows=None) -> list[dict]:
        """Per folder: its base name, layout, images and persons among ``rows`` (default: all rows).

        Plain types only, without absolute paths (a checkpoint records it). ``persons`` is None for a
        folder without identity_CelebA.txt.
        """
        sel = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        which = self.folder_of[sel]
        out = []
        for k, f in enumerate(self.folders):
            mine = sel[which == k]
            out.append({"name": f.name, "layout": f.layout, "images": int(len(mine)),
                        "persons": self.count_persons(mine) if f.identity_path is not None else None,
                        "duplicates": f.duplicates})
        return out

    def count_persons(self, rows=None) -> int | None:
        """Distinct people among ``rows`` (default all), or None when no folder has an identity file.

        Folders can share people (the two shared CelebA folders share 75), so the union's count is not
        the sum of the folders'.
        """
        if all(f.identity_path is None for f in self.folders):
            return None
        ids = self.person if rows is None else self.person[np.asarray(rows, dtype=np.int64)]
        return int(len(np.unique(ids[ids >= 0])))

    def subset(self, mask_or_indices) -> "CelebAIndex":
        """The same source restricted to some rows (a boolean mask of length N, or row indices).

        ``missing_images``, ``extra_images`` and ``duplicates`` still describe the whole download.
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
            folder_of=self.folder_of[idx],
            person=self.person[idx],
            attribute_names=list(self.attribute_names),
        )


@dataclass
class _FolderRows:
    folder: CelebAFolder
    filenames: list[str]
    attributes: np.ndarray
    partition: np.ndarray
    person: np.ndarray


def open_celeba(data_dir: str | os.PathLike | Sequence[str | os.PathLike]) -> CelebAIndex:
    """Detect the layout of ``data_dir``, parse its annotations and index the images present.

    ``data_dir`` may also be a list of folders: they are united by official image id (the file name
    without its extension), the first folder that has an id giving its image and annotation rows;
    the ids a later folder repeats are counted in its ``duplicates`` and left out.

    Annotation rows without an image (a partial download) are counted in ``missing_images`` and left
    out; images without a row are counted in ``extra_images`` and ignored. A filename in the
    attribute file that the partition file lacks is an error: the two files then come from different
    releases, and guessing a split would leak test faces into training.
    """
    dirs = [data_dir] if isinstance(data_dir, (str, os.PathLike)) else list(data_dir)
    if not dirs:
        raise CelebAError("no data folder given")
    parts = [_open_folder(d) for d in dirs]
    seen_roots: dict[Path, Path] = {}
    for p in parts:
        real = p.folder.root.resolve()
        if real in seen_roots:
            raise CelebAError(f"{p.folder.root}: this data folder is given twice"
                              + (f" (also as {seen_roots[real]})" if seen_roots[real] != p.folder.root else ""))
        seen_roots[real] = p.folder.root
    if len(parts) > 1:
        _drop_repeated_ids(parts)
    return CelebAIndex(
        folders=[p.folder for p in parts],
        filenames=[f for p in parts for f in p.filenames],
        attributes=np.concatenate([p.attributes for p in parts]) if len(parts) > 1 else parts[0].attributes,
        partition=np.concatenate([p.partition for p in parts]) if len(parts) > 1 else parts[0].partition,
        folder_of=np.concatenate([np.full(len(p.filenames), k, dtype=np.int32) for k, p in enumerate(parts)]),
        person=np.concatenate([p.person for p in parts]) if len(parts) > 1 else parts[0].person,
        attribute_names=list(ATTRIBUTE_NAMES),
    )


def _drop_repeated_ids(parts: list[_FolderRows]) -> None:
    """Keep, for each official id, the row of the first folder that has it; count the others."""
    seen: set[str] = set()
    for p in parts:
        ids = [_image_id(f) for f in p.filenames]
        keep = np.fromiter((i not in seen for i in ids), dtype=bool, count=len(ids))
        seen.update(ids)
        p.folder.duplicates = int(len(ids) - keep.sum())
        if p.folder.duplicates:
            p.filenames = [f for f, k in zip(p.filenames, keep.tolist()) if k]
            p.attributes, p.partition, p.person = p.attributes[keep], p.partition[keep], p.person[keep]


def _persons(identity_path: Path | None, fns: list[str]) -> np.ndarray:
    """Person id per row (-1 where the identity file has no row for it, or there is no file)."""
    if identity_path is None:
        return np.full(len(fns), -1, dtype=np.int64)
    names, ids = parse_identity(identity_path)
    if names == fns:
        return ids
    lookup = dict(zip(names, ids.tolist()))
    return np.fromiter((lookup.get(f, -1) for f in fns), dtype=np.int64, count=len(fns))


def _open_folder(data_dir: str | os.PathLike) -> _FolderRows:
    """One folder: detect its layout, parse its annotation files, list its images."""
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
    if keep is not None:
        fns = [f for f, p in zip(fns, present.tolist()) if p]
    partition = partition if keep is None else partition[keep]
    identity_path = _first_existing(_identity_candidates(src.base))
    folder = CelebAFolder(
        root=d,
        layout=src.layout,
        attr_path=attr_path,
        partition_path=part_path,
        identity_path=identity_path,
        images_location=location,
        rows=len(fns),
        partition_counts=_partition_counts(partition),
        missing_images=len(attrs.filenames) - n_present,
        extra_images=extra,
        image_dir=None if src.is_zip else src.images,
        zip_path=src.images if src.is_zip else None,
        zip_prefix=zip_prefix,
    )
    return _FolderRows(folder, fns, attrs.values if keep is None else attrs.values[keep], partition,
                       _persons(identity_path, fns))
