"""The pictures an analyst looks at before reading numbers: ROC and precision-recall curves,
reliability before and after calibration, precision at k, and what the model leans on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _fig():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(y: np.ndarray, scores: dict[str, np.ndarray]):
    from sklearn.metrics import precision_recall_curve, roc_curve

    return (
        {k: roc_curve(y, s)[:2] for k, s in scores.items()},
        {k: precision_recall_curve(y, s)[:2] for k, s in scores.items()},
    )


def write_all(
    folder: Path,
    y: np.ndarray,
    raw: dict[str, np.ndarray],
    calibrated: np.ndarray,
    uncalibrated: np.ndarray,
    importance: pd.DataFrame,
    capacity: int,
) -> list[Path]:
    """PNG files into folder; returns their paths. Every curve is an aggregate over households."""
    plt = _fig()
    folder.mkdir(parents=True, exist_ok=True)
    roc, pr = _curves(y, raw)
    out = []

    fig, ax = plt.subplots(figsize=(5, 5))
    for k, (fpr, tpr) in roc.items():
        ax.plot(fpr, tpr, label=k)
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, evaluation period")
    ax.legend()
    out.append(_save(fig, folder / "roc.png", plt))

    fig, ax = plt.subplots(figsize=(5, 5))
    for k, (precision, recall) in pr.items():
        ax.plot(recall, precision, label=k)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, evaluation period")
    ax.legend()
    out.append(_save(fig, folder / "precision_recall.png", plt))

    from riskflag.modeling.metrics import reliability

    fig, ax = plt.subplots(figsize=(5, 5))
    for label, p in (("before calibration", uncalibrated), ("after calibration", calibrated)):
        pts = reliability(y, p)
        ax.plot([a for a, _, _ in pts], [b for _, b, _ in pts], marker="o", label=label)
    top = max(float(np.quantile(calibrated, 0.999)), float(y.mean()) * 3)
    ax.plot([0, top], [0, top], ls=":", c="grey")
    ax.set(xlabel="predicted probability (decile mean)", ylabel="observed rate", title="Reliability")
    ax.legend()
    out.append(_save(fig, folder / "reliability.png", plt))

    fig, ax = plt.subplots(figsize=(6, 4))
    ks = np.unique(np.geomspace(10, max(11, len(y) // 20), 30).astype(int))
    for k_name, s in raw.items():
        order = np.argsort(-s, kind="mergesort")
        hits = np.cumsum(y[order])
        ax.plot(ks, hits[ks - 1] / ks, label=k_name)
    ax.axvline(capacity, ls=":", c="grey")
    ax.set(xscale="log", xlabel="households contacted (k, over the period)", ylabel="precision at k")
    ax.set_title("Precision at k (dotted: one list's capacity)")
    ax.legend()
    out.append(_save(fig, folder / "precision_at_k.png", plt))

    fig, ax = plt.subplots(figsize=(6, 8))
    top_imp = importance.head(25).iloc[::-1]
    ax.barh(top_imp["feature"], top_imp["gain"])
    ax.set(xlabel="total gain", title="What the model leans on (global importance)")
    out.append(_save(fig, folder / "feature_importance.png", plt))
    return out


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
