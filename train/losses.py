"""The negative ELBO, -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0,I)), per image in nats."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from explorer.config import LossConfig


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per latent dimension, (N,D) -> (N,D).

    Closed form from Kingma & Welling 2014, Appendix B: 1/2 (mu^2 + sigma^2 - log sigma^2 - 1).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


@dataclass
class LossTerms:
    loss: torch.Tensor  # what is minimised: recon NLL + beta_t * (free-bits) KL, batch mean
    nelbo: torch.Tensor  # the true negative ELBO (beta = 1, no free bits), nats per image
    recon_nll: torch.Tensor
    kl: torch.Tensor  # nats per image
    mse: torch.Tensor  # per pixel
    sigma: torch.Tensor | float  # the likelihood's sigma used: a tensor when calibrated, else cfg.sigma


def beta_at(cfg: LossConfig, step: int) -> float:
    """KL warm-up: beta ramps linearly from 0 over the first kl_warmup_steps steps."""
    if cfg.kl_warmup_steps <= 0:
        return cfg.beta
    return cfg.beta * min(1.0, step / cfg.kl_warmup_steps)


def vae_loss(x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             cfg: LossConfig, beta: float) -> LossTerms:
    x, recon = x.float(), recon.float()  # the loss is always reduced in float32, even under bf16 autocast
    n, pixels = x.shape[0], x[0].numel()
    sq = (recon - x).pow(2).flatten(1).sum(1)  # (N,)
    mse = sq.sum() / (n * pixels)
    if cfg.likelihood == "calibrated":
        # sigma^2 = batch MSE is the maximum-likelihood sigma (sigma-VAE, Rybkin et al. 2021, eq. 5);
        # detached so it acts as a plug-in estimate rather than a second path for the gradient.
        sigma = mse.detach().sqrt().clamp_min(cfg.min_sigma)
        log_sigma = torch.log(sigma)
    else:
        # A Python float, never a tensor made from it: on a GPU that would be a blocking host->device
        # copy every step. PyTorch passes Python scalars to the kernels as arguments.
        sigma = float(cfg.sigma)
        log_sigma = math.log(sigma)
    # Gaussian negative log-likelihood summed over pixels: ||x - x̂||² / 2σ² + P log σ + P/2 log 2π
    recon_nll = sq / (2 * sigma**2) + pixels * (log_sigma + 0.5 * math.log(2 * math.pi))
    kld = kl_per_dim(mu.float(), logvar.float())  # (N,D)
    kl = kld.sum(1)
    if cfg.free_bits > 0:
        # Free bits (Kingma et al. 2016, IAF, eq. 15): no pressure on a dimension below lambda nats,
        # which keeps dimensions from collapsing early.
        kl_term = kld.mean(0).clamp_min(cfg.free_bits).sum()
    else:
        kl_term = kl.mean()
    loss = recon_nll.mean() + beta * kl_term
    return LossTerms(loss=loss, nelbo=(recon_nll + kl).mean(), recon_nll=recon_nll.mean(),
                     kl=kl.mean(), mse=mse, sigma=sigma)
