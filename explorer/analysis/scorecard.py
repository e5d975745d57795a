"""The latent-structure scorecard: how disentangled a model's code is, with CelebA's 40 binary attributes as
the factors of variation, from the analysis bundle's encodings μ and labels alone.

    python -m explorer.scorecard CKPT [CKPT ...] [--json]

No Streamlit and no torch in the metrics (the CLI loads checkpoints through explorer.checkpoint). Every
metric takes codes z (N,D) and 0/1 factors v (N,K); a factor with one class only (an attribute nobody in
the bundle has) is left out of the averages. CelebA's attributes are not independent (Male goes with
Goatee, Smiling with High_Cheekbones), so even a perfectly disentangled model could not score 1 on them:
the numbers compare models on the same faces, they are not absolute grades.

The metrics and the estimator choices made here (each function's docstring says more):
- MIG, the mutual information gap (Chen et al. 2018, "Isolating sources of disentanglement in VAEs", §4.1):
  I(z_j; v_k) from a 20-bin equal-width histogram of each z_j (disentanglement_lib's default), normalised
  by H(v_k); the gap between the two most informative dimensions, averaged over factors.
- SAP, the separated attribute predictability (Kumar et al. 2018, "Variational inference of disentangled
  latent concepts from unlabeled observations", §3): per (dimension, factor) the held-out score of the best
  threshold on z_j alone, the gap between the two best dimensions, averaged over factors. The score is
  Youden's J (true-positive rate + true-negative rate − 1) rather than accuracy: with CelebA's rare
  attributes (4% hats) every dimension "predicts" a hat with 96% accuracy.
- DCI (Eastwood & Williams 2018, "A framework for the quantitative evaluation of disentangled
  representations", §3): importances R_jk = |coefficient| of a lasso regression (the paper's linear
  regressor) of each factor on the standardised code, α chosen per factor on a validation split;
  disentanglement and completeness from the entropies of R's rows and columns, weighted as
  disentanglement_lib weights them; informativeness as the mean held-out ROC AUC of the lasso's predictions
  (0.5 chance, 1 perfect; the paper reports an error, disentanglement_lib an accuracy).
- active units (Burda et al. 2016, "Importance weighted autoencoders", §5.2): Var_x E_q[z_j] > 0.01.
- total correlation of the aggregate posterior (Watanabe 1960; Chen et al. 2018, eq. 2):
  KL(q(z) ‖ Π_j q(z_j)), by Monte Carlo under the Gaussian mixture fitted to μ (explorer.analysis.density), widened by
  E_x[σ²(x)] to stand for q(z) = E_x N(μ(x), σ²(x)).
- UDR (Duan et al. 2020, "Unsupervised model selection for variational disentangled representation
  learning", eq. 2): how alike two models' codes are on the same faces, up to a permutation, sign and scale
  of their active dimensions, from the absolute Spearman correlations between their dimensions.

Splits: SAP and DCI fit on a seeded random 80% of the rows and score the other 20% (the bundle's own valid
partition, 26 people, holds too few faces with rare attributes to score them); DCI's α is chosen on the last
quarter of the 80% and refitted on all of it.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from explorer.latent import _average_ranks, roc_auc

__all__ = ["mig", "sap", "dci", "active_units", "total_correlation", "gaussian_total_correlation", "udr",
           "compute_scorecard", "scorecard_of", "shared_udr", "METRICS", "KEYS", "describe", "format_value", "better",
           "comparison_text"]

MIG_BINS = 20  # disentanglement_lib's default discretisation of each code dimension
TEST_FRACTION = 0.2
ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016; the same threshold as AnalysisBundle.ACTIVE_THRESHOLD
LASSO_ALPHAS = np.geomspace(0.1, 1e-4, 13)  # α grid for DCI, on standardised codes and 0/1 factors
TC_SAMPLES = 4000
MIN_FACES = 10  # fewer encoded faces: no scorecard (the splits would hold a face or two)

# The scorecard's keys, in the order tables show them, with a line on what each measures.
METRICS = {
    "MIG": "Mutual information gap (Chen et al. 2018): per attribute, how much more the most informative "
           "dimension knows about it than the runner-up, as a share of the attribute's entropy. 1: each "
           "attribute lives in one dimension; 0: none, or it is spread over several.",
    "SAP": "Separated attribute predictability (Kumar et al. 2018): per attribute, how much better the best "
           "single dimension predicts it (held out, threshold classifier, Youden's J) than the second best.",
    "DCI_disentanglement": "DCI disentanglement (Eastwood & Williams 2018): does each dimension that matters "
                           "serve one attribute? 1 − the entropy of its lasso importances over attributes.",
    "DCI_completeness": "DCI completeness: is each attribute captured by one dimension? 1 − the entropy of its "
                        "importances over dimensions.",
    "DCI_informativeness": "DCI informativeness: how well a linear read-out of the whole code predicts the "
                           "attributes on held-out faces (mean ROC AUC; 0.5 chance, 1 perfect).",
    "active_units": "Active units (Burda et al. 2016): dimensions whose encodings vary over faces "
                    "(Var E[z] > 0.01); the others copy the prior and carry nothing.",
    "total_correlation": "Total correlation of the aggregate posterior, KL(q(z) ‖ Π q(z_j)) in nats, under the "
                         "fitted density: how far the dimensions are from independent (0: independent).",
}
KEYS = ("MIG", "SAP", "DCI_disentanglement", "DCI_completeness", "DCI_informativeness", "active_units")


def _check(z, v) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(z, np.float64)
    v = np.asarray(v)
    if z.ndim != 2 or v.ndim != 2 or len(z) != len(v):
        raise ValueError(f"codes {z.shape} and factors {v.shape} must be (N,D) and (N,K) with the same N")
    if len(z) < MIN_FACES:
        raise ValueError(f"need at least {MIN_FACES} encoded faces to score, got {len(z)}")
    if not np.all(np.isfinite(z)):
        raise ValueError("codes hold non-finite values")
    return z, v.astype(bool)


def _varying(v: np.ndarray) -> np.ndarray:
    """(K,) factors with both classes present."""
    return v.any(0) & ~v.all(0)


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random (train, test) rows, TEST_FRACTION of them held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(TEST_FRACTION * n)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _entropy(p: np.ndarray, axis: int = 0) -> np.ndarray:
    """Shannon entropy in nats of distributions along ``axis`` (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis)


# --------------------------------------------------------------------------------------------
# MIG
# --------------------------------------------------------------------------------------------

def _bins(z: np.ndarray, bins: int) -> np.ndarray:
    """(N,D) codes -> (N,D) integer bin of each value in its dimension's equal-width histogram."""
    lo, hi = z.min(0), z.max(0)
    width = np.where(hi > lo, (hi - lo) / bins, 1.0)
    return np.clip(((z - lo) / width).astype(np.int64), 0, bins - 1)


def mutual_information(z, v, bins: int = MIG_BINS) -> np.ndarray:
    """(D,K) I(z_j; v_k) in nats, z_j discretised into ``bins`` equal-width bins (plug-in estimate).

    I = H(v) − H(v | b): the counts of (bin, class) of every dimension come from one sparse product of the
    (N, D·bins) one-hot bin matrix with the labels."""
    from scipy import sparse

    z, v = _check(z, v)
    n, d = z.shape
    cols = (_bins(z, bins) + bins * np.arange(d)).ravel()  # (N·D,) column of each (face, dimension)
    onehot = sparse.csr_matrix((np.ones(n * d), (np.repeat(np.arange(n), d), cols)), shape=(n, d * bins))
    vf = v.astype(np.float64)
    with_v = np.asarray(onehot.T @ vf).reshape(d, bins, -1)  # (D,B,K) faces with the factor in each bin
    per_bin = np.asarray(onehot.sum(0)).reshape(d, bins, 1)  # (D,B,1)
    pos = vf.sum(0)  # (K,)
    h_v = _entropy(np.stack([pos, n - pos]) / n)  # (K,)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.where(per_bin > 0, with_v / per_bin, 0.0)  # (D,B,K) P(v = 1 | bin)
    cond = _entropy(np.stack([p1, 1 - p1]), axis=0)  # (D,B,K) H(v | bin)
    out = h_v - ((per_bin / n) * cond).sum(1)  # (D,K)
    return np.maximum(out, 0.0)


def mig(z, v, bins: int = MIG_BINS) -> float:
    """Mutual information gap (Chen et al. 2018, eq. 6): mean over factors k of
        (I(z_(1); v_k) − I(z_(2); v_k)) / H(v_k),
    z_(1), z_(2) the two dimensions with the largest mutual information with v_k. In [0, 1]."""
    z, v = _check(z, v)
    keep = _varying(v)
    if not keep.any() or z.shape[1] < 2:
        return float("nan")
    mi = mutual_information(z, v[:, keep], bins)
    p = v[:, keep].mean(0)
    h = _entropy(np.stack([p, 1 - p]))
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / h))


# --------------------------------------------------------------------------------------------
# SAP
# --------------------------------------------------------------------------------------------

def _best_thresholds(z: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each (dimension j, factor k) the threshold t and sign s (±1) that maximise Youden's J of the
    rule "v = [s·(z_j − t) > 0]" on these rows: (D,K) each. Candidate thresholds lie between consecutive
    distinct values (float16 encodings have many ties)."""
    n, d = z.shape
    vf = v.astype(np.float32)  # counts of 0/1 stay exact in float32 far beyond any bundle's size
    pos = vf.sum(0)  # (K,)
    neg = n - pos
    with np.errstate(divide="ignore"):
        c = (1.0 / pos + 1.0 / neg).astype(np.float32)
    thr = np.full((d, v.shape[1]), np.inf)
    sign = np.ones((d, v.shape[1]))
    k = np.arange(v.shape[1])
    for j in range(d):
        order = np.argsort(z[:, j], kind="stable")
        zs = z[order, j]
        cut = np.flatnonzero(zs[1:] > zs[:-1])  # split after sorted row i: rows above are "positive"
        if cut.size == 0:
            continue  # a constant dimension: no threshold, J = 0
        below_pos = np.cumsum(vf[order], axis=0)[cut]  # (C,K) positives at or below each split
        # J = TPR + TNR − 1 = (pos − below_pos)/pos + (below − below_pos)/neg − 1
        #   = below/neg − below_pos·(1/pos + 1/neg)
        j_stat = (cut + 1)[:, None].astype(np.float32) / neg - below_pos * c
        best = np.argmax(np.abs(j_stat), axis=0)  # (K,)
        thr[j] = (zs[cut[best]] + zs[cut[best] + 1]) / 2
        sign[j] = np.where(j_stat[best, k] >= 0, 1.0, -1.0)
    return thr, sign


def _youden(pred: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N,K) predictions against (N,K) labels -> (K,) TPR + TNR − 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (pred & v).sum(0) / v.sum(0) + (~pred & ~v).sum(0) / (~v).sum(0) - 1.0


def sap_matrix(z, v, seed: int = 0) -> np.ndarray:
    """(D,K) held-out Youden's J of the best single-threshold classifier of v_k on z_j (thresholds fitted on
    the train rows). NaN for a factor with one class in either split."""
    z, v = _check(z, v)
    tr, te = _split(len(z), seed)
    thr, sign = _best_thresholds(z[tr], v[tr])
    out = np.empty(thr.shape)
    for j in range(z.shape[1]):
        pred = sign[j] * (z[te, j][:, None] - thr[j]) > 0  # (N_test,K)
        out[j] = _youden(pred, v[te])
    bad = ~(_varying(v[tr]) & _varying(v[te]))
    out[:, bad] = np.nan
    return out


def sap(z, v, seed: int = 0) -> float:
    """Separated attribute predictability (Kumar et al. 2018, §3): mean over factors of the gap between the
    two largest entries of the factor's column of ``sap_matrix``. In [0, 1]."""
    s = sap_matrix(z, v, seed)
    keep = np.isfinite(s).all(0)
    if not keep.any() or s.shape[0] < 2:
        return float("nan")
    top = np.sort(s[:, keep], axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


# --------------------------------------------------------------------------------------------
# DCI
# --------------------------------------------------------------------------------------------

def _lasso_coefs(x: np.ndarray, gram: np.ndarray, y: np.ndarray, alphas) -> np.ndarray:
    """(len(alphas),D) lasso coefficients of centred y on centred x (Fortran-ordered, with its Gram matrix xᵀx)
    along the α path: scikit-learn's coordinate descent on the D×D Gram matrix, whose cost does not grow with N."""
    from sklearn.linear_model import lasso_path

    _, coefs, _ = lasso_path(x, y, alphas=alphas, precompute=gram, Xy=x.T @ y, check_input=False)
    return coefs.T


def importance_matrix(z, v, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(D,K) importances |β_jk| of the lasso regression of each 0/1 factor on the standardised code, the
    chosen α per factor (K,), and the held-out ROC AUC of each factor's prediction (K,).

    α is the largest of LASSO_ALPHAS (descending) whose squared error on the last quarter of the train rows,
    after fitting on the first three quarters, is within one standard error of the least; the importances
    come from a refit on all train rows at that α, and the AUC from the test rows. Factors with one class
    anywhere get zero importance and a NaN AUC."""
    from threadpoolctl import threadpool_limits

    z, v = _check(z, v)
    tr, te = _split(len(z), seed)
    mean, std = z[tr].mean(0), z[tr].std(0)
    std = np.where(std > 0, std, 1.0)
    x = (z - mean) / std  # inactive dimensions too: the lasso leaves what carries nothing at zero
    fit, val = tr[: int(0.75 * len(tr))], tr[int(0.75 * len(tr)):]
    d, k = z.shape[1], v.shape[1]
    r, alphas, aucs = np.zeros((d, k)), np.full(k, np.nan), np.full(k, np.nan)
    ok = _varying(v[fit]) & _varying(v[val]) & _varying(v[te])
    y = v.astype(np.float64)
    # centred designs and their Gram matrices, once for all factors
    x_fit = np.asfortranarray(x[fit] - x[fit].mean(0))
    x_val = x[val] - x[fit].mean(0)
    x_tr = np.asfortranarray(x[tr] - x[tr].mean(0))
    x_te = x[te] - x[tr].mean(0)
    with threadpool_limits(limits=1):  # one BLAS thread: small products, and a shared machine
        gram_fit, gram_tr = x_fit.T @ x_fit, x_tr.T @ x_tr
        for f in np.flatnonzero(ok):
            path = _lasso_coefs(x_fit, gram_fit, y[fit, f] - y[fit, f].mean(), LASSO_ALPHAS)  # (A,D)
            pred = x_val @ path.T + y[fit, f].mean()  # (N_val,A)
            sq = (pred - y[val, f][:, None]) ** 2  # (N_val,A)
            err, se = sq.mean(0), sq.std(0, ddof=1) / math.sqrt(len(val))
            best = int(np.argmin(err))
            # the one-standard-error rule (Hastie et al. 2009, ESL §7.10): the largest α within one SE of the
            # least error; without it a factor that the code does not carry gets a few dimensions by chance
            a = LASSO_ALPHAS[int(np.flatnonzero(err <= err[best] + se[best])[0])]
            beta = _lasso_coefs(x_tr, gram_tr, y[tr, f] - y[tr, f].mean(), [a])[0]
            aucs[f] = roc_auc(x_te @ beta, v[te, f]) if beta.any() else 0.5
            n1 = int(v[te, f].sum())
            n0 = len(te) - n1
            # A factor the code predicts no better than chance on held-out faces has nothing to disentangle: its
            # few chance importances would each look perfectly "disentangled". Chance: AUC within 3 standard
            # errors of 0.5 under the null (Mann-Whitney: Var U/(n1 n0) = (n1 + n0 + 1) / (12 n1 n0)).
            if aucs[f] > 0.5 + 3.0 * math.sqrt((n1 + n0 + 1) / (12.0 * n1 * n0)):
                r[:, f] = np.abs(beta)
            alphas[f] = a
    return r, alphas, aucs


def dci_from_importance(r: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) from a (D,K) importance matrix (Eastwood & Williams 2018, §3):
        D_j = 1 − H_K(P_j·),  P_jk = R_jk / Σ_k R_jk;   D = Σ_j ρ_j D_j,  ρ_j = Σ_k R_jk / Σ R,
        C_k = 1 − H_D(P̃_·k), P̃_jk = R_jk / Σ_j R_jk;   C = Σ_k ρ̃_k C_k,  ρ̃_k = Σ_j R_jk / Σ R,
    entropies in base K and D. Rows or columns with no importance count as uniform (D_j or C_k = 0), and a
    matrix of zeros scores 0 (disentanglement_lib's conventions)."""
    r = np.abs(np.asarray(r, np.float64))
    d, k = r.shape
    total = r.sum()
    if total <= 0 or d < 2 or k < 2:
        return 0.0, 0.0
    rows = r.sum(1, keepdims=True)
    cols = r.sum(0, keepdims=True)
    p_row = np.where(rows > 0, r / np.where(rows > 0, rows, 1), 1.0 / k)
    p_col = np.where(cols > 0, r / np.where(cols > 0, cols, 1), 1.0 / d)
    dis = 1.0 - _entropy(p_row, axis=1) / math.log(k)
    com = 1.0 - _entropy(p_col, axis=0) / math.log(d)
    return float(dis @ (rows[:, 0] / total)), float(com @ (cols[0] / total))


def dci(z, v, seed: int = 0) -> dict:
    """{'disentanglement', 'completeness', 'informativeness'} (see importance_matrix, dci_from_importance);
    disentanglement and completeness are computed on the factors with both classes in every split."""
    r, _, aucs = importance_matrix(z, v, seed)
    keep = np.isfinite(aucs)
    dis, com = dci_from_importance(r[:, keep]) if keep.any() else (float("nan"), float("nan"))
    return {"disentanglement": dis, "completeness": com,
            "informativeness": float(np.mean(aucs[keep])) if keep.any() else float("nan")}


# --------------------------------------------------------------------------------------------
# Active units, total correlation, UDR
# --------------------------------------------------------------------------------------------

def active_units(z, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Dimensions with Var over faces of E_q[z_j] > threshold (Burda et al. 2016)."""
    return int((np.asarray(z, np.float64).var(0) > threshold).sum())


def gaussian_total_correlation(cov) -> float:
    """TC of N(m, Σ) in nats, in closed form: ½ (Σ_j log Σ_jj − log det Σ)."""
    cov = np.asarray(cov, np.float64)
    _, logdet = np.linalg.slogdet(cov)
    return float(0.5 * (np.log(np.diag(cov)).sum() - logdet))


def total_correlation(density, n: int = TC_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """(TC, its Monte Carlo standard error) in nats of a Gaussian mixture p (explorer.analysis.density):

        TC = E_p[log p(z) − Σ_j log p_j(z_j)]   (Watanabe 1960; Chen et al. 2018, eq. 2),

    over n seeded draws from p. Each marginal p_j is the one-dimensional mixture Σ_c w_c N(m_cj, Σ_c,jj),
    exact for a mixture, so the only error is the sampling one."""
    z = density.sample(n, seed).astype(np.float64)  # (n,D)
    joint = density.log_prob(z)  # (n,)
    w = density.weights  # (C,)
    var = np.stack([np.diag(c) for c in density.covariances])  # (C,D)
    m = density.means.astype(np.float64)  # (C,D)
    marg = np.zeros(n)
    for j in range(density.dim):
        # (n,C) log w_c + log N(z_j; m_cj, var_cj), combined with log-sum-exp
        lp = np.log(np.where(w > 0, w, 1e-300)) - 0.5 * (np.log(2 * np.pi * var[:, j])
                                                          + (z[:, j:j + 1] - m[:, j]) ** 2 / var[:, j])
        top = lp.max(1)
        marg += top + np.log(np.exp(lp - top[:, None]).sum(1))
    terms = joint - marg
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(n))


def _spearman(za: np.ndarray, zb: np.ndarray) -> np.ndarray:
    """(Da,Db) Spearman correlations between the columns of za (N,Da) and zb (N,Db); 0 for a constant one."""
    def ranked(x):
        r = np.column_stack([_average_ranks(x[:, j]) for j in range(x.shape[1])]) if x.shape[1] else x
        r = r - r.mean(0)
        norm = np.sqrt((r * r).sum(0))
        return r / np.where(norm > 0, norm, np.inf)
    return ranked(za).T @ ranked(zb)


def udr(za, zb, active_a=None, active_b=None) -> float:
    """UDR similarity of two codes of the same faces (Duan et al. 2020, eq. 2, the Spearman variant UDR_S):

        UDR = 1/(d_a + d_b) · [Σ_b r_b² / Σ_a R_ab + Σ_a r_a² / Σ_b R_ab],
        R = |Spearman correlation| between the active dimensions, r_a = max_b R_ab, r_b = max_a R_ab,

    d_a, d_b the numbers of active dimensions (given as masks, else Var z_j > 0.01), correlations below
    3/√(N−1) set to 0 (our choice; see the code). 1 when one code is the
    other up to a permutation, sign flips and monotone rescaling of its dimensions; near 0 for unrelated
    codes; a rotation of the same information scores in between."""
    za, zb = np.asarray(za, np.float64), np.asarray(zb, np.float64)
    if za.ndim != 2 or zb.ndim != 2 or len(za) != len(zb):
        raise ValueError(f"codes {za.shape} and {zb.shape} must be (N,Da) and (N,Db) of the same faces")
    ma = za.var(0) > ACTIVE_THRESHOLD if active_a is None else np.asarray(active_a, bool)
    mb = zb.var(0) > ACTIVE_THRESHOLD if active_b is None else np.asarray(active_b, bool)
    if not ma.any() or not mb.any() or len(za) < 3:
        return float("nan")
    r = np.abs(_spearman(za[:, ma], zb[:, mb]))  # (da,db)
    # Between independent dimensions Spearman's r has standard deviation 1/√(N−1): summed over 128 dimensions
    # that noise floor alone would halve the score of two identical codes, so what lies within three
    # standard errors of 0 counts as 0.
    r[r < 3.0 / math.sqrt(len(za) - 1)] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        side_a = np.nan_to_num(r.max(1) ** 2 / r.sum(1))
        side_b = np.nan_to_num(r.max(0) ** 2 / r.sum(0))
    return float((side_a.sum() + side_b.sum()) / (ma.sum() + mb.sum()))


# --------------------------------------------------------------------------------------------
# The scorecard of a bundle
# --------------------------------------------------------------------------------------------

def compute_scorecard(bundle, seed: int = 0) -> dict:
    """The scorecard of an analysis bundle (explorer.analysis.bundle): {key: float} for the keys of METRICS (total
    correlation where the bundle has a fitted density), plus 'total_correlation_se', 'faces', 'attributes'
    (those with both classes), 'seconds' and 'total_correlation_of' (what the density stands for)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # many small products: on 2 shared cores, more threads only fight
        return _scorecard(bundle, seed)


def _scorecard(bundle, seed: int) -> dict:
    t0 = time.perf_counter()
    z, v = bundle.mu.astype(np.float64), np.asarray(bundle.attributes)
    d = dci(z, v, seed)
    out = {"MIG": mig(z, v), "SAP": sap(z, v, seed), "DCI_disentanglement": d["disentanglement"],
           "DCI_completeness": d["completeness"], "DCI_informativeness": d["informativeness"],
           "active_units": int((np.asarray(bundle.mu_variance) > ACTIVE_THRESHOLD).sum()),
           "latent_dim": int(z.shape[1]), "faces": int(len(z)), "attributes": int(_varying(v.astype(bool)).sum())}
    density = getattr(bundle, "density", None)
    if density is not None:
        var = getattr(bundle, "posterior_var_mean", None)
        q = density.widened(var) if var is not None else density
        out["total_correlation"], out["total_correlation_se"] = total_correlation(q, seed=seed)
        out["total_correlation_of"] = ("the aggregate posterior (fitted mixture widened by E[σ²])" if var is not None
                                       else "the encodings' fitted mixture (no E[σ²] in the bundle)")
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def shared_udr(bundle_a, bundle_b) -> tuple[float, int]:
    """(UDR, faces) of two bundles' codes on the files both encoded (matched by file name)."""
    from explorer.analysis.compare import shared_faces

    s = shared_faces(bundle_a.filenames, bundle_b.filenames)
    if len(s) < 3:
        return float("nan"), len(s)
    return udr(bundle_a.mu[s.rows_a], bundle_b.mu[s.rows_b], bundle_a.active_units, bundle_b.active_units), len(s)


def format_value(key: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key == "active_units":
        return f"{int(value)}"
    if key == "total_correlation":
        return f"{value:.1f}"
    return f"{value:.3f}"


HIGHER_IS_BETTER = {"MIG": True, "SAP": True, "DCI_disentanglement": True, "DCI_completeness": True,
                    "DCI_informativeness": True, "total_correlation": False}
STRUCTURE = ("MIG", "SAP", "DCI_disentanglement", "DCI_completeness")


def better(key: str, a, b) -> str:
    """'A' or 'B' where one value of ``key`` is plainly better, '' where it is a property or a tie."""
    if key not in HIGHER_IS_BETTER or a is None or b is None or any(
            isinstance(x, float) and math.isnan(x) for x in (a, b)) or round(a, 3) == round(b, 3):
        return ""
    return "A" if (a > b) == HIGHER_IS_BETTER[key] else "B"


def comparison_text(a: dict, b: dict, label_a: str = "A", label_b: str = "B") -> str:
    """What two scorecards show, in a sentence or two: which code is more disentangled on how many of the
    structure scores, which predicts the attributes better, and whose dimensions are closer to independent."""
    wins = [better(k, a.get(k), b.get(k)) for k in STRUCTURE]
    parts = []
    for side, label, other in (("A", label_a, label_b), ("B", label_b, label_a)):
        n = wins.count(side)
        if n >= 3:
            parts.append(f"{label}'s code is the more disentangled: it scores higher than {other} on {n} of the "
                         f"{len(STRUCTURE)} structure scores (MIG, SAP, DCI disentanglement and completeness).")
    if not parts:
        parts.append("Neither code is clearly the more disentangled: the structure scores (MIG, SAP, DCI "
                     "disentanglement and completeness) split between them.")
    info = better("DCI_informativeness", a.get("DCI_informativeness"), b.get("DCI_informativeness"))
    if info:
        parts.append(f"{label_a if info == 'A' else label_b}'s code predicts the attributes better as a whole "
                     f"(DCI informativeness {format_value('', a['DCI_informativeness'])} against "
                     f"{format_value('', b['DCI_informativeness'])}).")
    tc = better("total_correlation", a.get("total_correlation"), b.get("total_correlation"))
    if tc:
        parts.append(f"{label_a if tc == 'A' else label_b}'s dimensions are closer to independent (total "
                     f"correlation {format_value('total_correlation', a['total_correlation'])} against "
                     f"{format_value('total_correlation', b['total_correlation'])} nats).")
    return " ".join(parts)


def describe(key: str) -> str:
    return METRICS.get(key, "")


def scorecard_of(vae) -> dict | None:
    """A loaded checkpoint's scorecard: the bundle's stored one, else computed now; None without a bundle."""
    b = vae.bundle
    if b is None:
        return None
    return dict(b.scorecard) if getattr(b, "scorecard", None) else compute_scorecard(b)


def main(argv=None) -> None:
    from explorer.checkpoint import CheckpointError, load_checkpoint

    p = argparse.ArgumentParser(prog="python -m explorer.scorecard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoint files (with analysis bundles)")
    p.add_argument("--json", action="store_true", help="one JSON object keyed by each file's base name")
    p.add_argument("--recompute", action="store_true", help="ignore a scorecard stored in the bundle")
    a = p.parse_args(argv)
    cards, bundles = {}, {}
    for path in a.checkpoints:
        try:
            vae = load_checkpoint(path)
        except CheckpointError as e:
            sys.exit(f"error: {e}")
        if vae.bundle is None:
            sys.exit(f"error: {path}: no analysis bundle to score; add one with python -m train.export")
        name = Path(path).name
        if name in cards:
            sys.exit(f"error: {path}: two files named {name}; the table is keyed by base name")
        cards[name] = compute_scorecard(vae.bundle) if a.recompute else scorecard_of(vae)
        bundles[name] = vae.bundle
    names = list(cards)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            value, faces = shared_udr(bundles[x], bundles[y])
            cards[x].setdefault("UDR", {})[y] = value
            cards[y].setdefault("UDR", {})[x] = value
            cards[x].setdefault("UDR_faces", {})[y] = cards[y].setdefault("UDR_faces", {})[x] = faces
    if a.json:
        print(json.dumps(cards, indent=2, allow_nan=True))
        return
    keys = [k for k in METRICS if any(k in c for c in cards.values())]
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for k in keys:
        print(f"| {k} | " + " | ".join(format_value(k, cards[n].get(k)) for n in names) + " |")
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            print(f"\nUDR similarity of {x} and {y} (Duan et al. 2020) on {cards[x]['UDR_faces'][y]:,} shared "
                  f"faces: {format_value('UDR', cards[x]['UDR'][y])}")


if __name__ == "__main__":
    main()
