"""Drift: how far tonight's cohort has moved from the population the model was judged on.

The reference is taken at training from the evaluation period (the whole cohort, not the
subsampled training rows): for each feature and for the raw score, interior decile cut points and
the share of household-dates between them. Cut points are quantiles over thousands of households,
never a minimum or maximum, so the reference describes no one. The population stability index
(PSI) compares tonight's shares with those; by convention below 0.1 is stable and above 0.25 a
shift worth stopping for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

QUANTILES = np.linspace(0.1, 0.9, 9)
EPS = 1e-4


def _shares(x: np.ndarray, edges: list[float]) -> list[float]:
    x = np.asarray(x, dtype=float)
    missing = np.isnan(x)
    idx = np.searchsorted(np.asarray(edges), x[~missing], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return (counts / max(len(x), 1)).tolist()


def _edges(x: np.ndarray) -> list[float]:
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return []
    return np.unique(np.quantile(x, QUANTILES)).tolist()


def reference(frame: pd.DataFrame, features: list[str], raw: np.ndarray) -> dict[str, dict]:
    """Cut points and shares per feature and for the raw score (key "score")."""
    out = {}
    for name, values in [*((f, frame[f].to_numpy()) for f in features), ("score", raw)]:
        e = _edges(values)
        out[name] = {"edges": e, "shares": _shares(values, e)}
    return out


def psi(expected: list[float], actual: list[float]) -> float:
    e = np.clip(np.asarray(expected), EPS, None)
    a = np.clip(np.asarray(actual), EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def stability(ref: dict[str, dict], frame: pd.DataFrame, raw: np.ndarray) -> dict[str, float]:
    """PSI per feature and for the score, against the reference."""
    out = {}
    for name, r in ref.items():
        values = raw if name == "score" else frame[name].to_numpy()
        out[name] = round(psi(r["shares"], _shares(values, r["edges"])), 6)
    return out
