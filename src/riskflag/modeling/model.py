"""The household-risk model as it is saved, registered and scored: a LightGBM booster and the
calibrator fitted on a later period, in plain files (the booster's own text format and a JSON
calibration), wrapped as one MLflow pyfunc model.

Ranking uses the raw score (log-odds), never the calibrated probability: isotonic calibration
makes ties, and ties would reorder households arbitrarily. Nothing in the saved model names or
describes a person: it holds trees over feature values and a monotone map of probabilities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BOOSTER = "booster.txt"
CALIBRATION = "calibration.json"


@dataclass
class Calibration:
    """A map from the model's raw score (log-odds; LightGBM's decision function, which is what
    scikit-learn's calibration fits on) to a probability."""

    method: str  # isotonic | sigmoid
    x: list[float]  # isotonic: raw-score thresholds
    y: list[float]  # isotonic: calibrated probabilities at those thresholds
    a: float = 0.0  # sigmoid: 1 / (1 + exp(a * raw + b))
    b: float = 0.0

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        return 1.0 / (1.0 + np.exp(self.a * raw + self.b))

    @classmethod
    def from_sklearn(cls, calibrated: Any) -> Calibration:
        """The calibrator of a CalibratedClassifierCV fitted around a FrozenEstimator of an
        LGBMClassifier (whose decision function is the raw score)."""
        fitted = calibrated.calibrated_classifiers_[0].calibrators[0]
        if hasattr(fitted, "X_thresholds_"):
            return cls("isotonic", fitted.X_thresholds_.tolist(), fitted.y_thresholds_.tolist())
        return cls("sigmoid", [], [], float(fitted.a_), float(fitted.b_))

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        return cls(**json.loads(text))


def raw_score(booster: Any, x: pd.DataFrame, iteration: int | None = None) -> np.ndarray:
    return booster.predict(x, raw_score=True, num_iteration=iteration)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class RiskModel:
    """Scoring with a saved booster and calibration: raw score (for ranking) and probability."""

    def __init__(
        self,
        booster: Any,
        calibration: Calibration,
        features: list[str],
        iteration: int,
        reference: dict[str, dict] | None = None,
    ) -> None:
        self.booster, self.calibration, self.features, self.iteration = (
            booster,
            calibration,
            features,
            iteration,
        )
        self.reference = reference  # drift reference (scoring/drift.py): quantile cut points and shares

    def contributions(self, x: pd.DataFrame) -> np.ndarray:
        """Exact TreeSHAP contributions at the scoring iteration: one column per feature and the
        base value last; each row sums to the raw score."""
        return self.booster.predict(
            x[self.features].astype(np.float32), pred_contrib=True, num_iteration=self.iteration
        )

    def score(self, x: pd.DataFrame) -> pd.DataFrame:
        # float32, as the model was trained: a value on a split threshold must fall the same side
        raw = raw_score(self.booster, x[self.features].astype(np.float32), self.iteration)
        return pd.DataFrame({"raw_score": raw, "probability": self.calibration(raw)}, index=x.index)

    def save(self, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / BOOSTER), num_iteration=self.iteration)
        (folder / CALIBRATION).write_text(
            json.dumps(
                {
                    "calibration": json.loads(self.calibration.to_json()),
                    "features": self.features,
                    "reference": self.reference,
                }
            ),
            encoding="utf-8",
        )
        return {"booster": str(folder / BOOSTER), "calibration": str(folder / CALIBRATION)}

    @classmethod
    def load(cls, booster_path: str | Path, calibration_path: str | Path) -> RiskModel:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=str(booster_path))
        spec = json.loads(Path(calibration_path).read_text(encoding="utf-8"))
        cal = Calibration(**spec["calibration"])
        return cls(booster, cal, spec["features"], booster.current_iteration(), spec.get("reference"))
