"""explorer.celeba: layouts, annotation parsing, validation messages, lazy image access."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.celeba import (
    ATTRIBUTE_NAMES,
    CelebAError,
    CelebAIndex,
    open_celeba,
    parse_attributes,
    parse_partition,
)

try:
    from celeba_fixtures import ATTRIBUTE_NAMES as FIXTURE_NAMES, make_celeba
except ImportError:  # tests/ imported as a package
    from tests.celeba_fixtures import ATTRIBUTE_NAMES as FIXTURE_NAMES, make_celeba

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def _shared(env: str, default: Path) -> Path:
    return Path(os.environ[env]) if os.environ.get(env) else default


def _same_rows(a: CelebAIndex, b: CelebAIndex) -> None:
    assert a.filenames == b.filenames
    np.testing.assert_array_equal(a.attributes, b.attributes)
    np.testing.assert_array_equal(a.partition, b.partition)


def _official(tmp_path: Path, **kw) -> Path:
    return make_celeba(tmp_path / "ds", n=kw.pop("n", 6), size=(24, 30), **kw)


def _rewrite(path: Path, edit) -> None:
    """Apply ``edit`` to the list of lines of a text annotation file, keeping CRLF."""
    lines = path.read_bytes().decode().split("\r\n")
    path.write_bytes("\r\n".join(edit(lines)).encode())


# ---------------------------------------------------------------- layouts

def test_attribute_names_are_the_official_forty():
    assert len(ATTRIBUTE_NAMES) == 40 and len(set(ATTRIBUTE_NAMES)) == 40
    assert ATTRIBUTE_NAMES == FIXTURE_NAMES
    assert ATTRIBUTE_NAMES[0] == "5_o_Clock_Shadow" and ATTRIBUTE_NAMES[-1] == "Young"


@pytest.mark.parametrize("layout, expected", [
    ("official", "official"), ("torchvision", "torchvision"), ("kaggle", "kaggle"), ("zip", "zip"),
    ("drive", "official"),
])
def test_every_layout_parses_identically(tmp_path, layout, expected):
    ref = open_celeba(make_celeba(tmp_path / "ref", n=12, size=(24, 30)))
    idx = open_celeba(make_celeba(tmp_path / layout, n=12, size=(24, 30), layout=layout))
    assert idx.layout == expected
    _same_rows(ref, idx)
    assert len(idx) == 12 and idx.attributes.shape == (12, 40)
    assert idx.attributes.dtype == np.uint8 and idx.partition.dtype == np.uint8
    assert set(np.unique(idx.attributes)) <= {0, 1}
    assert idx.counts() == {"train": 8, "valid": 2, "test": 2}
    assert idx.attribute_names == list(ATTRIBUTE_NAMES)
    assert idx.missing_images == 0 and idx.extra_images == 0
    assert idx.filenames[0] == "000001.jpg"


@pytest.mark.parametrize("prefix", ["", "img_align_celeba/img_align_celeba/", "x/img_align_celeba/"])
def test_zip_members_found_at_any_depth(tmp_path, prefix):
    ref = open_celeba(_official(tmp_path / "ref"))
    idx = open_celeba(_official(tmp_path, layout="zip", zip_prefix=prefix, annotations="csv"))
    _same_rows(ref, idx)
    assert idx.folders[0].zip_prefix == prefix
    assert idx.open_image(0).size == (24, 30)


def test_attribute_values_match_what_was_written(tmp_path):
    d = _official(tmp_path, crlf=False)
    lines = (d / "list_attr_celeba.txt").read_text().splitlines()
    expected = np.array([[v == "1" for v in line.split()[1:]] for line in lines[2:]], dtype=np.uint8)
    idx = open_celeba(d)
    np.testing.assert_array_equal(idx.attributes, expected)
    assert lines[1].split() == list(ATTRIBUTE_NAMES)


def test_crlf_and_lf_parse_the_same(tmp_path):
    a = open_celeba(_official(tmp_path / "crlf", crlf=True))
    b = open_celeba(_official(tmp_path / "lf", crlf=False))
    _same_rows(a, b)


def test_trailing_blank_lines_and_missing_final_newline(tmp_path):
    d = _official(tmp_path)
    ref = open_celeba(d)
    attr = d / "list_attr_celeba.txt"
    attr.write_bytes(attr.read_bytes() + b"\r\n\r\n  \r\n")
    part = d / "list_eval_partition.txt"
    part.write_bytes(part.read_bytes().rstrip())
    _same_rows(ref, open_celeba(d))


def test_columns_in_another_order_are_put_in_official_order(tmp_path):
    d = _official(tmp_path, annotations="csv")
    ref = open_celeba(d)
    csv = d / "list_attr_celeba.csv"
    rows = [line.split(",") for line in csv.read_text().splitlines()]
    perm = [0] + list(range(40, 0, -1))                    # keep image_id first, reverse the rest
    csv.write_text("\n".join(",".join(r[k] for k in perm) for r in rows) + "\n")
    _same_rows(ref, open_celeba(d))


def test_partition_file_in_another_order_is_matched_by_name(tmp_path):
    d = _official(tmp_path, partitions=[0, 1, 2, 0, 1, 2])
    _rewrite(d / "list_eval_partition.txt", lambda ls: [ln for ln in ls if ln][::-1] + [""])
    assert open_celeba(d).partition.tolist() == [0, 1, 2, 0, 1, 2]


def test_folder_preferred_over_zip_when_both_exist(tmp_path):
    d = _official(tmp_path)
    with zipfile.ZipFile(d / "img_align_celeba.zip", "w") as zf:
        zf.writestr("img_align_celeba/000001.jpg", b"x")
    assert open_celeba(d).layout == "official"


def test_empty_image_folder_beside_zip_uses_the_zip(tmp_path):
    d = _official(tmp_path, layout="zip")
    (d / "img_align_celeba").mkdir()                          # extraction not started yet
    idx = open_celeba(d)
    assert idx.layout == "zip" and len(idx) == 6


def test_unreadable_zip(tmp_path):
    d = _official(tmp_path, layout="zip")
    (d / "img_align_celeba.zip").write_bytes(b"not a zip")
    with pytest.raises(CelebAError, match="cannot read zip") as e:
        open_celeba(d)
    assert str(d / "img_align_celeba.zip") in str(e.value)


# ---------------------------------------------------------------- partial downloads

def test_partial_download_counts_missing_rows(tmp_path):
    idx = open_celeba(_official(tmp_path, n=12, missing=3))
    assert len(idx) == 9 and idx.missing_images == 3
    assert idx.filenames == [f"{i:06d}.jpg" for i in range(1, 10)]
    assert idx.counts() == {"train": 8, "valid": 1, "test": 0}
    assert "3 annotated images are absent" in idx.describe()


def test_partial_zip_counts_missing_rows(tmp_path):
    idx = open_celeba(_official(tmp_path, n=12, missing=4, layout="zip"))
    assert len(idx) == 8 and idx.missing_images == 4


def test_extra_images_are_counted_and_ignored(tmp_path):
    d = _official(tmp_path)
    (d / "img_align_celeba" / "999999.jpg").write_bytes(b"whatever")
    (d / "img_align_celeba" / "notes.txt").write_text("not an image")
    idx = open_celeba(d)
    assert idx.extra_images == 1 and len(idx) == 6
    assert "1 image files have no annotation row" in idx.describe()


def test_no_matching_image_names_both_locations(tmp_path):
    d = _official(tmp_path, missing=6)
    (d / "img_align_celeba" / "face.png").write_bytes(b"x")
    with pytest.raises(CelebAError) as e:
        open_celeba(d)
    msg = str(e.value)
    assert str(d / "list_attr_celeba.txt") in msg and str(d / "img_align_celeba") in msg
    assert "face.png" in msg


def test_corrupt_images_are_present_and_fail_only_when_decoded(tmp_path):
    d = _official(tmp_path, corrupt={0: "truncated", 1: "empty", 2: "text"})
    idx = open_celeba(d)
    assert len(idx) == 6                                    # decoding is the cache builder's job
    with idx.open_image(0) as img, pytest.raises(OSError):
        img.load()
    for i in (1, 2):
        with pytest.raises(OSError):
            idx.open_image(i)
    with idx.open_image(3) as img:
        img.load()


# ---------------------------------------------------------------- bad input

def test_missing_dir(tmp_path):
    with pytest.raises(CelebAError, match="does not exist") as e:
        open_celeba(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)


def test_file_instead_of_dir(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(CelebAError, match="not a folder") as e:
        open_celeba(f)
    assert str(f) in str(e.value)


def test_empty_dir_lists_what_was_looked_for(tmp_path):
    with pytest.raises(CelebAError) as e:
        open_celeba(tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg
    for expected in ("official", "torchvision", "kaggle", "zip", "img_align_celeba.zip", "list_attr_celeba.csv"):
        assert expected in msg


def test_image_folder_itself_points_to_its_parent(tmp_path):
    d = _official(tmp_path)
    with pytest.raises(CelebAError, match="image folder itself") as e:
        open_celeba(d / "img_align_celeba")
    assert str(d) in str(e.value)


def test_kaggle_inner_image_folder_points_to_the_top(tmp_path):
    d = _official(tmp_path, layout="kaggle")
    with pytest.raises(CelebAError, match="image folder itself") as e:
        open_celeba(d / "img_align_celeba" / "img_align_celeba")
    assert f"probably {d}" in str(e.value)


def test_parent_folder_points_to_the_dataset(tmp_path):
    d = _official(tmp_path)
    with pytest.raises(CelebAError, match="pass that folder") as e:
        open_celeba(tmp_path)
    assert str(d) in str(e.value)


def test_annotations_without_images(tmp_path):
    d = _official(tmp_path)
    (d / "img_align_celeba").rename(tmp_path / "elsewhere")
    with pytest.raises(CelebAError, match="no images") as e:
        open_celeba(d)
    assert str(d) in str(e.value)


@pytest.mark.parametrize("name, what", [("list_attr_celeba.txt", "attribute"),
                                        ("list_eval_partition.txt", "partition")])
def test_missing_annotation_file(tmp_path, name, what):
    d = _official(tmp_path)
    (d / name).unlink()
    with pytest.raises(CelebAError, match=f"{what} file missing") as e:
        open_celeba(d)
    assert str(d / name) in str(e.value)


def _attr_error(tmp_path, edit, crlf=True) -> str:
    d = _official(tmp_path, crlf=crlf)
    path = d / "list_attr_celeba.txt"
    _rewrite(path, edit) if crlf else path.write_text("\n".join(edit(path.read_text().split("\n"))))
    with pytest.raises(CelebAError) as e:
        open_celeba(d)
    msg = str(e.value)
    assert str(path) in msg
    return msg


def test_header_with_39_names(tmp_path):
    msg = _attr_error(tmp_path, lambda ls: [ls[0], " ".join(ls[1].split()[:-1])] + ls[2:])
    assert "line 2" in msg and "39 attribute names" in msg


def test_header_with_unknown_name_suggests_the_right_one(tmp_path):
    msg = _attr_error(tmp_path, lambda ls: [ls[0], ls[1].replace("Smiling", "Smilling")] + ls[2:])
    assert "line 2" in msg and "'Smilling'" in msg and "'Smiling'" in msg


def test_header_with_repeated_name(tmp_path):
    msg = _attr_error(tmp_path, lambda ls: [ls[0], ls[1].replace("Smiling", "Young")] + ls[2:])
    assert "repeated" in msg and "Young" in msg


def test_row_with_too_few_values(tmp_path):
    def edit(ls):
        ls[4] = ls[4].rsplit(" ", 1)[0].rstrip()            # third data row, line 5
        return ls
    msg = _attr_error(tmp_path, edit)
    assert "line 5" in msg and "found 39" in msg


def test_row_with_too_many_values(tmp_path):
    def edit(ls):
        ls[3] += "  1"
        return ls
    msg = _attr_error(tmp_path, edit, crlf=False)
    assert "line 4" in msg and "found 41" in msg


@pytest.mark.parametrize("bad", ["0", "2", "11", "1-1", "x", "-", "+1"])
def test_value_not_plus_or_minus_one(tmp_path, bad):
    def edit(ls):
        tokens = ls[6].split()
        tokens[21] = bad                                     # 21st attribute: Male
        ls[6] = " ".join(tokens)
        return ls
    msg = _attr_error(tmp_path, edit)
    assert "line 7" in msg and repr(bad) in msg and "'Male'" in msg


def test_row_count_line_disagrees(tmp_path):
    msg = _attr_error(tmp_path, lambda ls: ["7"] + ls[1:])
    assert "line 1" in msg and "7 rows" in msg and "has 6" in msg


def test_duplicate_filename(tmp_path):
    def edit(ls):
        ls[5] = ls[2]
        return ls
    msg = _attr_error(tmp_path, edit)
    assert "line 6" in msg and "'000001.jpg'" in msg and "twice" in msg and "line 3" in msg


def test_empty_attribute_file(tmp_path):
    d = _official(tmp_path)
    (d / "list_attr_celeba.txt").write_bytes(b"")
    with pytest.raises(CelebAError, match="empty"):
        open_celeba(d)


def test_header_only_attribute_file(tmp_path):
    msg = _attr_error(tmp_path, lambda ls: ["0", ls[1]])
    assert "no data rows" in msg


def test_csv_bad_value_and_empty_field(tmp_path):
    d = _official(tmp_path, annotations="csv")
    path = d / "list_attr_celeba.csv"
    lines = path.read_text().splitlines()
    good = list(lines)
    lines[2] = lines[2].replace(",-1,", ",0,", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(CelebAError, match=r"line 3: value '0'") as e:
        open_celeba(d)
    assert str(path) in str(e.value)
    lines = list(good)
    lines[3] = lines[3].replace(",-1,", ",,-1,", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(CelebAError, match="line 4"):
        open_celeba(d)


@pytest.mark.parametrize("value", ["3", "-1", "a", "0 1"])
def test_partition_value_not_0_1_2(tmp_path, value):
    d = _official(tmp_path)
    path = d / "list_eval_partition.txt"

    def edit(ls):
        ls[3] = f"000004.jpg {value}"
        return ls
    _rewrite(path, edit)
    with pytest.raises(CelebAError) as e:
        open_celeba(d)
    assert str(path) in str(e.value) and "line 4" in str(e.value)


def test_filename_absent_from_partition_file(tmp_path):
    d = _official(tmp_path)
    path = d / "list_eval_partition.txt"
    _rewrite(path, lambda ls: ls[:2] + ls[3:])
    with pytest.raises(CelebAError, match="not in the partition file") as e:
        open_celeba(d)
    assert str(path) in str(e.value) and "'000003.jpg'" in str(e.value) and "line 5" in str(e.value)


# ---------------------------------------------------------------- parsers

def test_parse_attributes_and_partition_return_types(tmp_path):
    d = _official(tmp_path, annotations="csv", partitions=[2, 1, 0, 0, 0, 0])
    files, names, values = parse_attributes(d / "list_attr_celeba.csv")
    assert files == [f"{i:06d}.jpg" for i in range(1, 7)] and names == list(ATTRIBUTE_NAMES)
    assert values.shape == (6, 40) and values.dtype == np.uint8
    pfiles, part = parse_partition(d / "list_eval_partition.csv")
    assert pfiles == files and part.tolist() == [2, 1, 0, 0, 0, 0] and part.dtype == np.uint8


def test_official_txt_without_count_line(tmp_path):
    d = _official(tmp_path)
    ref = parse_attributes(d / "list_attr_celeba.txt")
    _rewrite(d / "list_attr_celeba.txt", lambda ls: ls[1:])
    got = parse_attributes(d / "list_attr_celeba.txt")
    assert got[0] == ref[0]
    np.testing.assert_array_equal(got[2], ref[2])


@pytest.mark.realdata
def test_parse_full_official_attribute_file():
    path = _shared("CELEBA_ANNOTATIONS", SHARED / "celeba-annotations")
    path = path / "list_attr_celeba.txt" if path.is_dir() else path
    if not path.is_file():
        pytest.skip(f"{path} not present")
    files, names, values = parse_attributes(path)  # its speed is measured by bench/bench_data.py
    assert len(files) == 202_599 and values.shape == (202_599, 40)
    assert files[0] == "000001.jpg" and files[-1] == "202599.jpg"
    # Row 1 of the official file: -1 1 1 -1 -1 -1 -1 -1 -1 -1 -1 1 ...
    assert values[0, :12].tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    # Checked against a plain Python parse on a slice of the file.
    with open(path) as f:
        head = [next(f) for _ in range(502)][2:]
    expected = np.array([[v == "1" for v in ln.split()[1:]] for ln in head], dtype=np.uint8)
    np.testing.assert_array_equal(values[:500], expected)
    part_path = path.with_name("list_eval_partition.txt")
    if part_path.is_file():
        pfiles, part = parse_partition(part_path)
        assert pfiles == files
        assert np.bincount(part).tolist() == [162_770, 19_867, 19_962]


@pytest.mark.realdata
def test_open_real_sample():
    d = _shared("CELEBA_SAMPLE", SHARED / "celeba-sample")
    if not (d / "list_attr_celeba.txt").is_file():
        pytest.skip(f"{d} not present")
    idx = open_celeba(d)
    assert idx.layout == "official"
    assert len(idx) == 5_441 and idx.missing_images == 0
    assert idx.counts() == {"train": 4_661, "valid": 780, "test": 0}
    with idx.open_image(0) as img:
        assert img.format == "JPEG" and img.size == (178, 218)


@pytest.mark.realdata
def test_real_partial_download(tmp_path):
    """The full annotation files next to the 5,441 sample images: 197,158 rows have no image."""
    ann = _shared("CELEBA_ANNOTATIONS", SHARED / "celeba-annotations")
    sample = _shared("CELEBA_SAMPLE", SHARED / "celeba-sample")
    if not (ann / "list_attr_celeba.txt").is_file() or not (sample / "img_align_celeba").is_dir():
        pytest.skip("shared CelebA annotations or sample not present")
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt"):
        (tmp_path / name).symlink_to(ann / name)
    (tmp_path / "img_align_celeba").symlink_to(sample / "img_align_celeba")
    idx = open_celeba(tmp_path)
    assert len(idx) == 5_441 and idx.missing_images == 202_599 - 5_441 and idx.extra_images == 0
    assert idx.counts() == {"train": 4_661, "valid": 780, "test": 0}
    assert "197,158 annotated images are absent" in idx.describe()


# ---------------------------------------------------------------- the index object

@pytest.mark.parametrize("layout", ["official", "zip"])
def test_open_image_is_lazy_and_survives_pickling(tmp_path, layout):
    idx = open_celeba(_official(tmp_path, layout=layout))
    with idx.open_image(2) as img:
        # draft() only works before decoding, so a result here proves the open was lazy.
        assert img.draft("RGB", (12, 15)) is not None
        assert img.size == (12, 15)
    idx2 = pickle.loads(pickle.dumps(idx))
    assert idx2.filenames == idx.filenames
    with idx2.open_image(2) as a, idx.open_image(2) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))


def _mean_pixel(args):
    index, i = args
    with index.open_image(i) as img:
        return float(np.asarray(img.convert("RGB")).mean())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_open_image_in_worker_processes(tmp_path):
    idx = open_celeba(_official(tmp_path, n=4, layout="zip"))
    idx.open_image(0)                                         # parent holds an open zip when forking
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map(_mean_pixel, [(idx, i) for i in range(4)])
    assert got == [_mean_pixel((idx, i)) for i in range(4)]


def test_zip_is_reopened_in_a_new_process(tmp_path, monkeypatch):
    idx = open_celeba(_official(tmp_path, layout="zip"))
    idx.open_image(0)
    first = idx.folders[0]._zip
    assert pickle.loads(pickle.dumps(idx)).folders[0]._zip is None
    monkeypatch.setattr(os, "getpid", lambda: -12345)  # as after a fork
    idx.open_image(1)
    assert idx.folders[0]._zip is not first


def test_subset_by_mask_and_indices(tmp_path):
    idx = open_celeba(_official(tmp_path, n=12, layout="zip"))
    train = idx.subset(idx.partition == 0)
    assert len(train) == 8 and set(train.partition.tolist()) == {0}
    assert train.layout == "zip" and train.missing_images == idx.missing_images
    picked = idx.subset([11, 0, -2])
    assert picked.filenames == ["000012.jpg", "000001.jpg", "000011.jpg"]
    np.testing.assert_array_equal(picked.attributes, idx.attributes[[11, 0, 10]])
    with picked.open_image(0) as a, idx.open_image(11) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert len(idx.subset([])) == 0
    with pytest.raises(ValueError):
        idx.subset(np.ones(3, dtype=bool))
    with pytest.raises(IndexError):
        idx.subset([12])


def test_signature_stable_and_sensitive(tmp_path):
    d = _official(tmp_path)
    a = open_celeba(d)
    sig = a.signature()
    assert sig == open_celeba(d).signature() and len(sig) == 16
    assert a.subset([0, 1]).signature() != sig
    path = d / "list_attr_celeba.txt"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert open_celeba(d).signature() != sig


def test_signature_changes_with_zip(tmp_path):
    d = _official(tmp_path, layout="zip")
    sig = open_celeba(d).signature()
    with zipfile.ZipFile(d / "img_align_celeba.zip", "a") as zf:
        zf.writestr("img_align_celeba/extra.jpg", b"x")
    assert open_celeba(d).signature() != sig


def test_describe_and_repr(tmp_path):
    idx = open_celeba(_official(tmp_path, n=12, layout="kaggle"))
    text = idx.describe()
    assert "kaggle" in text and str(idx.root) in text and "12 images" in text
    assert "train 8 / valid 2 / test 2" in text and "\n" not in text
    assert "n=12" in repr(idx)


def test_fixture_corrupt_kinds_really_break(tmp_path):
    d = _official(tmp_path, corrupt=[0, 1, 2, 3])            # cycles truncated, empty, text, truncated
    folder = d / "img_align_celeba"
    assert (folder / "000002.jpg").stat().st_size == 0
    assert (folder / "000003.jpg").read_bytes().startswith(b"<html>")
    with Image.open(folder / "000004.jpg") as img, pytest.raises(OSError):
        img.load()
    with Image.open(folder / "000005.jpg") as img:
        img.load()


# ---------------------------------------------------------------- several folders

def _identity(d: Path, persons: list[int]) -> None:
    """identity_CelebA.txt for rows 000001.jpg ... as the official file has it (CRLF)."""
    lines = [f"{k + 1:06d}.jpg {p}" for k, p in enumerate(persons)]
    (d / "identity_CelebA.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())


def test_two_folders_unite_by_id_first_wins_with_each_folders_own_rows(tmp_path):
    # a: ids 1-4 present (5, 6 annotated but absent); b: ids 1-10, a different seed, all train.
    a = make_celeba(tmp_path / "a", n=6, missing=2, seed=1)
    b = make_celeba(tmp_path / "b", n=10, partitions=[0] * 10, seed=2)
    ia, ib = open_celeba(a), open_celeba(b)
    idx = open_celeba([a, b])
    assert idx.filenames == [f"{k:06d}.jpg" for k in range(1, 11)]
    assert [f.duplicates for f in idx.folders] == [0, 4] and idx.duplicates == 4
    assert idx.folder_of.tolist() == [0] * 4 + [1] * 6
    # ids 1-4 keep a's attribute and partition rows; 5-10 (absent from a) come with b's own rows
    np.testing.assert_array_equal(idx.attributes[:4], ia.attributes)
    np.testing.assert_array_equal(idx.attributes[4:], ib.attributes[4:])
    assert not np.array_equal(ia.attributes, ib.attributes[:4])     # the seeds differ, so this tells
    assert idx.partition.tolist() == ia.partition.tolist() + [0] * 6
    assert idx.image_path(0) == str(a / "img_align_celeba" / "000001.jpg")
    assert idx.image_path(4) == str(b / "img_align_celeba" / "000005.jpg")
    with idx.open_image(0) as x, ia.open_image(0) as y, ib.open_image(0) as z:
        assert np.array_equal(np.asarray(x), np.asarray(y)) and not np.array_equal(np.asarray(x), np.asarray(z))
    assert idx.missing_images == 2 and len(idx.subset([0, 9])) == 2
    text = idx.describe()
    union = [line for line in text.splitlines() if "duplicate" in line]
    assert len(union) == 1 and "united 2 folders" in union[0] and "10 images" in union[0]
    assert f"4 duplicate ids (4 in {b}" in union[0]
    assert str(a) in text and str(b) in text and "2 annotated images are absent" in text
    # the order decides: b first gives b's rows for ids 1-4, and a adds nothing
    rev = open_celeba([b, a])
    np.testing.assert_array_equal(rev.attributes, ib.attributes)
    assert [f.duplicates for f in rev.folders] == [0, 4]


def test_one_folder_in_a_list_is_the_folder(tmp_path):
    d = _official(tmp_path, layout="zip")
    one, listed = open_celeba(d), open_celeba([d])
    _same_rows(one, listed)
    assert one.signature() == listed.signature() and one.describe() == listed.describe()
    assert one.duplicates == 0 and "united" not in one.describe()


def test_same_folder_twice_and_no_folder_are_errors(tmp_path):
    d = _official(tmp_path)
    with pytest.raises(CelebAError, match="given twice"):
        open_celeba([d, tmp_path / "." / d.name])
    with pytest.raises(CelebAError, match="no data folder"):
        open_celeba([])
    with pytest.raises(CelebAError, match="nowhere"):
        open_celeba([d, tmp_path / "nowhere"])


def test_signature_covers_every_folder(tmp_path):
    a = make_celeba(tmp_path / "a", n=6)
    b = make_celeba(tmp_path / "b", n=8, seed=3)
    c = make_celeba(tmp_path / "c", n=8, seed=3)
    sig_a = open_celeba(a).signature()
    sig_ab = open_celeba([a, b]).signature()
    assert sig_ab != sig_a and sig_ab == open_celeba([a, b]).signature()
    assert open_celeba([b, a]).signature() != sig_ab                 # other folder first: other rows
    assert open_celeba([a, c]).signature() != sig_ab                 # same file names, other folder
    part = b / "list_eval_partition.txt"
    st = part.stat()
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert open_celeba([a, b]).signature() != sig_ab                 # the second folder's files count too


def test_persons_per_folder_from_identity_files(tmp_path):
    a = make_celeba(tmp_path / "a", n=6)
    b = make_celeba(tmp_path / "b", n=10, seed=2)
    c = make_celeba(tmp_path / "c", n=12, seed=3)
    _identity(a, [7, 7, 8, 8, 9, 9])
    _identity(b, [1, 2, 3, 4, 5, 6, 7, 7, 9, 10])                    # shares persons 7 and 9 with a
    idx = open_celeba([a, b, c])
    got = idx.folder_summary()
    assert [(f["name"], f["images"], f["persons"], f["duplicates"]) for f in got] == [
        ("a", 6, 3, 0), ("b", 4, 3, 6), ("c", 2, None, 10)]
    assert idx.count_persons() == 4                                    # 7, 8, 9 from a; 7, 9, 10 from b
    assert idx.folder_summary([0, 1])[0]["persons"] == 1
    assert open_celeba(c).count_persons() is None
    assert all(str(tmp_path) not in repr(f) for f in got)


def test_bad_identity_file_names_the_line(tmp_path):
    d = _official(tmp_path)
    (d / "identity_CelebA.txt").write_bytes(b"000001.jpg 12\r\n000002.jpg twelve\r\n")
    with pytest.raises(CelebAError) as e:
        open_celeba(d)
    assert "identity_CelebA.txt, line 2" in str(e.value) and "twelve" in str(e.value)


@pytest.mark.parametrize("layout", ["official", "zip"])
def test_image_sizes_from_headers_match_pil(tmp_path, layout):
    d = make_celeba(tmp_path / "c", n=5, layout=layout, size=(89, 109), corrupt={3: "text"})
    idx = open_celeba(d)
    sizes = idx.image_sizes()
    assert sizes.tolist() == [[89, 109]] * 3 + [[0, 0], [89, 109]]   # the broken file is left to the decoder
    assert idx.image_sizes(1, 3).tolist() == [[89, 109]] * 2


def test_jpeg_header_parser_agrees_with_pil_on_progressive_and_exif(tmp_path):
    import io as _io

    from explorer.celeba.index import _jpeg_size
    img = Image.new("RGB", (123, 77), (10, 200, 30))
    for kw in ({}, {"progressive": True}, {"exif": Image.Exif().tobytes() + b"\0" * 2000}):
        buf = _io.BytesIO()
        img.save(buf, format="JPEG", **kw)
        assert _jpeg_size(buf.getvalue()[:4096]) == (123, 77), kw
    assert _jpeg_size(b"\x89PNG\r\n\x1a\n") is None
