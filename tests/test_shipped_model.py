"""The shipped default model: small, opens through the public API, and is as good as its model card says."""
import re

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from explorer import load_checkpoint
from explorer.celeba import open_celeba

SHIPPED = ROOT / "checkpoints" / "celeba64.pt"
CARD = ROOT / "checkpoints" / "README.md"


def card_figure(name: str) -> float:
    m = re.search(rf"{name}[^|]*\|\s*\**([0-9.]+)", CARD.read_text())
    assert m, f"{CARD} has no '{name}' row"
    return float(m.group(1))


def test_shipped_checkpoint_is_small_and_complete():
    assert SHIPPED.stat().st_size < 20 * 2**20
    vae = load_checkpoint(SHIPPED)
    assert (vae.image_size, vae.latent_dim, len(vae.attribute_names)) == (64, 128, 40)
    b = vae.bundle
    assert len(b) == 5441 and b.mu.shape == (5441, 128)
    assert np.isfinite(b.tsne).all() and np.isfinite(b.pca).all()
    assert vae.summary["epochs"] >= 1 and len(vae.history) == vae.summary["epochs"]
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
