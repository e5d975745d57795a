"""Quality of checkpoints on the valid partition, beside the linear reference (PCA).

    python bench/bench_quality.py [CHECKPOINT ...] [--data-dir ../shared/celeba-sample]

Per checkpoint: per-pixel MSE of the reconstruction from mu, KL per image, active units
(Burda et al. 2016: Var_x E_q[z_u] > 0.01), and the ROC AUC of each attribute direction. The
directions are fitted on the train partition's encodings and scored on the valid partition's, so
the AUC is held out. The PCA row has as many components as the first checkpoint has latent
dimensions, fitted on the same train images.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from explorer import load_checkpoint
from explorer.celeba import open_celeba
from explorer.latent import direction_aucs, mean_difference_directions
from train.export import encode_cache
from train.losses import kl_per_dim
from train.prepare import load_or_build_cache

KEY_ATTRIBUTES = ["Smiling", "Male", "Eyeglasses", "Blond_Hair", "Black_Hair", "Bangs", "Wearing_Hat",
                  "Mouth_Slightly_Open"]


def evaluate(path: str, data_dir: str, cache_dir=None) -> dict:
    vae = load_checkpoint(path)
    cache = load_or_build_cache(open_celeba(data_dir), vae.preprocess_config, cache_dir, progress=False,
                                log=lambda m: None)
    tr, va = cache.split([0]), cache.split([1])
    mu_tr, _, _ = encode_cache(vae.model, cache.images[tr], vae.device)
    mu_va, logvar_va, mse_va = encode_cache(vae.model, cache.images[va], vae.device)
    kl = kl_per_dim(torch.from_numpy(mu_va), torch.from_numpy(logvar_va)).numpy()
    dirs = mean_difference_directions(mu_tr, cache.attributes[tr])
    aucs = direction_aucs(mu_va, cache.attributes[va], dirs)
    return {"name": Path(path).name, "latent_dim": vae.latent_dim, "mse": float(mse_va.mean()),
            "kl": float(kl.sum(1).mean()), "active": int((mu_va.var(0) > 0.01).sum()),
            "aucs": dict(zip(cache.attribute_names, aucs)), "cache": cache, "tr": tr, "va": va,
            "loss": vae.summary.get("loss", {}), "epochs": vae.summary.get("epochs")}


def pca_mse(cache, tr, va, k: int) -> float:
    from sklearn.decomposition import PCA

    x_tr = cache.images[tr].reshape(len(tr), -1).astype(np.float32) / 255
    x_va = cache.images[va].reshape(len(va), -1).astype(np.float32) / 255
    pca = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(x_tr)
    rec = pca.inverse_transform(pca.transform(x_va))
    return float(((rec - x_va) ** 2).mean())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", default=[str(ROOT / "checkpoints" / "celeba64.pt")])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "celeba-sample"))
    p.add_argument("--cache-dir", default=None)
    a = p.parse_args()
    rows = [evaluate(c, a.data_dir, a.cache_dir) for c in a.checkpoints]
    first = rows[0]
    ref = pca_mse(first["cache"], first["tr"], first["va"], first["latent_dim"])
    print(f"valid partition: {len(first['va'])} images; train partition: {len(first['tr'])} images\n")
    head = ["model", "objective", "epochs", "valid MSE", "KL nats/image", "active units",
            *[k for k in KEY_ATTRIBUTES], "mean AUC (40)"]
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


if __name__ == "__main__":
    main()
