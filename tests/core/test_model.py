import pytest
import torch

from explorer.config import VAEConfig
from explorer.model import VAE


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_and_output_range(size):
    model = VAE(VAEConfig(image_size=size, latent_dim=8, channels=(4, 4, 4, 4, 4))).eval()
    x = torch.rand(3, 3, size, size)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 8)
    out = model.decode(torch.randn(5, 8) * 10)  # far outside the prior, still valid pixels
    assert out.shape == (5, 3, size, size)
    assert out.min() >= 0 and out.max() <= 1


def test_default_size_matches_the_common_pipeline():
    n = sum(p.numel() for p in VAE(VAEConfig()).parameters())
    assert 2.5e6 < n < 4.5e6  # about the 3.9M of the usual 64x64 CelebA VAE


def test_config_rejects_bad_values_and_unknown_keys():
    with pytest.raises(ValueError, match="image_size"):
        VAEConfig(image_size=48)
    with pytest.raises(ValueError, match="unknown keys"):
        VAEConfig.from_dict({"image_size": 64, "latnet_dim": 3})
    assert VAEConfig.from_dict(VAEConfig(latent_dim=7).to_dict()) == VAEConfig(latent_dim=7)
