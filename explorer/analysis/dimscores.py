"""How strongly each latent dimension predicts each attribute: the (D,K) score tables that the
"Dimensions × attributes" view draws as a heatmap. Pure numpy, computed from the analysis bundle.

Two scores per (dimension d, attribute k), both signed so that a positive value means "larger z_d
goes with the attribute":
- the ROC AUC of μ_d alone as a classifier of label k (Mann-Whitney U / (n₁ n₀); 0.5 is chance, 1 a
  perfect threshold on z_d, 0 a perfect threshold the other way round);
- the point-biserial correlation, Pearson's r between μ_d and the 0/1 label,
      r = (m₁ − m₀) / s · √(p (1 − p)),
  m₁, m₀ the class means of μ_d, s its (population) standard deviation, p the share of positives.
The AUC is invariant to any monotone rescaling of z_d; r is not, but it shrinks with rare labels.
"""
from __future__ import annotations

import numpy as np

from explorer.latent import _average_ranks, dims_by_kl

__all__ = ["dimension_aucs", "point_biserial", "SCORES", "score_table", "top_attributes"]

SCORES = {"auc": "AUC", "corr": "point-biserial r"}


def _check(mu, attributes) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, np.float64)
    a = np.asarray(attributes).astype(bool)
    if mu.ndim != 2 or a.ndim != 2 or len(mu) != len(a):
        raise ValueError(f"encodings {mu.shape} and labels {a.shape} must be (N,D) and (N,K) with the same N")
    return mu, a


def dimension_aucs(mu, attributes) -> np.ndarray:
    """(N,D) encodings, (N,K) 0/1 labels -> (D,K) AUC of μ_d for label k; NaN where a class is empty.

    One ranking per dimension, then every attribute's rank sum at once: Σ_{i: y_ik} rank_i(μ_d) is the
    (D,K) matrix product Rᵀ A, so 128 × 40 AUCs over 5k faces cost 128 sorts and one product."""
    mu, a = _check(mu, attributes)
    ranks = np.column_stack([_average_ranks(mu[:, d]) for d in range(mu.shape[1])]) if mu.size else \
        np.zeros(mu.shape)
    n1 = a.sum(0).astype(np.float64)  # (K,)
    n0 = len(a) - n1
    rank_sums = ranks.T @ a.astype(np.float64)  # (D,K)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sums - n1 * (n1 + 1) / 2.0) / (n1 * n0)
    auc[:, (n1 == 0) | (n0 == 0)] = np.nan
    return auc


def point_biserial(mu, attributes) -> np.ndarray:
    """(D,K) Pearson correlation of μ_d with label k; NaN where a class is empty or μ_d is constant."""
    mu, a = _check(mu, attributes)
    y = a.astype(np.float64)
    mc = mu - mu.mean(0)
    yc = y - y.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (mc.T @ yc) / np.outer(np.sqrt((mc * mc).sum(0)), np.sqrt((yc * yc).sum(0)))
    return r


def score_table(mu, attributes, score: str = "auc") -> np.ndarray:
    """(D,K) table of ``score`` ("auc" or "corr")."""
    if score == "auc":
        return dimension_aucs(mu, attributes)
    if score == "corr":
        return point_biserial(mu, attributes)
    raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")


def strength(table: np.ndarray, score: str) -> np.ndarray:
    """How strongly, whatever the sign: |AUC − 0.5| · 2 or |r|, both in [0, 1]; NaN counts as 0."""
    s = np.abs(table - 0.5) * 2 if score == "auc" else np.abs(table)
    return np.nan_to_num(s, nan=0.0)


def top_attributes(table: np.ndarray, dim: int, names, score: str = "auc", k: int = 3) -> list[tuple[str, float]]:
    """The k attributes dimension ``dim`` predicts best (by ``strength``), with their scores."""
    row = strength(table[int(dim)][None, :], score)[0]
    order = np.argsort(-row, kind="stable")[:k]
    return [(names[j], float(table[int(dim), j])) for j in order]


def ordered_dims(kl_per_dim, dim: int, n: int) -> np.ndarray:
    """The first n dimensions by KL (most informative first), or natural order without KL."""
    order = dims_by_kl(kl_per_dim) if kl_per_dim is not None else np.arange(dim)
    return order[: max(0, int(n))]
