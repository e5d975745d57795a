"""Find and index a CelebA download in whichever shape the user has it.

Accepted layouts, detected from the folder the user passes (``data_dir``):

* ``official``    ``DIR/img_align_celeba/*.jpg`` with ``DIR/list_attr_celeba.txt`` and
                  ``DIR/list_eval_partition.txt``. The Google Drive tree (``DIR/Img/img_align_celeba``,
                  ``DIR/Anno/…``, ``DIR/Eval/…``) is the official release too and is reported as such.
* ``torchvision`` ``DIR/celeba/<official layout>``: what ``torchvision.datasets.CelebA(root=DIR)`` keeps.
* ``kaggle``      ``DIR/img_align_celeba/img_align_celeba/*.jpg`` with ``DIR/list_attr_celeba.csv``
                  and ``DIR/list_eval_partition.csv``.
* ``zip``         ``DIR/img_align_celeba.zip`` (also under ``DIR/Img`` or ``DIR/celeba``), read in place.

Annotation files may be ``.txt`` (official, whitespace separated, CRLF or LF) or ``.csv`` (Kaggle) in
any of the layouts. Images are never decoded here; that is the cache builder's job, which also
counts unreadable files (and reports them with :class:`UnreadableImage`).

The annotation parsers work on the whole file as one numpy byte array, because the full attribute
file has 8 million values and a Python loop over them takes seconds.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "ATTRIBUTE_NAMES",
    "CelebAError",
    "CelebAIndex",
    "LAYOUTS",
    "PARTITION_NAMES",
    "UnreadableImage",
    "open_celeba",
    "parse_attributes",
    "parse_partition",
]

ATTRIBUTE_NAMES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)
PARTITION_NAMES: tuple[str, ...] = ("train", "valid", "test")
LAYOUTS: tuple[str, ...] = ("official", "torchvision", "kaggle", "zip")

IMAGE_DIR = "img_align_celeba"
IMAGE_ZIP = "img_align_celeba.zip"
ATTR_STEM = "list_attr_celeba"
PARTITION_STEM = "list_eval_partition"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# Byte values used by the vectorised parsers.
_NL, _CR, _TAB, _SPACE, _COMMA, _MINUS, _ZERO, _ONE, _TWO = b"\n\r\t ,-012"


class CelebAError(ValueError):
    """The data folder or one of its files is not what CelebA should look like.

    The message always names the path at fault (and the line, for annotation files).
    """


@dataclass
class UnreadableImage:
    """An image that is listed and present but cannot be decoded (filled in by the cache builder)."""

    filename: str
    reason: str


# --------------------------------------------------------------------------------------------
# Annotation parsing
# --------------------------------------------------------------------------------------------

@dataclass
class _Table:
    """Rows of an annotation file after the header; ``lines`` are 1-based line numbers for messages."""

    filenames: list[str]
    lines: np.ndarray           # (N,) int64
    values: np.ndarray          # (N, ncols) or (N,) uint8


def _err(path: Path, msg: str, line: int | None = None) -> CelebAError:
    where = f"{path}" if line is None else f"{path}, line {line}"
    return CelebAError(f"{where}: {msg}")


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise _err(path, f"{what} file not found") from None
    except IsADirectoryError:
        raise _err(path, f"{what} path is a directory, expected a file") from None
    except OSError as e:
        raise _err(path, f"cannot read {what} file ({e.strerror or e})") from None


def _split_header(raw: bytes, n: int) -> tuple[list[bytes], int]:
    """Return the first ``n`` lines (without line ends) and the byte offset where the body starts."""
    lines, pos = [], 0
    for _ in range(n):
        end = raw.find(b"\n", pos)
        if end < 0:
            lines.append(raw[pos:].rstrip(b"\r"))
            pos = len(raw)
        else:
            lines.append(raw[pos:end].rstrip(b"\r"))
            pos = end + 1
    return lines, pos


def _advance(b: np.ndarray, pos: np.ndarray, stop_mask: np.ndarray) -> None:
    """Move each ``pos`` forward in place until ``stop_mask[b[pos]]`` is true.

    Only the still-moving rows are gathered each round, so a column that is ten bytes wide costs
    ten cheap gathers over the rows instead of a scan of every byte position.
    """
    active = np.arange(len(pos))
    while active.size:
        active = active[~stop_mask[b[pos[active]]]]
        pos[active] += 1


def _byte_set(chars: bytes) -> np.ndarray:
    m = np.zeros(256, dtype=bool)
    m[list(chars)] = True
    return m


def _scan(raw: bytes, body_start: int, first_line: int, path: Path, csv: bool, what: str):
    """Locate rows and their first column in ``raw[body_start:]`` without a per-value Python loop.

    Returns ``(v, table_lines, row_starts, filenames)`` where ``v`` is the body as a writable byte
    array with the filename columns blanked out (so only value bytes remain), ``row_starts`` are the
    offsets of the non-blank rows in ``v`` and ``filenames`` their first column.
    """
    # A trailing newline sentinel means every line, the last included, ends in b"\n".
    v = np.empty(len(raw) - body_start + 1, dtype=np.uint8)
    v[:-1] = np.frombuffer(raw, dtype=np.uint8, offset=body_start)
    v[-1] = _NL
    nl = np.flatnonzero(v == _NL)
    starts = np.concatenate(([0], nl[:-1] + 1))
    line_numbers = first_line + np.arange(len(starts))

    pos = starts.copy()
    _advance(v, pos, ~_byte_set(b" \t\r"))                   # skip indentation
    nonblank = v[pos] != _NL
    starts, pos, line_numbers = starts[nonblank], pos[nonblank], line_numbers[nonblank]
    if not len(starts):
        raise _err(path, f"{what} file has no data rows")

    end = pos.copy()
    _advance(v, end, _byte_set(b",\n" if csv else b" \t\r\n"))
    if csv:
        no_comma = v[end] != _COMMA
        if no_comma.any():
            i = int(np.argmax(no_comma))
            raise _err(path, "expected comma-separated values after the filename", int(line_numbers[i]))

    pos_l, end_l = (pos + body_start).tolist(), (end + body_start).tolist()
    if raw.isascii():
        # Slicing one decoded str is three times faster than decoding 200k small byte strings.
        text = raw.decode("ascii")
        filenames = [text[s:e] for s, e in zip(pos_l, end_l)]
    else:
        filenames = []
        for s, e, ln in zip(pos_l, end_l, line_numbers.tolist()):
            try:
                filenames.append(raw[s:e].decode("utf-8"))
            except UnicodeDecodeError:
                raise _err(path, "filename is not valid UTF-8 text", ln) from None
    if csv:
        filenames = [f.strip() for f in filenames]

    # Blank the filename bytes (digits like '1' would otherwise look like values).
    lengths = end - pos
    offsets = np.repeat(pos - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    v[np.arange(int(lengths.sum())) + offsets] = _SPACE
    return v, line_numbers, starts, filenames


def _row_counts(mask: np.ndarray, row_starts: np.ndarray) -> np.ndarray:
    # reduceat on a bool array is 30x slower than on its uint8 view.
    return np.add.reduceat(mask.view(np.uint8), row_starts, dtype=np.int32)


def _line_text(raw: bytes, body_start: int, row_start: int) -> str:
    s = body_start + row_start
    e = raw.find(b"\n", s)
    return raw[s:e if e >= 0 else len(raw)].rstrip(b"\r").decode("utf-8", "replace")


def _tokens(text: str, csv: bool) -> list[str]:
    if csv:
        return [t.strip() for t in text.split(",")]
    return text.split()


def _parse_names(path: Path, header: bytes, line: int, csv: bool) -> list[str]:
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        raise _err(path, "header is not valid UTF-8 text", line) from None
    names = _tokens(text, csv)
    if len(names) == len(ATTRIBUTE_NAMES) + 1 and names[0] not in ATTRIBUTE_NAMES:
        names = names[1:]                                    # e.g. Kaggle's "image_id" column
    if len(names) != len(ATTRIBUTE_NAMES):
        raise _err(path, f"header has {len(names)} attribute names, expected {len(ATTRIBUTE_NAMES)} "
                         f"(the 40 CelebA attributes)", line)
    unknown = [n for n in names if n not in ATTRIBUTE_NAMES]
    if unknown:
        hints = []
        for n in unknown[:5]:
            close = difflib.get_close_matches(n, ATTRIBUTE_NAMES, n=1)
            hints.append(f"{n!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise _err(path, f"unknown attribute name(s) in header: {', '.join(hints)}", line)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _err(path, f"attribute name(s) repeated in header: {', '.join(dupes)}", line)
    return names


def _parse_attributes(path: Path) -> _Table:
    raw = _read_bytes(path, "attribute")
    if not raw.strip():
        raise _err(path, "attribute file is empty")
    csv = path.suffix.lower() == ".csv"
    declared = None
    if csv:
        (names_line,), body_start = _split_header(raw, 1)
        names_lineno, first_line = 1, 2
    else:
        (line1, line2), body_start = _split_header(raw, 2)
        if line1.strip().isdigit():
            declared = int(line1.strip())
            names_line, names_lineno, first_line = line2, 2, 3
        elif len(line1.split()) >= len(ATTRIBUTE_NAMES):
            # Some re-distributions drop the row-count line; the names are then on line 1.
            _, body_start = _split_header(raw, 1)
            names_line, names_lineno, first_line = line1, 1, 2
        else:
            raise _err(path, "expected the number of rows (official format) or the attribute names, "
                             f"found {line1[:60].decode('utf-8', 'replace')!r}", 1)
    names = _parse_names(path, names_line, names_lineno, csv)
    ncols = len(names)

    v, lines, row_starts, filenames = _scan(raw, body_start, first_line, path, csv, "attribute")
    is1, ism = v == _ONE, v == _MINUS
    sep = (v == _SPACE) | (v == _TAB) | (v == _CR)
    is_comma = v == _COMMA
    if csv:
        sep |= is_comma
    bad = ~(is1 | ism | sep | (v == _NL))
    del sep
    bad[:-1] |= ism[:-1] & ~is1[1:]                       # '-' must be followed by '1'
    bad[:-1] |= is1[:-1] & (is1[1:] | ism[1:])             # a value must end after its '1'
    counts = _row_counts(is1, row_starts)
    bad_rows = counts != ncols
    if csv:
        bad_rows |= _row_counts(is_comma, row_starts) != ncols
    if bad.any():
        bad_rows[np.searchsorted(row_starts, int(np.argmax(bad)), side="right") - 1] = True
    if bad_rows.any():
        i = int(np.argmax(bad_rows))
        _explain_attribute_row(path, _line_text(raw, body_start, int(row_starts[i])), int(lines[i]),
                               names, csv)
    if declared is not None and declared != len(filenames):
        raise _err(path, f"line 1 says the file has {declared} rows but it has {len(filenames)} "
                         "(truncated or edited file?)", 1)

    prev_minus = np.zeros_like(ism)
    prev_minus[1:] = ism[:-1]
    # Every row has exactly ncols '1' bytes here, so the '1's in file order fill the table row by row.
    present = ~prev_minus[is1]
    values = present.reshape(len(filenames), ncols).view(np.uint8)
    order = [names.index(n) for n in ATTRIBUTE_NAMES]
    if order != list(range(ncols)):
        values = values[:, order]
    return _Table(filenames, lines, np.ascontiguousarray(values))


def _explain_attribute_row(path: Path, text: str, line: int, names: list[str], csv: bool):
    """Raise the precise error for one row the vectorised check flagged."""
    tokens = _tokens(text.strip(), csv)[1:]
    for col, tok in enumerate(tokens):
        if tok not in ("1", "-1"):
            label = f" for {names[col]!r}" if col < len(names) else ""
            raise _err(path, f"value {tok!r}{label} (column {col + 2}) is not 1 or -1", line)
    raise _err(path, f"expected a filename and {len(names)} values, found {len(tokens)} value(s)", line)


def _parse_partition(path: Path) -> _Table:
    raw = _read_bytes(path, "partition")
    if not raw.strip():
        raise _err(path, "partition file is empty")
    csv = path.suffix.lower() == ".csv"
    body_start, first_line = 0, 1
    if csv:
        (header,), after_header = _split_header(raw, 1)
        # Kaggle writes "image_id,partition"; a file saved without a header starts with data.
        if header.rpartition(b",")[2].strip() not in (b"0", b"1", b"2"):
            body_start, first_line = after_header, 2
    v, lines, row_starts, filenames = _scan(raw, body_start, first_line, path, csv, "partition")
    digit = (v >= _ZERO) & (v <= _TWO)
    is_comma = v == _COMMA
    sep = (v == _SPACE) | (v == _TAB) | (v == _CR) | (v == _NL)
    if csv:
        sep |= is_comma
    bad_rows = _row_counts(digit, row_starts) != 1
    if csv:
        bad_rows |= _row_counts(is_comma, row_starts) != 1
    bad = ~(digit | sep)
    if bad.any():
        bad_rows[np.searchsorted(row_starts, int(np.argmax(bad)), side="right") - 1] = True
    if bad_rows.any():
        i = int(np.argmax(bad_rows))
        tokens = _tokens(_line_text(raw, body_start, int(row_starts[i])).strip(), csv)[1:]
        if len(tokens) != 1:
            raise _err(path, f"expected a filename and one partition value, found {len(tokens)} value(s)",
                       int(lines[i]))
        raise _err(path, f"partition value {tokens[0]!r} is not 0 (train), 1 (valid) or 2 (test)",
                   int(lines[i]))
    return _Table(filenames, lines, v[digit] - _ZERO)


def parse_attributes(path: str | os.PathLike) -> tuple[list[str], list[str], np.ndarray]:
    """Parse ``list_attr_celeba.txt`` (official) or ``list_attr_celeba.csv`` (Kaggle).

    Returns ``(filenames, names, attributes)``: ``attributes`` is ``(N, 40)`` uint8 with 1 where the
    attribute is present (the files say 1 / -1). Columns are always in :data:`ATTRIBUTE_NAMES` order,
    even if the file lists them in another order, so ``names == list(ATTRIBUTE_NAMES)``.
    Raises :class:`CelebAError` naming the file and line for any malformed content, including an
    official row-count line (line 1) that disagrees with the rows.
    """
    table = _parse_attributes(Path(path))
    return table.filenames, list(ATTRIBUTE_NAMES), table.values


def parse_partition(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Parse ``list_eval_partition.txt`` / ``.csv``.

    Returns parallel ``(filenames, partition)`` in file order, ``partition`` being ``(N,)`` uint8 with
    0 = train, 1 = valid, 2 = test (arrays rather than a dict: 200k dict entries cost more and the
    common case, files in the same order as the attribute file, needs no lookup at all).
    """
    table = _parse_partition(Path(path))
    return table.filenames, table.values


# --------------------------------------------------------------------------------------------
# Layout detection
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------

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
