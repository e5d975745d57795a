"""The shipped default model: small, opens through the public API, and is as good as its model card says."""
import re

import numpy as np
import pytest
import torch

from conftest import ROOT
from explorer import load_checkpoint
from explorer.celeba import open_celeba
from explorer.analysis.runlog import epoch_rows

SHIPPED = ROOT / "checkpoints" / "celeba64.pt"
CARD = ROOT / "checkpoints" / "README.md"


def card_figure(name: str) -> float:
    m = re.search(rf"{name}[^|]*\|\s*\**([0-9.]+)", CARD.read_text())
    assert m, f"{CARD} has no '{name}' row"
    return float(m.group(1))


def test_shipped_checkpoints_are_small_and_complete():
    shipped = sorted((ROOT / "checkpoints").glob("*.pt"))
    assert SHIPPED in shipped and sum(p.stat().st_size for p in shipped) <= 20_000_000  # 20 MB in all (issue 28)
    assert SHIPPED.stat().st_size <= 10 * 2**20  # weights and analysis bundle together
    vae = load_checkpoint(SHIPPED)
    assert (vae.image_size, vae.latent_dim, len(vae.attribute_names)) == (64, 128, 40)
    b = vae.bundle
    assert len(b) == b.info["images"] and b.mu.shape == (len(b), 128)
    # trained on the three shared folders: the sample and the two half-resolution folders of more people
    folders = {f["name"]: f for f in vae.summary["data"]["folders"]}
    assert set(folders) == {"celeba-sample", "celeba-extra-halfres", "celeba-more-halfres"}
    assert vae.summary["data"]["train_images"] == 48_855 and "/" not in str(vae.summary["data"])
    # the map's faces travel in the file (decoded by train.export, not on the first click in the app)
    assert b.sprites is not None and b.sprites["size"] == 24
    assert np.isfinite(b.tsne).all() and np.isfinite(b.pca).all()
    # hats and glasses come in kinds (explorer.analysis.kinds), each with faces enough for its own direction
    assert set(b.kinds) == {"Wearing_Hat", "Eyeglasses"}
    for name, labels in b.kinds.items():
        has = b.attributes[:, vae.attribute_names.index(name)] == 1
        sizes = np.bincount(labels[has])
        assert ((labels >= 0) == has).all() and len(sizes) == 3 and sizes.min() >= 20
    assert vae.summary["epochs"] >= 1 and len(epoch_rows(vae.history)) == vae.summary["epochs"]
    faces = vae.decode(torch.randn(4, 128))
    assert faces.shape == (4, 3, 64, 64) and 0 <= faces.min() and faces.max() <= 1


@pytest.mark.realdata
def test_shipped_model_reconstructs_valid_faces_as_the_model_card_says(sample_dir):
    """Through the public API only: JPEG -> preprocess -> encode -> decode(mu)."""
    vae = load_checkpoint(SHIPPED)
    index = open_celeba(sample_dir)
    valid = np.flatnonzero(index.partition == 1)
    assert len(valid) == 780
    errors = []
    for start in range(0, len(valid), 195):
        batch = []
        for i in valid[start:start + 195]:
            with index.open_image(int(i)) as img:
                batch.append(vae.preprocess(img))
        x = torch.stack(batch)
        mu, _ = vae.encode(x)
        errors.append((vae.decode(mu) - x).pow(2).flatten(1).mean(1))
    mse = torch.cat(errors).mean().item()
    card = card_figure("valid-partition MSE")
    # A later change (weights, preprocessing, decoder) must not silently ship a worse model.
    assert mse <= card * 1.01 + 1e-6, f"valid MSE {mse:.5f} is worse than the model card's {card:.5f}"
    assert mse > 0.5 * card, f"valid MSE {mse:.5f} is far from the model card's {card:.5f}: update the card"


def test_training_defaults_are_the_shipped_models_recipe():
    """`python -m train --data-dir DIR --out PATH` must train the model we ship: every setting that
    defines a run defaults to what the shipped checkpoint recorded."""
    from train.cli import build_parser
    from train.loop import RUN_FIELDS

    defaults = build_parser().parse_args(["--data-dir", "DIR", "--out", "PATH"])
    recipe = load_checkpoint(SHIPPED).summary["recipe"]
    assert set(recipe) == set(RUN_FIELDS)
    for k in RUN_FIELDS:
        got = list(getattr(defaults, k)) if k == "channels" else getattr(defaults, k)
        assert got == recipe[k], f"--{k.replace('_', '-')} defaults to {got}; the shipped model used {recipe[k]}"
