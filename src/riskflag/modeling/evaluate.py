"""How well a score does what a prevention team needs: the households it would contact at each
as-of date (the capacity selection the nightly run makes, riskflag.selection, floor included),
and whether its probabilities mean what they say."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskflag import selection
from riskflag.config import Team
from riskflag.modeling import metrics as mt

SHARES = (0.01, 0.05)


def select_at_capacity(
    frame: pd.DataFrame,
    score: np.ndarray,
    teams: Sequence[Team],
    probability: np.ndarray | None = None,
    floor: float = 0.0,
    suppressed: np.ndarray | None = None,
) -> np.ndarray:
    """Which rows the teams would have been given: the nightly run's selection (riskflag.selection)
    at each as-of date, with its probability floor on `probability` (None: a score without a
    calibrated probability, no floor). Evaluation passes no suppressions: who was contacted
    depends on the lists published then, not on the score judged."""
    return selection.at_capacity(frame, score, probability, teams, floor, suppressed)


def select_top_share(frame: pd.DataFrame, score: np.ndarray, share: float) -> np.ndarray:
    """The top share of households by score at each as-of date."""
    order = pd.DataFrame(
        {"as_of": frame["as_of"].to_numpy(), "hh": frame["household_id"].to_numpy(), "s": -score}
    )
    order = order.sort_values(["as_of", "s", "hh"], kind="mergesort")
    k = (order.groupby("as_of")["s"].transform("size") * share).round().clip(lower=1)
    rank = order.groupby("as_of").cumcount()
    chosen = np.zeros(len(frame), dtype=bool)
    chosen[order.index[rank < k]] = True
    return chosen


def _at(y: np.ndarray, chosen: np.ndarray) -> dict[str, float]:
    base = y.mean() if len(y) else float("nan")
    hits = y[chosen].sum()
    precision = float(hits / chosen.sum()) if chosen.any() else float("nan")
    return {
        "selected": int(chosen.sum()),
        "precision": precision,
        "recall": float(hits / y.sum()) if y.sum() else float("nan"),
        "lift": float(precision / base) if base else float("nan"),
    }


def evaluate(
    frame: pd.DataFrame,
    raw: np.ndarray,
    probability: np.ndarray,
    teams: Sequence[Team],
    replicates: int = 200,
    floor: float = 0.0,
) -> dict:
    """Every figure the issue asks for, on labelled household-dates (censored rows removed):
    ranking (AUC, average precision), probabilities (Brier, log loss, observed/expected,
    calibration slope, ECE) with 95% household-clustered bootstrap intervals, and precision,
    recall and lift at capacity (the list the nightly run would have published: its selection with
    the probability `floor` on `probability`) and in the top 1% and 5%."""
    y = frame["label"].to_numpy().astype(float)
    hh = frame["household_id"].to_numpy()
    out: dict = {"rows": len(y), "positives": int(y.sum()), "base_rate": float(y.mean()) if len(y) else 0.0}
    out["auc"] = mt.bootstrap(mt.auc, y, raw, hh, replicates).as_dict()
    out["average_precision"] = mt.average_precision(y, raw)
    out["brier"] = mt.bootstrap(mt.brier, y, probability, hh, replicates).as_dict()
    out["log_loss"] = mt.log_loss(y, probability)
    out["observed_over_expected"] = mt.bootstrap(
        mt.observed_over_expected, y, probability, hh, replicates
    ).as_dict()
    out["calibration_slope"] = mt.bootstrap(mt.calibration_slope, y, probability, hh, replicates).as_dict()
    out["ece"] = mt.expected_calibration_error(y, probability)
    chosen = select_at_capacity(frame, raw, teams, probability, floor)
    out["at_capacity"] = _at(y, chosen) | {
        "precision_interval": _precision_interval(y, chosen, hh, replicates)
    }
    for share in SHARES:
        top = select_top_share(frame, raw, share)
        out[f"top_{round(share * 100)}pct"] = _at(y, top) | {
            "precision_interval": _precision_interval(y, top, hh, replicates)
        }
    out["reliability"] = mt.reliability(y, probability)
    return out


def _precision_interval(y: np.ndarray, chosen: np.ndarray, hh: np.ndarray, replicates: int) -> dict:
    def precision(yy: np.ndarray, c: np.ndarray, w: np.ndarray | None) -> float:
        w = np.ones_like(yy) if w is None else w
        return float((w * yy * c).sum() / max((w * c).sum(), 1e-9))

    return mt.bootstrap(precision, y, chosen.astype(float), hh, replicates).as_dict()
