import math

import pytest
import torch

from explorer.config import LossConfig, VAEConfig
from explorer.model import VAE
from train.losses import kl_per_dim, vae_loss


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


def test_kl_matches_closed_form_and_monte_carlo():
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]])
    kl = kl_per_dim(mu, logvar)
    var = logvar.exp()
    expected = 0.5 * (mu**2 + var - torch.log(var) - 1)
    assert torch.allclose(kl, expected)
    # Monte Carlo check against log q - log p
    torch.manual_seed(0)
    z = mu + var.sqrt() * torch.randn(200_000, 2)
    log_q = -0.5 * ((z - mu) ** 2 / var + torch.log(2 * math.pi * var))
    log_p = -0.5 * (z**2 + math.log(2 * math.pi))
    assert torch.allclose((log_q - log_p).mean(0), kl[0], atol=0.02)
    assert kl_per_dim(torch.zeros(1, 3), torch.zeros(1, 3)).abs().max() == 0


def test_losses_fixed_and_calibrated():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 8, 8)
    recon = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    mu, logvar = torch.zeros(4, 5), torch.zeros(4, 5)
    fixed = vae_loss(x, recon, mu, logvar, LossConfig(likelihood="fixed", sigma=0.1), beta=1.0)
    sq = (recon - x).pow(2).flatten(1).sum(1)
    p = 3 * 8 * 8
    expected = (sq / (2 * 0.01) + p * (math.log(0.1) + 0.5 * math.log(2 * math.pi))).mean()
    assert torch.allclose(fixed.recon_nll, expected)
    assert fixed.kl == 0
    cal = vae_loss(x, recon, mu, logvar, LossConfig(likelihood="calibrated"), beta=1.0)
    assert torch.allclose(cal.sigma, fixed.mse.sqrt())
    # the calibrated sigma is the maximum-likelihood one: no fixed sigma gives a lower NLL
    for s in (0.05, 0.08, 0.12, 0.2):
        other = vae_loss(x, recon, mu, logvar, LossConfig(likelihood="fixed", sigma=s), beta=1.0)
        assert cal.recon_nll <= other.recon_nll + 1e-4


def test_free_bits_removes_pressure_below_threshold():
    x = torch.rand(2, 3, 8, 8)
    mu = torch.full((2, 4), 0.1, requires_grad=True)
    logvar = torch.zeros(2, 4)
    t = vae_loss(x, x, mu, logvar, LossConfig(likelihood="fixed", free_bits=0.5), beta=1.0)
    t.loss.backward()
    assert mu.grad.abs().max() == 0  # KL per dim 0.005 < 0.5 nats: clamped, no gradient


def test_kl_warmup_ramps_beta_linearly():
    from train.losses import beta_at

    cfg = LossConfig(beta=2.0, kl_warmup_steps=100)
    assert [beta_at(cfg, s) for s in (0, 50, 100, 500)] == [0.0, 1.0, 2.0, 2.0]
    assert beta_at(LossConfig(beta=0.5), 0) == 0.5  # no warm-up: beta from the first step
