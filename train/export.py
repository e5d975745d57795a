"""The analysis bundle: encodings, KL per dimension, active units, attribute directions, 2-D maps, the
fitted density and the kinds of hats and glasses (explorer.kinds).

Runs at the end of training, and on its own for any checkpoint and dataset:
    python -m train.export CHECKPOINT --data-dir DIR [--data-dir DIR2 ...] [--splits valid,test] [--max-images N]
        [--slim]
    python -m train.export CHECKPOINT --kinds-only [--out FILE]   # kinds for an older bundle, no dataset
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from explorer.bundle import AnalysisBundle
from explorer.density import fit_density
from explorer.kinds import describe, find_kinds
from explorer.latent import attribute_directions
from explorer.model import VAE
from train.losses import kl_per_dim
from train.prepare import CachedData

SPLITS = {"train": 0, "valid": 1, "test": 2}
# When the asked-for splits are empty (a train-only folder), the bundle samples the train split; this
# caps it where no --bundle-max-images / --max-images is given: t-SNE of 10,000 points takes about a
# minute on one core, and the app's map stays responsive at that size.
FALLBACK_MAX_IMAGES = 10_000


def parse_splits(text: str) -> list[int]:
    if text.strip() == "all":
        return [0, 1, 2]
    try:
        return sorted({SPLITS[s.strip()] for s in text.split(",") if s.strip()})
    except KeyError as e:
        raise SystemExit(f"error: unknown split {e}; use a comma list of train, valid, test, or 'all'") from None


@torch.no_grad()
def encode_cache(model: VAE, images: np.ndarray, device, batch: int = 512, progress: bool = False):
    """uint8 (N,3,S,S) -> mu, logvar (N,D) float32 and per-image MSE of the reconstruction from mu."""
    from tqdm import tqdm

    model.eval()
    mus, logvars, mses = [], [], []
    for s in tqdm(range(0, len(images), batch), desc="encoding", disable=not progress, leave=False):
        x = torch.from_numpy(np.ascontiguousarray(images[s:s + batch])).to(device).float().div_(255.0)
        mu, logvar = model.encode(x)
        recon = model.decode(mu).float()
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
        mses.append((recon - x).pow(2).flatten(1).mean(1).cpu())
    return torch.cat(mus).numpy(), torch.cat(logvars).numpy(), torch.cat(mses).numpy()


@torch.no_grad()
def _decode(model: VAE, z: np.ndarray, device) -> np.ndarray:
    """(n,D) float32 -> (n,3,S,S) float images in [0,1], for explorer.kinds."""
    model.eval()
    return model.decode(torch.from_numpy(z).to(device)).float().clamp_(0, 1).cpu().numpy()


def pca_2d(x: np.ndarray, k: int = 2) -> np.ndarray:
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc.astype(np.float64), full_matrices=False)
    return (xc @ vt[:k].T).astype(np.float32)


def tsne_2d(x: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """openTSNE when installed (faster, FFT-accelerated), else scikit-learn. PCA to 50 dims first."""
    n = len(x)
    if n < 5:
        return np.full((n, 2), np.nan, np.float32), "none (fewer than 5 points)"
    xr = pca_2d(x, min(50, x.shape[1], n)) if x.shape[1] > 50 else x.astype(np.float32)
    perplexity = float(min(30.0, (n - 1) / 3.0))
    try:
        from openTSNE import TSNE

        emb = TSNE(perplexity=perplexity, random_state=seed, n_jobs=-1, verbose=False).fit(xr)
        return np.asarray(emb, dtype=np.float32), "openTSNE"
    except ImportError:
        from sklearn.manifold import TSNE

        emb = TSNE(perplexity=perplexity, random_state=seed, init="pca").fit_transform(xr)
        return emb.astype(np.float32), "scikit-learn"


def build_bundle(model: VAE, cache: CachedData, splits, device, max_images: int | None = None, tsne: bool = True,
                 seed: int = 0, log=print, progress: bool = False) -> AnalysisBundle:
    t0 = time.perf_counter()
    idx = cache.split(splits)
    if len(idx) == 0 and 0 not in splits:
        # A folder with training images only: analyse what there is rather than fail after training.
        asked = ",".join(k for k, v in SPLITS.items() if v in splits)
        splits = [0]
        idx = cache.split(splits)
        max_images = max_images or FALLBACK_MAX_IMAGES
        log(f"note: no images in the {asked} split(s); the analysis bundle uses a seeded sample of "
            f"{min(len(idx), max_images):,} of the {len(idx):,} train images")
    if max_images and len(idx) > max_images:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_images, replace=False))
    if len(idx) == 0:
        raise SystemExit(f"error: no images in splits {splits} to build the analysis bundle from")
    mu, logvar, mse = encode_cache(model, cache.images[idx], device, progress=progress)
    kld = kl_per_dim(torch.from_numpy(mu), torch.from_numpy(logvar)).numpy()
    attrs = cache.attributes[idx]
    plain, balanced, confounders = attribute_directions(mu, attrs)
    if tsne:
        coords, backend = tsne_2d(mu, seed)
    else:
        coords, backend = np.full((len(idx), 2), np.nan, np.float32), "none (--no-tsne)"
    # The fitted ("ex-post") density of Ghosh et al. 2020, so that the app samples where the encodings are
    # without refitting on every start; fitted on the float32 mu, before the bundle rounds it to float16.
    density = fit_density(mu, seed=seed)
    kinds = find_kinds(lambda z: _decode(model, z, device), mu, attrs, cache.attribute_names, seed=seed)
    bundle = AnalysisBundle(
        mu=mu, attributes=attrs, partition=cache.partition[idx], recon_mse=mse, kl_per_image=kld.sum(1),
        kl_per_dim=kld.mean(0), mu_variance=mu.var(0), directions=plain, directions_balanced=balanced,
        pca=pca_2d(mu), tsne=coords, filenames=[cache.filenames[i] for i in idx],
        attribute_names=list(cache.attribute_names),
        info={"splits": [k for k, v in SPLITS.items() if v in splits], "images": int(len(idx)),
              "tsne_backend": backend, "seconds": round(time.perf_counter() - t0, 1),
              "balanced_confounders": [cache.attribute_names[c] for c in confounders]},
        # E_x[σ²_d(x)]: with Var_x(mu_d) it gives the aggregate posterior's variance per dimension (law of
        # total variance), which is 1 where the encodings fill the prior N(0, I).
        posterior_var_mean=np.exp(logvar.astype(np.float64)).mean(0).astype(np.float32),
        density=density,
        kinds=kinds,
    )
    used = ",".join(k for k, v in SPLITS.items() if v in set(cache.partition[idx].tolist()))
    log(f"analysis bundle: {len(idx)} images of the {used} split(s), {int(bundle.active_units.sum())}/{mu.shape[1]} active units, "
        f"KL {bundle.kl_per_image.mean():.1f} nats/image, MSE {mse.mean():.5f}, t-SNE by {backend}, "
        f"{bundle.info['seconds']} s; density: {density.n_components}-component GMM in {density.info['seconds']} s; "
        f"kinds: {describe(kinds)}")
    return bundle


def main(argv=None):
    from explorer.celeba import CelebAError, open_celeba
    from explorer.checkpoint import CheckpointError, atomic_torch_save, load_checkpoint, make_checkpoint, \
        read_checkpoint_dict
    from train.prepare import check_image_sizes, load_or_build_cache

    from train.loop import TrainConfig

    TRAIN_DEFAULTS = TrainConfig(data_dir=(), out="")
    p = argparse.ArgumentParser(prog="python -m train.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint file to analyse")
    p.add_argument("--data-dir", action="append",
                   help="CelebA folder (any layout python -m train accepts); several times to unite folders")
    p.add_argument("--kinds-only", action="store_true",
                   help="only (re)find the kinds of Wearing_Hat and Eyeglasses (explorer.kinds) from the bundle's own "
                        "encodings, keeping the rest of the file as it is (its t-SNE map included, which a rerun "
                        "would not reproduce exactly); needs no --data-dir")
    p.add_argument("--allow-upscale", action="store_true",
                   help="accept images whose centred crop is smaller than the model's image size")
    p.add_argument("--splits", default=TRAIN_DEFAULTS.bundle_splits,
                   help="comma list of train, valid, test, or 'all' (default %(default)s, as python -m train)")
    p.add_argument("--max-images", type=int, default=TRAIN_DEFAULTS.bundle_max_images,
                   help="encode at most N images, a seeded random sample; when the splits are empty the train "
                        "split is sampled instead (default %(default)s, as python -m train)")
    p.add_argument("--no-tsne", action="store_true", help="skip t-SNE (PCA only)")
    p.add_argument("--out", default=None, help="write here instead of updating the checkpoint in place")
    p.add_argument("--slim", action="store_true",
                   help="for shipping: drop the resume state and store float16 weights (about a quarter the size)")
    p.add_argument("--cache-dir", default=None, help="where decoded images are cached (default ~/.cache/vae-explorer)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.kinds_only:
        return _kinds_only(a)
    if not a.data_dir:
        p.error("--data-dir is required (unless --kinds-only)")
    try:
        vae = load_checkpoint(a.checkpoint, device=a.device)
        data = read_checkpoint_dict(a.checkpoint)
        index = open_celeba(a.data_dir)
        print(index.describe())
        check_image_sizes(index, vae.preprocess_config, a.allow_upscale)
        cache = load_or_build_cache(index, vae.preprocess_config, a.cache_dir)
    except (CheckpointError, CelebAError) as e:
        sys.exit(f"error: {e}")
    bundle = build_bundle(vae.model, cache, parse_splits(a.splits), vae.device, a.max_images, not a.no_tsne,
                          a.seed, progress=True)
    ckpt = make_checkpoint(vae.model, vae.preprocess_config, data["attribute_names"], data["summary"],
                           data["history"], bundle=bundle, train_state=None if a.slim else data["train_state"],
                           half=a.slim)
    out = Path(a.out or a.checkpoint)
    atomic_torch_save(ckpt, out)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")


def _kinds_only(a) -> None:
    from explorer.checkpoint import CheckpointError, atomic_torch_save, load_checkpoint, read_checkpoint_dict

    try:
        vae = load_checkpoint(a.checkpoint, device=a.device)
        data = read_checkpoint_dict(a.checkpoint)
    except CheckpointError as e:
        sys.exit(f"error: {e}")
    b = vae.bundle
    if b is None:
        sys.exit(f"error: {a.checkpoint}: no analysis bundle to find kinds in; run python -m train.export with --data-dir")
    b.kinds = find_kinds(lambda z: _decode(vae.model, z, vae.device), b.mu.astype(np.float32), b.attributes,
                         b.attribute_names, seed=a.seed)
    data["bundle"]["kinds"] = b.to_plain()["kinds"]
    out = Path(a.out or a.checkpoint)
    atomic_torch_save(data, out)
    print(f"kinds: {describe(b.kinds)}")
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
