"""The fitted ("ex-post") density of the encodings (Ghosh et al. 2020): fit choices and sample statistics.

    python bench/bench_density.py [CHECKPOINT] [--seed 0] [--data-dir ../shared/celeba-sample]

Reads only the checkpoint's analysis bundle (no dataset). Its encodings μ are split at random into
80% to fit on and 20% held out.

1. Fit choices: seconds to fit, and mean log-likelihood per encoding (nats) on the fitted and the
   held-out encodings, for several numbers of components and covariance types.
2. Sample statistics, 1,000 samples each from N(0, I) and from the default fitted density (10 full
   components), beside the held-out encodings as the reference of what real encodings look like:
   the mean distance to the nearest fitted encoding, the mean norm, and the share "in a hole" (fitted
   log-density below its 1% quantile over the held-out encodings).
3. With --data-dir (the bundle's images), the per-dimension aggregate variance Var(μ) + E[σ²] that
   bundles made before posterior_var_mean existed cannot show: the images are encoded again.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from explorer import latent, load_checkpoint
from explorer.analysis import priorcheck
from explorer.analysis.density import DEFAULT_REG, fit_density

CHOICES = [(1, "full", DEFAULT_REG), (5, "full", DEFAULT_REG), (10, "full", DEFAULT_REG), (20, "full", DEFAULT_REG),
           (10, "full", 1e-2), (10, "full", 1e-4), (10, "diag", DEFAULT_REG), (40, "diag", DEFAULT_REG)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default=str(ROOT / "checkpoints" / "celeba64.pt"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--data-dir", default=None, help="CelebA folder holding the bundle's images (for part 3)")
    a = p.parse_args()
    b = load_checkpoint(a.checkpoint).bundle
    if b is None:
        sys.exit(f"error: {a.checkpoint} has no analysis bundle")
    mu = b.mu.astype(np.float64)
    n, d = mu.shape
    perm = np.random.default_rng(a.seed).permutation(n)
    fit_rows, held_rows = perm[: int(0.8 * n)], perm[int(0.8 * n):]
    tr, ho = mu[fit_rows], mu[held_rows]
    print(f"{a.checkpoint}: {n:,} encodings of {d} dimensions; fit on {len(tr):,}, held out {len(ho):,}\n")

    print("| components | covariance | ridge (× mean Var μ) | fit seconds | EM iterations | log-lik fitted | log-lik held out |")
    print("|---|---|---|---|---|---|---|")
    for k, cov, reg in CHOICES:
        g = fit_density(tr, k, cov, reg, seed=a.seed)
        print(f"| {k} | {cov} | {reg:g} | {g.info['seconds']:.1f} | {g.info['iterations']} | "
              f"{g.log_prob(tr).mean():.1f} | {g.log_prob(ho).mean():.1f} |", flush=True)

    t0 = time.perf_counter()
    g = fit_density(tr, seed=a.seed)
    fit_s = time.perf_counter() - t0
    held_logp = g.log_prob(ho)
    sets = {"N(0, I)": latent.sample_z(a.samples, d, a.seed + 1),
            "fitted density (τ = 1)": g.sample(a.samples, a.seed + 1),
            "held-out encodings (reference)": ho[: a.samples]}
    print(f"\ndefault density: {g.n_components} full components, fitted in {fit_s:.1f} s; "
          f"{a.samples:,} samples per row\n")
    print("| samples | mean distance to nearest encoding | mean ‖z‖ | share in a hole (log p < 1% quantile of held-out) |")
    print("|---|---|---|---|")
    for name, z in sets.items():
        t0 = time.perf_counter()
        dist = priorcheck.nearest_distances(z, tr)
        holes, _ = priorcheck.hole_fraction(g.log_prob(z), held_logp)
        print(f"| {name} | {dist.mean():.2f} | {np.linalg.norm(z, axis=1).mean():.2f} | {holes:.1%} |", flush=True)
    print(f"\nunder the prior E‖z‖ = {priorcheck.chi_mean(d):.2f} (χ with {d} degrees of freedom)")
    if a.data_dir:
        aggregate_variance(a.checkpoint, a.data_dir, b)


def aggregate_variance(path: str, data_dir: str, b) -> None:
    from explorer.celeba import open_celeba
    from train.export import encode_cache
    from train.prepare import load_or_build_cache

    vae = load_checkpoint(path)
    cache = load_or_build_cache(open_celeba(data_dir), vae.preprocess_config, None, progress=False,
                                log=lambda m: None)
    where = {f: i for i, f in enumerate(cache.filenames)}
    rows = np.array([where[f] for f in b.filenames if f in where])
    if len(rows) < len(b):
        print(f"\n{len(b) - len(rows)} of the bundle's images are missing from {data_dir}; using {len(rows)}")
    t0 = time.perf_counter()
    mu, logvar, _ = encode_cache(vae.model, cache.images[rows], vae.device)
    post = np.exp(logvar.astype(np.float64)).mean(0)
    agg = priorcheck.aggregate_variance(mu.var(0), post)
    sq = float((mu.astype(np.float64) ** 2).sum(1).mean())
    print(f"\naggregate posterior of {len(rows):,} images (encoded again in {time.perf_counter() - t0:.0f} s):")
    print(f"- Var(μ) + E[σ²] per dimension: mean {agg.mean():.3f}, median {np.median(agg):.3f}, "
          f"min {agg.min():.3f}, max {agg.max():.3f}; {(agg < 0.5).sum()} of {len(agg)} dimensions below 0.5")
    print(f"- mean posterior variance E[σ²]: {post.mean():.4f} per dimension, sum {post.sum():.2f}")
    print(f"- E‖μ‖² = {sq:.1f}; E‖z‖² of the aggregate posterior = {sq + post.sum():.1f} (prior: {len(agg)})")
    # holes judged against q(z) ≈ the mixture of μ widened by E[σ²], with q's own samples as the reference
    g = fit_density(mu)
    q = g.widened(post)
    ref = q.log_prob(q.sample(1000, seed=1))
    print("- share in a hole of q(z) (log q < its 1% quantile over q's own samples): "
          + ", ".join(f"{name} {priorcheck.hole_fraction(q.log_prob(z), ref)[0]:.1%}" for name, z in
                      (("N(0, I)", latent.sample_z(1000, len(agg), 2)), ("fitted density of μ", g.sample(1000, 2)),
                       ("q itself", q.sample(1000, 2)))))


if __name__ == "__main__":
    main()
