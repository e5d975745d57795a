"""The negative ELBO checked against hand computations on non-trivial posteriors.

Each test here was written to fail on a plausible bug: the KL averaged over latent dimensions instead
of summed (D times too small), beta leaking into the reconstruction term, free bits applied per image
instead of per dimension, or the calibrated sigma computed from the wrong quantity.
"""
import math

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from explorer.config import LossConfig
from train.losses import beta_at, kl_per_dim, vae_loss

D, N, SHAPE = 5, 3, (3, 4, 4)


def _kl_by_hand(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(N(mu, s^2) || N(0,1)) for one scalar Gaussian, written out term by term in float64:
    -1/2 (1 + log s^2 - mu^2 - s^2) (Kingma & Welling 2014, Appendix B)."""
    s2 = np.exp(logvar)
    return -0.5 * (1.0 + logvar - mu**2 - s2)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(N, *SHAPE, generator=g)
    recon = torch.rand(N, *SHAPE, generator=g)
    mu = torch.randn(N, D, generator=g) * 1.5
    logvar = torch.randn(N, D, generator=g) - 1.0
    return x, recon, mu, logvar


def test_kl_per_dim_matches_the_closed_form_and_a_monte_carlo_estimate(batch):
    _, _, mu, logvar = batch
    got = kl_per_dim(mu, logvar).numpy()
    assert got.shape == (N, D)
    np.testing.assert_allclose(got, _kl_by_hand(mu.double().numpy(), logvar.double().numpy()), rtol=1e-5, atol=1e-6)
    # independent of the formula: E_q[log q(z) - log p(z)] by sampling one (mu, sigma)
    m, lv = 1.2, -0.7
    z = m + math.exp(0.5 * lv) * torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    log_q = -0.5 * ((z - m) ** 2 / math.exp(lv) + lv + math.log(2 * math.pi))
    log_p = -0.5 * (z**2 + math.log(2 * math.pi))
    mc = (log_q - log_p).mean().item()
    closed = kl_per_dim(torch.tensor([[m]]), torch.tensor([[lv]])).item()
    assert abs(mc - closed) < 0.01, (mc, closed)


def test_fixed_sigma_loss_equals_the_hand_computed_negative_elbo(batch):
    x, recon, mu, logvar = batch
    sigma = 0.3
    t = vae_loss(x, recon, mu, logvar, LossConfig(likelihood="fixed", sigma=sigma), beta=1.0)
    xd, rd = x.double().numpy().reshape(N, -1), recon.double().numpy().reshape(N, -1)
    p = xd.shape[1]
    nll = ((xd - rd) ** 2).sum(1) / (2 * sigma**2) + p * math.log(sigma) + p / 2 * math.log(2 * math.pi)
    kl = _kl_by_hand(mu.double().numpy(), logvar.double().numpy()).sum(1)  # summed over the D dimensions
    assert t.kl.item() == pytest.approx(kl.mean(), rel=1e-5)
    assert t.recon_nll.item() == pytest.approx(nll.mean(), rel=1e-5)
    assert t.nelbo.item() == pytest.approx((nll + kl).mean(), rel=1e-5)
    assert t.loss.item() == pytest.approx((nll + kl).mean(), rel=1e-5)
    assert t.mse.item() == pytest.approx(((xd - rd) ** 2).mean(), rel=1e-5)
    # the KL is not negligible here, so averaging it over dimensions (D times too small) would show
    assert kl.mean() > 1.0


def test_calibrated_sigma_is_the_root_of_the_batch_mse(batch):
    x, recon, mu, logvar = batch
    t = vae_loss(x, recon, mu, logvar, LossConfig(likelihood="calibrated"), beta=1.0)
    mse = ((x.double() - recon.double()) ** 2).mean().item()
    assert t.sigma.item() == pytest.approx(math.sqrt(mse), rel=1e-5)
    p = x[0].numel()
    sq = ((x.double() - recon.double()) ** 2).flatten(1).sum(1).numpy()
    nll = sq / (2 * mse) + p * 0.5 * math.log(mse) + p / 2 * math.log(2 * math.pi)
    assert t.recon_nll.item() == pytest.approx(nll.mean(), rel=1e-4)
    # it is the maximum-likelihood sigma: no fixed sigma gives a lower NLL on this batch
    for s in (0.5, 0.9, 1.1, 2.0):
        other = vae_loss(x, recon, mu, logvar, LossConfig(likelihood="fixed", sigma=s * t.sigma.item()), beta=1.0)
        assert t.recon_nll.item() < other.recon_nll.item()


@pytest.mark.parametrize("beta", [0.0, 0.25, 4.0])
def test_beta_scales_the_kl_part_and_nothing_else(batch, beta):
    x, recon, mu, logvar = batch
    cfg = LossConfig(likelihood="fixed", sigma=0.2)
    one = vae_loss(x, recon, mu, logvar, cfg, beta=1.0)
    t = vae_loss(x, recon, mu, logvar, cfg, beta=beta)
    assert t.loss.item() == pytest.approx(one.recon_nll.item() + beta * one.kl.item(), rel=1e-5)
    # the reported terms do not depend on beta: nelbo is always the true (beta = 1) bound
    for name in ("recon_nll", "kl", "nelbo", "mse"):
        assert getattr(t, name).item() == pytest.approx(getattr(one, name).item(), rel=1e-6), name
    # and the gradient reaching mu is the reconstruction's (none: recon is a leaf here) plus beta * dKL/dmu
    mu_ = mu.clone().requires_grad_(True)
    vae_loss(x, recon, mu_, logvar, cfg, beta=beta).loss.backward()
    torch.testing.assert_close(mu_.grad, beta * mu / N, rtol=1e-5, atol=1e-7)


def test_free_bits_act_per_dimension_just_below_and_above_the_threshold():
    """Free bits clamp each dimension's KL averaged over the batch (Kingma et al. 2016, eq. 15), not each
    image's: dimension 0 is above lambda for one image and below it on average, so it is clamped."""
    lam = 0.5
    r = lambda kl: math.sqrt(2 * kl)  # noqa: E731  (sigma = 1, so KL per dimension = mu^2 / 2)
    mu = torch.tensor([[r(0.9), r(lam - 0.01), r(lam + 0.01)],
                       [0.0, r(lam - 0.01), r(lam + 0.01)]])  # batch means: 0.45, lam - 0.01, lam + 0.01
    logvar = torch.zeros_like(mu)
    x = recon = torch.zeros(2, 3, 2, 2)
    cfg = LossConfig(likelihood="fixed", sigma=1.0, free_bits=lam)
    mu_ = mu.clone().requires_grad_(True)
    t = vae_loss(x, recon, mu_, logvar, cfg, beta=1.0)
    per_dim = kl_per_dim(mu, logvar).mean(0)
    assert per_dim[0] < lam and per_dim[1] < lam < per_dim[2]
    # the two clamped dimensions count as lambda each and get no gradient; the one above counts fully
    assert t.loss.item() - t.recon_nll.item() == pytest.approx(2 * lam + per_dim[2].item(), rel=1e-5)
    t.loss.backward()
    assert torch.all(mu_.grad[:, :2] == 0)
    torch.testing.assert_close(mu_.grad[:, 2], mu[:, 2] / 2, rtol=1e-5, atol=1e-7)
    # the reported KL is the true one, not the clamped one
    assert t.kl.item() == pytest.approx(per_dim.sum().item(), rel=1e-5)


def test_kl_warmup_ramps_beta_linearly():
    cfg = LossConfig(beta=2.0, kl_warmup_steps=100)
    assert [beta_at(cfg, s) for s in (0, 50, 100, 500)] == [0.0, 1.0, 2.0, 2.0]
    assert beta_at(LossConfig(beta=0.5), 0) == 0.5  # no warm-up: beta from the first step


class _OpRecorder(TorchDispatchMode):
    """Every ATen op run inside it, with whether any of its arguments is a tensor."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat = list(args) + list(kwargs.values())
        flat += [a for v in flat if isinstance(v, (list, tuple)) for a in v]
        self.ops.append((str(func), any(isinstance(a, torch.Tensor) for a in flat)))
        return func(*args, **kwargs)


@pytest.mark.parametrize("cfg", [LossConfig(likelihood="fixed", sigma=0.3),
                                 LossConfig(likelihood="fixed", sigma=0.3, free_bits=0.1),
                                 LossConfig(likelihood="calibrated")], ids=["fixed", "free-bits", "calibrated"])
def test_the_loss_makes_no_tensor_from_a_python_number(batch, cfg):
    """On a GPU a tensor built from a Python number each step (torch.tensor(sigma, device=...)) is a
    blocking host->device copy. Such a tensor enters dispatch as `lift_fresh`, and any factory (full,
    zeros, scalar_tensor) is an op without a tensor argument; the loss must run neither, only ops on
    its inputs, with Python numbers passed to the kernels as scalars."""
    x, recon, mu, logvar = batch
    with _OpRecorder() as rec:
        vae_loss(x, recon, mu, logvar, cfg, beta=0.5)
    assert len(rec.ops) > 10  # the recorder saw the loss's ops
    made = [name for name, has_tensor in rec.ops if "lift_fresh" in name or not has_tensor]
    assert made == [], made
