"""Metrics of a risk score on labelled household-dates, with 95% intervals from a bootstrap that
resamples households (a household appears at several as-of dates, and its rows are not
independent).

Every metric takes row weights, so a bootstrap replicate is a vector of weights (how many times
each household was drawn), not a copy of the data: a large council's evaluation period holds
hundreds of thousands of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EPS = 1e-6


def auc(y: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """Weighted AUC (Mann-Whitney), ties counting half."""
    w = np.ones_like(score, dtype=float) if w is None else w
    order = np.argsort(score, kind="mergesort")
    s, yy, ww = score[order], y[order], w[order]
    pos, neg = ww * (yy == 1), ww * (yy == 0)
    # group ties: within a tie, a positive beats half of the negatives
    boundaries = np.flatnonzero(np.diff(s)) + 1
    starts = np.r_[0, boundaries]
    pos_g = np.add.reduceat(pos, starts)
    neg_g = np.add.reduceat(neg, starts)
    neg_below = np.cumsum(neg_g) - neg_g
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos == 0 or total_neg == 0:
        return float("nan")
    return float((pos_g * (neg_below + neg_g / 2)).sum() / (total_pos * total_neg))


def average_precision(y: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    w = np.ones_like(score, dtype=float) if w is None else w
    order = np.argsort(-score, kind="mergesort")
    yy, ww = y[order], w[order]
    tp = np.cumsum(ww * yy)
    seen = np.cumsum(ww)
    total = tp[-1] if len(tp) else 0
    if total == 0:
        return float("nan")
    precision = tp / np.maximum(seen, EPS)
    return float((precision * ww * yy).sum() / total)


def brier(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    w = np.ones_like(p, dtype=float) if w is None else w
    return float(np.sum(w * (p - y) ** 2) / np.sum(w))


def log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    w = np.ones_like(p, dtype=float) if w is None else w
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.sum(w * (y * np.log(q) + (1 - y) * np.log(1 - q))) / np.sum(w))


def observed_over_expected(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    w = np.ones_like(p, dtype=float) if w is None else w
    return float(np.sum(w * y) / max(np.sum(w * p), EPS))


def calibration_slope(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    """The slope of a logistic regression of the outcome on the predicted log-odds: 1 when the
    probabilities spread as much as they should, below 1 when they are too extreme."""
    w = np.ones_like(p, dtype=float) if w is None else w
    x = np.log(np.clip(p, EPS, 1 - EPS) / (1 - np.clip(p, EPS, 1 - EPS)))
    beta = np.array([0.0, 1.0])
    design = np.c_[np.ones_like(x), x]

    def loglik(b: np.ndarray) -> float:
        eta = design @ b
        return float(np.sum(w * (y * eta - np.logaddexp(0, eta))))

    # Newton's method, each step halved until the likelihood does not fall: a full step from a
    # poor start (a calibrator that maps many households to one value) can otherwise run away
    for _ in range(100):
        eta = design @ beta
        mu = 1 / (1 + np.exp(-np.clip(eta, -30, 30)))
        grad = design.T @ (w * (y - mu))
        hess = (design * (w * mu * (1 - mu))[:, None]).T @ design
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        now, t = loglik(beta), 1.0
        while t > 1e-8 and loglik(beta + t * step) < now:
            t /= 2
        beta = beta + t * step
        if np.abs(t * step).max() < 1e-8:
            break
    return float(beta[1])


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed - predicted| over deciles of predicted probability, weighted by size."""
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.sum() * abs(y[m].mean() - p[m].mean())
    return float(err / len(p))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, rows) per decile of predicted probability."""
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    return [
        (float(p[idx == b].mean()), float(y[idx == b].mean()), int((idx == b).sum()))
        for b in range(bins)
        if (idx == b).any()
    ]


@dataclass
class Estimate:
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def bootstrap(
    metric,  # (y, score, w) -> float
    y: np.ndarray,
    score: np.ndarray,
    cluster: np.ndarray,
    replicates: int = 200,
    seed: int = 11,
) -> Estimate:
    """The metric with a 95% percentile interval from a bootstrap that draws clusters (households)
    with replacement: each replicate weights every row by how often its household was drawn.
    Clusters are numbered in the order their first rows come, not by their ids' spelling, so that
    rows in a stable order give the same interval when a relink renames a household."""
    inverse, codes = pd.factorize(cluster)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(replicates):
        counts = rng.multinomial(len(codes), np.full(len(codes), 1 / len(codes)))
        w = counts[inverse].astype(float)
        v = metric(y, score, w)
        if np.isfinite(v):
            values.append(v)
    point = metric(y, score, None)
    if not values:
        return Estimate(point, float("nan"), float("nan"))
    low, high = np.percentile(values, [2.5, 97.5])
    return Estimate(float(point), float(low), float(high))
