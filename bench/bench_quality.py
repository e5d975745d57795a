"""Quality of checkpoints on the valid partition, beside the linear reference (PCA), and their edits
and samples as an attribute classifier judges them.

    python bench/bench_quality.py [CHECKPOINT ...] [--data-dir DIR ...] [--no-classifier | --screen]

The data folders default to ../shared/celeba-sample, celeba-extra-halfres and celeba-more-halfres (where
present): the train partition of all of them, and the valid partition (the sample's 780 faces and the third
folder's 4,405: 907 people never seen in training).

Per checkpoint:
- per-pixel MSE of the reconstruction from mu, KL per image, active units (Burda et al. 2016:
  Var_x E_q[z_u] > 0.01), and the held-out ROC AUC of each attribute direction: directions fitted on the
  train partition's encodings, scored on the valid partition's. The PCA row has as many components as the
  first checkpoint has latent dimensions, fitted on the same train images.
- edits judged as a user judges them: on valid faces that lack an attribute, how often decoding
  z + 2·d makes the classifier (bench/attribute_classifier.py, trained on the train images) see it, with
  d the attribute's direction of each kind the app offers (others fixed, the app's default; balanced; the plain
  mean difference: class-mean gaps in latent units), and how far the other 39 attribute probabilities move (mean absolute change against the unedited decode).
  Two judges (JUDGES below), each with its recall and false positives on the real valid images, and a
  ceiling: how often it sees the attribute in the model's own reconstructions of faces that have it.
  Then the same for each kind of Wearing_Hat and Eyeglasses (explorer.analysis.kinds), found on the train encodings.
- the arithmetic view's first face: each direction kind at weights of ¼ to 2½ class gaps, and start rules (the
  largest share that keeps the edited z typical; the app's, explorer.latent.start_shares: the smallest share
  that the checkpoint's own attribute classifier sees, else the largest typical one), judged by the class-balanced
  judge, with the share of edited z that stay typical.
- samples: the classifier's attribute frequencies on 1,000 samples from N(0, I) and from the density
  fitted to the encodings (explorer.analysis.density), against its frequencies on the real valid images and
  on the model's reconstructions of them (what the decoder can draw at all).
- sample quality: the Fréchet distance (as FID, Heusel et al. 2017, with the calibrated judge's pooled
  features in place of Inception's, which would need a download) between the real valid faces and 1,000
  samples from N(0, τ²I) at τ = 1 and 0.8 and from the fitted density; its floor (one half of the valid faces
  against the other) and a reference (Gaussian samples in the space of PCA with as many components as the
  model has latent dimensions, fitted on the train images) in the same table.

``--screen`` prints one row per checkpoint instead (fit, Fréchet distances, frequency gaps): how the recipe
screens of checkpoints/README.md were compared. bench/bench_directions.py studies other direction estimators
and first weights against the drift of edits.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np
import torch

from explorer import load_checkpoint
from explorer.celeba import open_celeba
from explorer.latent import (EDIT_SEEN_P, EDIT_SEEN_SHARES, EDIT_START_SHARES, attribute_directions,
                             direction_aucs, held_directions, mean_difference_directions, start_shares)
from train.export import encode_cache
from train.losses import kl_per_dim
from train.prepare import load_or_build_cache

KEY_ATTRIBUTES = ["Smiling", "Male", "Eyeglasses", "Blond_Hair", "Black_Hair", "Bangs", "Wearing_Hat",
                  "Mouth_Slightly_Open"]
EDIT_STRENGTH = 2.0
# the arithmetic view's first face: weights as shares of the attribute's class gap (the app's unit), and start
# rules to compare, each its shares largest first; the app's (explorer.latent.EDIT_START_SHARES) among them
START_RULES = tuple(dict.fromkeys([EDIT_START_SHARES, (1.0, 0.75, 0.5, 0.25), (1.5, 1.0, 0.75, 0.5, 0.25),
                                   (2.0, 1.5, 1.0, 0.75, 0.5, 0.25)]))
SHARES = tuple(sorted({0.25, 0.5, 1.0, 1.5, 2.0, 2.5, *EDIT_SEEN_SHARES, *(v for rule in START_RULES for v in rule)}))
# the app's rule where the checkpoint carries an attribute classifier: the smallest of EDIT_SEEN_SHARES that it
# sees (P > EDIT_SEEN_P) and stays typical, else EDIT_START_SHARES' rule (explorer.latent.start_shares)
SEEN_RULE = "seen"
STRENGTH_FACES = 1000  # valid faces per attribute in the strength sweep (the first that lack it)
N_SAMPLES = 1000
# Two judges, the same CNN trained two ways (bench/attribute_classifier.py): "calibrated" answers "how likely
# is the attribute, given how rare it is" and misses most real hats; "class-balanced" answers "does the face
# look like those that have it". An edit is judged by both; sample frequencies by the calibrated one.
JUDGES = {"calibrated": False, "class-balanced": True}
SHARED = ROOT.parent / "shared"


def default_data_dirs() -> list[str]:
    return [str(p) for p in (SHARED / "celeba-sample", SHARED / "celeba-extra-halfres", SHARED / "celeba-more-halfres")
            if p.is_dir()]


def evaluate(path: str, data_dirs, cache_dir=None) -> dict:
    vae = load_checkpoint(path)
    cache = load_or_build_cache(open_celeba(data_dirs), vae.preprocess_config, cache_dir, progress=False,
                                log=lambda m: None)
    tr, va = cache.split([0]), cache.split([1])
    mu_tr, _, _ = encode_cache(vae, cache.images[tr])
    mu_va, logvar_va, mse_va = encode_cache(vae, cache.images[va])
    kl = kl_per_dim(torch.from_numpy(mu_va), torch.from_numpy(logvar_va)).numpy()
    dirs = mean_difference_directions(mu_tr, cache.attributes[tr])
    aucs = direction_aucs(mu_va, cache.attributes[va], dirs)
    return {"name": Path(path).name, "vae": vae, "latent_dim": vae.latent_dim, "mse": float(mse_va.mean()),
            "kl": float(kl.sum(1).mean()), "active": int((mu_va.var(0) > 0.01).sum()),
            "aucs": dict(zip(cache.attribute_names, aucs)), "cache": cache, "tr": tr, "va": va,
            "mu_tr": mu_tr, "mu_va": mu_va, "loss": vae.summary.get("loss", {}), "epochs": vae.summary.get("epochs")}


def pca_mse(cache, tr, va, k: int) -> float:
    from sklearn.decomposition import PCA

    x_tr = cache.images[tr].reshape(len(tr), -1).astype(np.float32) / 255
    x_va = cache.images[va].reshape(len(va), -1).astype(np.float32) / 255
    pca = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(x_tr)
    rec = pca.inverse_transform(pca.transform(x_va))
    return float(((rec - x_va) ** 2).mean())


def judge_features(clf, images, batch: int = 512) -> np.ndarray:
    """(N,3,S,S) uint8 or float in [0,1] -> (N,F) the judge's pooled last features (what its head reads)."""
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.as_tensor(np.asarray(images[s:s + batch]) if not torch.is_tensor(images) else images[s:s + batch])
            x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
            out.append(clf.features(x).mean((2, 3)))
    return torch.cat(out).double().numpy()


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of the Gaussians fitted to two feature sets: |m_a − m_b|² + Tr(S_a + S_b − 2 (S_a S_b)^½)."""
    ma, mb = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr (S_a S_b)^½ is the sum of the square roots of S_a S_b's eigenvalues (real and ≥ 0 for two covariances,
    # up to rounding): no matrix square root, whose SciPy signature is changing
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(sa @ sb).real, 0, None)).sum()
    return float(((ma - mb) ** 2).sum() + np.trace(sa + sb) - 2 * root_trace)


def pca_gaussian_samples(cache, tr, k: int, n: int, seed: int = 0) -> torch.Tensor:
    """n images drawn from the Gaussian that PCA-k of the train images defines (each component with its own
    variance), clipped to [0,1]: a linear model's samples, the reference a VAE's samples should beat."""
    from sklearn.decomposition import PCA

    x_tr = cache.images[tr].reshape(len(tr), -1).astype(np.float32) / 255
    pca = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(x_tr)
    codes = np.random.default_rng(seed).standard_normal((n, k)) * np.sqrt(pca.explained_variance_)
    flat = np.clip(pca.inverse_transform(codes.astype(np.float32)), 0, 1)
    return torch.from_numpy(flat.reshape(n, *cache.images.shape[1:]).astype(np.float32))


def distance_report(r: dict, clf, pca_samples: torch.Tensor) -> dict:
    """Fréchet distance to the real valid faces' judge features, per source of N_SAMPLES faces."""
    from explorer.analysis.density import fit_density
    from explorer.latent import sample_z

    vae = r["vae"]
    real = judge_features(clf, r["cache"].images[r["va"]])
    half = len(real) // 2
    perm = np.random.default_rng(0).permutation(len(real))
    density = (getattr(vae.bundle, "density", None) if vae.bundle is not None else None) or fit_density(r["mu_tr"])
    sources = {"N(0, I), τ = 1": sample_z(N_SAMPLES, vae.latent_dim, seed=0, tau=1.0),
               "N(0, τ²I), τ = 0.8": sample_z(N_SAMPLES, vae.latent_dim, seed=0, tau=0.8),
               "fitted density, τ = 1": density.sample(N_SAMPLES, seed=0),
               "fitted density, τ = 0.8": density.sample(N_SAMPLES, seed=0, tau=0.8)}
    out = {"floor: valid half against valid half": frechet(real[perm[:half]], real[perm[half:]])}
    for label, z in sources.items():
        out[label] = frechet(judge_features(clf, decode_all(vae, z.astype(np.float32))), real)
    out["reconstructions of the valid faces (from μ)"] = frechet(judge_features(clf, decode_all(vae, r["mu_va"])), real)
    out[f"reference: PCA-{vae.latent_dim} Gaussian samples"] = frechet(judge_features(clf, pca_samples), real)
    return out


def decode_all(vae, z: np.ndarray, batch: int = 256) -> torch.Tensor:
    return torch.cat([vae.decode(z[s:s + batch]) for s in range(0, len(z), batch)])


def unedited(r: dict, clf) -> np.ndarray:
    """The judge's probabilities on the model's unedited decodes of the valid faces: what every edit's
    drift is measured against; computed once per model and judge."""
    from attribute_classifier import probabilities

    cache = r.setdefault("unedited", {})
    if id(clf) not in cache:
        cache[id(clf)] = probabilities(clf, decode_all(r["vae"], r["mu_va"]))
    return cache[id(clf)]


def train_directions(r: dict) -> dict:
    """The three kinds of attribute directions fitted on the train encodings (balanced, held: others fixed,
    plain), as the app's Directions control offers them; fitted once per model."""
    if "directions" not in r:
        labels = r["cache"].attributes[r["tr"]]
        plain, balanced, _ = attribute_directions(r["mu_tr"], labels)
        r["directions"] = {"balanced": balanced, "held": held_directions(r["mu_tr"], labels), "plain": plain}
    return r["directions"]


def drift(p: np.ndarray, p0: np.ndarray, j: int) -> np.ndarray:
    """(N,): how far an edit of attribute j moved the other attributes, the mean absolute change of their
    probabilities ``p`` (N,K) against the unedited decode's ``p0`` (N,K)."""
    others = [k for k in range(p.shape[1]) if k != j]
    return np.abs(p[:, others] - p0[:, others]).mean(1)


def edit_report(r: dict, clf) -> list[dict]:
    from attribute_classifier import probabilities

    cache, vae = r["cache"], r["vae"]
    names = list(cache.attribute_names)
    dirs = train_directions(r)
    attrs_va = cache.attributes[r["va"]]
    p0 = unedited(r, clf)
    rows = []
    for name in KEY_ATTRIBUTES:
        j = names.index(name)
        lack = np.flatnonzero(attrs_va[:, j] == 0)
        has = np.flatnonzero(attrs_va[:, j] == 1)
        row = {"attribute": name, "faces": len(lack), "before": float((p0[lack, j] > 0.5).mean()),
               "with": len(has), "ceiling": float((p0[has, j] > 0.5).mean()) if len(has) else float("nan")}
        for kind, d in dirs.items():
            p = probabilities(clf, decode_all(vae, r["mu_va"][lack] + EDIT_STRENGTH * d[j]))
            row[kind] = float((p[:, j] > 0.5).mean())
            row[kind + "_drift"] = float(drift(p, p0[lack], j).mean())
        rows.append(row)
    return rows


def kind_report(r: dict, clf) -> list[dict]:
    """Edits by kind (explorer.analysis.kinds): the kinds found on the train encodings as the export finds them,
    each kind's three directions fitted on the train encodings, judged like edit_report's."""
    from attribute_classifier import probabilities
    from explorer.analysis.kinds import find_kinds, kind_directions, split_name

    cache, vae = r["cache"], r["vae"]
    names = list(cache.attribute_names)
    a_tr, attrs_va = cache.attributes[r["tr"]], cache.attributes[r["va"]]
    if "kinds" not in r:
        r["kinds"] = find_kinds(lambda z: decode_all(vae, z).numpy(), r["mu_tr"], a_tr, names)
    p0 = unedited(r, clf)
    rows = {}
    for kind in ("balanced", "held", "plain"):
        edit_names, dirs = kind_directions("mean" if kind == "plain" else kind, r["mu_tr"], a_tr, names, r["kinds"])
        for name, d in zip(edit_names, dirs):
            attribute, k = split_name(name)
            j = names.index(attribute)
            lack = np.flatnonzero(attrs_va[:, j] == 0)
            p = probabilities(clf, decode_all(vae, r["mu_va"][lack] + EDIT_STRENGTH * d))
            row = rows.setdefault(name, {"kind": name, "train faces": int((r["kinds"][attribute] == k).sum()),
                                         "faces": len(lack)})
            row[kind] = float((p[:, j] > 0.5).mean())
            row[kind + "_drift"] = float(drift(p, p0[lack], j).mean())
    return list(rows.values())


def strength_report(r: dict, clf) -> list[dict]:
    """The arithmetic view's first face, measured. On (at most STRENGTH_FACES) valid faces that lack each key
    attribute: z + w·d/|d| (explorer.latent.edit, as the app edits) for each direction kind, with the weight
    w = share × the attribute's class gap |mean(μ | a) − mean(μ | not a)|, judged as edit_report's; plus the
    share of edited z that stay typical (explorer.analysis.typicality, on the checkpoint's bundle), and the
    start rules (explorer.latent.start_shares, as explorer.ui.arithmetic.start_weight: the largest of a rule's
    shares that stays typical, per face, for each of START_RULES; and the app's, which first takes the smallest
    share the checkpoint's classifier sees). One row per (kind, share or rule), each the mean over the key
    attributes."""
    from attribute_classifier import probabilities
    from explorer.analysis import typicality
    from explorer.latent import edit

    cache, vae = r["cache"], r["vae"]
    app_clf = getattr(vae.bundle, "classifier", None) if vae.bundle is not None else None
    names = list(cache.attribute_names)
    fitted = train_directions(r)
    plain = fitted["plain"]
    kinds = {"balanced": fitted["balanced"], "others-fixed": fitted["held"], "plain": plain}
    attrs_va = cache.attributes[r["va"]]
    p0 = unedited(r, clf)
    cells: dict = {}
    for name in KEY_ATTRIBUTES:
        j = names.index(name)
        lack = np.flatnonzero(attrs_va[:, j] == 0)[:STRENGTH_FACES]
        gap = float(np.linalg.norm(plain[j]))
        for kind, dirs in kinds.items():
            shown, moved, typical, seen = {}, {}, {}, {}
            for share in SHARES:
                z = edit(r["mu_va"][lack], dirs[j:j + 1], [share * gap])
                x = decode_all(vae, z)
                p = probabilities(clf, x)
                shown[share] = p[:, j] > 0.5
                moved[share] = drift(p, p0[lack], j)
                typical[share] = typicality.percentile(vae.bundle, z) >= typicality.ATYPICAL
                if app_clf is not None and share in EDIT_SEEN_SHARES:
                    seen[share] = app_clf.probabilities(x)[:, app_clf.attribute_names.index(name)] > EDIT_SEEN_P
            # each start rule per face (explorer.latent.start_shares): the largest of its shares that stays
            # typical, else its last; the app's rule first asks the checkpoint's classifier (SEEN_RULE)
            picks = {rule: start_shares(typical, shares=rule) for rule in START_RULES}
            if seen:
                picks[SEEN_RULE] = start_shares(typical, seen)
            rules = {}
            for rule, pick in picks.items():
                at = [SHARES.index(v) for v in pick]
                rules[rule] = {k: np.choose(at, [src[sh] for sh in SHARES])
                               for k, src in (("shown", shown), ("drift", moved), ("typical", typical))}
                rules[rule]["weight"] = pick * gap
            for share in (*SHARES, *START_RULES, *([SEEN_RULE] if seen else [])):
                c = cells.setdefault((kind, share), {"shown": [], "drift": [], "typical": [], "weight": []})
                if share in rules:
                    for k in c:
                        c[k].append(float(np.mean(rules[share][k])))
                else:
                    c["shown"].append(float(shown[share].mean()))
                    c["drift"].append(float(moved[share].mean()))
                    c["typical"].append(float(typical[share].mean()))
                    c["weight"].append(share * gap)
    return [{"kind": kind, "share": share, **{k: float(np.mean(v)) for k, v in c.items()}}
            for (kind, share), c in cells.items()]


def sample_report(r: dict, clf) -> dict:
    """Attribute frequencies (classifier probability > 0.5) of N_SAMPLES faces from each source."""
    from attribute_classifier import probabilities
    from explorer.analysis.density import fit_density
    from explorer.latent import sample_z

    vae = r["vae"]
    bundle_density = getattr(vae.bundle, "density", None) if vae.bundle is not None else None
    density = bundle_density or fit_density(r["mu_tr"])
    sources = {"N(0, I)": sample_z(N_SAMPLES, vae.latent_dim, seed=0, tau=1.0),
               "fitted density": density.sample(N_SAMPLES, seed=0)}
    out = {"density": "from the bundle" if bundle_density else "fitted here on the train encodings"}
    for label, z in sources.items():
        out[label] = (probabilities(clf, decode_all(vae, z.astype(np.float32))) > 0.5).mean(0)
    # the same judge on the real valid images, so its own biases cancel in the comparison
    real = torch.from_numpy(np.ascontiguousarray(r["cache"].images[r["va"]]))
    out["reconstructions of the valid images"] = (unedited(r, clf) > 0.5).mean(0)
    out["data (valid images)"] = (probabilities(clf, real) > 0.5).mean(0)
    return out


def screen(checkpoints, data_dirs, cache_dir=None) -> None:
    """One row per checkpoint, each evaluated and dropped in turn (training checkpoints without a bundle too:
    their density is fitted here): the valid MSE and KL, the calibrated judge's Fréchet distances and the
    mean attribute-frequency gaps of N(0, I) samples, fitted-density samples and reconstructions."""
    from attribute_classifier import train_classifier

    print("| checkpoint | valid MSE | KL nats/image | Fréchet N(0, I) | Fréchet fitted density | Fréchet "
          "reconstructions | frequency gap N(0, I) | frequency gap fitted density | frequency gap reconstructions |")
    print("|---|---|---|---|---|---|---|---|---|")
    clf = None
    for path in checkpoints:
        r = evaluate(path, data_dirs, cache_dir)
        clf = clf or train_classifier(r["cache"], r["tr"], balanced=False, log=lambda m: print(m, file=sys.stderr))
        d = distance_report(r, clf, pca_gaussian_samples(r["cache"], r["tr"], r["latent_dim"], N_SAMPLES))
        s = sample_report(r, clf)
        gap = {k: np.abs(s[k] - s["data (valid images)"]).mean()
               for k in ("N(0, I)", "fitted density", "reconstructions of the valid images")}
        print(f"| {r['name']} | {r['mse']:.5f} | {r['kl']:.0f} | {d['N(0, I), τ = 1']:.2f} | "
              f"{d['fitted density, τ = 1']:.2f} | {d['reconstructions of the valid faces (from μ)']:.2f} | "
              + " | ".join(f"{v:.3f}" for v in gap.values()) + " |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", default=[str(ROOT / "checkpoints" / "celeba64.pt")])
    p.add_argument("--data-dir", action="append", default=None, help="CelebA folder; several times to unite them")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--no-classifier", action="store_true", help="skip the edit and sample tables")
    p.add_argument("--screen", action="store_true",
                   help="one row per checkpoint (fit, Fréchet distances, frequency gaps): to compare recipe screens")
    a = p.parse_args()
    torch.set_num_threads(1)
    data_dirs = a.data_dir or default_data_dirs()
    if a.screen:
        return screen(a.checkpoints, data_dirs, a.cache_dir)
    rows = [evaluate(c, data_dirs, a.cache_dir) for c in a.checkpoints]
    first = rows[0]
    ref = pca_mse(first["cache"], first["tr"], first["va"], first["latent_dim"])
    print(f"data: {', '.join(Path(d).name for d in data_dirs)}; valid partition: {len(first['va'])} images; "
          f"train partition: {len(first['tr'])} images\n")
    head = ["model", "objective", "epochs", "valid MSE", "KL nats/image", "active units",
            *KEY_ATTRIBUTES, "mean AUC (40)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        loss = r["loss"]
        obj = (f"{loss.get('likelihood')} σ" + (f"={loss.get('sigma')}" if loss.get("likelihood") == "fixed" else "")
               + f", β={loss.get('beta')}") if loss else "?"
        aucs = [f"{r['aucs'][k]:.3f}" for k in KEY_ATTRIBUTES]
        print(f"| {r['name']} | {obj} | {r['epochs']} | {r['mse']:.5f} | {r['kl']:.1f} | "
              f"{r['active']}/{r['latent_dim']} | " + " | ".join(aucs) + f" | {np.nanmean(list(r['aucs'].values())):.3f} |")
    print(f"| PCA-{first['latent_dim']} (linear reference) | | | {ref:.5f} | | | " + " | " * len(KEY_ATTRIBUTES) + " |")
    if a.no_classifier:
        return

    from attribute_classifier import held_out_aucs, probabilities, train_classifier

    names = list(first["cache"].attribute_names)
    va_attrs = first["cache"].attributes[first["va"]].astype(bool)
    real_va = torch.from_numpy(np.ascontiguousarray(first["cache"].images[first["va"]]))
    judges = {}
    for kind, balanced in JUDGES.items():
        t0 = time.perf_counter()
        clf = judges[kind] = train_classifier(first["cache"], first["tr"], balanced=balanced,
                                              log=lambda m: print(m, file=sys.stderr, flush=True))
        probs = probabilities(clf, real_va)
        auc, p = held_out_aucs(probs, va_attrs), probs > 0.5
        print(f"\n**the {kind} judge**: a {sum(q.numel() for q in clf.parameters()) / 1e6:.2f}M-parameter CNN "
              f"trained on the {len(first['tr'])} train images ({time.perf_counter() - t0:.0f} s here, or loaded); "
              f"mean held-out AUC of 40 {np.nanmean(auc):.3f}. On the real valid images: how often it sees the "
              f"attribute where it is (recall) and where it is not (false positives)\n")
        print("| | " + " | ".join(KEY_ATTRIBUTES) + " |\n|---|" + "---|" * len(KEY_ATTRIBUTES))
        cols = [names.index(k) for k in KEY_ATTRIBUTES]
        print("| held-out AUC | " + " | ".join(f"{auc[j]:.3f}" for j in cols) + " |")
        print("| recall (faces with it) | " + " | ".join(
            f"{p[va_attrs[:, j], j].mean():.0%} of {va_attrs[:, j].sum()}" for j in cols) + " |")
        print("| false positives (faces without) | " + " | ".join(f"{p[~va_attrs[:, j], j].mean():.1%}" for j in cols)
              + " |")
    for r in rows:
        for kind, clf in judges.items():
            edits = edit_report(r, clf)
            print(f"\n**{r['name']}, the {kind} judge: edits z + {EDIT_STRENGTH:g}·d on valid faces that lack the "
                  f"attribute** (d: the attribute's direction fitted on the train encodings, a class-mean gap: "
                  f"balanced; with all other attributes fixed, a regression on all 40 (the app's default); or the "
                  f"plain mean difference; the ceiling: how often the judge "
                  f"sees the attribute in this model's reconstructions of the valid faces that have it)\n")
            kinds = ("balanced", "held", "plain")
            print("| attribute | faces | judge sees it before | after, balanced d | drift of the other 39 | "
                  "after, others-fixed d | drift | after, plain d | drift | ceiling |")
            print("|---|---|---|---|---|---|---|---|---|---|")
            for e in edits:
                print(f"| {e['attribute']} | {e['faces']} | {e['before']:.1%} | "
                      + " | ".join(f"{e[k]:.1%} | {e[k + '_drift']:.3f}" for k in kinds)
                      + f" | {e['ceiling']:.0%} of {e['with']} |")
            print("| **mean of 8** | | | " + " | ".join(
                f"**{np.mean([e[k] for e in edits]):.1%}** | **{np.mean([e[k + '_drift'] for e in edits]):.3f}**"
                for k in kinds) + " | |")
            by_kind = kind_report(r, clf)
            if by_kind:
                print(f"\n**{r['name']}, the {kind} judge: edits by kind** (explorer.analysis.kinds: the faces with the "
                      f"attribute in the train encodings grouped by what the decoder draws where it shows, and "
                      f"directions fitted per kind; z + {EDIT_STRENGTH:g}·d on the same valid faces as above)\n")
                print("| kind | its train faces | faces | after, balanced d | drift of the other 39 | "
                      "after, others-fixed d | drift | after, plain d | drift |")
                print("|---|---|---|---|---|---|---|---|---|")
                for e in by_kind:
                    print(f"| {e['kind']} | {e['train faces']} | {e['faces']} | "
                          + " | ".join(f"{e[k]:.1%} | {e[k + '_drift']:.3f}" for k in kinds) + " |")
            if kind == "class-balanced":
                print(f"\n**{r['name']}, the {kind} judge: the arithmetic view's first face** (the first "
                      f"{STRENGTH_FACES:,} valid faces lacking each key attribute; z + w·d/|d| with w a share of the "
                      f"attribute's class gap; typical: the edited z at or above the 1st percentile of the bundle's "
                      f"encodings; a start rule takes, per face, the largest of its shares that stays typical; "
                      f"means over the 8 attributes)\n")
                print("| direction | weight (class gaps) | mean weight | edit shown | drift of the other 39 | "
                      "edited z typical |\n|---|---|---|---|---|---|")
                for e in strength_report(r, clf):
                    if e["share"] == SEEN_RULE:
                        share = (f"start rule: the smallest of {'/'.join(f'{v:g}' for v in EDIT_SEEN_SHARES)} the "
                                 f"checkpoint's classifier sees at P > {EDIT_SEEN_P:g}, else the next (the app's)")
                    elif isinstance(e["share"], tuple):
                        mark = " (the app's without a classifier)" if e["share"] == EDIT_START_SHARES else ""
                        share = "start rule " + "/".join(f"{v:g}" for v in e["share"]) + mark
                    else:
                        share = f"{e['share']:g}"
                    print(f"| {e['kind']} | {share} | {e['weight']:.2f} | {e['shown']:.1%} | {e['drift']:.3f} | "
                          f"{e['typical']:.1%} |")
        # frequencies want the calibrated judge: its P > 0.5 rate follows how common an attribute is
        clf = judges["calibrated"]
        d = distance_report(r, clf, pca_gaussian_samples(r["cache"], r["tr"], r["latent_dim"], N_SAMPLES))
        print(f"\n**{r['name']}: sample quality**, the Fréchet distance between the calibrated judge's features of "
              f"{N_SAMPLES:,} faces and of the {len(r['va']):,} real valid faces (lower is nearer; the floor is what "
              f"two halves of real faces score)\n")
        print("| faces | Fréchet distance |\n|---|---|")
        for label, v in d.items():
            print(f"| {label} | {v:.2f} |")
        s = sample_report(r, clf)
        print(f"\n**{r['name']}: attribute frequencies the classifier sees in {N_SAMPLES:,} samples** "
              f"(density {s['density']})\n")
        srcs = ["N(0, I)", "fitted density", "reconstructions of the valid images", "data (valid images)"]
        print("| source | " + " | ".join(KEY_ATTRIBUTES) + " | mean abs. gap to the data (40) |")
        print("|---|" + "---|" * (len(KEY_ATTRIBUTES) + 1))
        for src in srcs:
            gap = "" if src.startswith("data") else f"{np.abs(s[src] - s[srcs[-1]]).mean():.3f}"
            print(f"| {src} | " + " | ".join(f"{s[src][names.index(k)]:.1%}" for k in KEY_ATTRIBUTES) + f" | {gap} |")


if __name__ == "__main__":
    main()
