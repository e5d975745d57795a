"""The analysis bundle: encodings, KL per dimension, active units, attribute directions, 2-D maps, the
fitted density and the kinds of hats and glasses (explorer.analysis.kinds), for any model of the protocol
(explorer.protocol): the one builder of bundles. The training loop calls it; it imports nothing from the loop.

    python -m train.export CHECKPOINT --data-dir DIR [--data-dir DIR2 ...] [--splits valid,test] [--max-images N]
        [--slim]
    python -m train.export CHECKPOINT --kinds-only [--out FILE]   # kinds for an older bundle, no dataset
    python -m train.export CHECKPOINT --scorecard-only [--data-dir DIR ...] [--out FILE]
        # the scorecard (explorer.analysis.scorecard) and, with the bundle's images, the attribute classifier
        # (explorer.analysis.classifier) for an older bundle, the rest of the file unchanged

Your own VAE (explorer.foreign), into one checkpoint the app opens like ours:
    python -m train.export --onnx ENCODER.onnx DECODER.onnx --image-size 64 --data-dir DIR --out theirs.pt
    python -m train.export --torch PACKAGE.MODULE:FACTORY --weights FILE --image-size 64 --data-dir DIR --out theirs.pt
  --torch records its import path in the file, and opening the file later IMPORTS THAT MODULE (from the
  current directory or PYTHONPATH), which runs your code; --onnx files run in ONNX Runtime and import nothing.
  The model is checked on 64 images before anything is written (reconstruction MSE, pixel ranges).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from explorer.analysis.bundle import AnalysisBundle
from explorer.analysis.classifier import train_classifier
from explorer.analysis.density import fit_density
from explorer.analysis.kinds import describe, find_kinds
from explorer.latent import attribute_directions
from explorer.analysis import sprites
from explorer.protocol import LatentModel
from explorer.analysis.scorecard import MIN_FACES as SCORECARD_MIN_FACES, compute_scorecard
from train.losses import kl_per_dim
from train.prepare import CachedData

SPLITS = {"train": 0, "valid": 1, "test": 2}
# When the asked-for splits are empty (a train-only folder), the bundle samples the train split; this
# caps it where no --bundle-max-images / --max-images is given: t-SNE of 10,000 points takes about a
# minute on one core, and the app's map stays responsive at that size.
FALLBACK_MAX_IMAGES = 10_000
CHECK_IMAGES = 64  # a foreign model is checked on this many images before anything is written
# Fewer train-partition faces than this in the bundle: no attribute classifier (it would judge by chance, and
# the tests' tiny bundles stay quick).
CLASSIFIER_MIN_FACES = 1000


def parse_splits(text: str) -> list[int]:
    if text.strip() == "all":
        return [0, 1, 2]
    try:
        return sorted({SPLITS[s.strip()] for s in text.split(",") if s.strip()})
    except KeyError as e:
        raise SystemExit(f"error: unknown split {e}; use a comma list of train, valid, test, or 'all'") from None


def as_protocol(model, device) -> LatentModel:
    """The training loop hands its VAE module; everything else is already a protocol model."""
    if isinstance(model, LatentModel):
        return model
    from explorer.checkpoint import LoadedVAE

    return LoadedVAE.around(model, device)


@torch.no_grad()
def encode_cache(vae: LatentModel, images: np.ndarray, batch: int = 512, progress: bool = False):
    """uint8 (N,3,S,S) -> mu (N,D), logvar (N,D) or None (a model without one), and the per-image MSE of
    the reconstruction from mu, all float32."""
    from tqdm import tqdm

    mus, logvars, mses = [], [], []
    for s in tqdm(range(0, len(images), batch), desc="encoding", unit="batch", disable=not progress, leave=False):
        x = torch.from_numpy(np.array(images[s:s + batch])).float().div_(255.0)  # a copy: the cache is a read-only memmap
        mu, logvar = vae.encode(x)
        recon = vae.decode(mu)
        mus.append(mu)
        logvars.append(logvar)
        mses.append((recon - x).pow(2).flatten(1).mean(1))
    has = all(v is not None for v in logvars)
    return (torch.cat(mus).numpy(), torch.cat(logvars).numpy() if has else None, torch.cat(mses).numpy())


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


def build_bundle(model, cache: CachedData, splits, device, max_images: int | None = None, tsne: bool = True,
                 seed: int = 0, log=print, progress: bool = False) -> AnalysisBundle:
    """The analysis bundle of ``model`` (a protocol model, or the training loop's VAE module) on the cached
    images of ``splits``. Each long step says when it starts, so a run never sits silent for a minute."""
    vae = as_protocol(model, device)
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

    def step(what: str):
        log(f"analysis bundle: {what} ({time.perf_counter() - t0:.0f} s so far)")

    step(f"encoding {len(idx):,} images")
    mu, logvar, mse = encode_cache(vae, cache.images[idx], progress=progress)
    kld = kl_per_dim(torch.from_numpy(mu), torch.from_numpy(logvar)).numpy() if logvar is not None else None
    attrs = cache.attributes[idx]
    plain, balanced, confounders = attribute_directions(mu, attrs)
    if tsne:
        step(f"t-SNE of {len(idx):,} points")
        coords, backend = tsne_2d(mu, seed)
    else:
        coords, backend = np.full((len(idx), 2), np.nan, np.float32), "none (--no-tsne)"
    # The fitted ("ex-post") density of Ghosh et al. 2020, so that the app samples where the encodings are
    # without refitting on every start; fitted on the float32 mu, before the bundle rounds it to float16.
    step("fitting the density of the encodings")
    density = fit_density(mu, seed=seed)
    step("finding the kinds of hats and glasses")
    # clamp, not clamp_: the protocol's decode runs in inference mode, and its tensors refuse in-place updates
    kinds = find_kinds(lambda z: vae.decode(z).clamp(0, 1).numpy(), mu, attrs, cache.attribute_names, seed=seed)
    step(f"decoding the map's {len(idx):,} faces")
    faces = sprites.bundled(vae.decode, mu)
    classifier = None
    if (cache.partition[idx] == 0).sum() >= CLASSIFIER_MIN_FACES:
        step("training the attribute classifier on the bundle's faces")
        classifier = train_classifier(cache.images[idx], attrs, cache.partition[idx], seed=seed, log=log,
                                      attribute_names=cache.attribute_names)
    bundle = AnalysisBundle(
        mu=mu, attributes=attrs, partition=cache.partition[idx], recon_mse=mse,
        kl_per_image=kld.sum(1) if kld is not None else None, kl_per_dim=kld.mean(0) if kld is not None else None,
        mu_variance=mu.var(0), directions=plain, directions_balanced=balanced,
        pca=pca_2d(mu), tsne=coords, filenames=[cache.filenames[i] for i in idx],
        attribute_names=list(cache.attribute_names),
        info={"splits": [k for k, v in SPLITS.items() if v in splits], "images": int(len(idx)),
              "tsne_backend": backend, "seconds": round(time.perf_counter() - t0, 1),
              "balanced_confounders": [cache.attribute_names[c] for c in confounders],
              "has_logvar": logvar is not None},
        # E_x[σ²_d(x)]: with Var_x(mu_d) it gives the aggregate posterior's variance per dimension (law of
        # total variance), which is 1 where the encodings fill the prior N(0, I).
        posterior_var_mean=(np.exp(logvar.astype(np.float64)).mean(0).astype(np.float32)
                            if logvar is not None else None),
        density=density,
        kinds=kinds,
        classifier=classifier,
        sprites=faces,
    )
    if len(idx) >= SCORECARD_MIN_FACES:
        step("the latent-structure scorecard")
        # from the encodings as stored (float16), so that the app and `python -m explorer.analysis.scorecard --recompute`
        # give the very numbers the file holds
        bundle.scorecard = compute_scorecard(AnalysisBundle.from_plain(bundle.to_plain()), seed)
    used = ",".join(k for k, v in SPLITS.items() if v in set(cache.partition[idx].tolist()))
    kl = f"KL {bundle.kl_per_image.mean():.1f} nats/image" if kld is not None else "no KL (the model gives no logvar)"
    log(f"analysis bundle: {len(idx)} images of the {used} split(s), {int(bundle.active_units.sum())}/{mu.shape[1]} active units, "
        f"{kl}, MSE {mse.mean():.5f}, t-SNE by {backend}, "
        f"{bundle.info['seconds']} s; density: {density.n_components}-component GMM in {density.info['seconds']} s; "
        f"kinds: {describe(kinds)}")
    return bundle


def parse_crop(text: str) -> tuple[float, float]:
    """``--crop``: ``W`` (a centred W x W square) or ``WxH`` in pixels of CelebA's aligned 178x218 image ->
    (crop_fraction, crop_aspect) of explorer.config.PreprocessConfig."""
    try:
        w, h = (int(v) for v in text.lower().split("x")) if "x" in text.lower() else (int(text), int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected W or WxH in pixels of the aligned 178x218 image, "
                                         f"e.g. 148 or 178x218") from None
    if not (0 < w <= 178 and 0 < h <= 218):
        raise argparse.ArgumentTypeError(f"{text!r}: the crop must fit in the aligned 178x218 image")
    return w / 178, h / w


def check_on_data(vae: LatentModel, images: np.ndarray, flags: dict, log=print) -> dict:
    """Encode and decode ``images`` (uint8) and stop, before anything is written, where the declared pixel
    ranges look wrong: decoded values far outside the output range, or a reconstruction error that the other
    range would cut by half. Returns the figures for the checkpoint's summary."""
    from explorer.foreign import ForeignModelError
    from explorer.protocol import PixelRange

    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    mu, logvar = vae.encode(x)
    raw = vae.raw_decode(mu)
    for name, t in (("mu", mu), ("logvar", logvar), ("the decoded images", raw)):
        if t is not None and not torch.isfinite(t).all():
            raise ForeignModelError(f"{flags['what']}: {name} holds NaN or infinite values for {len(x)} CelebA "
                                    f"images; check the weights and --input-range")
    mse = float((vae.out_range.to_unit(raw) - x).pow(2).mean())
    log(f"check: {len(x)} images encoded and decoded, reconstruction MSE {mse:.5f} (per pixel, in [0,1]); "
        f"decoded values {float(raw.min()):.2f}..{float(raw.max()):.2f} for --output-range {vae.out_range}")
    other = {(0.0, 1.0): PixelRange(-1.0, 1.0)}.get((vae.out_range.low, vae.out_range.high), PixelRange(0.0, 1.0))
    span = vae.out_range.high - vae.out_range.low
    outside = float(((raw < vae.out_range.low - 0.25 * span) | (raw > vae.out_range.high + 0.25 * span)).float().mean())
    mse_other_out = float((other.to_unit(raw) - x).pow(2).mean())
    if outside > 0.01 or mse_other_out < 0.5 * mse:
        why = (f"{outside:.0%} of the decoded values lie far outside {vae.out_range}" if outside > 0.01 else
               f"reading the output as {other} gives MSE {mse_other_out:.5f} instead of {mse:.5f}")
        raise ForeignModelError(f"{flags['what']}: the decoder's output does not look like --output-range "
                                f"{vae.out_range}: {why}. Run again with --output-range {other}")
    in_other = {(0.0, 1.0): PixelRange(-1.0, 1.0)}.get((vae.in_range.low, vae.in_range.high), PixelRange(0.0, 1.0))
    alt = vae.with_ranges(in_other, vae.out_range)
    mse_other_in = float((alt.decode(alt.encode(x)[0]) - x).pow(2).mean())
    if mse_other_in < 0.5 * mse:
        raise ForeignModelError(f"{flags['what']}: feeding the encoder pixels in {in_other} gives MSE {mse_other_in:.5f} "
                                f"instead of {mse:.5f} with --input-range {vae.in_range}. Run again with "
                                f"--input-range {in_other}")
    return {"images": int(len(x)), "mse": mse, "decoded_min": float(raw.min()), "decoded_max": float(raw.max())}


def build_parser() -> argparse.ArgumentParser:
    from train.config import TrainConfig

    defaults = TrainConfig(data_dir=(), out="")
    p = argparse.ArgumentParser(prog="python -m train.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", help="checkpoint file to analyse (not with --onnx / --torch)")
    p.add_argument("--data-dir", action="append",
                   help="CelebA folder (any layout python -m train accepts); several times to unite folders")
    p.add_argument("--kinds-only", action="store_true",
                   help="only (re)find the kinds of Wearing_Hat and Eyeglasses (explorer.analysis.kinds) from the bundle's own "
                        "encodings, keeping the rest of the file as it is (its t-SNE map included, which a rerun "
                        "would not reproduce exactly); needs no --data-dir")
    p.add_argument("--scorecard-only", action="store_true",
                   help="only add the latent-structure scorecard (explorer.analysis.scorecard) and, with --data-dir (the "
                        "bundle's own images), the attribute classifier (explorer.analysis.classifier), keeping the rest of "
                        "the file as it is")
    p.add_argument("--allow-upscale", action="store_true",
                   help="accept images whose centred crop is smaller than the model's image size")
    p.add_argument("--splits", default=defaults.bundle_splits,
                   help="comma list of train, valid, test, or 'all' (default %(default)s, as python -m train)")
    p.add_argument("--max-images", type=int, default=defaults.bundle_max_images,
                   help="encode at most N images, a seeded random sample; when the splits are empty the train "
                        "split is sampled instead (default %(default)s, as python -m train)")
    p.add_argument("--no-tsne", action="store_true", help="skip t-SNE (PCA only)")
    p.add_argument("--out", default=None, help="write here instead of updating the checkpoint in place "
                                               "(required with --onnx / --torch)")
    p.add_argument("--slim", action="store_true",
                   help="for shipping: drop the resume state and store float16 weights (about a quarter the size)")
    p.add_argument("--cache-dir", default=None, help="where decoded images are cached (default ~/.cache/vae-explorer)")
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu or cuda (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("your own VAE (see the description above)")
    g.add_argument("--onnx", nargs=2, metavar=("ENCODER", "DECODER"),
                   help="encoder .onnx ((N,3,S,S) -> mu, or mu and logvar) and decoder .onnx ((N,D) -> (N,3,S,S)); "
                        "tensor names and a batch axis fixed at 1 are read from the files")
    g.add_argument("--torch", metavar="PACKAGE.MODULE:FACTORY",
                   help="a function that builds your untrained nn.Module (it needs encode(x) -> mu, (mu, logvar) or a "
                        "list starting with them, and decode(z)). IMPORTS THAT MODULE, now and whenever the written "
                        "file is opened (from the current directory or PYTHONPATH)")
    g.add_argument("--weights", help="with --torch: a state dict (.pt/.pth/.ckpt read with weights_only=True, "
                                     "Lightning's model. prefix taken off) or .safetensors")
    g.add_argument("--encode-method", default="encode", help="with --torch (default %(default)s)")
    g.add_argument("--decode-method", default="decode", help="with --torch (default %(default)s)")
    g.add_argument("--image-size", type=int, default=64, help="the model's input side S (default %(default)s)")
    g.add_argument("--crop", type=parse_crop, default=(148 / 178, 1.0), metavar="W|WxH",
                   help="the crop of the aligned 178x218 image the model was trained on: 148 (default, a centred "
                        "148x148 square, the common choice) or 178x218 (none: the whole image squeezed to SxS)")
    g.add_argument("--input-range", default="0,1", help="pixel range the encoder reads: 0,1 or -1,1 (default %(default)s)")
    g.add_argument("--output-range", default="0,1",
                   help="pixel range the decoder writes: 0,1 (sigmoid) or -1,1 (tanh) (default %(default)s)")
    return p


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda was asked for, but PyTorch sees no CUDA device")
    return name


def _join_ranges(argv: list[str]) -> list[str]:
    """``--output-range -1,1`` as ``--output-range=-1,1``: argparse takes a value starting with '-' (and not a
    plain negative number) for another option."""
    out = []
    for arg in argv:
        if out and out[-1] in ("--input-range", "--output-range") and arg[:1] == "-" and arg[1:2].isdigit():
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv=None):
    p = build_parser()
    a = p.parse_args(_join_ranges(list(sys.argv[1:] if argv is None else argv)))
    a.device = _device(a.device)
    if a.onnx or a.torch:
        return _foreign(p, a)
    if not a.checkpoint:
        p.error("give a CHECKPOINT to analyse, or --onnx / --torch for your own VAE")
    if a.kinds_only:
        return _kinds_only(a)
    if a.scorecard_only:
        return _scorecard_only(a)
    if not a.data_dir:
        p.error("--data-dir is required (unless --kinds-only)")
    from explorer.celeba import CelebAError, open_celeba
    from explorer.checkpoint import CheckpointError, atomic_torch_save, load_checkpoint, make_checkpoint, \
        read_checkpoint_dict
    from train.prepare import check_image_sizes, load_or_build_cache

    try:
        vae = load_checkpoint(a.checkpoint, device=a.device)
        data = read_checkpoint_dict(a.checkpoint)
        index = open_celeba(a.data_dir)
        print(index.describe())
        check_image_sizes(index, vae.preprocess_config, a.allow_upscale)
        cache = load_or_build_cache(index, vae.preprocess_config, a.cache_dir)
    except (CheckpointError, CelebAError) as e:
        sys.exit(f"error: {e}")
    bundle = build_bundle(vae, cache, parse_splits(a.splits), vae.device, a.max_images, not a.no_tsne,
                          a.seed, progress=True)
    if vae.source.kind == "ours":
        ckpt = make_checkpoint(vae.model, vae.preprocess_config, data["attribute_names"], data["summary"],
                               data["history"], bundle=bundle, train_state=None if a.slim else data["train_state"],
                               half=a.slim)
    else:
        ckpt = {**data, "bundle": bundle.to_plain()}
    out = Path(a.out or a.checkpoint)
    atomic_torch_save(ckpt, out)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")


def _foreign(p: argparse.ArgumentParser, a) -> None:
    """--onnx / --torch: open the model, check it on the data, build the bundle, write one checkpoint. Every
    problem stops before anything is written, with one line naming the file and the fix."""
    from explorer import foreign
    from explorer.celeba import CelebAError, open_celeba
    from explorer.checkpoint import atomic_torch_save, make_foreign_checkpoint
    from explorer.config import SUPPORTED_IMAGE_SIZES, PreprocessConfig
    from explorer.protocol import PixelRange
    from train.prepare import check_image_sizes, load_or_build_cache

    if a.onnx and a.torch:
        p.error("give --onnx or --torch, not both")
    if a.checkpoint or a.kinds_only:
        p.error("--onnx / --torch make a new checkpoint: give --out, not a CHECKPOINT to analyse")
    if not a.out or not a.data_dir:
        p.error("--onnx / --torch need --data-dir (the faces to analyse) and --out (the checkpoint to write)")
    if a.torch and not a.weights:
        p.error("--torch needs --weights FILE (a state dict or .safetensors)")
    if a.image_size < 8:
        p.error(f"--image-size {a.image_size}: too small")
    try:
        in_range, out_range = PixelRange.parse(a.input_range), PixelRange.parse(a.output_range)
    except ValueError as e:
        p.error(str(e))
    if a.image_size not in SUPPORTED_IMAGE_SIZES:
        print(f"note: --image-size {a.image_size}: our own models use {SUPPORTED_IMAGE_SIZES}; yours is read as it is")
    pre = PreprocessConfig(image_size=a.image_size, crop_fraction=a.crop[0], crop_aspect=a.crop[1])
    what = " + ".join(a.onnx) if a.onnx else f"--torch {a.torch}"
    try:
        if a.onnx:
            vae = foreign.onnx_from_files(a.onnx[0], a.onnx[1], a.image_size, in_range, out_range, a.device)
        else:
            vae = foreign.torch_from_spec(a.torch, a.weights, a.image_size, in_range, out_range, a.encode_method,
                                          a.decode_method, a.device)
        vae.preprocess_config = pre
        note = getattr(vae, "note", "")
        print(f"model: {vae.source.describe()}, latent {vae.latent_dim}, {a.image_size}x{a.image_size}, "
              f"{'mu and logvar' if vae.has_logvar else 'mu only (no logvar: no KL views)'}, device {a.device}"
              + (f"; weights: {note}" if note else ""))
        index = open_celeba(a.data_dir)
        print(index.describe())
        check_image_sizes(index, pre, a.allow_upscale)
        cache = load_or_build_cache(index, pre, a.cache_dir)
        rows = np.sort(np.random.default_rng(a.seed).permutation(len(cache.images))[:CHECK_IMAGES])
        check = check_on_data(vae, cache.images[rows], {"what": what})
    except (foreign.ForeignModelError, CelebAError) as e:
        sys.exit(f"error: {e}")
    t0 = time.perf_counter()
    bundle = build_bundle(vae, cache, parse_splits(a.splits), a.device, a.max_images, not a.no_tsne, a.seed,
                          progress=True)
    summary = {"source": vae.source.describe(), "check": check, "weights_note": getattr(vae, "note", ""),
               "export_seconds": round(time.perf_counter() - t0, 1)}
    ckpt = make_foreign_checkpoint(vae, cache.attribute_names, summary, bundle)
    out = Path(a.out)
    atomic_torch_save(ckpt, out)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB); open it with: streamlit run app.py -- --checkpoint {out}")


def _open_bundle(a, what: str):
    """(the loaded model, the file's raw dict) of a.checkpoint, which must hold an analysis bundle; else one line
    naming the file and what could not be done (``what``), and exit."""
    from explorer.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_dict

    try:
        vae = load_checkpoint(a.checkpoint, device=a.device)
        data = read_checkpoint_dict(a.checkpoint)
    except CheckpointError as e:
        sys.exit(f"error: {e}")
    if vae.bundle is None:
        sys.exit(f"error: {a.checkpoint}: no analysis bundle {what}; run python -m train.export with --data-dir")
    return vae, data


def _kinds_only(a) -> None:
    from explorer.checkpoint import atomic_torch_save

    vae, data = _open_bundle(a, "to find kinds in")
    b = vae.bundle
    b.kinds = find_kinds(lambda z: vae.decode(z).clamp(0, 1).numpy(), b.mu.astype(np.float32), b.attributes,
                         b.attribute_names, seed=a.seed)
    data["bundle"]["kinds"] = b.to_plain()["kinds"]
    out = Path(a.out or a.checkpoint)
    atomic_torch_save(data, out)
    print(f"kinds: {describe(b.kinds)}")
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")


def _scorecard_only(a) -> None:
    """The scorecard and (with --data-dir) the classifier for an existing bundle: only those two entries of the
    file change. The classifier trains on the bundle's own faces, found in the data folders by file name."""
    from explorer.celeba import CelebAError, open_celeba
    from explorer.checkpoint import atomic_torch_save
    from train.prepare import check_image_sizes, load_or_build_cache

    vae, data = _open_bundle(a, "to score")
    b = vae.bundle
    if a.data_dir:
        try:
            index = open_celeba(a.data_dir)
            check_image_sizes(index, vae.preprocess_config, a.allow_upscale)
            cache = load_or_build_cache(index, vae.preprocess_config, a.cache_dir)
        except CelebAError as e:
            sys.exit(f"error: {e}")
        where = {name: i for i, name in enumerate(cache.filenames)}
        missing = [f for f in b.filenames if f not in where]
        if missing:
            sys.exit(f"error: {len(missing):,} of the bundle's {len(b):,} faces (e.g. {missing[0]}) are not in "
                     f"{', '.join(map(str, a.data_dir))}; give the folders the checkpoint's bundle was made from")
        rows = np.array([where[f] for f in b.filenames])
        b.classifier = train_classifier(cache.images[rows], b.attributes, b.partition, seed=a.seed,
                                        attribute_names=b.attribute_names)
        data["bundle"]["classifier"] = b.classifier.to_plain()
    else:
        print("note: no --data-dir, so no attribute classifier (it trains on the bundle's images); scorecard only")
    data["bundle"]["scorecard"] = b.scorecard = compute_scorecard(b, a.seed)
    out = Path(a.out or a.checkpoint)
    atomic_torch_save(data, out)
    print("scorecard: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                    for k, v in b.scorecard.items() if not isinstance(v, str)))
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
