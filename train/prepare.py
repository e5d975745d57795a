"""Decode CelebA once into a uint8 cache (N,3,S,S) plus attributes, reused by later runs.

The cache key covers the dataset's signature (annotation files, image container, file list) and the
preprocessing, so a changed source or size rebuilds it. Images that fail to decode are skipped, and
their names and reasons are reported (or the build stops under strict=True).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from explorer.celeba import CelebAError, CelebAIndex, UnreadableImage
from explorer.config import PreprocessConfig
from explorer.paths import cache_root
from explorer.preprocess import crop_side, preprocess_to_uint8

CACHE_VERSION = 1
# Below this many images one process reads the headers faster than a pool starts (~0.5 s per 15k here).
PARALLEL_SIZES_FROM = 20_000


def default_cache_dir() -> Path:
    # The dataset folder may be read-only (../shared is), so the cache lives with the user.
    return cache_root()


@dataclass
class CachedData:
    images: np.ndarray  # (N,3,S,S) uint8
    attributes: np.ndarray  # (N,40) uint8 0/1
    partition: np.ndarray  # (N,) uint8
    filenames: list
    attribute_names: list
    unreadable: list = field(default_factory=list)  # UnreadableImage of the build
    path: Path | None = None
    build_seconds: float | None = None  # None when loaded from an existing cache

    def split(self, parts) -> np.ndarray:
        """Row indices of the given partitions (0 train, 1 valid, 2 test)."""
        return np.flatnonzero(np.isin(self.partition, list(parts)))


def image_sizes(index: CelebAIndex, workers: int | None = None) -> np.ndarray:
    """(N, 2) header sizes of every image; in parallel for a large index (headers only, ~35 us each)."""
    workers = workers or os.cpu_count() or 1
    n = len(index)
    if workers == 1 or n < PARALLEL_SIZES_FROM:
        return index.image_sizes()
    bounds = np.linspace(0, n, workers * 4 + 1).astype(int)
    with get_context("spawn" if os.name == "nt" else "fork").Pool(
        workers, initializer=_init_worker, initargs=(index, None)
    ) as pool:
        parts = pool.starmap(_sizes, zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    return np.concatenate(parts)


def _sizes(start: int, stop: int) -> np.ndarray:
    return _W["index"].image_sizes(start, stop)


def check_image_sizes(index: CelebAIndex, pre: PreprocessConfig, allow_upscale: bool = False, log=print,
                      workers: int | None = None) -> int:
    """Refuse images too small for ``pre.image_size`` unless ``allow_upscale``; return how many there are.

    "Too small" means the centred crop (see :func:`explorer.preprocess.crop_side`) has fewer pixels
    than the image size, so the resize would upscale: half-resolution CelebA (89x109, a 74-pixel crop)
    is fine at 64 and too small at 128. Every image's header is read, one line per folder says what
    is wrong, with the count and a size.
    """
    sizes = image_sizes(index, workers)
    known = sizes[:, 0] > 0
    short = np.minimum(sizes[:, 0], sizes[:, 1])
    # Same rounding as crop_side (both round half to even), vectorised over all images.
    crops = np.maximum(1, np.round(short * pre.crop_fraction)).astype(np.int64)
    small = known & (crops < pre.image_size)
    if not small.any():
        return 0
    s = pre.image_size
    lines = []
    for k, folder in enumerate(index.folders):
        mine = small & (index.folder_of == k)
        if not mine.any():
            continue
        shapes, counts = np.unique(sizes[mine], axis=0, return_counts=True)
        w, h = (int(v) for v in shapes[int(np.argmax(counts))])
        lines.append(f"{folder.root}: {int(mine.sum()):,} of {int((index.folder_of == k).sum()):,} images are too "
                     f"small for {s}x{s} without upscaling (e.g. {w}x{h}: its centred crop is "
                     f"{crop_side(w, h, pre)} pixels, {s} needed)")
    if not allow_upscale:
        raise CelebAError("\n".join(lines) + "\nleave such folders out, choose a smaller --image-size, or pass "
                          "--allow-upscale to upscale them")
    for line in lines:
        log(f"note: --allow-upscale: {line}; they are upscaled")
    return int(small.sum())


def cache_key(index: CelebAIndex, pre: PreprocessConfig) -> str:
    blob = json.dumps({"v": CACHE_VERSION, "data": index.signature(), "pre": pre.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Worker state: the index is sent once per worker, not once per image.
_W: dict = {}


def _init_worker(index: CelebAIndex, pre: PreprocessConfig) -> None:
    _W["index"], _W["pre"] = index, pre


def _decode(i: int):
    index, pre = _W["index"], _W["pre"]
    try:
        with index.open_image(i) as img:
            return i, preprocess_to_uint8(img, pre), None
    except Exception as e:  # any decoder failure is a property of that file: report it, don't crash
        return i, None, f"{type(e).__name__}: {e}"


def decode_all(index: CelebAIndex, pre: PreprocessConfig, workers: int | None = None,
               progress: bool = True, strict: bool = False):
    """Decode every image of the index in parallel -> (images, ok_mask, unreadable list)."""
    from tqdm import tqdm

    n, s = len(index), pre.image_size
    images = np.empty((n, 3, s, s), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    unreadable: list[UnreadableImage] = []
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=n, desc=f"decoding {n} images at {s}x{s}", unit="img", disable=not progress,
               dynamic_ncols=True)

    def take(i, arr, err):
        bar.update()
        if err is None:
            images[i], ok[i] = arr, True
            return
        unreadable.append(UnreadableImage(index.filenames[i], err))
        if strict:
            raise CelebAError(f"{index.image_path(i)}: unreadable image ({err}); "
                              f"stopping because of --strict")

    try:
        if workers == 1 or n < 64:
            _init_worker(index, pre)
            for i in range(n):
                take(*_decode(i))
        else:
            with get_context("spawn" if os.name == "nt" else "fork").Pool(
                workers, initializer=_init_worker, initargs=(index, pre)
            ) as pool:
                for res in pool.imap_unordered(_decode, range(n), chunksize=64):
                    take(*res)
    finally:
        bar.close()
    return images, ok, unreadable


def cache_path(index: CelebAIndex, pre: PreprocessConfig, cache_dir: str | os.PathLike | None = None) -> Path:
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    return cache_dir / f"celeba-{pre.image_size}-{cache_key(index, pre)}"


def wait_for_cache(index: CelebAIndex, pre: PreprocessConfig, cache_dir: str | os.PathLike | None = None,
                   poll_s: float = 0.2) -> None:
    """Block until another process (the first one on this machine) has finished building this cache.

    The build renames a complete folder into place, so the meta file appears only when it is whole.
    No timeout: under torchrun, a builder that fails ends the whole job, this process included.
    """
    meta = cache_path(index, pre, cache_dir) / "meta.json"
    while not meta.is_file():
        time.sleep(poll_s)


def load_or_build_cache(index: CelebAIndex, pre: PreprocessConfig, cache_dir: str | os.PathLike | None = None,
                        workers: int | None = None, progress: bool = True, strict: bool = False,
                        log=print) -> CachedData:
    path = cache_path(index, pre, cache_dir)
    meta_path = path / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        data = CachedData(
            images=np.load(path / "images.npy", mmap_mode="r"),
            attributes=np.load(path / "attributes.npy"),
            partition=np.load(path / "partition.npy"),
            filenames=meta["filenames"], attribute_names=meta["attribute_names"],
            unreadable=[UnreadableImage(**u) for u in meta["unreadable"]], path=path,
        )
        log(f"cache: {len(data.filenames)} images at {pre.image_size}x{pre.image_size} from {path}")
        _report_unreadable(data.unreadable, index, log)
        return data

    t0 = time.perf_counter()
    images, ok, unreadable = decode_all(index, pre, workers=workers, progress=progress, strict=strict)
    seconds = time.perf_counter() - t0
    keep = np.flatnonzero(ok)
    if len(keep) == 0:
        raise CelebAError(f"{index.images_location}: none of the {len(index)} images could be decoded")
    data = CachedData(
        images=images[keep] if len(keep) < len(images) else images,
        attributes=index.attributes[keep], partition=index.partition[keep],
        filenames=[index.filenames[i] for i in keep], attribute_names=list(index.attribute_names),
        unreadable=sorted(unreadable, key=lambda u: u.filename), path=path, build_seconds=seconds,
    )
    # Write into a temporary folder and rename it, so an interrupted build never looks complete.
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    np.save(tmp / "images.npy", data.images)
    np.save(tmp / "attributes.npy", data.attributes)
    np.save(tmp / "partition.npy", data.partition)
    (tmp / "meta.json").write_text(json.dumps({
        "filenames": data.filenames, "attribute_names": data.attribute_names,
        "unreadable": [u.__dict__ for u in data.unreadable], "preprocess": pre.to_dict(),
        "sources": [str(f.root) for f in index.folders], "layout": index.layout, "build_seconds": seconds,
    }))
    try:
        os.replace(tmp, path)
    except OSError:  # another process (a DDP rank, a second run) finished first: use theirs
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    log(f"cache: decoded {len(keep)} images in {seconds:.1f} s ({len(keep) / seconds:.0f} images/s) -> {path}")
    _report_unreadable(data.unreadable, index, log)
    return data


def _report_unreadable(unreadable, index: CelebAIndex, log) -> None:
    if not unreadable:
        return
    shown = ", ".join(f"{u.filename} ({u.reason})" for u in unreadable[:10])
    more = f" and {len(unreadable) - 10} more" if len(unreadable) > 10 else ""
    log(f"warning: skipped {len(unreadable)} unreadable image(s) in {index.images_location}: {shown}{more}")
