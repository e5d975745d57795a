"""Data-path speed: parsing the official annotation files and decoding images into the cache.

    python bench/bench_data.py [--data-dir ../shared/celeba-sample] [--annotations ../shared/celeba-annotations]

Prints a Markdown table. Decoding is timed through the cache builder's own decode_all, at each image
size, with JPEG draft mode on and off, on one worker and on all cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.celeba import open_celeba, parse_attributes, parse_partition
from explorer.config import PreprocessConfig
from train.prepare import decode_all


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "celeba-sample"))
    p.add_argument("--annotations", default=str(ROOT.parent / "shared" / "celeba-annotations"))
    p.add_argument("--sizes", default="32,64,128")
    p.add_argument("--limit", type=int, default=2000, help="images to decode per configuration")
    a = p.parse_args()
    ann = Path(a.annotations)
    print(f"machine: {os.cpu_count()} cores\n")
    print("| step | rows | best of 3 |")
    print("|---|---|---|")
    if (ann / "list_attr_celeba.txt").is_file():
        t, (files, _, _) = timed(lambda: parse_attributes(ann / "list_attr_celeba.txt"))
        print(f"| parse full list_attr_celeba.txt | {len(files):,} | {t:.2f} s |")
        t, (files, _) = timed(lambda: parse_partition(ann / "list_eval_partition.txt"))
        print(f"| parse full list_eval_partition.txt | {len(files):,} | {t:.2f} s |")
    t, index = timed(lambda: open_celeba(a.data_dir))
    print(f"| open_celeba (detect, parse, list images) | {len(index):,} | {t:.2f} s |")
    index = index.subset(list(range(min(a.limit, len(index)))))
    print("\n| image size | draft mode | workers | images/s |")
    print("|---|---|---|---|")
    for size in [int(s) for s in a.sizes.split(",")]:
        for draft in (True, False):
            for workers in sorted({1, os.cpu_count()}):
                pre = PreprocessConfig(image_size=size, draft=draft)
                t, (_, ok, _) = timed(lambda: decode_all(index, pre, workers=workers, progress=False), repeat=1)
                print(f"| {size} | {'on' if draft else 'off'} | {workers} | {ok.sum() / t:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
