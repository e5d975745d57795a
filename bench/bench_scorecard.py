"""Time to compute the latent-structure scorecard (explorer.analysis.scorecard) of a bundle, metric by metric.

    python bench/bench_scorecard.py [CHECKPOINT ...] [--repeats 3]

Defaults to the two shipped checkpoints (bundles of 8,000 faces, 128 dimensions, 40 attributes). Each metric
is timed on its own with one BLAS thread (as compute_scorecard runs them), after one untimed run that imports
scikit-learn and warms the caches; the table gives the median of the repeats, and the whole scorecard's
(compute_scorecard, what the export and the app call).
The target (issue 30): at most 10 s for 8,000 faces on the project's 2-core machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
from threadpoolctl import threadpool_limits

from explorer import load_checkpoint
from explorer.analysis import scorecard as sc


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*",
                   default=[str(ROOT / "checkpoints" / n) for n in ("celeba64.pt", "celeba64-beta4.pt")])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    with threadpool_limits(limits=1):  # as compute_scorecard runs them
        table(a.checkpoints, a.repeats)


def table(checkpoints, repeats: int) -> None:
    print("| checkpoint | faces × dims | MIG | SAP | DCI | total correlation | UDR with the first | "
          "whole scorecard |")
    print("|---|---|---|---|---|---|---|---|")
    first = None
    for path in checkpoints:
        b = load_checkpoint(path).bundle
        z, v = b.mu.astype(np.float64), b.attributes
        sc.compute_scorecard(b)  # warm-up: imports, allocator
        q = b.density.widened(b.posterior_var_mean) if b.density is not None and b.posterior_var_mean is not None \
            else b.density
        cells = [timed(lambda: sc.mig(z, v), repeats), timed(lambda: sc.sap(z, v), repeats),
                 timed(lambda: sc.dci(z, v), repeats),
                 timed(lambda: sc.total_correlation(q), repeats) if q is not None else float("nan"),
                 timed(lambda: sc.shared_udr(first, b), repeats) if first is not None else float("nan"),
                 timed(lambda: sc.compute_scorecard(b), repeats)]
        first = first or b
        print(f"| {Path(path).name} | {len(b):,} × {z.shape[1]} | "
              + " | ".join("–" if np.isnan(c) else f"{c:.2f} s" for c in cells) + " |")


if __name__ == "__main__":
    main()
